/* signal: the churn-risk / advocate signal of SPEC §3: deterministic id, msgpack and JSON
 * encoders (no allocation) and a decoder for both (tests and tools). */
#include "signal.h"

#include <math.h>
#include <xxhash.h>

#include "mp_reader.h"
#include "timefmt.h"
#include "wire.h"

uint64_t rp_signal_id(const struct rp_cid *cid, enum rp_signal_kind kind, uint32_t episode,
                      enum rp_transition transition)
{
    /* Fixed layout, independent of struct padding and host byte order:
     * [cid.len:1][cid bytes][kind:1][episode:4 little-endian][transition:1], XXH64 seed 0.
     * The length prefix keeps ("ab", ...) and ("a", 'b'...) apart. */
    uint8_t b[1 + RP_CID_MAX + 1 + 4 + 1];
    size_t n = 0;
    const size_t cl = cid->len <= RP_CID_MAX ? cid->len : RP_CID_MAX;
    b[n++] = (uint8_t)cl;
    memcpy(b + n, cid->bytes, cl);
    n += cl;
    b[n++] = (uint8_t)kind;
    for (int k = 0; k < 4; k++)
        b[n++] = (uint8_t)(episode >> (8 * k));
    b[n++] = (uint8_t)transition;
    return XXH64(b, n, 0);
}

static void hex16(uint64_t v, char out[16])
{
    static const char hex[] = "0123456789abcdef";
    for (int k = 15; k >= 0; k--) {
        out[k] = hex[v & 15];
        v >>= 4;
    }
}

static bool valid_enums(const struct rp_signal *s)
{
    if (!rp_signal_kind_name(s->kind) || !rp_transition_name(s->transition) ||
        !rp_segment_name(s->segment) || s->n_reasons > RP_SIGNAL_MAX_REASONS ||
        s->cid.len > RP_CID_MAX)
        return false;
    for (unsigned r = 0; r < s->n_reasons; r++)
        if (!rp_reason_name(s->reasons[r].code))
            return false;
    return true;
}

/* The field names, in the order both encoders write them: the enum, the names and their
 * lengths (for the msgpack encoder, which writes each key without a strlen) from one list. */
#define SFIELDS(X)                                                                                 \
    X(S_SIGNAL_ID, "signal_id")                                                                    \
    X(S_CID, "cid")                                                                                \
    X(S_KIND, "kind")                                                                              \
    X(S_TRANSITION, "transition")                                                                  \
    X(S_SCORE, "score")                                                                            \
    X(S_PREVIOUS_SCORE, "previous_score")                                                          \
    X(S_THRESHOLD, "threshold")                                                                    \
    X(S_SEGMENT, "segment")                                                                        \
    X(S_REASONS, "reasons")                                                                        \
    X(S_AS_OF, "as_of")                                                                            \
    X(S_EMITTED_AT, "emitted_at")                                                                  \
    X(S_EPISODE, "episode")                                                                        \
    X(S_MODEL, "model")
#define SFIELD_ENUM(id, name) id,
#define SFIELD_NAME(id, name) name,
#define SFIELD_LEN(id, name)  sizeof(name) - 1,
enum sfield { SFIELDS(SFIELD_ENUM) S__COUNT };
static const char *const sfield_names[S__COUNT] = {SFIELDS(SFIELD_NAME)};
static const uint8_t sfield_len[S__COUNT] = {SFIELDS(SFIELD_LEN)};

/*
 * The signal encoder writes with the unchecked encodings of wire.h into a buffer that holds
 * RP_SIGNAL_ENCODED_MAX bytes, which every signal fits (about 450 bytes at the most: a 64-byte
 * cid, three reasons). One signal is some 30 values; through the bounded writers (a call, a bounds
 * check and a length test per value, strlen per key) that took about 1,900 instructions, a few
 * percent of bench_pipeline. The bytes are the same.
 */
static uint8_t *mp_str(uint8_t *o, const char *str, size_t len)
{
    o += rp_mp_enc_str_head(o, len);
    memcpy(o, str, len);
    return o + len;
}

