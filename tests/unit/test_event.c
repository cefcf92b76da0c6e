/* test_event: decode/validate of SPEC §1 events (msgpack and JSON), every error code and
 * boundary, hostile input, encoders, framing. Hostile msgpack is built with msgpack-c's packer,
 * independently of our encoder. */
#include <criterion/criterion.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "rp_err.h"

/* ---- a tiny description of a map, rendered both as JSON text and as msgpack ---- */

enum vt { T_END = 0, T_S, T_U, T_I, T_F, T_NIL, T_ARR, T_MAP };
struct fv {
    const char *k;
    enum vt t;
    const char *s;
    uint64_t u;
    int64_t i;
    double f;
};
#define S(k_, v)                                                                                   \
    {                                                                                              \
        k_, T_S, v, 0, 0, 0                                                                        \
    }
#define U(k_, v)                                                                                   \
    {                                                                                              \
        k_, T_U, NULL, v, 0, 0                                                                     \
    }
#define I(k_, v)                                                                                   \
    {                                                                                              \
        k_, T_I, NULL, 0, v, 0                                                                     \
    }
#define F(k_, v)                                                                                   \
    {                                                                                              \
        k_, T_F, NULL, 0, 0, v                                                                     \
    }
#define NIL(k_)                                                                                    \
    {                                                                                              \
        k_, T_NIL, NULL, 0, 0, 0                                                                   \
    }
#define ARR(k_)                                                                                    \
    {                                                                                              \
        k_, T_ARR, NULL, 0, 0, 0                                                                   \
    } /* [1, "x", {"a": [true]}] */
#define MAP(k_)                                                                                    \
    {                                                                                              \
        k_, T_MAP, NULL, 0, 0, 0                                                                   \
    } /* {"a": {"b": [1, 2]}, "c": null} */
#define END                                                                                        \
    {                                                                                              \
        NULL, T_END, NULL, 0, 0, 0                                                                 \
    }

static char detail[256];

static size_t to_json(const struct fv *f, char *out, size_t cap)
{
    size_t n = 0;
    n += (size_t)snprintf(out + n, cap - n, "{");
    for (int i = 0; f[i].t != T_END; i++) {
        n += (size_t)snprintf(out + n, cap - n, "%s\"%s\":", i ? "," : "", f[i].k);
        switch (f[i].t) {
        case T_S:
            n += (size_t)snprintf(out + n, cap - n, "\"%s\"", f[i].s);
            break;
        case T_U:
            n += (size_t)snprintf(out + n, cap - n, "%llu", (unsigned long long)f[i].u);
            break;
        case T_I:
            n += (size_t)snprintf(out + n, cap - n, "%lld", (long long)f[i].i);
            break;
        case T_F: {
            size_t at = n;
            n += (size_t)snprintf(out + n, cap - n, "%.17g", f[i].f);
            if (!strpbrk(out + at, ".e")) /* keep it a JSON float, not an integer */
                n += (size_t)snprintf(out + n, cap - n, ".0");
            break;
        }
        case T_NIL:
            n += (size_t)snprintf(out + n, cap - n, "null");
            break;
        case T_ARR:
            n += (size_t)snprintf(out + n, cap - n, "[1,\"x\",{\"a\":[true]}]");
            break;
        case T_MAP:
            n += (size_t)snprintf(out + n, cap - n, "{\"a\":{\"b\":[1,2]},\"c\":null}");
            break;
        default:
            break;
        }
    }
    n += (size_t)snprintf(out + n, cap - n, "}");
    return n;
}

static void pk_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* A map of `entries` entries opened with the minimal event {"cid":"c","ts":1,"type":"view"}; the
 * caller packs the other entries - 3. */
static void pk_min_event(msgpack_packer *pk, uint32_t entries)
{
    msgpack_pack_map(pk, entries);
    pk_str(pk, "cid");
    pk_str(pk, "c");
    pk_str(pk, "ts");
    msgpack_pack_int(pk, 1);
    pk_str(pk, "type");
    pk_str(pk, "view");
}

/* {"cid":"c","ts":1,"type":"view","pad":"xxx..."} in msgpack, over RP_EVENT_MAX_BYTES (a str16
 * pad); `scratch` holds at least RP_EVENT_MAX_BYTES + 60 bytes. The caller destroys `sb`. */
static void pack_oversized(msgpack_sbuffer *sb, char *scratch)
{
    size_t pad = RP_EVENT_MAX_BYTES - 40;
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    pk_min_event(&pk, 4);
    pk_str(&pk, "pad");
    memset(scratch, 'x', pad + 100);
    msgpack_pack_str(&pk, pad + 100);
    msgpack_pack_str_body(&pk, scratch, pad + 100);
}

static void to_msgpack(const struct fv *f, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    int n = 0;
    while (f[n].t != T_END)
        n++;
    msgpack_pack_map(&pk, (size_t)n);
    for (int i = 0; i < n; i++) {
        pk_str(&pk, f[i].k);
        switch (f[i].t) {
        case T_S:
            pk_str(&pk, f[i].s);
            break;
        case T_U:
            msgpack_pack_uint64(&pk, f[i].u);
            break;
        case T_I:
            msgpack_pack_int64(&pk, f[i].i);
            break;
        case T_F:
            msgpack_pack_double(&pk, f[i].f);
            break;
        case T_NIL:
            msgpack_pack_nil(&pk);
            break;
        case T_ARR:
            msgpack_pack_array(&pk, 3);
            msgpack_pack_int(&pk, 1);
            pk_str(&pk, "x");
            msgpack_pack_map(&pk, 1);
            pk_str(&pk, "a");
            msgpack_pack_array(&pk, 1);
            msgpack_pack_true(&pk);
            break;
        case T_MAP:
            msgpack_pack_map(&pk, 2);
            pk_str(&pk, "a");
            msgpack_pack_map(&pk, 1);
            pk_str(&pk, "b");
            msgpack_pack_array(&pk, 2);
            msgpack_pack_int(&pk, 1);
            msgpack_pack_int(&pk, 2);
            pk_str(&pk, "c");
            msgpack_pack_nil(&pk);
            break;
        default:
            break;
        }
    }
}

static bool ev_equal(const struct rp_event *a, const struct rp_event *b)
{
    if (a->ts_ms != b->ts_ms || a->type != b->type || a->present != b->present ||
        a->cid.len != b->cid.len || memcmp(a->cid.bytes, b->cid.bytes, a->cid.len) != 0)
        return false;
    if ((a->present & RP_F_VALUE) && a->value != b->value)
        return false;
    if ((a->present & RP_F_SCORE) && a->score != b->score)
        return false;
    if ((a->present & RP_F_SENTIMENT) && a->sentiment != b->sentiment)
        return false;
#define SAME(f) (a->f.len == b->f.len && memcmp(a->f.bytes, b->f.bytes, a->f.len) == 0)
    if ((a->present & RP_F_REF) && !SAME(ref))
        return false;
    if ((a->present & RP_F_TARGET) && !SAME(target))
        return false;
    if ((a->present & RP_F_REFERRER) && !SAME(referrer))
        return false;
    if ((a->present & RP_F_ID) && !SAME(id))
        return false;
#undef SAME
    if ((a->present & RP_F_CHANNEL) &&
        (a->channel_len != b->channel_len || memcmp(a->channel, b->channel, a->channel_len) != 0))
        return false;
    return true;
}

/* Decodes the description in both formats, checks both give the same code (and, when OK, the same
 * event), and returns that code; `*ev` is the msgpack result. */
static enum rp_err both(const struct fv *f, struct rp_event *ev)
{
    char js[4096];
    msgpack_sbuffer sb;
    struct rp_event ej;
    char dj[256];
    size_t jn = to_json(f, js, sizeof js);
    to_msgpack(f, &sb);
    enum rp_err em = rp_event_decode(sb.data, sb.size, ev, detail, sizeof detail);
    enum rp_err ejc = rp_event_decode(js, jn, &ej, dj, sizeof dj);
    cr_assert_eq(em, ejc, "msgpack gives %s (%s), JSON gives %s (%s) for %s", rp_strerror(em),
                 detail, rp_strerror(ejc), dj, js);
    if (em == RP_OK)
        cr_assert(ev_equal(ev, &ej), "msgpack and JSON decode differently: %s", js);
    else
        cr_assert(detail[0] != '\0' && dj[0] != '\0', "no detail for %s", js);
    msgpack_sbuffer_destroy(&sb);
    return em;
}

static enum rp_err json(const char *s, struct rp_event *ev)
{
    return rp_event_decode(s, strlen(s), ev, detail, sizeof detail);
}

#define BASE S("cid", "c1"), U("ts", 1700000000000), S("type", "view")
/* every known field once, and an array and a map the decoder skips */
#define TYPICAL                                                                                    \
    U("v", 1), S("cid", "customer-1"), U("ts", 1700000000000), S("type", "purchase"),              \
        F("value", 42.5), F("sentiment", -0.5), S("ref", "t1"), U("referrer", 99),                 \
        S("channel", "web"), U("id", 1234567), ARR("tags"), MAP("meta")

static char *rep(char c, size_t n)
{
    static char bufs[4][256];
    static int k;
    char *b = bufs[k++ & 3];
    memset(b, c, n);
    b[n] = '\0';
    return b;
}

/* ---- valid events ---- */

Test(event, typical_both_formats)
{
    struct rp_event ev;
    struct fv f[] = {U("v", 1),
                     S("cid", "c0012345"),
                     U("ts", 1700000000000),
                     S("type", "purchase"),
                     F("value", 42.5),
                     S("channel", "web"),
                     END};
    cr_assert_eq(both(f, &ev), RP_OK, "%s", detail);
    cr_assert_eq(ev.cid.len, 8);
    cr_assert(memcmp(ev.cid.bytes, "c0012345", 8) == 0);
    cr_assert_eq(ev.ts_ms, 1700000000000);
    cr_assert_eq(ev.type, RP_EV_PURCHASE);
    cr_assert_eq(ev.present, RP_F_VALUE | RP_F_CHANNEL);
    cr_assert_eq(ev.value, 42.5);
    cr_assert_eq(ev.channel_len, 3);
    cr_assert_eq(ev.score, 0);
    cr_assert_eq(ev.target.len, 0);
}

Test(event, every_type_decodes_with_its_required_fields)
{
    for (int t = 0; t < RP_EV__COUNT; t++) {
        struct rp_event ev;
        struct fv f[] = {S("cid", "c1"),    U("ts", 5),        S("type", rp_event_type_name(t)),
                         F("value", 1.5),   U("score", 5),     S("ref", "r1"),
                         S("target", "c2"), U("referrer", 77), END};
        cr_assert_eq(both(f, &ev), RP_OK, "%s: %s", rp_event_type_name(t), detail);
        cr_assert_eq((int)ev.type, t);
        cr_assert_eq(rp_event_type_parse(rp_event_type_name(t), strlen(rp_event_type_name(t))), t);
        cr_assert_eq(ev.referrer.len, 2);
        cr_assert(memcmp(ev.referrer.bytes, "77", 2) == 0);
    }
}

