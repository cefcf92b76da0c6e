/* test_signal: signal ids, msgpack/JSON encoders and the decoder (schemas/signal). */
#include <criterion/criterion.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "event.h"
#include "signal.h"

static struct rp_signal sample(int i)
{
    struct rp_signal s;
    memset(&s, 0, sizeof s);
    char cid[64];
    snprintf(cid, sizeof cid, i % 2 ? "cust-%d" : "\"quoted\"\\%d\t\xc3\xa9\xf0\x9f\x98\x80", i);
    rp_cid_set(&s.cid, cid);
    s.kind = (enum rp_signal_kind)(i % RP_KIND__COUNT);
    s.transition = (enum rp_transition)(i / 2 % 2);
    s.episode = (uint32_t)(i * 7919u);
    s.signal_id = rp_signal_id(&s.cid, s.kind, s.episode, s.transition);
    const double odd[] = {0.1, 1.0 / 3.0, 0.7, 0.5, 1e-300, 0.99999999999999989, 0, 5e-324, 1};
    s.score = odd[i % 9];
    s.previous_score = odd[(i + 3) % 9];
    s.threshold = i % 2 ? 0.7 : 0.5;
    s.segment = (enum rp_segment)(i % RP_SEG__COUNT);
    s.n_reasons = (uint8_t)(i % (RP_SIGNAL_MAX_REASONS + 1));
    for (unsigned r = 0; r < s.n_reasons; r++) {
        s.reasons[r].code = (enum rp_reason_code)((i + (int)r) % RP_R__COUNT);
        s.reasons[r].weight = odd[(i + (int)r + 1) % 9] + 0.125;
    }
    s.as_of_ms = 1700000000000 + i;
    s.emitted_at_ms = i % 5 == 0 ? -1 : 1700000000999 + (int64_t)i * 31;
    s.model = UINT64_C(0xfedcba9876543210) ^ (uint64_t)i;
    return s;
}

static void assert_same(const struct rp_signal *a, const struct rp_signal *b, const char *what)
{
    cr_assert_eq(a->signal_id, b->signal_id, "%s", what);
    cr_assert_eq(a->cid.len, b->cid.len, "%s", what);
    cr_assert(memcmp(a->cid.bytes, b->cid.bytes, a->cid.len) == 0, "%s", what);
    cr_assert_eq(a->kind, b->kind, "%s", what);
    cr_assert_eq(a->transition, b->transition, "%s", what);
    cr_assert_eq(a->score, b->score, "%s: %.17g vs %.17g", what, a->score, b->score);
    cr_assert_eq(a->previous_score, b->previous_score, "%s", what);
    cr_assert_eq(a->threshold, b->threshold, "%s", what);
    cr_assert_eq(a->segment, b->segment, "%s", what);
    cr_assert_eq(a->n_reasons, b->n_reasons, "%s", what);
    for (unsigned r = 0; r < a->n_reasons; r++) {
        cr_assert_eq(a->reasons[r].code, b->reasons[r].code, "%s", what);
        cr_assert_eq(a->reasons[r].weight, b->reasons[r].weight, "%s", what);
    }
    cr_assert_eq(a->as_of_ms, b->as_of_ms, "%s", what);
    cr_assert_eq(a->emitted_at_ms, b->emitted_at_ms, "%s", what);
    cr_assert_eq(a->episode, b->episode, "%s", what);
    cr_assert_eq(a->model, b->model, "%s", what);
}

Test(signal, round_trip_msgpack_and_json)
{
    for (int i = 0; i < 200; i++) {
        struct rp_signal s = sample(i), back;
        char buf[RP_SIGNAL_ENCODED_MAX], d[128];
        size_t n = rp_signal_encode_msgpack(&s, buf, sizeof buf);
        cr_assert_gt(n, 0);
        cr_assert_eq(rp_msgpack_frame(buf, n), n);
        cr_assert_eq(rp_signal_decode(buf, n, &back, d, sizeof d), RP_OK, "%d: %s", i, d);
        assert_same(&s, &back, "msgpack");
        n = rp_signal_encode_json(&s, buf, sizeof buf);
        cr_assert_gt(n, 0);
        cr_assert_eq(strlen(buf), n);
        cr_assert_eq(rp_signal_decode(buf, n, &back, d, sizeof d), RP_OK, "%d: %s: %s", i, buf, d);
        assert_same(&s, &back, buf);
    }
}