#define MP_LIT(o, lit) mp_str((o), (lit), sizeof(lit) - 1)

static uint8_t *mp_key(uint8_t *o, enum sfield f)
{
    return mp_str(o, sfield_names[f], sfield_len[f]);
}

static uint8_t *mp_name(uint8_t *o, const char *name)
{
    return mp_str(o, name, strlen(name));
}

static uint8_t *mp_double(uint8_t *o, double v)
{
    return o + rp_mp_enc_double(o, v);
}

static uint8_t *mp_hex16(uint8_t *o, uint64_t v)
{
    char hex[16];
    hex16(v, hex);
    return mp_str(o, hex, 16);
}

/* The map into `o` (room for RP_SIGNAL_ENCODED_MAX bytes); returns its size. */
static size_t encode_msgpack(const struct rp_signal *s, uint8_t *o)
{
    uint8_t *start = o;
    o += rp_mp_enc_map(o, S__COUNT);
    o = mp_hex16(mp_key(o, S_SIGNAL_ID), s->signal_id);
    o = mp_str(mp_key(o, S_CID), s->cid.bytes, s->cid.len);
    o = mp_name(mp_key(o, S_KIND), rp_signal_kind_name(s->kind));
    o = mp_name(mp_key(o, S_TRANSITION), rp_transition_name(s->transition));
    o = mp_double(mp_key(o, S_SCORE), s->score);
    o = mp_double(mp_key(o, S_PREVIOUS_SCORE), s->previous_score);
    o = mp_double(mp_key(o, S_THRESHOLD), s->threshold);
    o = mp_name(mp_key(o, S_SEGMENT), rp_segment_name(s->segment));
    o = mp_key(o, S_REASONS);
    o += rp_mp_enc_array(o, s->n_reasons);
    for (unsigned r = 0; r < s->n_reasons; r++) {
        o += rp_mp_enc_map(o, 2);
        o = mp_name(MP_LIT(o, "code"), rp_reason_name(s->reasons[r].code));
        o = mp_double(MP_LIT(o, "weight"), s->reasons[r].weight);
    }
    o = mp_key(o, S_AS_OF);
    o += rp_mp_enc_int(o, s->as_of_ms);
    o = mp_key(o, S_EMITTED_AT);
    o += rp_mp_enc_int(o, s->emitted_at_ms);
    o = mp_key(o, S_EPISODE);
    o += rp_mp_enc_uint(o, s->episode);
    o = mp_hex16(mp_key(o, S_MODEL), s->model);
    return (size_t)(o - start);
}

size_t rp_signal_encode_msgpack(const struct rp_signal *s, void *out, size_t cap)
{
    if (!valid_enums(s))
        return 0;
    if (cap >= RP_SIGNAL_ENCODED_MAX)
        return encode_msgpack(s, out);
    uint8_t tmp[RP_SIGNAL_ENCODED_MAX]; /* a smaller buffer: encoded aside, copied if it fits */
    size_t n = encode_msgpack(s, tmp);
    if (n > cap)
        return 0;
    memcpy(out, tmp, n);
    return n;
}