Test(event, v_is_optional_and_nil_means_absent)
{
    struct rp_event ev;
    struct fv f[] = {BASE, NIL("value"), NIL("channel"), NIL("v"), END};
    cr_assert_eq(both(f, &ev), RP_OK, "%s", detail);
    cr_assert_eq(ev.present, 0);
    struct fv g[] = {S("cid", "c1"), U("ts", 5), S("type", "purchase"), NIL("value"), END};
    cr_assert_eq(both(g, &ev), RP_ERR_MISSING_FIELD);
}

/* ---- cid ---- */

Test(event, cid_boundaries)
{
    struct rp_event ev;
    struct fv ok64[] = {S("cid", rep('a', 64)), U("ts", 1), S("type", "view"), END};
    cr_assert_eq(both(ok64, &ev), RP_OK, "%s", detail);
    cr_assert_eq(ev.cid.len, 64);
    struct fv bad65[] = {S("cid", rep('a', 65)), U("ts", 1), S("type", "view"), END};
    cr_assert_eq(both(bad65, &ev), RP_ERR_TOO_LARGE);
    cr_assert(strstr(detail, "cid"), "%s", detail);
    struct fv empty[] = {S("cid", ""), U("ts", 1), S("type", "view"), END};
    cr_assert_eq(both(empty, &ev), RP_ERR_OUT_OF_RANGE);
    struct fv one[] = {S("cid", "x"), U("ts", 1), S("type", "view"), END};
    cr_assert_eq(both(one, &ev), RP_OK);
    struct fv missing[] = {U("ts", 1), S("type", "view"), END};
    cr_assert_eq(both(missing, &ev), RP_ERR_MISSING_FIELD);
    cr_assert(strstr(detail, "cid"), "%s", detail);
    struct fv neg[] = {I("cid", -42), U("ts", 1), S("type", "view"), END};
    cr_assert_eq(both(neg, &ev), RP_ERR_OUT_OF_RANGE);
    struct fv flt[] = {F("cid", 4.5), U("ts", 1), S("type", "view"), END};
    cr_assert_eq(both(flt, &ev), RP_ERR_BAD_FIELD_TYPE);
    struct fv arr[] = {ARR("cid"), U("ts", 1), S("type", "view"), END};
    cr_assert_eq(both(arr, &ev), RP_ERR_BAD_FIELD_TYPE);
    struct fv map[] = {MAP("cid"), U("ts", 1), S("type", "view"), END};
    cr_assert_eq(both(map, &ev), RP_ERR_BAD_FIELD_TYPE);
}

Test(event, uint_cid_is_its_decimal_string)
{
    struct rp_event a, b;
    struct fv fu[] = {U("cid", 42), U("ts", 1), S("type", "view"), END};
    struct fv fs[] = {S("cid", "42"), U("ts", 1), S("type", "view"), END};
    cr_assert_eq(both(fu, &a), RP_OK);
    cr_assert_eq(both(fs, &b), RP_OK);
    cr_assert(ev_equal(&a, &b));
    struct fv fmax[] = {U("cid", UINT64_MAX), U("ts", 1), S("type", "view"), END};
    cr_assert_eq(both(fmax, &a), RP_OK);
    cr_assert_eq(a.cid.len, 20);
    cr_assert(memcmp(a.cid.bytes, "18446744073709551615", 20) == 0);
    struct fv f0[] = {U("cid", 0), U("ts", 1), S("type", "view"), END};
    cr_assert_eq(both(f0, &a), RP_OK);
    cr_assert(a.cid.len == 1 && a.cid.bytes[0] == '0');
    /* JSON integer beyond 64 bits */
    cr_assert_eq(json("{\"cid\":18446744073709551616,\"ts\":1,\"type\":\"view\"}", &a),
                 RP_ERR_OUT_OF_RANGE);
    /* msgpack int64 that is non-negative is the same as uint */
    char m[] = "\x83\xa3"
               "cid"
               "\xd3\x00\x00\x00\x00\x00\x00\x00\x2a"
               "\xa2"
               "ts"
               "\x01\xa4"
               "type"
               "\xa4"
               "view";
    cr_assert_eq(rp_event_decode(m, sizeof m - 1, &b, detail, sizeof detail), RP_OK, "%s", detail);
    cr_assert(b.cid.len == 2 && memcmp(b.cid.bytes, "42", 2) == 0);
}

/* ---- ts ---- */

Test(event, ts_boundaries)
{
    struct rp_event ev;
    struct fv zero[] = {S("cid", "c"), U("ts", 0), S("type", "view"), END};
    cr_assert_eq(both(zero, &ev), RP_OK);
    struct fv max[] = {S("cid", "c"), U("ts", (uint64_t)RP_TS_MAX), S("type", "view"), END};
    cr_assert_eq(both(max, &ev), RP_OK);
    struct fv over[] = {S("cid", "c"), U("ts", (uint64_t)RP_TS_MAX + 1), S("type", "view"), END};
    cr_assert_eq(both(over, &ev), RP_ERR_OUT_OF_RANGE);
    struct fv neg[] = {S("cid", "c"), I("ts", -1), S("type", "view"), END};
    cr_assert_eq(both(neg, &ev), RP_ERR_OUT_OF_RANGE);
    cr_assert(strstr(detail, "ts"), "%s", detail);
    struct fv flt[] = {S("cid", "c"), F("ts", 1700000000000.5), S("type", "view"), END};
    cr_assert_eq(both(flt, &ev), RP_ERR_BAD_FIELD_TYPE);
    struct fv missing[] = {S("cid", "c"), S("type", "view"), END};
    cr_assert_eq(both(missing, &ev), RP_ERR_MISSING_FIELD);
    cr_assert(strstr(detail, "ts"), "%s", detail);
}

Test(event, ts_rfc3339_in_json_only)
{
    struct rp_event ev;
    const char *ok[] = {"2023-11-14T22:13:20Z", "2023-11-14T22:13:20.000Z",
                        "2023-11-14T23:13:20+01:00", "2023-11-14T21:13:20.000-01:00"};
    for (size_t i = 0; i < 4; i++) {
        char js[256];
        snprintf(js, sizeof js, "{\"cid\":\"c\",\"ts\":\"%s\",\"type\":\"view\"}", ok[i]);
        cr_assert_eq(json(js, &ev), RP_OK, "%s: %s", ok[i], detail);
        cr_assert_eq(ev.ts_ms, 1700000000000, "%s", ok[i]);
    }
    cr_assert_eq(json("{\"cid\":\"c\",\"ts\":\"2023-11-14T22:13:20.25Z\",\"type\":\"view\"}", &ev),
                 RP_OK);
    cr_assert_eq(ev.ts_ms, 1700000000250);
    /* escapes inside the time are decoded first */
    cr_assert_eq(
        json("{\"cid\":\"c\",\"ts\":\"2023-11-14T22:13:20\\u005a\",\"type\":\"view\"}", &ev),
        RP_OK);
    cr_assert_eq(ev.ts_ms, 1700000000000);
    cr_assert_eq(json("{\"cid\":\"c\",\"ts\":\"yesterday\",\"type\":\"view\"}", &ev),
                 RP_ERR_BAD_FIELD_TYPE);
    cr_assert_eq(json("{\"cid\":\"c\",\"ts\":\"2023-02-30T00:00:00Z\",\"type\":\"view\"}", &ev),
                 RP_ERR_OUT_OF_RANGE);
    cr_assert_eq(json("{\"cid\":\"c\",\"ts\":\"1960-01-01T00:00:00Z\",\"type\":\"view\"}", &ev),
                 RP_ERR_OUT_OF_RANGE);
    cr_assert_eq(json("{\"cid\":\"c\",\"ts\":1.7e12,\"type\":\"view\"}", &ev),
                 RP_ERR_BAD_FIELD_TYPE);
    /* msgpack has integer times only */
    msgpack_sbuffer sb;
    struct fv f[] = {S("cid", "c"), S("ts", "2023-11-14T22:13:20Z"), S("type", "view"), END};
    to_msgpack(f, &sb);
    cr_assert_eq(rp_event_decode_msgpack(sb.data, sb.size, &ev, detail, sizeof detail),
                 RP_ERR_BAD_FIELD_TYPE);
    msgpack_sbuffer_destroy(&sb);
}

/* ---- type ---- */

Test(event, type_errors)
{
    struct rp_event ev;
    struct fv unk[] = {S("cid", "c"), U("ts", 1), S("type", "teleport"), END};
    cr_assert_eq(both(unk, &ev), RP_ERR_UNKNOWN_TYPE);
    cr_assert(strstr(detail, "teleport"), "%s", detail);
    struct fv near[] = {S("cid", "c"), U("ts", 1), S("type", "views"), END};
    cr_assert_eq(both(near, &ev), RP_ERR_UNKNOWN_TYPE);
    struct fv refun[] = {S("cid", "c"), U("ts", 1), S("type", "refunD"), END};
    cr_assert_eq(both(refun, &ev), RP_ERR_UNKNOWN_TYPE);
    struct fv empty[] = {S("cid", "c"), U("ts", 1), S("type", ""), END};
    cr_assert_eq(both(empty, &ev), RP_ERR_UNKNOWN_TYPE);
    struct fv num[] = {S("cid", "c"), U("ts", 1), U("type", 3), END};
    cr_assert_eq(both(num, &ev), RP_ERR_BAD_FIELD_TYPE);
    struct fv missing[] = {S("cid", "c"), U("ts", 1), END};
    cr_assert_eq(both(missing, &ev), RP_ERR_MISSING_FIELD);
    cr_assert(strstr(detail, "type"), "%s", detail);
}

/* ---- value, score, sentiment ---- */