Test(signal, json_shape)
{
    struct rp_signal s = sample(3);
    char buf[RP_SIGNAL_ENCODED_MAX], want[128];
    rp_signal_encode_json(&s, buf, sizeof buf);
    snprintf(want, sizeof want, "{\"signal_id\":\"%016llx\",\"cid\":\"cust-3\",",
             (unsigned long long)s.signal_id);
    cr_assert(strncmp(buf, want, strlen(want)) == 0, "%s", buf);
    cr_assert(strstr(buf, "\"kind\":\"advocate\",\"transition\":\"exit\""), "%s", buf);
    cr_assert(strstr(buf, "\"model\":\"fedcba9876543213\"}"), "%s", buf);
    cr_assert(strstr(buf, "\"reasons\":[{\"code\":\"UNANSWERED_QUESTION\",\"weight\":"), "%s", buf);
    cr_assert(strstr(buf, "\"as_of\":1700000000003,"), "%s", buf);
    cr_assert(strstr(buf, "\"episode\":23757,"), "%s", buf);
    cr_assert(strstr(buf, "\"score\":0.5,"), "%s", buf); /* shortest, not %.17g noise */
    cr_assert(strstr(buf, "\"threshold\":0.7,"), "%s", buf);
    struct rp_signal z = sample(0);
    rp_signal_encode_json(&z, buf, sizeof buf);
    cr_assert(strstr(buf, "\"reasons\":[],"), "%s", buf);
    cr_assert(strstr(buf, "\"emitted_at\":-1,"), "%s", buf);
}

Test(signal, msgpack_shape_read_by_msgpack_c)
{
    struct rp_signal s = sample(7);
    char buf[RP_SIGNAL_ENCODED_MAX];
    size_t n = rp_signal_encode_msgpack(&s, buf, sizeof buf);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&u, buf, n, &off), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(off, n);
    cr_assert_eq(u.data.type, MSGPACK_OBJECT_MAP);
    cr_assert_eq(u.data.via.map.size, 13);
    const msgpack_object_kv *kv = u.data.via.map.ptr;
    cr_assert(kv[0].key.via.str.size == 9 && memcmp(kv[0].key.via.str.ptr, "signal_id", 9) == 0);
    cr_assert_eq(kv[0].val.type, MSGPACK_OBJECT_STR);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)s.signal_id);
    cr_assert(memcmp(kv[0].val.via.str.ptr, hex, 16) == 0);
    cr_assert_eq(kv[8].val.type, MSGPACK_OBJECT_ARRAY); /* reasons */
    cr_assert_eq(kv[8].val.via.array.size, 3);
    cr_assert_eq(kv[4].val.type, MSGPACK_OBJECT_FLOAT64); /* score */
    cr_assert_eq(kv[4].val.via.f64, s.score);
    msgpack_unpacked_destroy(&u);
}

Test(signal, id_is_deterministic_and_distinct)
{
    struct rp_cid a, b, ab;
    rp_cid_set(&a, "a");
    rp_cid_set(&b, "b");
    rp_cid_set(&ab, "ab");
    uint64_t id = rp_signal_id(&a, RP_KIND_CHURN_RISK, 1, RP_TR_ENTER);
    cr_assert_eq(id, rp_signal_id(&a, RP_KIND_CHURN_RISK, 1, RP_TR_ENTER));
    cr_assert_neq(id, rp_signal_id(&b, RP_KIND_CHURN_RISK, 1, RP_TR_ENTER));
    cr_assert_neq(id, rp_signal_id(&a, RP_KIND_ADVOCATE, 1, RP_TR_ENTER));
    cr_assert_neq(id, rp_signal_id(&a, RP_KIND_CHURN_RISK, 2, RP_TR_ENTER));
    cr_assert_neq(id, rp_signal_id(&a, RP_KIND_CHURN_RISK, 1, RP_TR_EXIT));
    cr_assert_neq(rp_signal_id(&ab, 0, 0, 0), rp_signal_id(&a, 0, 0, 0));
    /* the documented byte layout: [len][cid][kind][episode LE32][transition], XXH64 seed 0 */
    const uint8_t layout[] = {1, 'a', 0, 1, 0, 0, 0, 0};
    cr_assert_eq(id, XXH64(layout, sizeof layout, 0));
    const uint8_t layout2[] = {2, 'a', 'b', 1, 0x04, 0x03, 0x02, 0x01, 1};
    cr_assert_eq(rp_signal_id(&ab, RP_KIND_ADVOCATE, 0x01020304, RP_TR_EXIT),
                 XXH64(layout2, sizeof layout2, 0));
    /* a cid decoded from uint 42 and from "42" give one id */
    struct rp_event e1, e2;
    const char *j1 = "{\"cid\":42,\"ts\":1,\"type\":\"view\"}";
    const char *j2 = "{\"cid\":\"42\",\"ts\":1,\"type\":\"view\"}";
    cr_assert_eq(rp_event_decode(j1, strlen(j1), &e1, NULL, 0), RP_OK);
    cr_assert_eq(rp_event_decode(j2, strlen(j2), &e2, NULL, 0), RP_OK);
    cr_assert_eq(rp_signal_id(&e1.cid, 0, 3, 0), rp_signal_id(&e2.cid, 0, 3, 0));
}