size_t rp_signal_encode_json(const struct rp_signal *s, char *out, size_t cap)
{
    if (cap == 0 || !valid_enums(s))
        return 0;
    struct rp_wbuf w = {out, out + cap - 1, false}; /* room kept for the NUL */
    char hex[16];
#define KEY(f, first)                                                                              \
    do {                                                                                           \
        rp_json_put_lit(&w, first ? "{\"" : ",\"");                                                \
        rp_json_put_lit(&w, sfield_names[f]);                                                      \
        rp_json_put_lit(&w, "\":");                                                                \
    } while (0)
#define NAME(str) rp_json_put_str(&w, str, strlen(str))
    KEY(S_SIGNAL_ID, true);
    hex16(s->signal_id, hex);
    rp_json_put_str(&w, hex, 16);
    KEY(S_CID, false);
    rp_json_put_str(&w, s->cid.bytes, s->cid.len);
    KEY(S_KIND, false);
    NAME(rp_signal_kind_name(s->kind));
    KEY(S_TRANSITION, false);
    NAME(rp_transition_name(s->transition));
    KEY(S_SCORE, false);
    rp_json_put_double(&w, s->score);
    KEY(S_PREVIOUS_SCORE, false);
    rp_json_put_double(&w, s->previous_score);
    KEY(S_THRESHOLD, false);
    rp_json_put_double(&w, s->threshold);
    KEY(S_SEGMENT, false);
    NAME(rp_segment_name(s->segment));
    KEY(S_REASONS, false);
    rp_wbuf_byte(&w, '[');
    for (unsigned r = 0; r < s->n_reasons; r++) {
        rp_json_put_lit(&w, r ? ",{\"code\":" : "{\"code\":");
        NAME(rp_reason_name(s->reasons[r].code));
        rp_json_put_lit(&w, ",\"weight\":");
        rp_json_put_double(&w, s->reasons[r].weight);
        rp_wbuf_byte(&w, '}');
    }
    rp_wbuf_byte(&w, ']');
    KEY(S_AS_OF, false);
    rp_json_put_int(&w, s->as_of_ms);
    KEY(S_EMITTED_AT, false);
    rp_json_put_int(&w, s->emitted_at_ms);
    KEY(S_EPISODE, false);
    rp_json_put_uint(&w, s->episode);
    KEY(S_MODEL, false);
    hex16(s->model, hex);
    rp_json_put_str(&w, hex, 16);
    rp_wbuf_byte(&w, '}');
#undef KEY
#undef NAME
    if (w.full)
        return 0;
    *w.p = '\0';
    return (size_t)(w.p - out);
}

/* ---- decoding: one small reader over either format ---- */

struct srd {
    bool json;
    struct rp_mp_cur mc;
    struct rp_json_cur jc;
    char kscratch[32];
    char vscratch[RP_CID_MAX + 16];
};

/* A map or array being iterated: msgpack knows the count, JSON looks for the bracket. */
struct sit {
    uint64_t left; /* msgpack */
    bool first;    /* JSON */
    bool is_map;
};

static int rd_value(struct srd *r, struct rp_wval *v)
{
    if (!r->json)
        return rp_mp_read(&r->mc, v);
    rp_json_ws(&r->jc);
    return rp_json_value(&r->jc, r->vscratch, sizeof r->vscratch, v);
}

/* Skips the children of a container value just read. */
static int rd_skip(struct srd *r, const struct rp_wval *v, int depth)
{
    if (!r->json)
        return rp_mp_skip_children(&r->mc, v, depth, RP_EVENT_MAX_DEPTH);
    return rp_json_skip_container(&r->jc, v->kind == RP_W_MAP, depth, RP_EVENT_MAX_DEPTH);
}

static void it_begin(struct sit *it, const struct rp_wval *v)
{
    it->left = v->n; /* map: pairs; each it_next reads a key, the caller its value */
    it->first = true;
    it->is_map = v->kind == RP_W_MAP;
}

/* Advances to the next element: 1 when there is one (for a map, its key is read into `key`, the
 * value is next), 0 at the end, -1 on bad input. */
static int it_next(struct srd *r, struct sit *it, struct rp_wval *key)
{
    if (!r->json) {
        if (it->left == 0)
            return 0;
        it->left--;
        if (it->is_map && (rp_mp_read(&r->mc, key) != 0 || key->kind != RP_W_STR))
            return -1;
        return 1;
    }
    struct rp_json_cur *c = &r->jc;
    rp_json_ws(c);
    if (c->p >= c->end)
        return -1;
    if (*c->p == (it->is_map ? '}' : ']')) {
        c->p++;
        return 0;
    }
    if (!it->first) {
        if (*c->p != ',')
            return -1;
        c->p++;
        rp_json_ws(c);
    }
    it->first = false;
    if (it->is_map) {
        if (c->p >= c->end || *c->p != '"' ||
            rp_json_string(c, r->kscratch, sizeof r->kscratch, key) != 0 || key->bad_utf8)
            return -1;
        if (key->s == r->kscratch && key->len > sizeof r->kscratch)
            key->len = sizeof r->kscratch; /* longer than any known key: stays unknown */
        rp_json_ws(c);
        if (c->p >= c->end || *c->p != ':')
            return -1;
        c->p++;
    }
    return 1;
}