Test(event, value_boundaries)
{
    struct rp_event ev;
    struct fv zero[] = {S("cid", "c"), U("ts", 1), S("type", "purchase"), U("value", 0), END};
    cr_assert_eq(both(zero, &ev), RP_OK);
    cr_assert_eq(ev.value, 0.0);
    struct fv fzero[] = {S("cid", "c"), U("ts", 1), S("type", "refund"), F("value", 0.0), END};
    cr_assert_eq(both(fzero, &ev), RP_OK);
    struct fv neg[] = {S("cid", "c"), U("ts", 1), S("type", "purchase"), F("value", -0.1), END};
    cr_assert_eq(both(neg, &ev), RP_ERR_OUT_OF_RANGE);
    cr_assert(strstr(detail, "value"), "%s", detail);
    struct fv negi[] = {S("cid", "c"), U("ts", 1), S("type", "purchase"), I("value", -3), END};
    cr_assert_eq(both(negi, &ev), RP_ERR_OUT_OF_RANGE);
    struct fv str[] = {S("cid", "c"), U("ts", 1), S("type", "purchase"), S("value", "3"), END};
    cr_assert_eq(both(str, &ev), RP_ERR_BAD_FIELD_TYPE);
    struct fv big[] = {S("cid", "c"), U("ts", 1), S("type", "purchase"), F("value", 1e300), END};
    cr_assert_eq(both(big, &ev), RP_OK);
    /* NaN and infinities exist only in msgpack; JSON's nearest is an overflowing literal */
    double bad[] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 3; i++) {
        msgpack_sbuffer sb;
        struct fv f[] = {S("cid", "c"), U("ts", 1), S("type", "purchase"), F("value", bad[i]), END};
        to_msgpack(f, &sb);
        cr_assert_eq(rp_event_decode(sb.data, sb.size, &ev, detail, sizeof detail),
                     RP_ERR_OUT_OF_RANGE);
        msgpack_sbuffer_destroy(&sb);
    }
    cr_assert_eq(json("{\"cid\":\"c\",\"ts\":1,\"type\":\"purchase\",\"value\":1e999}", &ev),
                 RP_ERR_OUT_OF_RANGE);
    /* float32 in msgpack */
    char m[] = "\x84\xa3"
               "cid"
               "\xa1"
               "c"
               "\xa2"
               "ts"
               "\x01\xa4"
               "type"
               "\xa8"
               "purchase"
               "\xa5"
               "value"
               "\xca\x40\x20\x00\x00";
    cr_assert_eq(rp_event_decode(m, sizeof m - 1, &ev, detail, sizeof detail), RP_OK, "%s", detail);
    cr_assert_eq(ev.value, 2.5);
    struct fv missing[] = {S("cid", "c"), U("ts", 1), S("type", "purchase"), END};
    cr_assert_eq(both(missing, &ev), RP_ERR_MISSING_FIELD);
    cr_assert(strstr(detail, "value"), "%s", detail);
    struct fv rmissing[] = {S("cid", "c"), U("ts", 1), S("type", "refund"), END};
    cr_assert_eq(both(rmissing, &ev), RP_ERR_MISSING_FIELD);
}

static enum rp_err score_of(const char *type, int64_t score)
{
    struct rp_event ev;
    struct fv f[] = {S("cid", "c"), U("ts", 1), S("type", type), I("score", score), END};
    return both(f, &ev);
}

Test(event, score_boundaries)
{
    cr_assert_eq(score_of("nps", 0), RP_OK);
    cr_assert_eq(score_of("nps", 10), RP_OK);
    cr_assert_eq(score_of("nps", 11), RP_ERR_OUT_OF_RANGE);
    cr_assert(strstr(detail, "score"), "%s", detail);
    cr_assert_eq(score_of("nps", -1), RP_ERR_OUT_OF_RANGE);
    cr_assert_eq(score_of("review", 1), RP_OK);
    cr_assert_eq(score_of("review", 5), RP_OK);
    cr_assert_eq(score_of("review", 0), RP_ERR_OUT_OF_RANGE);
    cr_assert_eq(score_of("review", 6), RP_ERR_OUT_OF_RANGE);
    cr_assert_eq(score_of("view", 1000), RP_OK); /* no range for other types */
    cr_assert_eq(score_of("view", -1000), RP_OK);
    cr_assert_eq(score_of("view", INT32_MAX), RP_OK);
    cr_assert_eq(score_of("view", (int64_t)INT32_MAX + 1), RP_ERR_OUT_OF_RANGE);
    cr_assert_eq(score_of("view", (int64_t)INT32_MIN - 1), RP_ERR_OUT_OF_RANGE);
    struct rp_event ev;
    struct fv flt[] = {S("cid", "c"), U("ts", 1), S("type", "nps"), F("score", 9.5), END};
    cr_assert_eq(both(flt, &ev), RP_ERR_BAD_FIELD_TYPE);
    struct fv missing[] = {S("cid", "c"), U("ts", 1), S("type", "nps"), END};
    cr_assert_eq(both(missing, &ev), RP_ERR_MISSING_FIELD);
    struct fv rmissing[] = {S("cid", "c"), U("ts", 1), S("type", "review"), END};
    cr_assert_eq(both(rmissing, &ev), RP_ERR_MISSING_FIELD);
    cr_assert(strstr(detail, "score"), "%s", detail);
}

Test(event, sentiment_boundaries)
{
    struct rp_event ev;
    double ok[] = {-1.0, 1.0, 0.0, 0.25};
    for (int i = 0; i < 4; i++) {
        struct fv f[] = {BASE, F("sentiment", ok[i]), END};
        cr_assert_eq(both(f, &ev), RP_OK, "%g", ok[i]);
        cr_assert_eq(ev.sentiment, ok[i]);
        cr_assert(ev.present & RP_F_SENTIMENT);
    }
    struct fv one[] = {BASE, I("sentiment", 1), END};
    cr_assert_eq(both(one, &ev), RP_OK);
    struct fv mone[] = {BASE, I("sentiment", -1), END};
    cr_assert_eq(both(mone, &ev), RP_OK);
    cr_assert_eq(ev.sentiment, -1.0);
    double bad[] = {1.0001, -1.0001, 2.0};
    for (int i = 0; i < 3; i++) {
        struct fv f[] = {BASE, F("sentiment", bad[i]), END};
        cr_assert_eq(both(f, &ev), RP_ERR_OUT_OF_RANGE, "%g", bad[i]);
    }
    msgpack_sbuffer sb;
    struct fv nan[] = {BASE, F("sentiment", NAN), END};
    to_msgpack(nan, &sb);
    cr_assert_eq(rp_event_decode(sb.data, sb.size, &ev, detail, sizeof detail),
                 RP_ERR_OUT_OF_RANGE);
    msgpack_sbuffer_destroy(&sb);
    struct fv str[] = {BASE, S("sentiment", "good"), END};
    cr_assert_eq(both(str, &ev), RP_ERR_BAD_FIELD_TYPE);
}

/* ---- strings: channel, ref, target, referrer, id ---- */

Test(event, channel_boundaries)
{
    struct rp_event ev;
    struct fv ok[] = {BASE, S("channel", rep('w', 16)), END};
    cr_assert_eq(both(ok, &ev), RP_OK);
    cr_assert_eq(ev.channel_len, 16);
    struct fv big[] = {BASE, S("channel", rep('w', 17)), END};
    cr_assert_eq(both(big, &ev), RP_ERR_TOO_LARGE);
    cr_assert(strstr(detail, "channel"), "%s", detail);
    struct fv empty[] = {BASE, S("channel", ""), END};
    cr_assert_eq(both(empty, &ev), RP_OK);
    cr_assert(ev.present & RP_F_CHANNEL);
    struct fv num[] = {BASE, U("channel", 1), END};
    cr_assert_eq(both(num, &ev), RP_ERR_BAD_FIELD_TYPE);
}

Test(event, ref_boundaries)
{
    struct rp_event ev;
    struct fv ok[] = {S("cid", "c"), U("ts", 1), S("type", "question"), S("ref", rep('r', 64)),
                      END};
    cr_assert_eq(both(ok, &ev), RP_OK);
    cr_assert_eq(ev.ref.len, 64);
    struct fv big[] = {S("cid", "c"), U("ts", 1), S("type", "question"), S("ref", rep('r', 65)),
                       END};
    cr_assert_eq(both(big, &ev), RP_ERR_TOO_LARGE);
    cr_assert(strstr(detail, "ref"), "%s", detail);
    struct fv empty[] = {S("cid", "c"), U("ts", 1), S("type", "reply"), S("ref", ""), END};
    cr_assert_eq(both(empty, &ev), RP_ERR_OUT_OF_RANGE);
    cr_assert(strstr(detail, "ref"), "%s", detail);
    /* where no thread is paired, an empty ref is just a string (SPEC §1: <= 64 bytes) */
    struct fv view_empty[] = {S("cid", "c"), U("ts", 1), S("type", "view"), S("ref", ""), END};
    cr_assert_eq(both(view_empty, &ev), RP_OK, "%s", detail);
    cr_assert_eq(ev.ref.len, 0);
    struct fv num[] = {S("cid", "c"), U("ts", 1), S("type", "reply"), U("ref", 7), END};
    cr_assert_eq(both(num, &ev), RP_ERR_BAD_FIELD_TYPE);
    const char *need[] = {"question", "reply", "complaint", "resolution"};
    for (int i = 0; i < 4; i++) {
        struct fv f[] = {S("cid", "c"), U("ts", 1), S("type", need[i]), END};
        cr_assert_eq(both(f, &ev), RP_ERR_MISSING_FIELD, "%s", need[i]);
        cr_assert(strstr(detail, "ref"), "%s", detail);
    }
}

Test(event, target_referrer_id)
{
    struct rp_event ev;
    const char *need[] = {"referral", "answer"};
    for (int i = 0; i < 2; i++) {
        struct fv f[] = {S("cid", "c"), U("ts", 1), S("type", need[i]), END};
        cr_assert_eq(both(f, &ev), RP_ERR_MISSING_FIELD);
        cr_assert(strstr(detail, "target"), "%s", detail);
        struct fv g[] = {S("cid", "c"), U("ts", 1), S("type", need[i]), U("target", 9001), END};
        cr_assert_eq(both(g, &ev), RP_OK);
        cr_assert(ev.target.len == 4 && memcmp(ev.target.bytes, "9001", 4) == 0);
    }
    struct fv t65[] = {S("cid", "c"), U("ts", 1), S("type", "answer"), S("target", rep('t', 65)),
                       END};
    cr_assert_eq(both(t65, &ev), RP_ERR_TOO_LARGE);
    struct fv tneg[] = {S("cid", "c"), U("ts", 1), S("type", "answer"), I("target", -1), END};
    cr_assert_eq(both(tneg, &ev), RP_ERR_OUT_OF_RANGE);
    struct fv rempty[] = {BASE, S("referrer", ""), END};
    cr_assert_eq(both(rempty, &ev), RP_ERR_OUT_OF_RANGE);
    cr_assert(strstr(detail, "referrer"), "%s", detail);
    struct fv r64[] = {BASE, S("referrer", rep('x', 64)), END};
    cr_assert_eq(both(r64, &ev), RP_OK);
    cr_assert(ev.present & RP_F_REFERRER);
    struct fv id64[] = {BASE, S("id", rep('i', 64)), END};
    cr_assert_eq(both(id64, &ev), RP_OK);
    cr_assert_eq(ev.id.len, 64);
    struct fv id65[] = {BASE, S("id", rep('i', 65)), END};
    cr_assert_eq(both(id65, &ev), RP_ERR_TOO_LARGE);
    struct fv idu[] = {BASE, U("id", 123456789), END};
    cr_assert_eq(both(idu, &ev), RP_OK);
    cr_assert(ev.id.len == 9 && memcmp(ev.id.bytes, "123456789", 9) == 0);
    struct fv idneg[] = {BASE, I("id", -5), END};
    cr_assert_eq(both(idneg, &ev), RP_ERR_OUT_OF_RANGE);
    struct fv idf[] = {BASE, F("id", 1.5), END};
    cr_assert_eq(both(idf, &ev), RP_ERR_BAD_FIELD_TYPE);
    /* the detail names both accepted types, as for cid */
    cr_assert(strstr(detail, "expected string or unsigned integer, got float"), "%s", detail);
}

/* ---- version, duplicates, unknown fields, structure ---- */

