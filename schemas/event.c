/* event: decode and validate the interaction event of SPEC §1 (msgpack and JSON), encode it back,
 * and frame a stream of concatenated msgpack values. */
#include "event.h"

#include <float.h>
#include <math.h>
#include <stdio.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "mp_reader.h"
#include "timefmt.h"
#include "wire.h"

/* Known keys. Their order gives the bit in `seen` (duplicate detection) and the name in details.
 */
enum key {
    K_V = 0,
    K_CID,
    K_TS,
    K_TYPE,
    K_VALUE,
    K_SCORE,
    K_SENTIMENT,
    K_REF,
    K_TARGET,
    K_REFERRER,
    K_CHANNEL,
    K_ID,
};
static const char *const key_names[] = {"v",      "cid",      "ts",        "type",
                                        "value",  "score",    "sentiment", "ref",
                                        "target", "referrer", "channel",   "id"};

/* Equality of `n` bytes at `p` with a literal, n <= 16 and known at compile time: one or two
 * (overlapping) loads and compares of the widest fitting size. Compilers turn a memcmp of an odd
 * size or of more than 8 bytes into a call, which cost more than the rest of a map entry. */
static inline __attribute__((always_inline)) bool eq_lit(const void *p, const char *lit, size_t n)
{
    const char *q = p;
    if (n == 1)
        return q[0] == lit[0];
    if (n < 4) {
        uint16_t a, b;
        memcpy(&a, q, 2);
        memcpy(&b, lit, 2);
        return a == b && (n == 2 || q[2] == lit[2]);
    }
    if (n < 8) {
        uint32_t a, b, c, d;
        memcpy(&a, q, 4);
        memcpy(&b, q + n - 4, 4);
        memcpy(&c, lit, 4);
        memcpy(&d, lit + n - 4, 4);
        return a == c && b == d;
    }
    uint64_t a, b, c, d;
    memcpy(&a, q, 8);
    memcpy(&b, q + n - 8, 8);
    memcpy(&c, lit, 8);
    memcpy(&d, lit + n - 8, 8);
    return a == c && b == d;
}

/* Key dispatch by length, then first byte, then one compare: no strcmp chain. */
static inline __attribute__((always_inline)) int key_lookup(const char *s, size_t len)
{
#define IS(lit) eq_lit(s, lit, sizeof lit - 1)
    switch (len) {
    case 1:
        return s[0] == 'v' ? K_V : -1;
    case 2:
        return IS("ts") ? K_TS : IS("id") ? K_ID : -1;
    case 3:
        return IS("cid") ? K_CID : IS("ref") ? K_REF : -1;
    case 4:
        return IS("type") ? K_TYPE : -1;
    case 5:
        return s[0] == 'v' ? (IS("value") ? K_VALUE : -1) : IS("score") ? K_SCORE : -1;
    case 6:
        return IS("target") ? K_TARGET : -1;
    case 7:
        return IS("channel") ? K_CHANNEL : -1;
    case 8:
        return IS("referrer") ? K_REFERRER : -1;
    case 9:
        return IS("sentiment") ? K_SENTIMENT : -1;
    default:
        return -1;
    }
}

/* Event type dispatch: by length (a jump table), then at most four fixed-size compares, which the
 * compiler turns into one or two word compares each (names.c has the canonical table). The JSON
 * decoder's, the generic path's and the msgpack loop's; the msgpack head asks type_lookup_fast
 * first. */
static inline __attribute__((always_inline)) int type_lookup(const char *s, size_t len)
{
#define T(name, e)                                                                                 \
    if (IS(name))                                                                                  \
        return (e);
    switch (len) {
    case 3:
        T("nps", RP_EV_NPS);
        break;
    case 4:
        T("view", RP_EV_VIEW);
        T("like", RP_EV_LIKE);
        break;
    case 5:
        T("click", RP_EV_CLICK);
        T("login", RP_EV_LOGIN);
        T("reply", RP_EV_REPLY);
        T("share", RP_EV_SHARE);
        break;
    case 6:
        T("signup", RP_EV_SIGNUP);
        T("answer", RP_EV_ANSWER);
        T("refund", RP_EV_REFUND);
        T("review", RP_EV_REVIEW);
        break;
    case 7:
        T("comment", RP_EV_COMMENT);
        T("mention", RP_EV_MENTION);
        break;
    case 8:
        T("purchase", RP_EV_PURCHASE);
        T("question", RP_EV_QUESTION);
        T("referral", RP_EV_REFERRAL);
        break;
    case 9:
        T("complaint", RP_EV_COMPLAINT);
        break;
    case 10:
        T("email_open", RP_EV_EMAIL_OPEN);
        T("resolution", RP_EV_RESOLUTION);
        break;
    case 11:
        T("unsubscribe", RP_EV_UNSUBSCRIBE);
        break;
    default:
        break;
    }
    return -1;
#undef T
#undef IS
}

/*
 * The event type lookup of the msgpack fast path's usual head ("v", "cid", "ts", "type"), by a
 * hash of the name rather than type_lookup's switch on its length: in a stream the types come in
 * no order, and that jump and the compare chains after it are mispredicted often. The name's
 * first 16 bytes, masked to its length, are compared whole with the one slot their hash names
 * (the first 8 bytes plus the length, times an odd constant, top TYPE_HASH_BITS bits): the only
 * branch left is on that compare, taken by every valid name. The constant puts the 20 names of
 * SPEC §1 in 20 different slots (type_tab_init fills them from names.c; test_event checks that
 * none was left out and that names a byte away are not taken for one); a name not found there,
 * such as an unknown one, goes through type_lookup. bench_decode's mixed stream decodes 7-10 %
 * faster with it, one type alone (`example`) the same; bench_pipeline at 1 M customers +1.4 %
 * (bench/RESULTS.md, session 21). Only the head uses it: in the generic loop (other key orders)
 * the extra code made the decoder slower.
 */
#define TYPE_HASH_MUL  UINT64_C(0x1c6f10badea93a03)
#define TYPE_HASH_BITS 5
#define TYPE_HASH_MAX  16 /* the longest name it can hold (the longest type name has 11 bytes) */
struct type_slot {
    _Alignas(16) char name[16]; /* the name, zero past its end */
    uint32_t len;               /* 0: an empty slot (no name is empty) */
    int32_t type;               /* -1 in an empty slot */
};
static struct type_slot type_tab[1u << TYPE_HASH_BITS];
static int type_tab_left_out;