static bool key_is(const struct rp_wval *k, const char *name)
{
    size_t n = strlen(name);
    return k->len == n && memcmp(k->s, name, n) == 0;
}

static int parse_hex16(const struct rp_wval *v, uint64_t *out)
{
    if (v->kind != RP_W_STR || v->len != 16)
        return -1;
    uint64_t x = 0;
    for (int k = 0; k < 16; k++) {
        unsigned c = (unsigned char)v->s[k], d;
        if (c - '0' <= 9)
            d = c - '0';
        else if (c - 'a' <= 5)
            d = c - 'a' + 10;
        else
            return -1;
        x = x << 4 | d;
    }
    *out = x;
    return 0;
}

static int as_double(const struct rp_wval *v, double *out)
{
    switch (v->kind) {
    case RP_W_FLOAT:
    case RP_W_BIGINT:
        *out = v->f;
        return 0;
    case RP_W_UINT:
        *out = (double)v->u;
        return 0;
    case RP_W_INT:
        *out = (double)v->i;
        return 0;
    default:
        return -1;
    }
}

static int as_int64(const struct rp_wval *v, int64_t *out)
{
    if (v->kind == RP_W_UINT && v->u <= INT64_MAX)
        *out = (int64_t)v->u;
    else if (v->kind == RP_W_INT)
        *out = v->i;
    else
        return -1;
    return 0;
}

static int as_name(const struct rp_wval *v, int (*parse)(const char *, size_t))
{
    return v->kind == RP_W_STR ? parse(v->s, v->len) : -1;
}

/* The reasons array: up to RP_SIGNAL_MAX_REASONS maps of {code, weight}. */
static int read_reasons(struct srd *r, struct rp_signal *s, const struct rp_wval *arr)
{
    struct sit it, mit;
    struct rp_wval v, key;
    int rc;
    if (arr->kind != RP_W_ARRAY)
        return -1;
    it_begin(&it, arr);
    s->n_reasons = 0;
    while ((rc = it_next(r, &it, NULL)) == 1) {
        if (s->n_reasons == RP_SIGNAL_MAX_REASONS || rd_value(r, &v) != 0 || v.kind != RP_W_MAP)
            return -1;
        struct rp_reason *re = &s->reasons[s->n_reasons++];
        unsigned got = 0;
        it_begin(&mit, &v);
        while ((rc = it_next(r, &mit, &key)) == 1) {
            bool is_code = key_is(&key, "code"), is_weight = key_is(&key, "weight");
            if (rd_value(r, &v) != 0)
                return -1;
            if (is_code) {
                int c = as_name(&v, rp_reason_parse);
                if (c < 0)
                    return -1;
                re->code = (enum rp_reason_code)c;
                got |= 1;
            } else if (is_weight) {
                if (as_double(&v, &re->weight) != 0)
                    return -1;
                got |= 2;
            } else if ((v.kind == RP_W_MAP || v.kind == RP_W_ARRAY) && rd_skip(r, &v, 4) != 0) {
                return -1;
            }
        }
        if (rc < 0 || got != 3)
            return -1;
    }
    return rc;
}