Test(event, version)
{
    struct rp_event ev;
    struct fv v1[] = {U("v", 1), BASE, END};
    cr_assert_eq(both(v1, &ev), RP_OK);
    struct fv v2[] = {U("v", 2), BASE, END};
    cr_assert_eq(both(v2, &ev), RP_ERR_UNSUPPORTED_VERSION);
    cr_assert(strstr(detail, "2"), "%s", detail);
    struct fv v0[] = {U("v", 0), BASE, END};
    cr_assert_eq(both(v0, &ev), RP_ERR_UNSUPPORTED_VERSION);
    struct fv vneg[] = {I("v", -1), BASE, END};
    cr_assert_eq(both(vneg, &ev), RP_ERR_UNSUPPORTED_VERSION);
    struct fv vstr[] = {S("v", "1"), BASE, END};
    cr_assert_eq(both(vstr, &ev), RP_ERR_BAD_FIELD_TYPE);
    /* beyond int64 the number is not echoed clamped to INT64_MAX: it is out of range */
    struct fv vbig[] = {U("v", UINT64_MAX), BASE, END};
    cr_assert_eq(both(vbig, &ev), RP_ERR_UNSUPPORTED_VERSION);
    cr_assert(strstr(detail, "out of range") && !strstr(detail, "9223372036854775807"), "%s",
              detail);
    const char *vhuge = "{\"v\":18446744073709551617,\"cid\":\"a\",\"ts\":1,\"type\":\"view\"}";
    cr_assert_eq(json(vhuge, &ev), RP_ERR_UNSUPPORTED_VERSION);
    cr_assert(strstr(detail, "out of range") && !strstr(detail, "9223372036854775807"), "%s",
              detail);
    struct fv vmax[] = {U("v", INT64_MAX), BASE, END};
    cr_assert_eq(both(vmax, &ev), RP_ERR_UNSUPPORTED_VERSION);
    cr_assert(strstr(detail, "version 9223372036854775807 is not"), "%s", detail);
    /* a future version wins over field errors anywhere in the map: its fields may differ */
    struct fv later[] = {S("cid", ""), S("type", "teleport"), U("v", 2), END};
    cr_assert_eq(both(later, &ev), RP_ERR_UNSUPPORTED_VERSION);
}

Test(event, duplicate_known_key_is_malformed)
{
    struct rp_event ev;
    struct fv f[] = {BASE, S("cid", "c2"), END};
    cr_assert_eq(both(f, &ev), RP_ERR_MALFORMED);
    cr_assert(strstr(detail, "cid"), "%s", detail);
    struct fv g[] = {BASE, NIL("channel"), S("channel", "web"), END};
    cr_assert_eq(both(g, &ev), RP_ERR_MALFORMED);
    /* duplicate unknown keys are not our business */
    struct fv h[] = {BASE, U("x", 1), U("x", 2), END};
    cr_assert_eq(both(h, &ev), RP_OK);
}

Test(event, unknown_fields_are_skipped)
{
    struct rp_event ev;
    struct fv f[] = {ARR("tags"),
                     S("cid", "c1"),
                     MAP("meta"),
                     U("ts", 7),
                     S("x", "y"),
                     F("weight", 1.5),
                     NIL("nothing"),
                     S("type", "click"),
                     MAP("z"),
                     I("neg", -9),
                     END};
    cr_assert_eq(both(f, &ev), RP_OK, "%s", detail);
    cr_assert_eq(ev.type, RP_EV_CLICK);
    cr_assert_eq(ev.ts_ms, 7);
    /* keys that look like known ones */
    struct fv g[] = {BASE, U("vv", 3), S("cids", ""), S("Type", "x"), S("valu", "x"), END};
    cr_assert_eq(both(g, &ev), RP_OK, "%s", detail);
    /* msgpack: non-string keys, bin, ext values */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 7);
    msgpack_pack_int(&pk, 5);
    msgpack_pack_int(&pk, 6);
    pk_str(&pk, "cid");
    pk_str(&pk, "c");
    msgpack_pack_array(&pk, 2); /* an array as a key */
    msgpack_pack_int(&pk, 1);
    msgpack_pack_map(&pk, 0);
    msgpack_pack_true(&pk);
    pk_str(&pk, "ts");
    msgpack_pack_uint16(&pk, 300);
    pk_str(&pk, "bin");
    msgpack_pack_bin(&pk, 3);
    msgpack_pack_bin_body(&pk, "\x00\xff\x01", 3);
    pk_str(&pk, "ext");
    msgpack_pack_ext(&pk, 5, 7);
    msgpack_pack_ext_body(&pk, "12345", 5);
    pk_str(&pk, "type");
    pk_str(&pk, "login");
    cr_assert_eq(rp_event_decode(sb.data, sb.size, &ev, detail, sizeof detail), RP_OK, "%s",
                 detail);
    cr_assert_eq(ev.ts_ms, 300);
    cr_assert_eq(ev.type, RP_EV_LOGIN);
    msgpack_sbuffer_destroy(&sb);
}

Test(event, not_a_map)
{
    struct rp_event ev;
    cr_assert_eq(json("[1,2]", &ev), RP_ERR_NOT_A_MAP);
    cr_assert_eq(rp_event_decode_json("[1,2]", 5, &ev, detail, sizeof detail), RP_ERR_NOT_A_MAP);
    cr_assert_eq(rp_event_decode_json("\"x\"", 3, &ev, detail, sizeof detail), RP_ERR_NOT_A_MAP);
    cr_assert_eq(rp_event_decode_json("42", 2, &ev, detail, sizeof detail), RP_ERR_NOT_A_MAP);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, 1);
    cr_assert_eq(rp_event_decode(sb.data, sb.size, &ev, detail, sizeof detail), RP_ERR_NOT_A_MAP);
    cr_assert_eq(rp_event_decode("\xa3"
                                 "abc",
                                 4, &ev, detail, sizeof detail),
                 RP_ERR_NOT_A_MAP);
    cr_assert_eq(rp_event_decode("\xc0", 1, &ev, detail, sizeof detail), RP_ERR_NOT_A_MAP);
    msgpack_sbuffer_destroy(&sb);
}

Test(event, malformed)
{
    struct rp_event ev;
    cr_assert_eq(rp_event_decode("", 0, &ev, detail, sizeof detail), RP_ERR_MALFORMED);
    cr_assert_eq(rp_event_decode("\xc1", 1, &ev, detail, sizeof detail), RP_ERR_MALFORMED);
    cr_assert_eq(rp_event_decode_json("   ", 3, &ev, detail, sizeof detail), RP_ERR_MALFORMED);
    cr_assert_eq(rp_event_decode_json("nope", 4, &ev, detail, sizeof detail), RP_ERR_MALFORMED);
    const char *bad[] = {
        "{",
        "{\"cid\"}",
        "{\"cid\":}",
        "{\"cid\":\"c\",}",
        "{\"cid\":\"c\" \"ts\":1}",
        "{cid:\"c\"}",
        "{\"cid\":\"c\",\"ts\":01,\"type\":\"view\"}",
        "{\"cid\":\"c\",\"ts\":1.,\"type\":\"view\"}",
        "{\"cid\":\"c\",\"ts\":-,\"type\":\"view\"}",
        "{\"cid\":\"c\",\"ts\":1,\"type\":\"view\",\"x\":tru}",
        "{\"cid\":\"c\",\"ts\":1,\"type\":\"view\",\"x\":[1,]}",
        "{\"cid\":\"c\",\"ts\":1,\"type\":\"view\",\"x\":{\"a\"}}",
        "{\"cid\":\"c\",\"ts\":1,\"type\":\"view\",\"x\":[1}",
        "{\"cid\":\"c\",\"ts\":1,\"type\":\"view\",\"x\":\"\\q\"}",
        "{\"cid\":\"c\",\"ts\":1,\"type\":\"view\",\"x\":\"\\u12\"}",
        "{\"cid\":\"c\",\"ts\":1,\"type\":\"view\",\"x\":\"a\tb\"}", /* raw control char */
        "{\"cid\":\"c\",\"ts\":1,\"type\":\"view\"}x",
        "{\"cid\":\"c\",\"ts\":1,\"type\":\"view\"}{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(json(bad[i], &ev), RP_ERR_MALFORMED, "%s -> %s (%s)", bad[i],
                     rp_strerror(json(bad[i], &ev)), detail);
    /* trailing blanks are fine in JSON, trailing bytes are not in msgpack */
    cr_assert_eq(json("  {\"cid\":\"c\",\"ts\":1,\"type\":\"view\"} \n", &ev), RP_OK);
    msgpack_sbuffer sb;
    struct fv f[] = {BASE, END};
    to_msgpack(f, &sb);
    msgpack_sbuffer_write(&sb, "\x00", 1);
    cr_assert_eq(rp_event_decode(sb.data, sb.size, &ev, detail, sizeof detail), RP_ERR_MALFORMED);
    cr_assert(strstr(detail, "trailing"), "%s", detail);
    msgpack_sbuffer_destroy(&sb);
}

Test(event, empty_map_and_detail_handling)
{
    struct rp_event ev;
    cr_assert_eq(json("{}", &ev), RP_ERR_MISSING_FIELD);
    cr_assert_eq(rp_event_decode("\x80", 1, &ev, detail, sizeof detail), RP_ERR_MISSING_FIELD);
    /* NULL detail and a tiny detail buffer are fine */
    cr_assert_eq(rp_event_decode("\x80", 1, &ev, NULL, 0), RP_ERR_MISSING_FIELD);
    char small[4];
    cr_assert_eq(rp_event_decode("\x80", 1, &ev, small, sizeof small), RP_ERR_MISSING_FIELD);
    cr_assert_eq(strlen(small), 3);
}

/* ---- hostile input ---- */

Test(event, truncation_at_every_offset_fails_cleanly)
{
    struct rp_event ev;
    struct fv f[] = {TYPICAL, END};
    char js[1024];
    size_t jn = to_json(f, js, sizeof js);
    msgpack_sbuffer sb;
    to_msgpack(f, &sb);
    cr_assert_eq(rp_event_decode(sb.data, sb.size, &ev, detail, sizeof detail), RP_OK, "%s",
                 detail);
    cr_assert_eq(rp_event_decode(js, jn, &ev, detail, sizeof detail), RP_OK, "%s", detail);
    for (size_t n = 0; n < sb.size; n++) {
        char *copy = malloc(n ? n : 1); /* exact size, so ASan sees any overread */
        memcpy(copy, sb.data, n);
        cr_assert_neq(rp_event_decode(copy, n, &ev, detail, sizeof detail), RP_OK, "%zu", n);
        free(copy);
    }
    for (size_t n = 0; n < jn; n++) {
        char *copy = malloc(n ? n : 1);
        memcpy(copy, js, n);
        cr_assert_neq(rp_event_decode(copy, n, &ev, detail, sizeof detail), RP_OK, "%zu", n);
        free(copy);
    }
    msgpack_sbuffer_destroy(&sb);
}

