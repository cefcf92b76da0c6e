/* test_customer_table: the cid index (growth, lookups), the arena, extensions, record layout. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "customer_table.h"

Test(customer_table, record_is_one_cache_line)
{
    cr_expect_eq(sizeof(struct rp_cust), 64);
    cr_expect_eq(sizeof(struct rp_ext), 16);
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

Test(customer_table, extensions_on_demand)
{
    struct rp_ctable t;
    cr_assert_eq(rp_ctable_init(&t, 16), 0);
    bool created;
    uint32_t i = rp_ctable_upsert(&t, "a", 1, rp_ctable_hash("a", 1), &created);
    struct rp_cust *c = rp_ctable_rec(&t, i);
    cr_expect_null(rp_ctable_buy(&t, c, false));
    cr_expect_eq(c->ext, 0, "no extension until one is needed");
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
