/* test_customer_table: the cid index (growth, lookups), the arena, extensions, record layout. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "customer_table.h"

Test(customer_table, record_is_one_cache_line)
{
    cr_expect_eq(sizeof(struct rp_cust), 64);
    cr_expect_eq(sizeof(struct rp_links), 12);
}

Test(customer_table, grows_and_finds_every_customer)
{
    struct rp_ctable t;
    cr_assert_eq(rp_ctable_init(&t, 16), 0);
    enum { N = 200000 };
    char b[32];
    for (int i = 0; i < N; i++) {
        int n = snprintf(b, sizeof(b), "customer-%d", i);
        bool created;
        uint32_t idx = rp_ctable_upsert(&t, b, (size_t)n, rp_ctable_hash(b, (size_t)n), &created);
        cr_assert_neq(idx, RP_NONE32);
        cr_assert(created, "customer %d created once", i);
        cr_assert_eq((uintptr_t)rp_ctable_rec(&t, idx) % 64, 0, "records are line-aligned");
    }
    cr_expect_eq(t.n, N);
    cr_expect(t.cap * 3 >= (size_t)N * 4, "load <= 0.75 after growth");
    for (int i = 0; i < N; i++) {
        int n = snprintf(b, sizeof(b), "customer-%d", i);
        uint32_t idx = rp_ctable_find(&t, b, (size_t)n, rp_ctable_hash(b, (size_t)n));
        cr_assert_neq(idx, RP_NONE32, "customer %d found", i);
        struct rp_cid cid;
        rp_ctable_cid(&t, rp_ctable_rec(&t, idx), &cid);
        cr_assert(cid.len == n && memcmp(cid.bytes, b, (size_t)n) == 0);
        bool created;
        cr_assert_eq(rp_ctable_upsert(&t, b, (size_t)n, rp_ctable_hash(b, (size_t)n), &created),
                     idx);
        cr_assert(!created);
    }
    cr_expect_eq(rp_ctable_find(&t, "nobody", 6, rp_ctable_hash("nobody", 6)), RP_NONE32);
    /* a 64-byte cid and a one-byte cid */
    char big[64];
    memset(big, 'x', sizeof(big));
    bool created;
    uint32_t i64 = rp_ctable_upsert(&t, big, 64, rp_ctable_hash(big, 64), &created);
    uint32_t i1 = rp_ctable_upsert(&t, "x", 1, rp_ctable_hash("x", 1), &created);
    cr_expect_neq(i64, i1);
    cr_expect(rp_ctable_bytes(&t) > (size_t)N * 64);
    rp_ctable_fini(&t);
}

/* Customers whose hashes are the same (the caller's hash, so that the index's tags meet) are told
 * apart by their cid bytes: every length, a difference at every position (the comparison reads
 * short cids as overlapping words from both ends, customer_table.c cid_eq). */
Test(customer_table, same_hash_other_cid_is_another_customer)
{
    const uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (size_t len = 1; len <= RP_CID_MAX; len++) {
        struct rp_ctable t;
        cr_assert_eq(rp_ctable_init(&t, 16), 0);
        char base[RP_CID_MAX], other[RP_CID_MAX];
        for (size_t i = 0; i < len; i++)
            base[i] = (char)('a' + (i * 7) % 26);
        bool created;
        uint32_t first = rp_ctable_upsert(&t, base, len, h, &created);
        cr_assert(created && first != RP_NONE32);
        for (size_t k = 0; k < len; k++) {
            memcpy(other, base, len);
            other[k] ^= 0x01;
            cr_assert_eq(rp_ctable_find(&t, other, len, h), RP_NONE32,
                         "length %zu, byte %zu differs: not the same customer", len, k);
            uint32_t idx = rp_ctable_upsert(&t, other, len, h, &created);
            cr_assert(created && idx != first, "length %zu, byte %zu: a new customer", len, k);
            cr_assert_eq(rp_ctable_find(&t, other, len, h), idx);
        }
        cr_assert_eq(rp_ctable_find(&t, base, len, h), first, "length %zu", len);
        if (len > 1)
            cr_assert_eq(rp_ctable_find(&t, base, len - 1, h), RP_NONE32, "a prefix, length %zu",
                         len);
        cr_assert_eq(t.n, 1 + len);
        rp_ctable_fini(&t);
    }
}

Test(customer_table, extensions_on_demand)
{
    struct rp_ctable t;
    cr_assert_eq(rp_ctable_init(&t, 16), 0);
    bool created;
    uint32_t i = rp_ctable_upsert(&t, "a", 1, rp_ctable_hash("a", 1), &created);
    struct rp_cust *c = rp_ctable_rec(&t, i);
    cr_expect_null(rp_ctable_buy(&t, c, false));
    cr_expect_eq(c->sig, 0, "no extension until one is needed");
    cr_expect_eq(rp_ctable_links(&t, c)->buy, 0);
    struct rp_ext_buy *b = rp_ctable_buy(&t, c, true);
    cr_assert_not_null(b);
    b->n_pdays = 3;
    cr_expect_eq(rp_ctable_buy(&t, c, false), b);
    cr_expect_null(rp_ctable_talk(&t, c, false));
    struct rp_ext_sig *s = rp_ctable_sig(&t, c, true);
    cr_assert_not_null(s);
    cr_expect_eq(s->last_enter_ms[0], INT64_MIN, "never entered");
    cr_expect_eq(rp_ctable_buy(&t, c, false)->n_pdays, 3);
    rp_ctable_fini(&t);
}