Test(event, map_claiming_2_to_32_entries)
{
    struct rp_event ev;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 0xffffffffu);
    pk_str(&pk, "cid");
    pk_str(&pk, "c");
    cr_assert_eq(rp_event_decode(sb.data, sb.size, &ev, detail, sizeof detail), RP_ERR_MALFORMED);
    cr_assert(strstr(detail, "claims"), "%s", detail);
    msgpack_sbuffer_destroy(&sb);
    /* the same inside an unknown field, and an array */
    msgpack_sbuffer_init(&sb);
    pk_min_event(&pk, 4);
    pk_str(&pk, "x");
    msgpack_pack_array(&pk, 0xffffffffu);
    msgpack_pack_int(&pk, 1);
    cr_assert_eq(rp_event_decode(sb.data, sb.size, &ev, detail, sizeof detail), RP_ERR_MALFORMED);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_init(&sb);
    msgpack_pack_map(&pk, 1);
    pk_str(&pk, "x");
    msgpack_pack_map(&pk, 0xffffffffu);
    cr_assert_eq(rp_event_decode(sb.data, sb.size, &ev, detail, sizeof detail), RP_ERR_MALFORMED);
    msgpack_sbuffer_destroy(&sb);
}

Test(event, huge_claimed_lengths)
{
    struct rp_event ev;
    /* str32, bin32 and ext32 claiming 4 GiB, as a key and as a value */
    const char *cases[] = {"\x81\xdb\xff\xff\xff\xff"
                           "abc",
                           "\x81\xa1x\xdb\xff\xff\xff\xff"
                           "abc",
                           "\x81\xa1x\xc6\xff\xff\xff\xff"
                           "abc",
                           "\x81\xa1x\xc9\xff\xff\xff\xff\x01"
                           "abc",
                           "\x81\xa3"
                           "cid"
                           "\xdb\x00\x00\x00\x41"
                           "abc"};
    size_t lens[] = {9, 11, 11, 12, 12};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(rp_event_decode(cases[i], lens[i], &ev, detail, sizeof detail),
                     RP_ERR_MALFORMED, "case %d: %s", i, detail);
}

static size_t nested(char *out, size_t depth, bool json_fmt, bool map)
{
    size_t n = 0;
    const char *head = json_fmt ? "{\"cid\":\"c\",\"ts\":1,\"type\":\"view\",\"deep\":"
                                : "\x84\xa3"
                                  "cid"
                                  "\xa1"
                                  "c"
                                  "\xa2"
                                  "ts"
                                  "\x01\xa4"
                                  "type"
                                  "\xa4"
                                  "view"
                                  "\xa4"
                                  "deep";
    n = strlen(head);
    memcpy(out, head, n);
    for (size_t i = 0; i < depth; i++) {
        if (json_fmt) {
            if (map) {
                memcpy(out + n, "{\"k\":", 5);
                n += 5;
            } else {
                out[n++] = '[';
            }
        } else if (map) {
            memcpy(out + n, "\x81\xa1k", 3);
            n += 3;
        } else {
            out[n++] = (char)0x91;
        }
    }
    if (json_fmt) {
        out[n++] = '1';
        for (size_t i = 0; i < depth; i++)
            out[n++] = map ? '}' : ']';
        out[n++] = '}';
    } else {
        out[n++] = 1;
    }
    return n;
}

Test(event, deep_nesting)
{
    struct rp_event ev;
    char *buf = malloc(200000);
    for (int fmt = 0; fmt < 2; fmt++) {
        for (int map = 0; map < 2; map++) {
            size_t n = nested(buf, 10000, fmt, map);
            cr_assert_eq(rp_event_decode(buf, n, &ev, detail, sizeof detail), RP_ERR_TOO_LARGE,
                         "fmt %d map %d: %s", fmt, map, detail);
            cr_assert(strstr(detail, "deeper"), "%s", detail);
            /* the top-level map is level 1: a value may nest RP_EVENT_MAX_DEPTH - 1 levels */
            n = nested(buf, RP_EVENT_MAX_DEPTH - 1, fmt, map);
            cr_assert_eq(rp_event_decode(buf, n, &ev, detail, sizeof detail), RP_OK,
                         "fmt %d map %d: %s", fmt, map, detail);
            n = nested(buf, RP_EVENT_MAX_DEPTH, fmt, map);
            cr_assert_eq(rp_event_decode(buf, n, &ev, detail, sizeof detail), RP_ERR_TOO_LARGE,
                         "fmt %d map %d", fmt, map);
        }
    }
    free(buf);
}

Test(event, message_size_limit)
{
    struct rp_event ev;
    size_t big = RP_EVENT_MAX_BYTES + 1;
    char *buf = malloc(big + 64);
    /* {"cid":"c","ts":1,"type":"view","pad":"xxxx..."} sized exactly at and over the limit */
    for (int over = 0; over < 2; over++) {
        size_t total = RP_EVENT_MAX_BYTES + (size_t)over;
        const char *head = "{\"cid\":\"c\",\"ts\":1,\"type\":\"view\",\"pad\":\"";
        size_t hn = strlen(head);
        memcpy(buf, head, hn);
        memset(buf + hn, 'x', total - hn - 2);
        memcpy(buf + total - 2, "\"}", 2);
        cr_assert_eq(rp_event_decode(buf, total, &ev, detail, sizeof detail),
                     over ? RP_ERR_TOO_LARGE : RP_OK, "%s", detail);
    }
    /* msgpack: str16 padding */
    msgpack_sbuffer sb;
    pack_oversized(&sb, buf);
    cr_assert_gt(sb.size, RP_EVENT_MAX_BYTES);
    cr_assert_eq(rp_event_decode(sb.data, sb.size, &ev, detail, sizeof detail), RP_ERR_TOO_LARGE);
    cr_assert_eq(rp_event_decode_msgpack(sb.data, sb.size, &ev, detail, sizeof detail),
                 RP_ERR_TOO_LARGE);
    msgpack_sbuffer_destroy(&sb);
    free(buf);
}