enum rp_err rp_signal_decode(const void *buf, size_t len, struct rp_signal *s, char *detail,
                             size_t detail_size)
{
    struct srd r;
    struct rp_wval v, key;
    struct sit it;
    int rc;
    uint32_t got = 0;
    memset(s, 0, sizeof *s);
    r.json = rp_event_detect(buf, len) == RP_FMT_JSON;
    r.mc.p = buf;
    r.mc.end = (const uint8_t *)buf + len;
    r.jc.p = buf;
    r.jc.end = (const char *)buf + len;
    if (rd_value(&r, &v) != 0)
        return rp_detail(RP_ERR_MALFORMED, detail, detail_size, "not msgpack/JSON");
    if (v.kind != RP_W_MAP)
        return rp_detail(RP_ERR_NOT_A_MAP, detail, detail_size, "signal is not a map");
    it_begin(&it, &v);
    while ((rc = it_next(&r, &it, &key)) == 1) {
        int f = -1;
        for (int k = 0; k < S__COUNT; k++)
            if (key_is(&key, sfield_names[k]))
                f = k;
        if (rd_value(&r, &v) != 0)
            return rp_detail(RP_ERR_MALFORMED, detail, detail_size, "truncated signal");
        if (f < 0) {
            if ((v.kind == RP_W_MAP || v.kind == RP_W_ARRAY) && rd_skip(&r, &v, 2) != 0)
                return rp_detail(RP_ERR_MALFORMED, detail, detail_size, "bad unknown field");
            continue;
        }
        if (got & (1u << f))
            return rp_detail(RP_ERR_MALFORMED, detail, detail_size, "duplicate field '%s'",
                             sfield_names[f]);
        got |= 1u << f;
        int bad = 0, x;
        int64_t i64 = 0;
        switch (f) {
        case S_SIGNAL_ID:
            bad = parse_hex16(&v, &s->signal_id);
            break;
        case S_MODEL:
            bad = parse_hex16(&v, &s->model);
            break;
        case S_CID:
            if (v.kind == RP_W_STR && v.len >= 1 && v.len <= RP_CID_MAX) {
                memcpy(s->cid.bytes, v.s, v.len);
                s->cid.len = (uint8_t)v.len;
            } else {
                bad = -1;
            }
            break;
        case S_KIND:
            x = as_name(&v, rp_signal_kind_parse);
            bad = x < 0;
            s->kind = (enum rp_signal_kind)x;
            break;
        case S_TRANSITION:
            x = as_name(&v, rp_transition_parse);
            bad = x < 0;
            s->transition = (enum rp_transition)x;
            break;
        case S_SEGMENT:
            x = as_name(&v, rp_segment_parse);
            bad = x < 0;
            s->segment = (enum rp_segment)x;
            break;
        case S_SCORE:
            bad = as_double(&v, &s->score);
            break;
        case S_PREVIOUS_SCORE:
            bad = as_double(&v, &s->previous_score);
            break;
        case S_THRESHOLD:
            bad = as_double(&v, &s->threshold);
            break;
        case S_REASONS:
            bad = read_reasons(&r, s, &v);
            break;
        case S_AS_OF:
            bad = as_int64(&v, &s->as_of_ms);
            break;
        case S_EMITTED_AT:
            bad = as_int64(&v, &s->emitted_at_ms);
            break;
        case S_EPISODE:
            bad = as_int64(&v, &i64) != 0 || i64 < 0 || i64 > UINT32_MAX;
            s->episode = (uint32_t)i64;
            break;
        default:
            break;
        }
        if (bad)
            return rp_detail(RP_ERR_BAD_FIELD_TYPE, detail, detail_size, "bad field '%s'",
                             sfield_names[f]);
    }
    if (rc < 0)
        return rp_detail(RP_ERR_MALFORMED, detail, detail_size, "malformed signal");
    if (r.json) {
        rp_json_ws(&r.jc);
        if (r.jc.p != r.jc.end)
            return rp_detail(RP_ERR_MALFORMED, detail, detail_size, "trailing bytes");
    } else if (r.mc.p != r.mc.end) {
        return rp_detail(RP_ERR_MALFORMED, detail, detail_size, "trailing bytes");
    }
    for (int k = 0; k < S__COUNT; k++)
        if (!(got & (1u << k)))
            return rp_detail(RP_ERR_MISSING_FIELD, detail, detail_size, "field '%s' is required",
                             sfield_names[k]);
    return RP_OK;
}