/* Each customer's extension links sit just before its cid in the arena, found from the record:
 * across record chunks and arena chunks (of every cid length, so that entries end at every offset)
 * every record has links of its own, no record overlaps another's links or cid, and the k-th record
 * created has index k. */
#define TAIL "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0" /* (53 bytes) */
Test(customer_table, links_before_each_cid)
{
    struct rp_ctable t;
    cr_assert_eq(rp_ctable_init(&t, 16), 0);
    const uint32_t n = 2 * RP_RECS_PER_CHUNK + 100; /* three record chunks */
    char b[80];
    for (uint32_t k = 1; k <= n; k++) {
        /* (lengths 6 to 64: more than one arena chunk of 1 MiB) */
        int len = snprintf(b, sizeof(b), "c%u-%.*s", k, (int)(k % 53), TAIL);
        bool created;
        uint32_t idx =
            rp_ctable_upsert(&t, b, (size_t)len, rp_ctable_hash(b, (size_t)len), &created);
        cr_assert(created);
        cr_assert_eq(idx, k, "record %u has index %u", k, idx);
        struct rp_cust *c = rp_ctable_rec(&t, idx);
        struct rp_links *l = rp_ctable_links(&t, c);
        uint8_t sl;
        const char *cid = rp_ctable_str(&t, c->cid_off, &sl);
        cr_assert((const char *)(l + 1) == cid - 1, "links right before the cid's length byte");
        cr_assert(l->buy == 0 && l->talk == 0 && l->adv == 0, "new links are empty");
        struct rp_ext_buy *buy = rp_ctable_buy(&t, c, true);
        cr_assert_not_null(buy);
        buy->n_pdays = (uint16_t)k;
        buy->first_pday = (int32_t)k;
    }
    for (uint32_t k = 1; k <= n; k++) {
        struct rp_cust *c = rp_ctable_rec(&t, k);
        uint8_t len;
        const char *s = rp_ctable_str(&t, c->cid_off, &len);
        int want = snprintf(b, sizeof(b), "c%u-%.*s", k, (int)(k % 53), TAIL);
        cr_assert(len == want && memcmp(s, b, len) == 0, "record %u keeps its cid", k);
        const struct rp_ext_buy *buy = rp_ctable_buy(&t, c, false);
        cr_assert(buy && buy->first_pday == (int32_t)k && buy->n_pdays == (uint16_t)k,
                  "record %u keeps its own links", k);
    }
    rp_ctable_fini(&t);
}

/* The stage 1 cache hint finds the record of a known customer without touching it, from the
 * lines stage 0 fetched: at the highest load (3/4 full, just before growing) at least 99 % of
 * the customers (99.5 %; the home line and at most the next gave 96.5 %, the home line alone
 * 86 %), never a record that is not theirs except by a 32-bit tag collision, and nothing for a
 * customer not in the table. */
Test(customer_table, prefetch_find_hits_displaced_entries)
{
    struct rp_ctable t;
    cr_assert_eq(rp_ctable_init(&t, 16), 0);
    char b[32];
    int n_keys = 0;
    /* insert until the next insert would grow the index: the load is then just under 3/4 */
    for (;; n_keys++) {
        size_t cap = t.cap;
        int n = snprintf(b, sizeof(b), "c%07d", n_keys);
        bool created;
        cr_assert_neq(rp_ctable_upsert(&t, b, (size_t)n, rp_ctable_hash(b, (size_t)n), &created),
                      RP_NONE32);
        if (t.cap != cap && n_keys > 100000)
            break;
    }
    size_t cap = t.cap;
    while ((size_t)(t.n + 2) * 4 <= cap * 3) {
        int n = snprintf(b, sizeof(b), "c%07d", ++n_keys);
        bool created;
        rp_ctable_upsert(&t, b, (size_t)n, rp_ctable_hash(b, (size_t)n), &created);
    }
    cr_assert_eq(t.cap, cap, "still the same index");
    int hits = 0, wrong = 0;
    for (int i = 0; i <= n_keys; i++) {
        int n = snprintf(b, sizeof(b), "c%07d", i);
        uint64_t h = rp_ctable_hash(b, (size_t)n);
        uint32_t want = rp_ctable_find(&t, b, (size_t)n, h);
        uint32_t got = rp_ctable_prefetch_find(&t, h);
        if (got == want)
            hits++;
        else if (got != RP_NONE32)
            wrong++;
    }
    double share = (double)hits / (n_keys + 1);
    cr_expect(share >= 0.99, "found %.4f of %d customers at load %.3f", share, n_keys + 1,
              (double)t.n / (double)t.cap);
    cr_expect_leq(wrong, 2, "%d hints pointed at another record", wrong);
    int none = 0;
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(b, sizeof(b), "absent-%d", i);
        none += rp_ctable_prefetch_find(&t, rp_ctable_hash(b, (size_t)n)) == RP_NONE32;
    }
    cr_expect_geq(none, 998, "absent customers get no record (%d of 1000)", none);
    rp_ctable_fini(&t);
}