Test(event, utf8)
{
    struct rp_event ev;
    const char *bad[] = {"\xff",         "a\x80",        "\xc0\xaf",
                         "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                         "\xc3",         "abc\xe2\x82"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct fv f[] = {S("cid", bad[i]), U("ts", 1), S("type", "view"), END};
        cr_assert_eq(both(f, &ev), RP_ERR_BAD_FIELD_TYPE, "case %zu", i);
        struct fv g[] = {BASE, S("channel", bad[i]), END};
        cr_assert_eq(both(g, &ev), RP_ERR_BAD_FIELD_TYPE, "case %zu", i);
    }
    const char *good[] = {"caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
                          "\xed\x9f\xbf"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        struct fv f[] = {S("cid", good[i]), U("ts", 1), S("type", "view"), END};
        cr_assert_eq(both(f, &ev), RP_OK, "case %zu: %s", i, detail);
        cr_assert_eq(ev.cid.len, strlen(good[i]));
    }
    /* JSON escapes into UTF-8, surrogate pairs included */
    cr_assert_eq(json("{\"cid\":\"a\\u00e9\\u20ac\\ud83d\\ude00\\n\\\"\\/\\\\\",\"ts\":1,"
                      "\"type\":\"view\"}",
                      &ev),
                 RP_OK, "%s", detail);
    const char want[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\n\"/\\";
    cr_assert_eq(ev.cid.len, sizeof want - 1);
    cr_assert(memcmp(ev.cid.bytes, want, sizeof want - 1) == 0);
    /* lone surrogates cannot be UTF-8 */
    cr_assert_eq(json("{\"cid\":\"\\ud800\",\"ts\":1,\"type\":\"view\"}", &ev),
                 RP_ERR_BAD_FIELD_TYPE);
    cr_assert_eq(json("{\"cid\":\"\\ude00x\",\"ts\":1,\"type\":\"view\"}", &ev),
                 RP_ERR_BAD_FIELD_TYPE);
    cr_assert_eq(json("{\"cid\":\"\\ud800\\u0041\",\"ts\":1,\"type\":\"view\"}", &ev),
                 RP_ERR_BAD_FIELD_TYPE);
    /* an escaped cid longer than 64 bytes once decoded */
    char js[512] = "{\"ts\":1,\"type\":\"view\",\"cid\":\"";
    for (int i = 0; i < 33; i++)
        strcat(js, "\\u00e9"); /* 66 bytes of UTF-8 */
    strcat(js, "\"}");
    cr_assert_eq(json(js, &ev), RP_ERR_TOO_LARGE);
    /* invalid UTF-8 in an unknown JSON field: the text is not JSON */
    cr_assert_eq(json("{\"cid\":\"c\",\"ts\":1,\"type\":\"view\",\"x\":\"\xff\"}", &ev),
                 RP_ERR_MALFORMED);
    cr_assert_eq(json("{\"cid\":\"c\",\"ts\":1,\"type\":\"view\",\"x\":[\"\xff\"]}", &ev),
                 RP_ERR_MALFORMED);
    /* in msgpack an unknown field's bytes are not ours to judge */
    struct fv u[] = {BASE, S("x", "\xff"), END};
    msgpack_sbuffer sb;
    to_msgpack(u, &sb);
    cr_assert_eq(rp_event_decode(sb.data, sb.size, &ev, detail, sizeof detail), RP_OK);
    msgpack_sbuffer_destroy(&sb);
    /* escaped keys are keys */
    cr_assert_eq(json("{\"c\\u0069d\":\"c\",\"ts\":1,\"type\":\"view\"}", &ev), RP_OK, "%s",
                 detail);
}

Test(event, json_numbers)
{
    struct rp_event ev;
    struct {
        const char *lit;
        double want;
    } cases[] = {{"42.5", 42.5},
                 {"0", 0},
                 {"-0", 0},
                 {"1e2", 100},
                 {"1E+2", 100},
                 {"2.5e-1", 0.25},
                 {"0.1", 0.1},
                 {"123456789.123456789", 123456789.123456789},
                 {"1e-400", 0},
                 {"0.30000000000000004", 0.30000000000000004},
                 {"18446744073709551616", 18446744073709551616.0},
                 {"9007199254740993", 9007199254740992.0},
                 {"12345678901234567890123", 1.2345678901234568e22}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char js[256];
        snprintf(js, sizeof js, "{\"cid\":\"c\",\"ts\":1,\"type\":\"purchase\",\"value\":%s}",
                 cases[i].lit);
        cr_assert_eq(json(js, &ev), RP_OK, "%s: %s", cases[i].lit, detail);
        cr_assert_eq(ev.value, cases[i].want, "%s: %.17g", cases[i].lit, ev.value);
    }
    /* 2^64 - 1 as a uint cid and as ts (out of range) */
    cr_assert_eq(
        json("{\"cid\":18446744073709551615,\"ts\":18446744073709551615,\"type\":\"view\"}", &ev),
        RP_ERR_OUT_OF_RANGE);
    cr_assert_eq(json("{\"cid\":18446744073709551615,\"ts\":1,\"type\":\"view\"}", &ev), RP_OK);
    cr_assert_eq(json("{\"cid\":\"c\",\"ts\":-9223372036854775808,\"type\":\"view\"}", &ev),
                 RP_ERR_OUT_OF_RANGE);
    cr_assert_eq(json("{\"cid\":\"c\",\"ts\":1,\"type\":\"view\",\"score\":-2147483648}", &ev),
                 RP_OK);
    cr_assert_eq(ev.score, INT32_MIN);
}

/* ---- encoders, framing, helpers ---- */

static void fill_varied(struct rp_event *ev, int i)
{
    memset(ev, 0, sizeof *ev);
    char cid[32];
    snprintf(cid, sizeof cid, i % 3 ? "cust-%d" : "\"q\\%d\n\xc3\xa9", i);
    rp_cid_set(&ev->cid, cid);
    ev->ts_ms = (int64_t)i * 1000003;
    ev->type = (enum rp_event_type)(i % RP_EV__COUNT);
    if (i & 1) {
        ev->present |= RP_F_VALUE;
        ev->value = i % 4 == 1 ? (double)i : (double)i / 7.0;
    }
    if (i & 2) {
        ev->present |= RP_F_SENTIMENT;
        ev->sentiment = -1.0 + (double)(i % 200) / 100.0;
    }
    ev->present |= RP_F_SCORE | RP_F_REF | RP_F_TARGET;
    ev->score = ev->type == RP_EV_REVIEW ? 1 + i % 5 : i % 11;
    ev->ref.len = (uint8_t)snprintf(ev->ref.bytes, sizeof ev->ref.bytes, "ref%d", i);
    rp_cid_set(&ev->target, "t");
    if (i & 4) {
        ev->present |= RP_F_CHANNEL | RP_F_ID | RP_F_REFERRER;
        memcpy(ev->channel, "support", 7);
        ev->channel_len = 7;
        ev->id.len = (uint8_t)snprintf(ev->id.bytes, sizeof ev->id.bytes, "%d", i * 17);
        rp_cid_set(&ev->referrer, "r");
    }
    if (ev->type == RP_EV_PURCHASE || ev->type == RP_EV_REFUND)
        ev->present |= RP_F_VALUE;
}

Test(event, encode_decode_round_trip)
{
    for (int i = 0; i < 500; i++) {
        struct rp_event ev, back;
        fill_varied(&ev, i);
        char mp[512], js[1024];
        size_t mn = rp_event_encode_msgpack(&ev, mp, sizeof mp);
        cr_assert_gt(mn, 0);
        cr_assert_eq(rp_msgpack_frame(mp, mn), mn);
        cr_assert_eq(rp_event_decode(mp, mn, &back, detail, sizeof detail), RP_OK, "%d: %s", i,
                     detail);
        cr_assert(ev_equal(&ev, &back), "msgpack round trip %d", i);
        size_t jn = rp_event_encode_json(&ev, js, sizeof js);
        cr_assert_gt(jn, 0);
        cr_assert_eq(strlen(js), jn);
        cr_assert_eq(rp_event_decode(js, jn, &back, detail, sizeof detail), RP_OK, "%d: %s: %s", i,
                     js, detail);
        cr_assert(ev_equal(&ev, &back), "JSON round trip %d: %s", i, js);
        /* too small a buffer gives 0, never a partial write past cap */
        for (size_t cap = 0; cap < mn; cap += 7)
            cr_assert_eq(rp_event_encode_msgpack(&ev, mp, cap), 0);
        for (size_t cap = 0; cap <= jn; cap += 5)
            cr_assert_eq(rp_event_encode_json(&ev, js, cap), 0);
        cr_assert_eq(rp_event_encode_json(&ev, js, jn + 1), jn);
    }
}

Test(event, msgpack_frame)
{
    char buf[256];
    struct rp_event ev;
    fill_varied(&ev, 5);
    size_t a = rp_event_encode_msgpack(&ev, buf, sizeof buf);
    fill_varied(&ev, 6);
    size_t b = rp_event_encode_msgpack(&ev, buf + a, sizeof buf - a);
    cr_assert_eq(rp_msgpack_frame(buf, a + b), a);
    cr_assert_eq(rp_msgpack_frame(buf + a, b), b);
    for (size_t n = 0; n < a; n++)
        cr_assert_eq(rp_msgpack_frame(buf, n), 0, "prefix %zu", n);
    cr_assert_eq(rp_msgpack_frame("\xc1", 1), (size_t)-1);
    cr_assert_eq(rp_msgpack_frame("\x92\x01\xc1", 3), (size_t)-1);
    cr_assert_eq(rp_msgpack_frame("\x92\x91\x01\x02\x03", 5), 4); /* nested arrays */
    cr_assert_eq(rp_msgpack_frame("\x05\x06", 2), 1);
    cr_assert_eq(rp_msgpack_frame("\xdf\xff\xff\xff\xff", 5), 0); /* needs more */
    /* 100000-deep nesting frames without recursion */
    size_t depth = 100000;
    char *deep = malloc(depth + 1);
    memset(deep, 0x91, depth);
    deep[depth] = 0x01;
    cr_assert_eq(rp_msgpack_frame(deep, depth + 1), depth + 1);
    cr_assert_eq(rp_msgpack_frame(deep, depth), 0);
    free(deep);
}

Test(event, cid_set_and_detect)
{
    struct rp_cid c;
    cr_assert_eq(rp_cid_set(&c, "abc"), RP_OK);
    cr_assert(c.len == 3 && memcmp(c.bytes, "abc", 3) == 0);
    cr_assert_eq(rp_cid_set(&c, ""), RP_ERR_OUT_OF_RANGE);
    cr_assert_eq(rp_cid_set(&c, rep('a', 64)), RP_OK);
    cr_assert_eq(rp_cid_set(&c, rep('a', 65)), RP_ERR_TOO_LARGE);
    cr_assert_eq(rp_event_detect("  \n{", 4), RP_FMT_JSON);
    cr_assert_eq(rp_event_detect("{", 1), RP_FMT_JSON);
    cr_assert_eq(rp_event_detect("\x81", 1), RP_FMT_MSGPACK);
    cr_assert_eq(rp_event_detect("", 0), RP_FMT_MSGPACK);
    cr_assert_eq(rp_event_type_parse("nope", 4), -1);
    cr_assert_null(rp_event_type_name(RP_EV__COUNT));
}

Test(event, non_minimal_msgpack_encodings_decode_the_same)
{
    /* Producers may use wider formats than needed; the result must not depend on it (the
     * decoder has a fast path for the minimal ones and a generic path for the rest). */
    struct rp_event a, b;
    const char minimal[] =
        "\x87\xa1v\x01\xa3"
        "cid\xa2"
        "c7\xa2ts\xcf\x00\x00\x01\x8b\xcf\xe5\x68\x00"
        "\xa4type\xa3nps\xa5score\x09\xa5value\xcb\x40\x45\x40\x00\x00\x00\x00\x00"
        "\xa7"
        "channel\xa3web";
    const char wide[] = "\x87\xd9\x01v\xd3\x00\x00\x00\x00\x00\x00\x00\x01"
                        "\xda\x00\x03"
                        "cid\xdb\x00\x00\x00\x02"
                        "c7"
                        "\xa2ts\xd3\x00\x00\x01\x8b\xcf\xe5\x68\x00"
                        "\xa4type\xd9\x03nps\xa5score\xd0\x09"
                        "\xa5value\xca\x42\x2a\x00\x00"
                        "\xa7"
                        "channel\xd9\x03web";
    cr_assert_eq(rp_event_decode(minimal, sizeof minimal - 1, &a, detail, sizeof detail), RP_OK,
                 "%s", detail);
    cr_assert_eq(rp_event_decode(wide, sizeof wide - 1, &b, detail, sizeof detail), RP_OK, "%s",
                 detail);
    cr_assert(ev_equal(&a, &b));
    cr_assert_eq(a.ts_ms, 1700000000000);
    cr_assert_eq(a.value, 42.5);
    cr_assert_eq(a.score, 9);
    /* the 32-bit time format and a positive int8 score take the fast path's neighbours */
    const char t32[] = "\x84\xa3"
                       "cid\xa1"
                       "c\xa2ts\xce\x00\x01\x00\x00\xa4type\xa6review"
                       "\xa5score\xd0\x05";
    cr_assert_eq(rp_event_decode(t32, sizeof t32 - 1, &a, detail, sizeof detail), RP_OK, "%s",
                 detail);
    cr_assert_eq(a.ts_ms, 65536);
    cr_assert_eq(a.score, 5);
}

/* The usual head ("v": 1, "cid", "ts", "type", in that order) is read as one block; the same
 * entries in another order go entry by entry. Both must give the same outcome, error or event. */
struct piece {
    const char *p;
    size_t n;
};
#define PIECE(lit)                                                                                 \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }
#define T64_ "\317\0\0\1\213\317\345\150\0" /* ts 1700000000000 as a uint64 */

static size_t put(char *o, size_t at, struct piece x)
{
    memcpy(o + at, x.p, x.n);
    return at + x.n;
}

/* A map of the five entries keys[i]: val[i] in the given order, then `extra` (whole entries). */
static size_t build(char *o, const struct piece keys[5], const struct piece val[5],
                    const int order[5], struct piece extra)
{
    size_t n = 0;
    o[n++] = (char)(0x85 + (extra.n ? 1 : 0));
    for (int i = 0; i < 5; i++)
        n = put(o, put(o, n, keys[order[i]]), val[order[i]]);
    return put(o, n, extra);
}

Test(event, the_usual_head_decodes_as_the_entries_in_another_order)
{
    /* (octal escapes where a hex one would run into the next character) */
    static const struct {
        struct piece val[5]; /* of "v", "cid", "ts", "type", "channel" */
        struct piece extra;  /* whole entries after them */
        bool ok;
    } cases[] = {
        {{PIECE("\1"), PIECE("\242c7"), PIECE(T64_), PIECE("\244view"), PIECE("\243web")},
         PIECE(""),
         true},
        {{PIECE("\1"), PIECE("\241c"), PIECE("\316\0\1\0\0"), PIECE("\246review"),
          PIECE("\243web")},
         PIECE("\245score\5"),
         true},
        {{PIECE("\1"), PIECE("\2610123456789abcdefg"), PIECE(T64_), PIECE("\245click"),
          PIECE("\240")},
         PIECE(""),
         true},
        {{PIECE("\1"), PIECE("\242c7"), PIECE(T64_), PIECE("\244view"),
          PIECE("\260wwwwwwwwwwwwwwww")},
         PIECE(""),
         true},
        {{PIECE("\1"), PIECE("\242c7"), PIECE(T64_), PIECE("\244nope"), PIECE("\243web")},
         PIECE(""),
         false},
        {{PIECE("\2"), PIECE("\242c7"), PIECE(T64_), PIECE("\244view"), PIECE("\243web")},
         PIECE(""),
         false},
        {{PIECE("\1"), PIECE("\242c7"), PIECE("\317\377\0\1\213\317\345\150\0"), PIECE("\244view"),
          PIECE("\243web")},
         PIECE(""),
         false},
        {{PIECE("\1"), PIECE("\242c\351"), PIECE(T64_), PIECE("\244view"), PIECE("\243web")},
         PIECE(""),
         false},
        {{PIECE("\1"), PIECE("\242c7"), PIECE(T64_), PIECE("\244view"),
          PIECE("\261wwwwwwwwwwwwwwwww")},
         PIECE(""),
         false},
        {{PIECE("\1"), PIECE("\242c7"), PIECE(T64_), PIECE("\244view"), PIECE("\243w\351b")},
         PIECE(""),
         false},
        {{PIECE("\1"), PIECE("\242c7"), PIECE(T64_), PIECE("\244view"), PIECE("\243web")},
         PIECE("\243cid\241x"),
         false},
    };
    static const struct piece keys[5] = {PIECE("\241v"), PIECE("\243cid"), PIECE("\242ts"),
                                         PIECE("\244type"), PIECE("\247channel")};
    static const int usual[5] = {0, 1, 2, 3, 4}, shuffled[5] = {1, 3, 4, 0, 2};
    int good = 0;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char head[256], other[256];
        size_t n = build(head, keys, cases[k].val, usual, cases[k].extra);
        size_t m = build(other, keys, cases[k].val, shuffled, cases[k].extra);
        struct rp_event a, b;
        enum rp_err ra = rp_event_decode(head, n, &a, detail, sizeof detail);
        cr_assert_eq(ra == RP_OK, cases[k].ok, "case %zu: %d (%s)", k, ra, detail);
        enum rp_err rb = rp_event_decode(other, m, &b, detail, sizeof detail);
        cr_assert_eq(rb, ra, "case %zu: head %d, other order %d (%s)", k, ra, rb, detail);
        if (ra == RP_OK) {
            cr_assert(ev_equal(&a, &b), "case %zu", k);
            cr_assert(a.present & RP_F_CHANNEL, "case %zu", k);
            good++;
        }
    }
    cr_assert_eq(good, 4);
}