/* 0xff in the first 16 bytes, 0 in the next 16: loaded at [16 - n], the mask of n bytes. */
static const uint8_t len_mask[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

/* The slot of a name of `len` bytes whose first 8 bytes (zero past its end) are `lo`. */
static inline uint32_t type_hash(uint64_t lo, size_t len)
{
    return (uint32_t)(((lo + len) * TYPE_HASH_MUL) >> (64 - TYPE_HASH_BITS));
}

__attribute__((constructor)) static void type_tab_init(void)
{
    for (uint32_t i = 0; i < (1u << TYPE_HASH_BITS); i++)
        type_tab[i] = (struct type_slot){.len = 0, .type = -1};
    for (int t = 0; t < RP_EV__COUNT; t++) {
        const char *name = rp_event_type_name((enum rp_event_type)t);
        size_t len = strlen(name);
        char b[16] = {0};
        memcpy(b, name, len <= 16 ? len : 16);
        uint64_t lo;
        memcpy(&lo, b, 8);
        struct type_slot *e = &type_tab[type_hash(lo, len)];
        if (len > TYPE_HASH_MAX || e->len != 0) {
            type_tab_left_out++;
            continue;
        }
        memcpy(e->name, b, 16);
        e->len = (uint32_t)len;
        e->type = t;
    }
}

int rp_event_type_hash_left_out(void)
{
    return type_tab_left_out;
}

/* The type of the name of `len` (<= TYPE_HASH_MAX) bytes at `s`, 16 bytes readable there; -1 when
 * it is not in the table (unknown, or left out: type_lookup decides). */
static inline __attribute__((always_inline)) int type_lookup_hashed(const char *s, size_t len)
{
#ifdef __SSE2__
    __m128i v =
        _mm_and_si128(_mm_loadu_si128((const __m128i *)(const void *)s),
                      _mm_loadu_si128((const __m128i *)(const void *)(len_mask + 16 - len)));
    uint64_t lo = (uint64_t)_mm_cvtsi128_si64(v);
    const struct type_slot *e = &type_tab[type_hash(lo, len)];
    __m128i eq = _mm_cmpeq_epi8(v, _mm_load_si128((const __m128i *)(const void *)e->name));
    return _mm_movemask_epi8(eq) == 0xffff && e->len == len ? e->type : -1;
#else
    char b[16];
    memcpy(b, s, 16);
    for (size_t i = len; i < 16; i++)
        b[i] = 0;
    uint64_t lo;
    memcpy(&lo, b, 8);
    const struct type_slot *e = &type_tab[type_hash(lo, len)];
    return memcmp(b, e->name, 16) == 0 && e->len == len ? e->type : -1;
#endif
}

/* type_lookup for the msgpack fast path's head: by the hash when 16 bytes can be read at `s`. */
static inline __attribute__((always_inline)) int type_lookup_fast(const char *s, size_t len,
                                                                  const uint8_t *end)
{
    int t = -1;
    if (len <= TYPE_HASH_MAX && (const char *)end - s >= 16)
        t = type_lookup_hashed(s, len);
    return t >= 0 ? t : type_lookup(s, len);
}

enum rp_event_format rp_event_detect(const void *buf, size_t len)
{
    const char *p = buf, *end = p + len;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p < end && *p == '{' ? RP_FMT_JSON : RP_FMT_MSGPACK;
}

/* ---- validation shared by both decoders ---- */

struct dec {
    struct rp_event *ev;
    char *detail;
    size_t detail_size;
    enum rp_err err; /* first field error; decoding goes on so that `v` is still seen */
    uint32_t seen;   /* 1 << key for each known key met (duplicates are malformed) */
    bool have_cid, have_ts, have_type;
    bool bad_version;  /* `v` is an integer other than 1 */
    bool version_huge; /* ... beyond int64 (`version` does not hold it) */
    bool json;
    int64_t version;
};

static enum rp_err field_err(struct dec *d, enum rp_err e, int k, const char *why)
{
    if (d->err == RP_OK) {
        d->err = e;
        rp_detail(e, d->detail, d->detail_size, "field '%s': %s", key_names[k], why);
    }
    return e;
}

static const char *kind_name(enum rp_wkind k)
{
    static const char *const n[] = {"nil",    "boolean", "integer", "integer", "integer", "float",
                                    "string", "binary",  "ext",     "array",   "map"};
    return n[k];
}

static enum rp_err wrong_type(struct dec *d, int k, const struct rp_wval *v, const char *want)
{
    if (d->err == RP_OK) {
        d->err = RP_ERR_BAD_FIELD_TYPE;
        rp_detail(RP_ERR_BAD_FIELD_TYPE, d->detail, d->detail_size,
                  "field '%s': expected %s, got %s", key_names[k], want, kind_name(v->kind));
    }
    return RP_ERR_BAD_FIELD_TYPE;
}

/* String well-formedness: JSON strings were checked while decoding, msgpack ones are here. */
static inline bool str_ok(const struct dec *d, const struct rp_wval *v)
{
    return d->json ? !v->bad_utf8 : rp_utf8_ok(v->s, v->len);
}

/* A customer id: a string of 1..64 bytes, or a uint canonicalised to its decimal digits. */
static enum rp_err set_cid(struct dec *d, int k, const struct rp_wval *v, struct rp_cid *cid)
{
    switch (v->kind) {
    case RP_W_STR:
        if (v->len > RP_CID_MAX)
            return field_err(d, RP_ERR_TOO_LARGE, k, "longer than 64 bytes");
        if (!str_ok(d, v)) /* before the empty check: a lone JSON surrogate decodes to nothing */
            return field_err(d, RP_ERR_BAD_FIELD_TYPE, k, "not valid UTF-8");
        if (v->len == 0)
            return field_err(d, RP_ERR_OUT_OF_RANGE, k, "empty string");
        memcpy(cid->bytes, v->s, v->len);
        cid->len = (uint8_t)v->len;
        return RP_OK;
    case RP_W_UINT:
        cid->len = (uint8_t)rp_u64_to_dec(v->u, cid->bytes);
        return RP_OK;
    case RP_W_INT:
        return field_err(d, RP_ERR_OUT_OF_RANGE, k, "negative integer");
    case RP_W_BIGINT:
        return field_err(d, RP_ERR_OUT_OF_RANGE, k, "integer beyond 64 bits");
    default:
        return wrong_type(d, k, v, "string or unsigned integer");
    }
}

/* A short string of 0..max bytes (min 1 when `nonempty`). */
static enum rp_err set_str(struct dec *d, int k, const struct rp_wval *v, char *dst, uint8_t *dlen,
                           size_t max, bool nonempty)
{
    if (v->kind != RP_W_STR)
        return wrong_type(d, k, v, "string");
    if (v->len > max)
        return field_err(d, RP_ERR_TOO_LARGE, k,
                         max == RP_CHANNEL_MAX ? "longer than 16 bytes" : "longer than 64 bytes");
    if (!str_ok(d, v))
        return field_err(d, RP_ERR_BAD_FIELD_TYPE, k, "not valid UTF-8");
    if (v->len == 0 && nonempty)
        return field_err(d, RP_ERR_OUT_OF_RANGE, k, "empty string");
    memcpy(dst, v->s, v->len);
    *dlen = (uint8_t)v->len;
    return RP_OK;
}

/* Any number as a double (ints included); `ok` is false for non-numbers. */
static inline double num(const struct rp_wval *v, bool *ok)
{
    *ok = true;
    switch (v->kind) {
    case RP_W_UINT:
        return (double)v->u;
    case RP_W_INT:
        return (double)v->i;
    case RP_W_BIGINT:
    case RP_W_FLOAT:
        return v->f;
    default:
        *ok = false;
        return 0;
    }
}

static void set_field(struct dec *d, int k, const struct rp_wval *v)
{
    struct rp_event *ev = d->ev;
    bool ok;
    double x;
    if (v->kind == RP_W_NIL)
        return; /* null / nil: the field is absent (producers often write optional fields so) */
    switch (k) {
    case K_V:
        if (v->kind == RP_W_UINT || v->kind == RP_W_INT) {
            if (v->kind == RP_W_INT || v->u != 1) {
                d->bad_version = true;
                d->version_huge = v->kind == RP_W_UINT && v->u > INT64_MAX;
                d->version = v->kind == RP_W_INT ? v->i : (int64_t)(d->version_huge ? 0 : v->u);
            }
        } else if (v->kind == RP_W_BIGINT) {
            d->bad_version = true;
            d->version_huge = true;
        } else {
            wrong_type(d, k, v, "unsigned integer");
        }
        return;
    case K_CID:
        d->have_cid = set_cid(d, k, v, &ev->cid) == RP_OK;
        return;
    case K_TS:
        if (v->kind == RP_W_UINT) {
            if (v->u > (uint64_t)RP_TS_MAX) {
                field_err(d, RP_ERR_OUT_OF_RANGE, k, "after year 9999");
                return;
            }
            ev->ts_ms = (int64_t)v->u;
        } else if (v->kind == RP_W_INT || v->kind == RP_W_BIGINT) {
            field_err(d, RP_ERR_OUT_OF_RANGE, k,
                      v->kind == RP_W_INT ? "negative" : "after year 9999");
            return;
        } else if (v->kind == RP_W_STR && d->json) {
            if (v->bad_utf8) {
                field_err(d, RP_ERR_BAD_FIELD_TYPE, k, "not valid UTF-8");
                return;
            }
            int e = rp_time_parse_rfc3339(v->s, v->len, &ev->ts_ms);
            if (e != RP_OK) {
                field_err(d, (enum rp_err)e, k,
                          e == RP_ERR_OUT_OF_RANGE ? "RFC 3339 time out of range"
                                                   : "not an RFC 3339 time");
                return;
            }
        } else {
            wrong_type(d, k, v, d->json ? "integer ms or RFC 3339 string" : "integer ms");
            return;
        }
        d->have_ts = true;
        return;
    case K_TYPE: {
        if (v->kind != RP_W_STR) {
            wrong_type(d, k, v, "string");
            return;
        }
        int t = type_lookup(v->s, v->len);
        if (t < 0) {
            if (d->err == RP_OK) {
                d->err = RP_ERR_UNKNOWN_TYPE;
                /* Echo the name only when it is short printable ASCII (details go into headers). */
                bool printable = v->len <= 32;
                for (size_t i = 0; printable && i < v->len; i++)
                    printable = v->s[i] >= 0x20 && v->s[i] < 0x7f;
                if (printable)
                    rp_detail(d->err, d->detail, d->detail_size,
                              "field 'type': '%.*s' is not in the vocabulary", (int)v->len, v->s);
                else
                    rp_detail(d->err, d->detail, d->detail_size,
                              "field 'type': not in the vocabulary (%zu bytes)", v->len);
            }
            return;
        }
        ev->type = (enum rp_event_type)t;
        d->have_type = true;
        return;
    }
    case K_VALUE:
        x = num(v, &ok);
        if (!ok)
            wrong_type(d, k, v, "number");
        else if (!isfinite(x))
            field_err(d, RP_ERR_OUT_OF_RANGE, k, "not finite");
        else if (x < 0)
            field_err(d, RP_ERR_OUT_OF_RANGE, k, "negative");
        else {
            ev->value = x;
            ev->present |= RP_F_VALUE;
        }
        return;
    case K_SCORE:
        if (v->kind == RP_W_UINT && v->u <= INT32_MAX) {
            ev->score = (int32_t)v->u;
        } else if (v->kind == RP_W_INT && v->i >= INT32_MIN) {
            ev->score = (int32_t)v->i;
        } else if (v->kind == RP_W_UINT || v->kind == RP_W_INT || v->kind == RP_W_BIGINT) {
            field_err(d, RP_ERR_OUT_OF_RANGE, k, "beyond 32 bits");
            return;
        } else {
            wrong_type(d, k, v, "integer");
            return;
        }
        ev->present |= RP_F_SCORE;
        return;
    case K_SENTIMENT:
        x = num(v, &ok);
        if (!ok)
            wrong_type(d, k, v, "number");
        else if (!(x >= -1.0 && x <= 1.0)) /* NaN fails both */
            field_err(d, RP_ERR_OUT_OF_RANGE, k, "outside [-1, 1]");
        else {
            ev->sentiment = x;
            ev->present |= RP_F_SENTIMENT;
        }
        return;
    case K_REF:
        /* (empty: refused below only where a ref pairs a thread; elsewhere it means nothing,
         * and SPEC §1 allows any string of at most 64 bytes) */
        if (set_str(d, k, v, ev->ref.bytes, &ev->ref.len, RP_REF_MAX, false) == RP_OK)
            ev->present |= RP_F_REF;
        return;
    case K_TARGET:
        if (set_cid(d, k, v, &ev->target) == RP_OK)
            ev->present |= RP_F_TARGET;
        return;
    case K_REFERRER:
        if (set_cid(d, k, v, &ev->referrer) == RP_OK)
            ev->present |= RP_F_REFERRER;
        return;
    case K_CHANNEL:
        if (set_str(d, k, v, ev->channel, &ev->channel_len, RP_CHANNEL_MAX, false) == RP_OK)
            ev->present |= RP_F_CHANNEL;
        return;
    case K_ID:
        if (v->kind == RP_W_UINT) {
            ev->id.len = (uint8_t)rp_u64_to_dec(v->u, ev->id.bytes);
            ev->present |= RP_F_ID;
        } else if (v->kind == RP_W_INT || v->kind == RP_W_BIGINT) {
            field_err(d, RP_ERR_OUT_OF_RANGE, k, "negative or beyond 64 bits");
        } else if (v->kind != RP_W_STR) {
            wrong_type(d, k, v, "string or unsigned integer");
        } else if (set_str(d, k, v, ev->id.bytes, &ev->id.len, RP_ID_MAX, false) == RP_OK) {
            ev->present |= RP_F_ID;
        }
        return;
    default:
        return;
    }
}

/* Called once per known key: duplicate detection, then the field itself. */
static inline int known_key(struct dec *d, int k, const struct rp_wval *v, size_t off)
{
    if (d->seen & (1u << k)) {
        rp_detail(RP_ERR_MALFORMED, d->detail, d->detail_size, "duplicate field '%s' at byte %zu",
                  key_names[k], off);
        return -1;
    }
    d->seen |= 1u << k;
    set_field(d, k, v);
    return 0;
}

/* The checks that need the whole map: version, first field error, required fields, ranges that
 * depend on the type. */
static enum rp_err finish(struct dec *d)
{
    const struct rp_event *ev = d->ev;
    char *dt = d->detail;
    size_t ds = d->detail_size;
    if (d->bad_version && d->version_huge)
        return rp_detail(RP_ERR_UNSUPPORTED_VERSION, dt, ds,
                         "field 'v': version number out of range (only 1 is supported)");
    if (d->bad_version)
        return rp_detail(RP_ERR_UNSUPPORTED_VERSION, dt, ds,
                         "field 'v': version %lld is not supported (only 1)",
                         (long long)d->version);
    if (d->err != RP_OK)
        return d->err;
    if (!d->have_cid)
        return rp_detail(RP_ERR_MISSING_FIELD, dt, ds, "field 'cid' is required");
    if (!d->have_ts)
        return rp_detail(RP_ERR_MISSING_FIELD, dt, ds, "field 'ts' is required");
    if (!d->have_type)
        return rp_detail(RP_ERR_MISSING_FIELD, dt, ds, "field 'type' is required");
#define tn rp_event_type_name(ev->type) /* only on the error paths */
    switch (ev->type) {
    case RP_EV_PURCHASE:
    case RP_EV_REFUND:
        if (!(ev->present & RP_F_VALUE))
            return rp_detail(RP_ERR_MISSING_FIELD, dt, ds, "field 'value' is required for '%s'",
                             tn);
        break;
    case RP_EV_NPS:
    case RP_EV_REVIEW: {
        if (!(ev->present & RP_F_SCORE))
            return rp_detail(RP_ERR_MISSING_FIELD, dt, ds, "field 'score' is required for '%s'",
                             tn);
        int lo = ev->type == RP_EV_NPS ? 0 : 1, hi = ev->type == RP_EV_NPS ? 10 : 5;
        if (ev->score < lo || ev->score > hi)
            return rp_detail(RP_ERR_OUT_OF_RANGE, dt, ds,
                             "field 'score': %d outside %d..%d for '%s'", (int)ev->score, lo, hi,
                             tn);
        break;
    }
    case RP_EV_QUESTION:
    case RP_EV_REPLY:
    case RP_EV_COMPLAINT:
    case RP_EV_RESOLUTION:
        if (!(ev->present & RP_F_REF))
            return rp_detail(RP_ERR_MISSING_FIELD, dt, ds, "field 'ref' is required for '%s'", tn);
        if (ev->ref.len == 0)
            return rp_detail(RP_ERR_OUT_OF_RANGE, dt, ds,
                             "field 'ref': empty string (it pairs a '%s' with its thread)", tn);
        break;
    case RP_EV_REFERRAL:
    case RP_EV_ANSWER:
        if (!(ev->present & RP_F_TARGET))
            return rp_detail(RP_ERR_MISSING_FIELD, dt, ds, "field 'target' is required for '%s'",
                             tn);
        break;
    default:
        break;
    }
#undef tn
    if (dt && ds)
        dt[0] = '\0';
    return RP_OK;
}

/* Not a memset of the ~400-byte event: only what the contract says is zero when absent (the
 * numbers and every string length; bytes past a string's length are unspecified). */
static inline void ev_clear(struct rp_event *ev)
{
    ev->ts_ms = 0;
    ev->type = RP_EV_VIEW;
    ev->present = 0;
    ev->value = 0;
    ev->score = 0;
    ev->sentiment = 0;
    ev->cid.len = 0;
    ev->target.len = 0;
    ev->referrer.len = 0;
    ev->ref.len = 0;
    ev->id.len = 0;
    ev->channel_len = 0;
}

static inline void dec_state_init(struct dec *d, struct rp_event *ev, char *detail, size_t ds,
                                  bool json)
{
    d->ev = ev;
    d->detail = detail;
    d->detail_size = ds;
    d->err = RP_OK;
    d->seen = 0;
    d->have_cid = d->have_ts = d->have_type = false;
    d->bad_version = false;
    d->version_huge = false;
    d->json = json;
    d->version = 1;
}

static inline void dec_init(struct dec *d, struct rp_event *ev, char *detail, size_t ds, bool json)
{
    ev_clear(ev);
    dec_state_init(d, ev, detail, ds, json);
}

/* ---- msgpack ---- */

/* 0x80 in the first 16 bytes, 0 in the next 16: loaded at [16 - n], it masks the high bits of the
 * first n bytes of a 16-byte word (bytewise, so independent of the byte order). */
static const uint8_t hi_bits[32] = {
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
};

/*
 * Fast path for a short string field: a fixstr of min_n..max_n (<= 31) ASCII bytes at `vp`
 * (`vb` = *vp, already read), copied to `dst` (room for at least 16 bytes). Returns the bytes
 * consumed, or 0 when the encoding is anything else or a check fails (the generic path then
 * decides, with the same semantics). When 16 bytes can be read at the payload (the usual case in
 * a stream), the copy and the ASCII check are two fixed 8-byte loads instead of a memcpy call and
 * a loop.
 */
static inline __attribute__((always_inline)) size_t mp_fast_str(const uint8_t *vp, uint8_t vb,
                                                                const uint8_t *end, char *dst,
                                                                uint8_t *dlen, size_t min_n,
                                                                size_t max_n)
{
    const size_t n = (size_t)vb - 0xa0; /* wraps to huge when not a fixstr */
    if (n - min_n > max_n - min_n)      /* one unsigned compare for min_n <= n <= max_n */
        return 0;
    const char *s = (const char *)vp + 1;
    if (n <= 16 && end - vp > 16) {
        uint64_t a, b, ma, mb;
        memcpy(&a, s, 8);
        memcpy(&b, s + 8, 8);
        memcpy(&ma, hi_bits + 16 - n, 8);
        memcpy(&mb, hi_bits + 24 - n, 8);
        if (((a & ma) | (b & mb)) != 0)
            return 0;
        memcpy(dst, &a, 8);
        memcpy(dst + 8, &b, 8);
    } else {
        if ((size_t)(end - vp) <= n || !rp_ascii(s, n))
            return 0;
        memcpy(dst, s, n);
    }
    *dlen = (uint8_t)n;
    return n + 1;
}

/* float64 at `vp` (0xcb + 8 bytes); false when it is another encoding or truncated. */
static inline bool mp_fast_f64(const uint8_t *vp, const uint8_t *end, double *x)
{
    if (end - vp < 9 || *vp != 0xcb)
        return false;
    uint64_t u = rp_mp_be64(vp + 1);
    memcpy(x, &u, 8);
    return true;
}

/*
 * One map entry the generic way (the fast path did not take it): key, value (containers
 * skipped), duplicate detection, set_field. Returns 0, or -1 when decoding must stop (*err and
 * the detail set). Out of line: the hot loop keeps its state in registers.
 */
static __attribute__((noinline)) int mp_entry_slow(struct dec *d, struct rp_mp_cur *c, uint64_t i,
                                                   size_t koff, enum rp_err *err)
{
    struct rp_wval v, key;
    int k = -1, rc = 0;
    if (rp_mp_read(c, &key) != 0)
        goto truncated;
    if (key.kind == RP_W_STR)
        k = key_lookup(key.s, key.len);
    else if (key.kind == RP_W_MAP || key.kind == RP_W_ARRAY)
        rc = rp_mp_skip_children(c, &key, 2, RP_EVENT_MAX_DEPTH);
    if (rc != 0)
        goto skip_failed;
    if (rp_mp_read(c, &v) != 0)
        goto truncated;
    if (v.kind == RP_W_MAP || v.kind == RP_W_ARRAY) {
        rc = rp_mp_skip_children(c, &v, 2, RP_EVENT_MAX_DEPTH);
        if (rc != 0)
            goto skip_failed;
    }
    if (k >= 0 && known_key(d, k, &v, koff) != 0) {
        *err = RP_ERR_MALFORMED;
        return -1;
    }
    return 0;
skip_failed:
    if (rc == -2) {
        *err = rp_detail(RP_ERR_TOO_LARGE, d->detail, d->detail_size,
                         "value nested deeper than %d levels (entry at byte %zu)",
                         RP_EVENT_MAX_DEPTH, koff);
        return -1;
    }
truncated:
    *err = rp_detail(RP_ERR_MALFORMED, d->detail, d->detail_size,
                     "truncated or invalid msgpack in map entry %llu (at byte %zu)",
                     (unsigned long long)i, koff);
    return -1;
}

/* Outcome of mp_map(). */
enum mp_outcome {
    MP_CLEAN,   /* read to its end, every entry by the fast path: `d` is untouched */
    MP_DONE,    /* read to its end, some entries the generic way: `d` holds their state */
    MP_STOPPED, /* decoding stopped before the end of the value: *err and the detail say why */
};

/*
 * Decodes the msgpack map at `base` into `ev` (cleared by the caller), reading no further than
 * `end`, and stops right after the map (what follows is the caller's business: trailing bytes in
 * a message, the next value in a stream). Field errors do not stop it (the first is kept in
 * d->err, since a bad `v` later in the map must still win); what stops it is an error about the
 * value as a whole: not msgpack or truncated, not a map, nesting too deep, a duplicate key.
 * `*fast` gets the known keys the fast path took (their fields are set and valid).
 *
 * The hot path: one jump on the key's header byte (fixstr of length 1..9), a fixed-size compare
 * of the key, and for the encodings producers write (fixstr ids and names, uint64/uint32 times,
 * fixint/float64 numbers) the value decoded in place, without building an rp_wval or going
 * through set_field; its state (cursor, keys seen, present bits) lives in registers, and `d` is
 * set up only if an entry needs the generic path. Anything else (including every error) takes
 * the generic path from the key on, which has the same semantics; keeping the two in step is
 * what the unit tests and the fuzz target check.
 */
static inline __attribute__((always_inline)) enum mp_outcome
mp_map(const uint8_t *base, const uint8_t *end, struct rp_event *ev, char *detail,
       size_t detail_size, struct dec *d, const uint8_t **endp, enum rp_err *err,
       uint32_t *fast_out)
{
    const uint8_t *p = base;
    uint64_t n;
    if (base < end && (base[0] & 0xf0) == 0x80) { /* fixmap: the usual header, read in place */
        n = base[0] & 0x0f;
        p++;
    } else {
        struct rp_mp_cur c = {base, end};
        struct rp_wval v;
        if (rp_mp_read(&c, &v) != 0) {
            *err = rp_detail(RP_ERR_MALFORMED, detail, detail_size,
                             "not msgpack or truncated at byte 0");
            return MP_STOPPED;
        }
        if (v.kind != RP_W_MAP) {
            *err = rp_detail(RP_ERR_NOT_A_MAP, detail, detail_size,
                             "top-level value is a msgpack %s, not a map", kind_name(v.kind));
            return MP_STOPPED;
        }
        n = v.n;
        p = c.p;
    }
    if (n * 2 > (uint64_t)(end - p)) {
        *err = rp_detail(RP_ERR_MALFORMED, detail, detail_size,
                         "map header claims %llu entries but only %zu bytes follow (truncated)",
                         (unsigned long long)n, (size_t)(end - p));
        return MP_STOPPED;
    }
    uint32_t seen = 0;    /* every known key met (d->seen while in the generic path) */
    uint32_t fast = 0;    /* known keys the fast path took */
    uint32_t present = 0; /* RP_F_* bits set by the fast path */
    bool slow = false;    /* `d` is set up: some entry went the generic way */
/* ROOM: the key of `kl` bytes and the first byte of its value are there (else: generic).
 * KNOWN: a known key met; a repeat goes the generic way, which reports the duplicate after
 * reading the value, as it always did. TAKE: the fast encoding took `t` bytes. Leaving the
 * switch (break) means: this entry goes the generic way, from its key. */
#define ROOM(kl)                                                                                   \
    if (avail < (kl) + 2)                                                                          \
        break;                                                                                     \
    vp = p + 1 + (kl);                                                                             \
    vb = *vp;
#define KNOWN(kk)                                                                                  \
    if (seen & (1u << (kk)))                                                                       \
        break;
#define TAKE(kk, t)                                                                                \
    {                                                                                              \
        seen |= 1u << (kk);                                                                        \
        fast |= 1u << (kk);                                                                        \
        p = vp + (t);                                                                              \
        continue;                                                                                  \
    }
#define KEY(lit) eq_lit(p + 1, lit, sizeof lit - 1)
    uint64_t i = 0;
    /* The usual head, "v": 1, "cid", "ts", "type" in that order (as rp_event_encode_msgpack and
     * `rapport gen` write them), read as one block: the same checks as the entries below, without
     * a dispatch per key. Anything else leaves it to the loop, from the first entry (or, after the
     * head, from the entry after it). */
    static const char v1_cid[] = {'\xa1', 'v', 1, '\xa3', 'c', 'i', 'd'}; /* "v": 1, "cid" */
    if (n >= 4 && end - p >= 7 + 17 + 14 && eq_lit(p, v1_cid, 7)) {
        const uint8_t *q = p + 7;
        size_t tc = mp_fast_str(q, *q, end, ev->cid.bytes, &ev->cid.len, 1, 31);
        q += tc;
        if (tc && end - q >= 3 + 9 + 5 + 2 && eq_lit(q, "\xa2ts", 3)) {
            uint64_t u = UINT64_MAX;
            if (q[3] == 0xcf)
                u = rp_mp_be64(q + 4), q += 3 + 9;
            else if (q[3] == 0xce)
                u = rp_mp_be32(q + 4), q += 3 + 5;
            size_t tl = (size_t)q[5] - 0xa0; /* the type name's length when a fixstr */
            if (u <= (uint64_t)RP_TS_MAX && end - q >= 6 && eq_lit(q, "\xa4type", 5) && tl < 32 &&
                (size_t)(end - q) > 5 + tl) {
                int ty = type_lookup_fast((const char *)q + 6, tl, end);
                if (ty >= 0) {
                    ev->ts_ms = (int64_t)u;
                    ev->type = (enum rp_event_type)ty;
                    seen = fast = 1u << K_V | 1u << K_CID | 1u << K_TS | 1u << K_TYPE;
                    p = q + 6 + tl;
                    i = 4;
                    /* and "channel" when it comes next (the last entry of most events) */
                    static const char channel[] = {'\xa7', 'c', 'h', 'a', 'n', 'n', 'e', 'l'};
                    size_t tn = n > 4 && end - p >= 8 + 2 && eq_lit(p, channel, 8)
                                    ? mp_fast_str(p + 8, p[8], end, ev->channel, &ev->channel_len,
                                                  0, RP_CHANNEL_MAX)
                                    : 0;
                    if (tn) {
                        present |= RP_F_CHANNEL;
                        seen |= 1u << K_CHANNEL;
                        fast |= 1u << K_CHANNEL;
                        p += 8 + tn;
                        i = 5;
                    }
                }
            }
        }
    }
    for (; i < n; i++) {
        const size_t avail = (size_t)(end - p);
        const uint8_t *vp;
        uint8_t vb;
        double x;
        size_t t;
        switch (avail ? *p : 0xc1) {
        case 0xa1:
            ROOM(1);
            if (p[1] == 'v') {
                KNOWN(K_V);
                if (vb == 1)
                    TAKE(K_V, 1);
            }
            break;
        case 0xa2:
            ROOM(2);
            if (KEY("ts")) {
                KNOWN(K_TS);
                uint64_t u;
                if (vb == 0xcf && end - vp >= 9)
                    u = rp_mp_be64(vp + 1), t = 9;
                else if (vb == 0xce && end - vp >= 5)
                    u = rp_mp_be32(vp + 1), t = 5;
                else
                    break;
                if (u <= (uint64_t)RP_TS_MAX) {
                    ev->ts_ms = (int64_t)u;
                    TAKE(K_TS, t);
                }
            } else if (KEY("id")) {
                KNOWN(K_ID);
                if ((t = mp_fast_str(vp, vb, end, ev->id.bytes, &ev->id.len, 0, 31)) != 0) {
                    present |= RP_F_ID;
                    TAKE(K_ID, t);
                }
            }
            break;
        case 0xa3:
            ROOM(3);
            if (KEY("cid")) {
                KNOWN(K_CID);
                if ((t = mp_fast_str(vp, vb, end, ev->cid.bytes, &ev->cid.len, 1, 31)) != 0)
                    TAKE(K_CID, t);
            } else if (KEY("ref")) {
                KNOWN(K_REF);
                if ((t = mp_fast_str(vp, vb, end, ev->ref.bytes, &ev->ref.len, 1, 31)) != 0) {
                    present |= RP_F_REF;
                    TAKE(K_REF, t);
                }
            }
            break;
        case 0xa4:
            ROOM(4);
            if (KEY("type")) {
                KNOWN(K_TYPE);
                t = (size_t)vb - 0xa0; /* the name's length; >= 32 when not a fixstr */
                if (t < 32 && (size_t)(end - vp) > t) {
                    int ty = type_lookup((const char *)vp + 1, t);
                    if (ty >= 0) {
                        ev->type = (enum rp_event_type)ty;
                        TAKE(K_TYPE, t + 1);
                    }
                }
            }
            break;
        case 0xa5:
            ROOM(5);
            if (KEY("value")) {
                KNOWN(K_VALUE);
                if (vb <= 0x7f) {
                    ev->value = vb;
                    present |= RP_F_VALUE;
                    TAKE(K_VALUE, 1);
                }
                /* negative, NaN, inf: the generic path says why */
                if (mp_fast_f64(vp, end, &x) && x >= 0 && x <= DBL_MAX) {
                    ev->value = x;
                    present |= RP_F_VALUE;
                    TAKE(K_VALUE, 9);
                }
            } else if (KEY("score")) {
                KNOWN(K_SCORE);
                if (vb <= 0x7f) {
                    ev->score = vb;
                    present |= RP_F_SCORE;
                    TAKE(K_SCORE, 1);
                }
            }
            break;
        case 0xa6:
            ROOM(6);
            if (KEY("target")) {
                KNOWN(K_TARGET);
                if ((t = mp_fast_str(vp, vb, end, ev->target.bytes, &ev->target.len, 1, 31)) != 0) {
                    present |= RP_F_TARGET;
                    TAKE(K_TARGET, t);
                }
            }
            break;
        case 0xa7:
            ROOM(7);
            if (KEY("channel")) {
                KNOWN(K_CHANNEL);
                if ((t = mp_fast_str(vp, vb, end, ev->channel, &ev->channel_len, 0,
                                     RP_CHANNEL_MAX)) != 0) {
                    present |= RP_F_CHANNEL;
                    TAKE(K_CHANNEL, t);
                }
            }
            break;
        case 0xa8:
            ROOM(8);
            if (KEY("referrer")) {
                KNOWN(K_REFERRER);
                if ((t = mp_fast_str(vp, vb, end, ev->referrer.bytes, &ev->referrer.len, 1, 31)) !=
                    0) {
                    present |= RP_F_REFERRER;
                    TAKE(K_REFERRER, t);
                }
            }
            break;
        case 0xa9:
            ROOM(9);
            if (KEY("sentiment")) {
                KNOWN(K_SENTIMENT);
                if (mp_fast_f64(vp, end, &x) && x >= -1.0 && x <= 1.0) {
                    ev->sentiment = x;
                    present |= RP_F_SENTIMENT;
                    TAKE(K_SENTIMENT, 9);
                }
            }
            break;
        default:
            break;
        }
        /* The generic way, from the key. */
        if (!slow) {
            dec_state_init(d, ev, detail, detail_size, false);
            slow = true;
        }
        struct rp_mp_cur c = {p, end};
        d->seen = seen;
        if (mp_entry_slow(d, &c, i, (size_t)(p - base), err) != 0)
            return MP_STOPPED;
        seen = d->seen;
        p = c.p;
    }
#undef ROOM
#undef KNOWN
#undef TAKE
#undef KEY
    *fast_out = fast;
    ev->present |= present;
    *endp = p;
    if (!slow)
        return MP_CLEAN;
    d->seen = seen;
    return MP_DONE;
}

/* The optional field each type requires (SPEC §1), for the fast end-of-map check. */
static const uint8_t required_by_type[RP_EV__COUNT] = {
    [RP_EV_PURCHASE] = RP_F_VALUE, [RP_EV_REFUND] = RP_F_VALUE,   [RP_EV_NPS] = RP_F_SCORE,
    [RP_EV_REVIEW] = RP_F_SCORE,   [RP_EV_QUESTION] = RP_F_REF,   [RP_EV_REPLY] = RP_F_REF,
    [RP_EV_COMPLAINT] = RP_F_REF,  [RP_EV_RESOLUTION] = RP_F_REF, [RP_EV_REFERRAL] = RP_F_TARGET,
    [RP_EV_ANSWER] = RP_F_TARGET,
};

#define REQUIRED_KEYS (1u << K_CID | 1u << K_TS | 1u << K_TYPE)

/* The end of a map read to its end: finish() with, for a map the fast path took whole, the
 * common outcome (everything required there, no score range to check) decided without it. */
static inline enum rp_err mp_finish(enum mp_outcome o, struct dec *d, struct rp_event *ev,
                                    uint32_t fast, char *detail, size_t detail_size)
{
    if (o == MP_CLEAN) {
        const unsigned need = required_by_type[ev->type];
        if ((fast & REQUIRED_KEYS) == REQUIRED_KEYS && (ev->present & need) == need &&
            need != RP_F_SCORE) {
            if (detail && detail_size)
                detail[0] = '\0';
            return RP_OK;
        }
        dec_state_init(d, ev, detail, detail_size, false);
    }
    if (fast & (1u << K_CID))
        d->have_cid = true;
    if (fast & (1u << K_TS))
        d->have_ts = true;
    if (fast & (1u << K_TYPE))
        d->have_type = true;
    return finish(d);
}

enum rp_err rp_event_decode_msgpack(const void *buf, size_t len, struct rp_event *ev, char *detail,
                                    size_t detail_size)
{
    if (len > RP_EVENT_MAX_BYTES)
        return rp_detail(RP_ERR_TOO_LARGE, detail, detail_size, "message of %zu bytes exceeds %d",
                         len, RP_EVENT_MAX_BYTES);
    if (len == 0)
        return rp_detail(RP_ERR_MALFORMED, detail, detail_size, "empty message");
    const uint8_t *base = buf, *endp;
    struct dec d;
    enum rp_err e;
    uint32_t fast;
    ev_clear(ev);
    enum mp_outcome o = mp_map(base, base + len, ev, detail, detail_size, &d, &endp, &e, &fast);
    if (o == MP_STOPPED)
        return e;
    if (endp != base + len)
        return rp_detail(RP_ERR_MALFORMED, detail, detail_size, "%zu trailing bytes after the map",
                         (size_t)(base + len - endp));
    return mp_finish(o, &d, ev, fast, detail, detail_size);
}

/* The stream decode's slow path, taken whenever mp_map() stopped before the end of the value:
 * frame the value, then decode exactly those bytes, so that every outcome is by construction
 * that of rp_msgpack_frame + rp_event_decode_msgpack (errors are rare: the cost is no matter). */
static __attribute__((noinline, cold)) enum rp_err next_slow(const void *buf, size_t len,
                                                             struct rp_event *ev, size_t *consumed,
                                                             char *detail, size_t detail_size)
{
    const size_t f = rp_msgpack_frame(buf, len);
    *consumed = f;
    if (f == 0)
        return rp_detail(RP_ERR_MALFORMED, detail, detail_size,
                         "truncated msgpack value (%zu bytes so far): read more", len);
    if (f == (size_t)-1)
        return rp_detail(RP_ERR_MALFORMED, detail, detail_size,
                         "not a msgpack value (0xc1 where a value starts): no next value can be "
                         "found");
    return rp_event_decode_msgpack(buf, f, ev, detail, detail_size);
}

enum rp_err rp_event_decode_msgpack_next(const void *buf, size_t len, struct rp_event *ev,
                                         size_t *consumed, char *detail, size_t detail_size)
{
    const uint8_t *base = buf, *endp;
    struct dec d;
    enum rp_err e;
    uint32_t fast;
    ev_clear(ev);
    enum mp_outcome o = mp_map(base, base + len, ev, detail, detail_size, &d, &endp, &e, &fast);
    if (o == MP_STOPPED)
        return next_slow(buf, len, ev, consumed, detail, detail_size);
    /* A value read to its end is exactly what rp_msgpack_frame would have framed: the decoder
     * reads every value start the framer reads, and both size values with rp_mp_read's rules. */
    const size_t size = (size_t)(endp - base);
    *consumed = size;
    if (size > RP_EVENT_MAX_BYTES)
        return rp_detail(RP_ERR_TOO_LARGE, detail, detail_size, "message of %zu bytes exceeds %d",
                         size, RP_EVENT_MAX_BYTES);
    return mp_finish(o, &d, ev, fast, detail, detail_size);
}

/* ---- JSON ---- */

/* Scratch for decoded JSON strings: every length limit is below it, and RFC 3339 times fit. */
#define JSON_SCRATCH 128

enum rp_err rp_event_decode_json(const void *buf, size_t len, struct rp_event *ev, char *detail,
                                 size_t detail_size)
{
    if (len > RP_EVENT_MAX_BYTES)
        return rp_detail(RP_ERR_TOO_LARGE, detail, detail_size, "message of %zu bytes exceeds %d",
                         len, RP_EVENT_MAX_BYTES);
    const char *base = buf;
    struct rp_json_cur c = {base, base + len};
    char kscratch[16], vscratch[JSON_SCRATCH];
    struct rp_wval key, v;
    rp_json_ws(&c);
    if (c.p == c.end)
        return rp_detail(RP_ERR_MALFORMED, detail, detail_size, "empty message");
    if (*c.p != '{') {
        if (rp_json_value(&c, vscratch, sizeof vscratch, &v) == 0)
            return rp_detail(RP_ERR_NOT_A_MAP, detail, detail_size,
                             "top-level JSON value is not an object: %s", kind_name(v.kind));
        return rp_detail(RP_ERR_MALFORMED, detail, detail_size, "not JSON");
    }
    c.p++;
    struct dec d;
    dec_init(&d, ev, detail, detail_size, true);
    rp_json_ws(&c);
    if (c.p < c.end && *c.p == '}') {
        c.p++;
    } else {
        for (;;) {
            rp_json_ws(&c);
            const size_t koff = (size_t)(c.p - base);
            if (c.p >= c.end || *c.p != '"')
                goto bad;
            if (rp_json_string(&c, kscratch, sizeof kscratch, &key) != 0 || key.bad_utf8)
                goto bad;
            int k = key.len <= 9 ? key_lookup(key.s, key.len) : -1;
            rp_json_ws(&c);
            if (c.p >= c.end || *c.p != ':')
                goto bad;
            c.p++;
            rp_json_ws(&c);
            if (rp_json_value(&c, vscratch, sizeof vscratch, &v) != 0)
                goto bad;
            if (v.kind == RP_W_MAP || v.kind == RP_W_ARRAY) {
                int rc = rp_json_skip_container(&c, v.kind == RP_W_MAP, 2, RP_EVENT_MAX_DEPTH);
                if (rc == -2)
                    return rp_detail(RP_ERR_TOO_LARGE, detail, detail_size,
                                     "value nested deeper than %d levels (entry at byte %zu)",
                                     RP_EVENT_MAX_DEPTH, koff);
                if (rc != 0)
                    goto bad;
            } else if (v.kind == RP_W_STR && v.bad_utf8 && k < 0) {
                return rp_detail(RP_ERR_MALFORMED, detail, detail_size,
                                 "invalid UTF-8 in a string at byte %zu", koff);
            }
            if (k == K_TS && v.kind == RP_W_STR && v.s == vscratch && v.len > sizeof vscratch) {
                /* Only `ts` reads a decoded string whole; no time is that long. */
                field_err(&d, RP_ERR_BAD_FIELD_TYPE, k, "not an RFC 3339 time");
                k = -1;
            }
            if (k == K_TYPE && v.s == vscratch && v.len > sizeof vscratch)
                v.len = sizeof vscratch; /* no type name is that long: unknown either way */
            if (k >= 0 && known_key(&d, k, &v, koff) != 0)
                return RP_ERR_MALFORMED;
            rp_json_ws(&c);
            if (c.p < c.end && *c.p == ',') {
                c.p++;
                continue;
            }
            if (c.p < c.end && *c.p == '}') {
                c.p++;
                break;
            }
            goto bad;
        }
    }
    rp_json_ws(&c);
    if (c.p != c.end)
        return rp_detail(RP_ERR_MALFORMED, detail, detail_size,
                         "%zu trailing bytes after the object", (size_t)(c.end - c.p));
    return finish(&d);
bad:
    return rp_detail(RP_ERR_MALFORMED, detail, detail_size, "invalid JSON at byte %zu",
                     (size_t)(c.p - base));
}

enum rp_err rp_event_decode(const void *buf, size_t len, struct rp_event *ev, char *detail,
                            size_t detail_size)
{
    if (len > RP_EVENT_MAX_BYTES)
        return rp_detail(RP_ERR_TOO_LARGE, detail, detail_size, "message of %zu bytes exceeds %d",
                         len, RP_EVENT_MAX_BYTES);
    if (rp_event_detect(buf, len) == RP_FMT_JSON)
        return rp_event_decode_json(buf, len, ev, detail, detail_size);
    return rp_event_decode_msgpack(buf, len, ev, detail, detail_size);
}

/* ---- encoders ---- */

/* Integral amounts go out as uints (smaller, and what producers write); others as float64 so
 * that decode(encode(x)) == x exactly. */
static bool integral(double x)
{
    return x >= 0 && x < 9007199254740992.0 && x == (double)(uint64_t)x && !signbit(x);
}

size_t rp_event_encode_msgpack(const struct rp_event *ev, void *out, size_t cap)
{
    struct rp_wbuf w = {out, (char *)out + cap, false};
    const uint32_t opt = ev->present & 0xff;
    rp_mp_put_map(&w, 4 + (uint32_t)__builtin_popcount(opt));
    rp_mp_put_str(&w, "v", 1);
    rp_mp_put_uint(&w, 1);
    rp_mp_put_str(&w, "cid", 3);
    rp_mp_put_str(&w, ev->cid.bytes, ev->cid.len);
    rp_mp_put_str(&w, "ts", 2);
    rp_mp_put_int(&w, ev->ts_ms);
    rp_mp_put_str(&w, "type", 4);
    const char *tn = rp_event_type_name(ev->type);
    if (!tn)
        return 0;
    rp_mp_put_str(&w, tn, strlen(tn));
    if (opt & RP_F_VALUE) {
        rp_mp_put_str(&w, "value", 5);
        if (integral(ev->value))
            rp_mp_put_uint(&w, (uint64_t)ev->value);
        else
            rp_mp_put_double(&w, ev->value);
    }
    if (opt & RP_F_SCORE) {
        rp_mp_put_str(&w, "score", 5);
        rp_mp_put_int(&w, ev->score);
    }
    if (opt & RP_F_SENTIMENT) {
        rp_mp_put_str(&w, "sentiment", 9);
        rp_mp_put_double(&w, ev->sentiment);
    }
    if (opt & RP_F_REF) {
        rp_mp_put_str(&w, "ref", 3);
        rp_mp_put_str(&w, ev->ref.bytes, ev->ref.len);
    }
    if (opt & RP_F_TARGET) {
        rp_mp_put_str(&w, "target", 6);
        rp_mp_put_str(&w, ev->target.bytes, ev->target.len);
    }
    if (opt & RP_F_REFERRER) {
        rp_mp_put_str(&w, "referrer", 8);
        rp_mp_put_str(&w, ev->referrer.bytes, ev->referrer.len);
    }
    if (opt & RP_F_CHANNEL) {
        rp_mp_put_str(&w, "channel", 7);
        rp_mp_put_str(&w, ev->channel, ev->channel_len);
    }
    if (opt & RP_F_ID) {
        rp_mp_put_str(&w, "id", 2);
        rp_mp_put_str(&w, ev->id.bytes, ev->id.len);
    }
    return w.full ? 0 : (size_t)(w.p - (char *)out);
}

size_t rp_event_encode_json(const struct rp_event *ev, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    struct rp_wbuf w = {out, out + cap - 1, false}; /* room kept for the NUL */
    const char *tn = rp_event_type_name(ev->type);
    if (!tn)
        return 0;
    rp_json_put_lit(&w, "{\"v\":1,\"cid\":");
    rp_json_put_str(&w, ev->cid.bytes, ev->cid.len);
    rp_json_put_lit(&w, ",\"ts\":");
    rp_json_put_int(&w, ev->ts_ms);
    rp_json_put_lit(&w, ",\"type\":\"");
    rp_json_put_lit(&w, tn);
    rp_json_put_lit(&w, "\"");
    if (ev->present & RP_F_VALUE) {
        rp_json_put_lit(&w, ",\"value\":");
        rp_json_put_double(&w, ev->value);
    }
    if (ev->present & RP_F_SCORE) {
        rp_json_put_lit(&w, ",\"score\":");
        rp_json_put_int(&w, ev->score);
    }
    if (ev->present & RP_F_SENTIMENT) {
        rp_json_put_lit(&w, ",\"sentiment\":");
        rp_json_put_double(&w, ev->sentiment);
    }
    if (ev->present & RP_F_REF) {
        rp_json_put_lit(&w, ",\"ref\":");
        rp_json_put_str(&w, ev->ref.bytes, ev->ref.len);
    }
    if (ev->present & RP_F_TARGET) {
        rp_json_put_lit(&w, ",\"target\":");
        rp_json_put_str(&w, ev->target.bytes, ev->target.len);
    }
    if (ev->present & RP_F_REFERRER) {
        rp_json_put_lit(&w, ",\"referrer\":");
        rp_json_put_str(&w, ev->referrer.bytes, ev->referrer.len);
    }
    if (ev->present & RP_F_CHANNEL) {
        rp_json_put_lit(&w, ",\"channel\":");
        rp_json_put_str(&w, ev->channel, ev->channel_len);
    }
    if (ev->present & RP_F_ID) {
        rp_json_put_lit(&w, ",\"id\":");
        rp_json_put_str(&w, ev->id.bytes, ev->id.len);
    }
    rp_wbuf_byte(&w, '}');
    if (w.full)
        return 0;
    *w.p = '\0';
    return (size_t)(w.p - out);
}

/* ---- framing ---- */

size_t rp_msgpack_frame(const void *buf, size_t len)
{
    /* One counter of values still to read: a container adds its children. No recursion, no
     * stack: the nesting depth does not matter here (the decoder bounds it). */
    struct rp_mp_cur c = {buf, (const uint8_t *)buf + len};
    uint64_t pending = 1;
    struct rp_wval v;
    while (pending > 0) {
        if (c.p >= c.end)
            return 0;
        if (*c.p == 0xc1)
            return (size_t)-1;
        if (rp_mp_read(&c, &v) != 0)
            return 0; /* a prefix: the header or payload is not all there yet */
        pending--;
        if (v.kind == RP_W_MAP)
            pending += v.n * 2;
        else if (v.kind == RP_W_ARRAY)
            pending += v.n;
    }
    return (size_t)(c.p - (const uint8_t *)buf);
}

enum rp_err rp_cid_set(struct rp_cid *cid, const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return RP_ERR_OUT_OF_RANGE;
    if (n > RP_CID_MAX)
        return RP_ERR_TOO_LARGE;
    memcpy(cid->bytes, s, n);
    cid->len = (uint8_t)n;
    return RP_OK;
}