Test(signal, encoders_respect_capacity)
{
    struct rp_signal s = sample(11);
    s.n_reasons = 3;
    rp_cid_set(&s.cid, "\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\""
                       "\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"");
    char buf[RP_SIGNAL_ENCODED_MAX + 8];
    size_t mn = rp_signal_encode_msgpack(&s, buf, sizeof buf);
    size_t jn = rp_signal_encode_json(&s, buf, sizeof buf);
    cr_assert(mn > 0 && mn <= RP_SIGNAL_ENCODED_MAX);
    cr_assert(jn > 0 && jn < RP_SIGNAL_ENCODED_MAX, "%zu", jn);
    for (size_t cap = 0; cap < mn; cap++) {
        memset(buf, 0x5a, sizeof buf);
        cr_assert_eq(rp_signal_encode_msgpack(&s, buf, cap), 0);
        cr_assert_eq((unsigned char)buf[cap], 0x5a, "wrote past cap %zu", cap);
    }
    for (size_t cap = 0; cap <= jn; cap++) {
        memset(buf, 0x5a, sizeof buf);
        cr_assert_eq(rp_signal_encode_json(&s, buf, cap), 0);
        cr_assert_eq((unsigned char)buf[cap], 0x5a, "wrote past cap %zu", cap);
    }
    /* invalid enums are refused rather than written */
    s.kind = RP_KIND__COUNT;
    cr_assert_eq(rp_signal_encode_msgpack(&s, buf, sizeof buf), 0);
    cr_assert_eq(rp_signal_encode_json(&s, buf, sizeof buf), 0);
}

Test(signal, decode_errors)
{
    struct rp_signal s = sample(4), back;
    char buf[RP_SIGNAL_ENCODED_MAX], d[128];
    size_t n = rp_signal_encode_msgpack(&s, buf, sizeof buf);
    for (size_t k = 0; k < n; k++)
        cr_assert_neq(rp_signal_decode(buf, k, &back, d, sizeof d), RP_OK, "prefix %zu", k);
    n = rp_signal_encode_json(&s, buf, sizeof buf);
    for (size_t k = 0; k < n; k++)
        cr_assert_neq(rp_signal_decode(buf, k, &back, d, sizeof d), RP_OK, "prefix %zu", k);
    const char *missing = "{\"signal_id\":\"0000000000000001\",\"cid\":\"c\"}";
    cr_assert_eq(rp_signal_decode(missing, strlen(missing), &back, d, sizeof d),
                 RP_ERR_MISSING_FIELD);
    cr_assert(strstr(d, "kind"), "%s", d);
    const char *badhex = "{\"signal_id\":\"000000000000000G\"}";
    cr_assert_eq(rp_signal_decode(badhex, strlen(badhex), &back, d, sizeof d),
                 RP_ERR_BAD_FIELD_TYPE);
    cr_assert_eq(rp_signal_decode("[1]", 3, &back, d, sizeof d), RP_ERR_NOT_A_MAP);
    /* an unknown field is skipped */
    n = rp_signal_encode_json(&s, buf, sizeof buf);
    memmove(buf + 21, buf + 1, n);
    memcpy(buf + 1, "\"extra\":[{\"a\":[1]}],", 20);
    cr_assert_eq(rp_signal_decode(buf, n + 20, &back, d, sizeof d), RP_OK, "%s: %s", buf, d);
    assert_same(&s, &back, "extra field");
}

Test(signal, names)
{
    cr_assert_str_eq(rp_signal_kind_name(RP_KIND_CHURN_RISK), "churn_risk");
    cr_assert_eq(rp_segment_parse("at_risk", 7), RP_SEG_AT_RISK);
    cr_assert_eq(rp_reason_parse("PROMOTER", 8), RP_R_PROMOTER);
    cr_assert_eq(rp_transition_parse("exit", 4), RP_TR_EXIT);
    cr_assert_eq(rp_reason_parse("promoter", 8), -1);
}