/* ---- one-pass stream decode: exactly frame + decode ---- */

/* The contract for absent fields: numbers 0, string lengths 0. */
static void check_absent_zero(const struct rp_event *ev)
{
    if (!(ev->present & RP_F_VALUE))
        cr_assert(ev->value == 0);
    if (!(ev->present & RP_F_SCORE))
        cr_assert_eq(ev->score, 0);
    if (!(ev->present & RP_F_SENTIMENT))
        cr_assert(ev->sentiment == 0);
    if (!(ev->present & RP_F_REF))
        cr_assert_eq(ev->ref.len, 0);
    if (!(ev->present & RP_F_TARGET))
        cr_assert_eq(ev->target.len, 0);
    if (!(ev->present & RP_F_REFERRER))
        cr_assert_eq(ev->referrer.len, 0);
    if (!(ev->present & RP_F_CHANNEL))
        cr_assert_eq(ev->channel_len, 0);
    if (!(ev->present & RP_F_ID))
        cr_assert_eq(ev->id.len, 0);
}

/* Decodes [buf, buf+len) both ways into structs that held other events before (so that nothing
 * depends on a zeroed destination) and asserts the same outcome: consumed == frame, code, detail,
 * fields. Returns what was consumed. */
static size_t check_next_same(const void *buf, size_t len)
{
    static struct rp_event a, b;
    static int round;
    char da[256], db[256];
    fill_varied(&a, round);
    fill_varied(&b, round + 1);
    round = (round + 1) % 64;
    size_t used = 12345;
    memset(db, 'x', sizeof db);
    enum rp_err eb = rp_event_decode_msgpack_next(buf, len, &b, &used, db, sizeof db);
    size_t f = rp_msgpack_frame(buf, len);
    cr_assert_eq(used, f, "consumed %zu, frame says %zu (len %zu)", used, f, len);
    if (f == 0 || f == (size_t)-1) {
        cr_assert_eq(eb, RP_ERR_MALFORMED, "len %zu: %s", len, rp_strerror(eb));
        cr_assert(db[0] != '\0' && memchr(db, '\0', sizeof db));
        return f;
    }
    cr_assert_leq(f, len);
    enum rp_err ea = rp_event_decode_msgpack(buf, f, &a, da, sizeof da);
    cr_assert_eq(ea, eb, "frame+decode %s (%s), one pass %s (%s)", rp_strerror(ea), da,
                 rp_strerror(eb), db);
    cr_assert_str_eq(da, db);
    /* NULL detail works the same */
    size_t used2 = 0;
    cr_assert_eq(rp_event_decode_msgpack_next(buf, len, &b, &used2, NULL, 0), ea);
    cr_assert_eq(used2, f);
    if (ea == RP_OK) {
        cr_assert(ev_equal(&a, &b) && ev_equal(&b, &a), "events differ");
        check_absent_zero(&a);
        check_absent_zero(&b);
    }
    return f;
}

/* Exact-size copies (so that ASan sees any read past the end), alone, at every truncation, and
 * followed by more bytes: a valid event, or 0xc1. */
static void check_next_all_ways(const char *data, size_t n)
{
    static const char tail_ok[] = "\x83\xa3"
                                  "cid\xa1"
                                  "c\xa2ts\x01\xa4type\xa4view";
    char *copy = malloc(n + sizeof tail_ok);
    size_t step = n <= 4096 ? 1 : 97; /* huge nestings: a sample of the offsets, and the end */
    for (size_t k = 0; k <= n; k = k + step <= n || k == n ? k + step : n) {
        char *exact = malloc(k ? k : 1);
        memcpy(exact, data, k);
        check_next_same(exact, k);
        free(exact);
        if (k == n)
            break;
    }
    memcpy(copy, data, n);
    memcpy(copy + n, tail_ok, sizeof tail_ok - 1);
    size_t f = check_next_same(copy, n + sizeof tail_ok - 1);
    if (f != 0 && f != (size_t)-1 && f < n + sizeof tail_ok - 1)
        check_next_same(copy + f, n + sizeof tail_ok - 1 - f);
    copy[n] = (char)0xc1;
    check_next_same(copy, n + 1);
    free(copy);
}

static void check_next_fv(const struct fv *f)
{
    msgpack_sbuffer sb;
    to_msgpack(f, &sb);
    check_next_all_ways(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* One event with type name `name` (`n` bytes, any bytes) in the usual head order (and the fields
 * that some types require), then a next event, so that the msgpack fast path can read 16 bytes
 * past the name: its one-pass outcome, which must equal that of framing it and decoding it alone
 * (check_next_all_ways: also every truncation). */
static enum rp_err type_named(const char *name, size_t n, struct rp_event *ev)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 9);
    pk_str(&pk, "v");
    msgpack_pack_uint64(&pk, 1);
    pk_str(&pk, "cid");
    pk_str(&pk, "c1");
    pk_str(&pk, "ts");
    msgpack_pack_uint64(&pk, 1700000000000ULL);
    pk_str(&pk, "type");
    msgpack_pack_str(&pk, n);
    msgpack_pack_str_body(&pk, name, n);
    pk_str(&pk, "channel");
    pk_str(&pk, "web");
    pk_str(&pk, "value"); /* (what some types require) */
    msgpack_pack_double(&pk, 1.5);
    pk_str(&pk, "score");
    msgpack_pack_uint64(&pk, 5);
    pk_str(&pk, "ref");
    pk_str(&pk, "r1");
    pk_str(&pk, "target");
    pk_str(&pk, "c2");
    check_next_all_ways(sb.data, sb.size);
    size_t one = sb.size, used = 0;
    pk_min_event(&pk, 3);
    enum rp_err e =
        rp_event_decode_msgpack_next(sb.data, sb.size, ev, &used, detail, sizeof detail);
    cr_assert_eq(used, one);
    msgpack_sbuffer_destroy(&sb);
    return e;
}

/* The msgpack fast path finds a type by a hash of its name (event.c, type_lookup_hashed), names.c
 * by a scan: every name, and names a byte away from one (the end or the start changed, one byte
 * more or less, NULs more), decoded through the hash (16 bytes or more follow the name) give the
 * type rp_event_type_parse gives, or unknown_type; every name is in the hash table. */
Test(event, type_names_by_hash_and_by_length_agree)
{
    cr_assert_eq(rp_event_type_hash_left_out(), 0);
    for (int t = 0; t < RP_EV__COUNT; t++) {
        const char *name = rp_event_type_name(t);
        size_t n = strlen(name);
        /* the name; its last byte or its first changed; a byte more or less; then 1 to 16 - n
         * NULs more (the same 16 masked bytes as the name's, with another length) */
        enum { FIXED = 5 };
        char v[FIXED + 16][24];
        size_t vn[FIXED + 16] = {n, n, n, n + 1, n - 1};
        int nv = FIXED;
        for (int k = 0; k < FIXED + 16; k++) {
            memset(v[k], 0, sizeof v[k]);
            memcpy(v[k], name, n);
        }
        v[1][n - 1] ^= 0x01;
        v[2][0] ^= 0x20;
        v[3][n] = 's';
        for (size_t z = 1; n + z <= 16; z++)
            vn[nv++] = n + z;
        for (int k = 0; k < nv; k++) {
            struct rp_event ev;
            enum rp_err e = type_named(v[k], vn[k], &ev);
            int want = rp_event_type_parse(v[k], vn[k]);
            if (k == 0)
                cr_assert_eq(want, t);
            if (want >= 0) {
                cr_assert_eq(e, RP_OK, "%.*s: %s", (int)vn[k], v[k], detail);
                cr_assert_eq((int)ev.type, want);
            } else {
                cr_assert_eq(e, RP_ERR_UNKNOWN_TYPE, "%s (%zu bytes): %s", v[k], vn[k],
                             rp_strerror(e));
            }
        }
    }
}

