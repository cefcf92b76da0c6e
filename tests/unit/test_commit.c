/* test_commit: per-partition commit tracking: in-order folding, references, failures, capacity. */
#include <criterion/criterion.h>

#include "commit.h"

Test(commit, folds_only_the_completed_prefix)
{
    struct rp_commit_log log;
    cr_assert_eq(rp_commit_log_init(&log, 8), 0);
    rp_commit_log_reset(&log, 100);
    struct rp_track *a = rp_commit_log_push(&log, 110);
    struct rp_track *b = rp_commit_log_push(&log, 120);
    struct rp_track *c = rp_commit_log_push(&log, 130);
    bool failed = false;
    cr_expect_not(rp_commit_log_advance(&log, &failed), "nothing done yet");
    cr_expect_eq(log.committable, 100);
    /* b completes first: it must wait for a */
    rp_track_ref(b);         /* a produce */
    rp_track_unref(b, true); /* worker done */
    rp_track_unref(b, true); /* delivery report */
    cr_expect_not(rp_commit_log_advance(&log, &failed));
    cr_expect_eq(log.committable, 100, "b is done but a is not: nothing to commit");
    rp_track_unref(a, true);
    cr_expect(rp_commit_log_advance(&log, &failed));
    cr_expect_eq(log.committable, 120, "a and b: up to b's end");
    cr_expect_not(rp_commit_log_drained(&log));
    rp_track_ref(c);
    rp_track_unref(c, true);
    cr_expect_not(rp_commit_log_advance(&log, &failed), "c's produce is still in flight");
    rp_track_unref(c, true);
    cr_expect(rp_commit_log_advance(&log, &failed));
    cr_expect_eq(log.committable, 130);
    cr_expect(rp_commit_log_drained(&log));
    cr_expect_not(failed);
    rp_commit_log_fini(&log);
}

Test(commit, a_failed_record_is_never_passed)
{
    struct rp_commit_log log;
    cr_assert_eq(rp_commit_log_init(&log, 4), 0);
    rp_commit_log_reset(&log, 0);
    struct rp_track *a = rp_commit_log_push(&log, 10);
    struct rp_track *b = rp_commit_log_push(&log, 20);
    rp_track_ref(a);
    rp_track_unref(a, true);
    rp_track_unref(a, false); /* its delivery failed for good */
    rp_track_unref(b, true);
    bool failed = false;
    cr_expect_not(rp_commit_log_advance(&log, &failed));
    cr_expect(failed, "the failure is reported");
    cr_expect_eq(log.committable, 0, "neither a nor b after it is committable");
    rp_commit_log_fini(&log);
}

Test(commit, capacity_and_wrap_around)
{
    struct rp_commit_log log;
    cr_assert_eq(rp_commit_log_init(&log, 4), 0);
    cr_expect_eq(rp_commit_log_init(&(struct rp_commit_log){0}, 6), -1, "power of two only");
    rp_commit_log_reset(&log, -1);
    int64_t end = 0;
    for (int round = 0; round < 10; round++) {
        struct rp_track *t[4];
        for (int i = 0; i < 4; i++) {
            cr_assert_not(rp_commit_log_full(&log));
            t[i] = rp_commit_log_push(&log, end += 5);
            t[i]->wm = 1000 * round + i;
        }
        cr_expect(rp_commit_log_full(&log), "4 records in flight fill a log of 4");
        for (int i = 0; i < 4; i++)
            rp_track_unref(t[i], true);
        bool failed = false;
        cr_expect(rp_commit_log_advance(&log, &failed));
        cr_expect_eq(log.committable, end);
        cr_expect_eq(log.committable_wm, 1000 * round + 3, "the newest folded watermark");
        cr_expect_not(rp_commit_log_full(&log));
    }
    rp_commit_log_fini(&log);
}

/* The credits prefix a commit records (metadata cr=) comes from completed records only. */
Test(commit, credits_prefix_of_the_completed_records)
{
    struct rp_commit_log log;
    cr_assert_eq(rp_commit_log_init(&log, 8), 0);
    cr_expect_eq(log.committable_cr, -1, "nothing recorded yet");
    struct rp_track *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = rp_commit_log_push(&log, 10 * (i + 1));
        cr_expect_eq(t[i]->cr, -1, "a new record knows no prefix");
        t[i]->cr = 100 * (i + 1);
    }
    bool failed = false;
    rp_track_unref(t[0], true);
    rp_track_unref(t[2], true);
    rp_commit_log_advance(&log, &failed);
    cr_expect_eq(log.committable, 10);
    cr_expect_eq(log.committable_cr, 100, "not the prefix of a record behind an open one");
    rp_track_unref(t[1], true);
    rp_commit_log_advance(&log, &failed);
    cr_expect_eq(log.committable, 30);
    cr_expect_eq(log.committable_cr, 300);
    rp_commit_log_reset(&log, 30);
    cr_expect_eq(log.committable_cr, -1, "forgotten with the partition");
    rp_commit_log_fini(&log);
}