Test(event, next_equals_frame_then_decode_on_hostile_input)
{
    /* one of each outcome, valid and not, through the field descriptions */
    struct fv typical[] = {TYPICAL, END};
    struct fv base[] = {BASE, END};
    struct fv v2[] = {BASE, U("v", 2), S("type", "nope"), END};
    struct fv vneg[] = {I("v", -1), BASE, END};
    struct fv vstr[] = {S("v", "1"), BASE, END};
    struct fv dup[] = {BASE, S("cid", "c2"), END};
    struct fv dupnil[] = {NIL("ts"), BASE, END};
    struct fv cid_empty[] = {S("cid", ""), U("ts", 1), S("type", "view"), END};
    struct fv cid_long[] = {S("cid", rep('c', 65)), U("ts", 1), S("type", "view"), END};
    struct fv cid_32[] = {S("cid", rep('c', 32)), U("ts", 1), S("type", "view"), END};
    struct fv cid_64[] = {S("cid", rep('c', 64)), U("ts", 1), S("type", "view"), END};
    struct fv cid_utf8[] = {S("cid", "\xc3\xa9t\xc3\xa9"), U("ts", 1), S("type", "view"), END};
    struct fv cid_bad[] = {S("cid", "a\xff"), U("ts", 1), S("type", "view"), END};
    struct fv cid_neg[] = {I("cid", -3), U("ts", 1), S("type", "view"), END};
    struct fv cid_float[] = {F("cid", 3.0), U("ts", 1), S("type", "view"), END};
    struct fv cid_uint[] = {U("cid", 18446744073709551615ULL), U("ts", 1), S("type", "view"), END};
    struct fv ts_float[] = {S("cid", "c"), F("ts", 1.7e12), S("type", "view"), END};
    struct fv ts_neg[] = {S("cid", "c"), I("ts", -1), S("type", "view"), END};
    struct fv ts_late[] = {S("cid", "c"), U("ts", 253402300800000), S("type", "view"), END};
    struct fv ts_max[] = {S("cid", "c"), U("ts", 253402300799999), S("type", "view"), END};
    struct fv ts_str[] = {S("cid", "c"), S("ts", "2024-01-01T00:00:00Z"), S("type", "view"), END};
    struct fv type_bad[] = {S("cid", "c"), U("ts", 1), S("type", "View"), END};
    struct fv type_int[] = {S("cid", "c"), U("ts", 1), U("type", 3), END};
    struct fv type_long[] = {S("cid", "c"), U("ts", 1), S("type", rep('x', 40)), END};
    struct fv no_type[] = {S("cid", "c"), U("ts", 1), END};
    struct fv no_cid[] = {U("ts", 1), S("type", "view"), END};
    struct fv buy_novalue[] = {S("cid", "c"), U("ts", 1), S("type", "purchase"), END};
    struct fv buy_neg[] = {S("cid", "c"), U("ts", 1), S("type", "refund"), F("value", -1), END};
    struct fv buy_nan[] = {S("cid", "c"), U("ts", 1), S("type", "refund"), F("value", NAN), END};
    struct fv buy_inf[] = {S("cid", "c"), U("ts", 1), S("type", "refund"), F("value", INFINITY),
                           END};
    struct fv buy_int[] = {S("cid", "c"), U("ts", 1), S("type", "purchase"), U("value", 200), END};
    struct fv buy_str[] = {S("cid", "c"), U("ts", 1), S("type", "purchase"), S("value", "1"), END};
    struct fv nps_11[] = {S("cid", "c"), U("ts", 1), S("type", "nps"), U("score", 11), END};
    struct fv nps_ok[] = {S("cid", "c"), U("ts", 1), S("type", "nps"), U("score", 10), END};
    struct fv nps_none[] = {S("cid", "c"), U("ts", 1), S("type", "nps"), END};
    struct fv review_0[] = {S("cid", "c"), U("ts", 1), S("type", "review"), U("score", 0), END};
    struct fv score_f[] = {S("cid", "c"), U("ts", 1), S("type", "view"), F("score", 5.0), END};
    struct fv score_big[] = {S("cid", "c"), U("ts", 1), S("type", "view"), U("score", 1ULL << 40),
                             END};
    struct fv score_neg[] = {S("cid", "c"), U("ts", 1), S("type", "view"), I("score", -7), END};
    struct fv sent_out[] = {S("cid", "c"), U("ts", 1), S("type", "mention"), F("sentiment", 1.5),
                            END};
    struct fv sent_int[] = {S("cid", "c"), U("ts", 1), S("type", "mention"), I("sentiment", -1),
                            END};
    struct fv ref_empty[] = {S("cid", "c"), U("ts", 1), S("type", "question"), S("ref", ""), END};
    struct fv ref_empty_view[] = {S("cid", "c"), U("ts", 1), S("type", "view"), S("ref", ""), END};
    struct fv ref_none[] = {S("cid", "c"), U("ts", 1), S("type", "reply"), END};
    struct fv ref_65[] = {S("cid", "c"), U("ts", 1), S("type", "reply"), S("ref", rep('r', 65)),
                          END};
    struct fv chan_17[] = {S("cid", "c"), U("ts", 1), S("type", "view"), S("channel", rep('w', 17)),
                           END};
    struct fv chan_16[] = {S("cid", "c"), U("ts", 1), S("type", "view"), S("channel", rep('w', 16)),
                           END};
    struct fv chan_0[] = {S("cid", "c"), U("ts", 1), S("type", "view"), S("channel", ""), END};
    struct fv id_int[] = {S("cid", "c"), U("ts", 1), S("type", "view"), U("id", 77), END};
    struct fv id_neg[] = {S("cid", "c"), U("ts", 1), S("type", "view"), I("id", -77), END};
    struct fv target_none[] = {S("cid", "c"), U("ts", 1), S("type", "referral"), END};
    struct fv target_ok[] = {
        S("cid", "c"),       U("ts", 1),     S("type", "answer"), U("target", 5),
        S("referrer", "r1"), NIL("channel"), NIL("sentiment"),    END};
    struct fv unknown[] = {S("zzz", "x"), BASE, ARR("a"), MAP("m"), S("identity", "x"), END};
    const struct fv *all[] = {
        typical,     base,      v2,        vneg,           vstr,     dup,         dupnil,
        cid_empty,   cid_long,  cid_32,    cid_64,         cid_utf8, cid_bad,     cid_neg,
        cid_float,   cid_uint,  ts_float,  ts_neg,         ts_late,  ts_max,      ts_str,
        type_bad,    type_int,  type_long, no_type,        no_cid,   buy_novalue, buy_neg,
        buy_nan,     buy_inf,   buy_int,   buy_str,        nps_11,   nps_ok,      nps_none,
        review_0,    score_f,   score_big, score_neg,      sent_out, sent_int,    ref_empty,
        ref_none,    ref_65,    chan_17,   chan_16,        chan_0,   id_int,      id_neg,
        target_none, target_ok, unknown,   ref_empty_view,
    };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        check_next_fv(all[i]);

    /* raw msgpack: what the descriptions cannot say */
    static const struct {
        const char *s;
        size_t n;
    } raw[] = {
#define R(lit) {lit, sizeof lit - 1}
        R("\xc1"),
        R("\xc0"),
        R("\x05"),
        R("\xa3"
          "abc"),
        R("\x92\x01\xc1"),
        R("\x92\x91\x01\x02\x03"),
        R("\x80"),
        R("\x81\xdb\xff\xff\xff\xff"
          "abc"),
        R("\x81\xa1x\xdb\xff\xff\xff\xff"
          "abc"),
        R("\x81\xa1x\xc6\xff\xff\xff\xff"
          "abc"),
        R("\x81\xa1x\xc9\xff\xff\xff\xff\x01"
          "abc"),
        R("\x81\xa3"
          "cid"
          "\xdb\x00\x00\x00\x41"
          "abc"),
        R("\xdf\xff\xff\xff\xff\xa3"
          "cid\xa1"
          "c"),
        R("\x81\xa1x\xdd\xff\xff\xff\xff\x01"),
        R("\x81\xa1x\xdf\xff\xff\xff\xff"),
        /* non-string keys: an int, a map, an array, nil */
        R("\x84\x01\x02\xa3"
          "cid\xa1"
          "c\xa2ts\x01\xa4type\xa4view"),
        R("\x84\x81\x01\x02\x03\xa3"
          "cid\xa1"
          "c\xa2ts\x01\xa4type\xa4view"),
        R("\x84\x92\x01\xc1\x03\xa3"
          "cid\xa1"
          "c\xa2ts\x01\xa4type\xa4view"),
        R("\x84\xc0\xc0\xa3"
          "cid\xa1"
          "c\xa2ts\x01\xa4type\xa4view"),
        /* known keys in wider encodings (str8 key, str8/bin values) */
        R("\x83\xd9\x03"
          "cid\xd9\x01"
          "c\xa2ts\x01\xa4type\xa4view"),
        R("\x83\xa3"
          "cid\xc4\x01"
          "c\xa2ts\x01\xa4type\xa4view"),
        R("\x83\xa3"
          "cid\xa1"
          "c\xa2ts\xce\x00\x00\x00\x01\xa4type\xd9\x04view"),
        R("\x83\xa3"
          "cid\xa1"
          "c\xa2ts\xcf\x00\x00\x00\x00\x00\x00\x00\x01\xa4type\xa4view"),
        /* the same key twice where the first was a field error, and after nil */
        R("\x84\xa3"
          "cid\xa0\xa3"
          "cid\xa1"
          "c\xa2ts\x01\xa4type\xa4view"),
        R("\x84\xa3"
          "cid\xc0\xa3"
          "cid\xa1"
          "c\xa2ts\x01\xa4type\xa4view"),
        /* fixmap header claiming more entries than there are */
        R("\x8f\xa3"
          "cid\xa1"
          "c\xa2ts\x01\xa4type\xa4view"),
        /* map16 and map32 headers for a small map */
        R("\xde\x00\x03\xa3"
          "cid\xa1"
          "c\xa2ts\x01\xa4type\xa4view"),
        R("\xdf\x00\x00\x00\x03\xa3"
          "cid\xa1"
          "c\xa2ts\x01\xa4type\xa4view"),
#undef R
    };
    for (size_t i = 0; i < sizeof raw / sizeof *raw; i++)
        check_next_all_ways(raw[i].s, raw[i].n);

    /* deep nesting (frames, then too_large), and a value over RP_EVENT_MAX_BYTES */
    char *buf = malloc(200000);
    for (int map = 0; map < 2; map++) {
        size_t depths[] = {RP_EVENT_MAX_DEPTH - 1, RP_EVENT_MAX_DEPTH, 10000};
        for (int j = 0; j < 3; j++)
            check_next_all_ways(buf, nested(buf, depths[j], false, map));
    }
    msgpack_sbuffer sb;
    pack_oversized(&sb, buf);
    check_next_all_ways(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    free(buf);
}

Test(event, next_walks_a_stream_like_frame_then_decode)
{
    /* 500 varied events back to back, then single-byte mutations of some of them */
    char *stream = malloc(500 * 512);
    size_t len = 0;
    for (int i = 0; i < 500; i++) {
        struct rp_event ev;
        fill_varied(&ev, i);
        len += rp_event_encode_msgpack(&ev, stream + len, 512);
    }
    size_t pos = 0, events = 0;
    while (pos < len) {
        size_t f = check_next_same(stream + pos, len - pos);
        cr_assert(f != 0 && f != (size_t)-1);
        pos += f;
        events++;
    }
    cr_assert_eq(events, 500);
    static const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0xa0, 0xa1, 0xa5, 0xbf,
                                    0xc0, 0xc1, 0xc2, 0xca, 0xcb, 0xce, 0xcf, 0xd0, 0xd3, 0xd9,
                                    0xdc, 0xde, 0xdf, 0xe0, 0xff, 'v',  'c',  't'};
    pos = 0;
    for (int i = 0; i < 40; i++) {
        size_t f = rp_msgpack_frame(stream + pos, len - pos);
        for (size_t at = 0; at < f; at++) {
            char saved = stream[pos + at];
            for (size_t b = 0; b < sizeof bytes; b++) {
                stream[pos + at] = (char)bytes[b];
                check_next_same(stream + pos, len - pos);
            }
            stream[pos + at] = saved;
        }
        pos += f;
    }
    free(stream);
}
