/* test_metrics: counters summed over writers, Prometheus text parsed back, concurrent writers. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "rp_err.h"
#include "signal.h"

/* ---- a strict little parser of the Prometheus text format (0.0.4) ---- */

#define MAX_SAMPLES 4096
struct sample {
    char name[96];
    char labels[256]; /* raw text between the braces, "" when none */
    double value;
};
struct expo {
    struct sample s[MAX_SAMPLES];
    int n;
    char types[64][96]; /* family names that had a TYPE line */
    char type_kind[64][32];
    int n_types;
};

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

static const char *family_type(const struct expo *e, const char *family)
{
    for (int i = 0; i < e->n_types; i++)
        if (strcmp(e->types[i], family) == 0)
            return e->type_kind[i];
    return NULL;
}

/* The family a sample belongs to: histogram samples drop their _bucket/_sum/_count suffix. */
static void family_of(const struct expo *e, const char *name, char *fam, size_t size)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(name), sl = strlen(suffixes[i]);
        if (n > sl && strcmp(name + n - sl, suffixes[i]) == 0) {
            snprintf(fam, size, "%.*s", (int)(n - sl), name);
            const char *t = family_type(e, fam);
            if (t && strcmp(t, "histogram") == 0)
                return;
        }
    }
    snprintf(fam, size, "%s", name);
}

/* Parses the whole text; fails the test on any line that is not valid exposition format. */
static void parse_expo(const char *text, struct expo *e)
{
    memset(e, 0, sizeof(*e));
    cr_assert(strlen(text) > 0 && text[strlen(text) - 1] == '\n', "text must end with a newline");
    const char *line = text;
    while (*line) {
        const char *nl = strchr(line, '\n');
        cr_assert_not_null(nl);
        char buf[512];
        cr_assert_lt((size_t)(nl - line), sizeof(buf));
        snprintf(buf, sizeof(buf), "%.*s", (int)(nl - line), line);
        line = nl + 1;
        if (strncmp(buf, "# HELP ", 7) == 0) {
            const char *p = buf + 7;
            cr_assert(name_char(*p, true), "bad HELP line: %s", buf);
            continue;
        }
        if (strncmp(buf, "# TYPE ", 7) == 0) {
            char name[96], kind[32];
            cr_assert_eq(sscanf(buf + 7, "%95s %31s", name, kind), 2, "bad TYPE: %s", buf);
            cr_assert(strcmp(kind, "counter") == 0 || strcmp(kind, "gauge") == 0 ||
                          strcmp(kind, "histogram") == 0,
                      "bad type %s", kind);
            cr_assert_null(family_type(e, name), "TYPE twice for %s", name);
            cr_assert_lt(e->n_types, 64);
            snprintf(e->types[e->n_types], sizeof(e->types[0]), "%s", name);
            snprintf(e->type_kind[e->n_types], sizeof(e->type_kind[0]), "%s", kind);
            e->n_types++;
            continue;
        }
        cr_assert_neq(buf[0], '#', "unexpected comment: %s", buf);
        cr_assert_neq(buf[0], '\0', "blank line");
        cr_assert_lt(e->n, MAX_SAMPLES);
        struct sample *s = &e->s[e->n++];
        const char *p = buf;
        size_t n = 0;
        cr_assert(name_char(*p, true), "bad metric name: %s", buf);
        while (name_char(*p, n == 0) && n < sizeof(s->name) - 1)
            s->name[n++] = *p++;
        s->name[n] = '\0';
        if (*p == '{') {
            const char *lb = ++p;
            /* name="value"(,name="value")* with \\ \" \n escapes */
            for (;;) {
                cr_assert(name_char(*p, true), "bad label name in %s", buf);
                while (name_char(*p, false))
                    p++;
                cr_assert_eq(*p, '=', "no = in labels: %s", buf);
                p++;
                cr_assert_eq(*p, '"', "unquoted label value: %s", buf);
                p++;
                while (*p && *p != '"') {
                    if (*p == '\\') {
                        p++;
                        cr_assert(*p == '\\' || *p == '"' || *p == 'n', "bad escape: %s", buf);
                    }
                    p++;
                }
                cr_assert_eq(*p, '"', "unterminated label value: %s", buf);
                p++;
                if (*p == ',') {
                    p++;
                    continue;
                }
                cr_assert_eq(*p, '}', "labels not closed: %s", buf);
                break;
            }
            snprintf(s->labels, sizeof(s->labels), "%.*s", (int)(p - lb), lb);
            p++;
        }
        cr_assert_eq(*p, ' ', "no space before the value: %s", buf);
        p++;
        char *end;
        s->value = strtod(p, &end);
        cr_assert(end != p && *end == '\0', "bad value (or a timestamp we do not write): %s", buf);
        char fam[96];
        family_of(e, s->name, fam, sizeof(fam));
        cr_assert_not_null(family_type(e, fam), "sample before its TYPE line: %s", buf);
    }
}

static const struct sample *find(const struct expo *e, const char *name, const char *labels)
{
    for (int i = 0; i < e->n; i++)
        if (strcmp(e->s[i].name, name) == 0 && strcmp(e->s[i].labels, labels) == 0)
            return &e->s[i];
    return NULL;
}

static double value_of(const struct expo *e, const char *name, const char *labels)
{
    const struct sample *s = find(e, name, labels);
    cr_assert_not_null(s, "missing %s{%s}", name, labels);
    return s->value;
}

/* Buckets of a histogram are cumulative, end with +Inf, and +Inf equals _count. */
static void check_histogram(const struct expo *e, const char *name)
{
    char bucket[128], count[128];
    snprintf(bucket, sizeof(bucket), "%s_bucket", name);
    snprintf(count, sizeof(count), "%s_count", name);
    double prev = -1, prev_le = -1;
    int n = 0;
    const struct sample *last = NULL;
    for (int i = 0; i < e->n; i++) {
        if (strcmp(e->s[i].name, bucket) != 0)
            continue;
        const char *le = strstr(e->s[i].labels, "le=\"");
        cr_assert_not_null(le);
        double bound = strncmp(le + 4, "+Inf", 4) == 0 ? 1e300 : strtod(le + 4, NULL);
        cr_assert_gt(bound, prev_le, "le not increasing");
        cr_assert_geq(e->s[i].value, prev, "buckets not cumulative");
        prev = e->s[i].value;
        prev_le = bound;
        last = &e->s[i];
        n++;
    }
    cr_assert_eq(n, RP_METRICS_BATCH_BUCKETS + 1);
    cr_assert(strstr(last->labels, "le=\"+Inf\""));
    cr_assert_eq(last->value, value_of(e, count, ""));
    char sum[128];
    snprintf(sum, sizeof(sum), "%s_sum", name);
    cr_assert_not_null(find(e, sum, ""));
}

static void render(struct rp_metrics *m, struct expo *e)
{
    char *text;
    size_t len;
    cr_assert_eq(rp_metrics_render(m, &text, &len), RP_OK);
    cr_assert_eq(strlen(text), len);
    parse_expo(text, e);
    free(text);
}

static struct expo expo_buf; /* large: keep it off the stack */

/* ---- tests ---- */

Test(metrics, create_rejects_bad_sizes)
{
    char err[128] = "";
    cr_assert_null(rp_metrics_create(0, 1, 1, err, sizeof(err)));
    cr_assert(strstr(err, "bad sizes"));
    cr_assert_null(rp_metrics_create(1, 0, 1, err, sizeof(err)));
    cr_assert_null(rp_metrics_create(1, 1, 0, err, sizeof(err)));
    struct rp_metrics *m = rp_metrics_create(3, 2, 5, err, sizeof(err));
    cr_assert_not_null(m, "%s", err);
    cr_assert_eq(rp_metrics_n_writers(m), 3);
    cr_assert_eq(rp_metrics_n_workers(m), 2);
    cr_assert_eq(rp_metrics_n_partitions(m), 5);
    rp_metrics_destroy(m);
    rp_metrics_destroy(NULL);
}

Test(metrics, blocks_do_not_share_cache_lines)
{
    struct rp_metrics *m = rp_metrics_create(2, 2, 2, NULL, 0);
    cr_assert_eq(sizeof(struct rp_metrics_part) % RP_METRICS_CACHELINE, 0);
    cr_assert_eq(sizeof(struct rp_metrics_worker) % RP_METRICS_CACHELINE, 0);
    for (int w = 0; w < 2; w++) {
        cr_assert_eq((uintptr_t)rp_metrics_worker(m, w) % RP_METRICS_CACHELINE, 0);
        for (int p = 0; p < 2; p++)
            cr_assert_eq((uintptr_t)rp_metrics_part(m, w, p) % RP_METRICS_CACHELINE, 0);
    }
    cr_assert_neq(rp_metrics_part(m, 0, 1), rp_metrics_part(m, 1, 1));
    rp_metrics_destroy(m);
}

Test(metrics, sums_over_writers_and_workers)
{
    struct rp_metrics *m = rp_metrics_create(3, 2, 4, NULL, 0);
    cr_assert_not_null(m);
    /* partition 2: consumed by writer 0, applied by writers 1 and 2, dead-lettered by both */
    rp_metrics_add(&rp_metrics_part(m, 0, 2)->consumed, 10);
    rp_metrics_add(&rp_metrics_part(m, 1, 2)->applied, 4);
    rp_metrics_add(&rp_metrics_part(m, 2, 2)->applied, 3);
    rp_metrics_add(&rp_metrics_part(m, 1, 2)->dead_lettered[RP_ERR_MALFORMED], 1);
    rp_metrics_add(&rp_metrics_part(m, 2, 2)->dead_lettered[RP_ERR_TOO_LATE], 2);
    rp_metrics_add(&rp_metrics_part(m, 2, 2)->late, 5);
    struct rp_metrics_part_totals t;
    rp_metrics_part_totals(m, 2, &t);
    cr_assert_eq(t.consumed, 10);
    cr_assert_eq(t.applied, 7);
    cr_assert_eq(t.dead_lettered, 3);
    cr_assert_eq(t.dead_lettered_by_code[RP_ERR_TOO_LATE], 2);
    cr_assert_eq(t.late, 5);
    cr_assert(rp_metrics_partition_balanced(m, 2));
    rp_metrics_add(&rp_metrics_part(m, 0, 2)->consumed, 1);
    cr_assert_not(rp_metrics_partition_balanced(m, 2));
    cr_assert(rp_metrics_partition_balanced(m, 0)); /* 0 == 0 + 0 */

    /* signals of partition 2's customers, counted by the two workers that held it in turn */
    rp_metrics_add(&rp_metrics_part(m, 1, 2)->signals[RP_KIND_CHURN_RISK][RP_TR_ENTER], 2);
    rp_metrics_add(&rp_metrics_part(m, 2, 2)->signals[RP_KIND_CHURN_RISK][RP_TR_ENTER], 3);
    rp_metrics_add(&rp_metrics_part(m, 2, 2)->signals[RP_KIND_ADVOCATE][RP_TR_EXIT], 1);
    rp_metrics_add(&rp_metrics_part(m, 1, 2)->credits_new, 3);
    rp_metrics_add(&rp_metrics_part(m, 2, 2)->credits_new, 1);
    rp_metrics_add(&rp_metrics_part(m, 2, 2)->credits_repeated, 2);
    rp_metrics_set_partition_state(m, 1, 100, 1000);
    rp_metrics_set_partition_state(m, 2, 50, 24);
    rp_metrics_gauge_set(&rp_metrics_worker(m, 1)->ring_occupancy, 7);
    rp_metrics_observe_batch(rp_metrics_worker(m, 0), 5000);        /* 5 us: first bucket */
    rp_metrics_observe_batch(rp_metrics_worker(m, 1), 10000);       /* exactly 1e-5: le="1e-05" */
    rp_metrics_observe_batch(rp_metrics_worker(m, 1), 300000);      /* 0.3 ms */
    rp_metrics_observe_batch(rp_metrics_worker(m, 0), 20000000000); /* 20 s: +Inf */
    struct rp_metrics_worker_totals wt;
    rp_metrics_worker_totals(m, &wt);
    cr_assert_eq(wt.signals[RP_KIND_CHURN_RISK][RP_TR_ENTER], 5);
    cr_assert_eq(wt.signals[RP_KIND_ADVOCATE][RP_TR_EXIT], 1);
    cr_assert_eq(wt.customers, 150);
    cr_assert_eq(wt.state_bytes, 1024);
    cr_assert_eq(wt.batch_count, 4);
    cr_assert_eq(wt.batch_sum_ns, 20000315000u);

    rp_metrics_set_partition_assigned(m, 1, true);
    rp_metrics_set_partition_lag(m, 1, 42);
    rp_metrics_set_partition_idle(m, 1, true);
    rp_metrics_set_partition_watermark(m, 1, 1700000000000);
    rp_metrics_set_partition_assigned(m, 2, true);
    rp_metrics_set_watermark(m, 1699999999000);

    struct expo *e = &expo_buf;
    render(m, e);
    cr_assert_eq(value_of(e, "rapport_events_consumed_total", "partition=\"2\""), 11);
    cr_assert_eq(value_of(e, "rapport_events_applied_total", "partition=\"2\""), 7);
    cr_assert_eq(
        value_of(e, "rapport_events_dead_lettered_total", "partition=\"2\",code=\"malformed\""), 1);
    cr_assert_eq(
        value_of(e, "rapport_events_dead_lettered_total", "partition=\"2\",code=\"too_late\""), 2);
    cr_assert_eq(
        value_of(e, "rapport_events_dead_lettered_total", "partition=\"2\",code=\"unknown_type\""),
        0);
    cr_assert_eq(value_of(e, "rapport_events_late_total", "partition=\"2\""), 5);
    cr_assert_eq(value_of(e, "rapport_credits_received_total", "partition=\"2\",result=\"new\""),
                 4);
    cr_assert_eq(value_of(e, "rapport_credits_received_total", "partition=\"2\",result=\"repeat\""),
                 2);
    cr_assert_eq(value_of(e, "rapport_credits_received_total", "partition=\"1\",result=\"new\""),
                 0);
    /* assigned partition 1 shows zeros; never-used, unassigned partitions 0 and 3 are absent */
    cr_assert_eq(value_of(e, "rapport_events_consumed_total", "partition=\"1\""), 0);
    cr_assert_null(find(e, "rapport_events_consumed_total", "partition=\"0\""));
    cr_assert_null(find(e, "rapport_events_consumed_total", "partition=\"3\""));
    cr_assert_eq(value_of(e, "rapport_signals_total",
                          "partition=\"2\",kind=\"churn_risk\",transition=\"enter\""),
                 5);
    cr_assert_eq(value_of(e, "rapport_signals_total",
                          "partition=\"2\",kind=\"advocate\",transition=\"exit\""),
                 1);
    cr_assert_eq(value_of(e, "rapport_signals_total",
                          "partition=\"1\",kind=\"advocate\",transition=\"enter\""),
                 0);
    cr_assert_null(
        find(e, "rapport_signals_total", "partition=\"0\",kind=\"advocate\",transition=\"enter\""));
    cr_assert_eq(value_of(e, "rapport_customers", "partition=\"1\""), 100);
    cr_assert_eq(value_of(e, "rapport_customers", "partition=\"2\""), 50);
    cr_assert_eq(value_of(e, "rapport_state_bytes", "partition=\"1\""), 1000);
    cr_assert_eq(value_of(e, "rapport_state_bytes", "partition=\"2\""), 24);
    cr_assert_null(find(e, "rapport_customers", "partition=\"0\""));
    cr_assert_eq(value_of(e, "rapport_watermark_ms", ""), 1699999999000.0);
    cr_assert_eq(value_of(e, "rapport_watermark_ms", "partition=\"1\""), 1700000000000.0);
    cr_assert_null(find(e, "rapport_watermark_ms", "partition=\"2\"")); /* not known yet */
    cr_assert_eq(value_of(e, "rapport_consumer_lag", "partition=\"1\""), 42);
    cr_assert_eq(value_of(e, "rapport_partition_idle", "partition=\"1\""), 1);
    cr_assert_eq(value_of(e, "rapport_partition_idle", "partition=\"2\""), 0);
    cr_assert_null(find(e, "rapport_partition_idle", "partition=\"0\"")); /* not assigned */
    cr_assert_eq(value_of(e, "rapport_ring_occupancy", "worker=\"0\""), 0);
    cr_assert_eq(value_of(e, "rapport_ring_occupancy", "worker=\"1\""), 7);
    check_histogram(e, "rapport_batch_seconds");
    cr_assert_eq(value_of(e, "rapport_batch_seconds_bucket", "le=\"1e-05\""), 2);
    cr_assert_eq(value_of(e, "rapport_batch_seconds_bucket", "le=\"0.00025\""), 2);
    cr_assert_eq(value_of(e, "rapport_batch_seconds_bucket", "le=\"0.0005\""), 3);
    cr_assert_eq(value_of(e, "rapport_batch_seconds_bucket", "le=\"10\""), 3);
    cr_assert_eq(value_of(e, "rapport_batch_seconds_bucket", "le=\"+Inf\""), 4);
    cr_assert_eq(value_of(e, "rapport_batch_seconds_count", ""), 4);
    cr_assert_float_eq(value_of(e, "rapport_batch_seconds_sum", ""), 20.000315, 1e-12);

    /* unassigning keeps the counters of a partition that counted, drops its gauges */
    rp_metrics_set_partition_assigned(m, 1, false);
    rp_metrics_set_partition_assigned(m, 2, false);
    render(m, e);
    cr_assert_null(find(e, "rapport_events_consumed_total", "partition=\"1\""));
    cr_assert_eq(value_of(e, "rapport_events_consumed_total", "partition=\"2\""), 11);
    cr_assert_null(find(e, "rapport_consumer_lag", "partition=\"1\""));
    cr_assert_null(find(e, "rapport_partition_idle", "partition=\"1\""));
    cr_assert_null(find(e, "rapport_customers", "partition=\"2\""));
    cr_assert_eq(value_of(e, "rapport_signals_total",
                          "partition=\"2\",kind=\"churn_risk\",transition=\"enter\""),
                 5);
    rp_metrics_destroy(m);
}

Test(metrics, every_contract_family_has_a_type)
{
    struct rp_metrics *m = rp_metrics_create(1, 1, 1, NULL, 0);
    struct expo *e = &expo_buf;
    render(m, e);
    static const char *const families[][2] = {
        {"rapport_events_consumed_total", "counter"},
        {"rapport_events_applied_total", "counter"},
        {"rapport_events_dead_lettered_total", "counter"},
        {"rapport_events_late_total", "counter"},
        {"rapport_signals_total", "counter"},
        {"rapport_credits_received_total", "counter"},
        {"rapport_customers", "gauge"},
        {"rapport_state_bytes", "gauge"},
        {"rapport_watermark_ms", "gauge"},
        {"rapport_consumer_lag", "gauge"},
        {"rapport_partition_idle", "gauge"},
        {"rapport_ring_occupancy", "gauge"},
        {"rapport_batch_seconds", "histogram"},
    };
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        const char *t = family_type(e, families[i][0]);
        cr_assert_not_null(t, "no TYPE for %s", families[i][0]);
        cr_assert_str_eq(t, families[i][1]);
    }
    /* nothing set yet: no watermark sample (unknown is not 0), histogram all zero */
    cr_assert_null(find(e, "rapport_watermark_ms", ""));
    check_histogram(e, "rapport_batch_seconds");
    cr_assert_eq(value_of(e, "rapport_batch_seconds_count", ""), 0);
    rp_metrics_destroy(m);
}

/* The README's metric table (rows "| `rapport_...` | type | ...") names exactly the families the
 * code renders, with the same types: the names are part of the contract (SPEC §6). */
Test(metrics, the_readme_table_matches_the_families_rendered)
{
    FILE *f = fopen(RP_TEST_DATA "/../../README.md", "r");
    cr_assert_not_null(f, "README.md not found beside tests/");
    char line[1024], names[64][96], kinds[64][32];
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        char name[96], kind[32];
        if (sscanf(line, "| `%95[a-z_]` | %31[a-z] |", name, kind) == 2 &&
            strncmp(name, "rapport_", 8) == 0) {
            cr_assert_lt(n, 64);
            strcpy(names[n], name);
            strcpy(kinds[n++], kind);
        }
    }
    fclose(f);
    struct rp_metrics *m = rp_metrics_create(1, 1, 1, NULL, 0);
    struct expo *e = &expo_buf;
    render(m, e);
    for (int i = 0; i < n; i++) {
        const char *t = family_type(e, names[i]);
        cr_expect_not_null(t, "README names %s, the code does not render it", names[i]);
        if (t)
            cr_expect_str_eq(t, kinds[i], "%s: README says %s, the code %s", names[i], kinds[i], t);
    }
    for (int i = 0; i < e->n_types; i++) {
        bool listed = false;
        for (int j = 0; j < n && !listed; j++)
            listed = strcmp(names[j], e->types[i]) == 0;
        cr_expect(listed, "the code renders %s, the README's table does not name it", e->types[i]);
    }
    cr_expect_gt(n, 10, "too few rows found in the README's metric table (%d)", n);
    rp_metrics_destroy(m);
}

Test(metrics, http_adapter_renders_the_same_text)
{
    struct rp_metrics *m = rp_metrics_create(1, 1, 1, NULL, 0);
    rp_metrics_add(&rp_metrics_part(m, 0, 0)->consumed, 3);
    char *a, *b;
    size_t la, lb;
    cr_assert_eq(rp_metrics_render(m, &a, &la), RP_OK);
    cr_assert_eq(rp_metrics_http_render(m, &b, &lb), RP_OK);
    cr_assert_eq(la, lb);
    cr_assert_str_eq(a, b);
    cr_assert(strstr(a, "rapport_events_consumed_total{partition=\"0\"} 3\n"));
    free(a);
    free(b);
    rp_metrics_destroy(m);
}

Test(metrics, write_to_a_failing_stream)
{
    struct rp_metrics *m = rp_metrics_create(1, 1, 1, NULL, 0);
    char tiny[16];
    FILE *f = fmemopen(tiny, sizeof(tiny), "w");
    setvbuf(f, NULL, _IONBF, 0);
    cr_assert_eq(rp_metrics_write(m, f), RP_ERR_IO);
    fclose(f);
    rp_metrics_destroy(m);
}

/* The concurrent writers/reader scenario lives in metrics_stress.h so that tsan_metrics.c runs
 * the same code under ThreadSanitizer, outside Criterion (whose runner cannot start under TSan:
 * "Could not initialize inheritable arena"). */
#include "metrics_stress.h"

Test(metrics, concurrent_writers_and_reader, .timeout = 120)
{
    cr_assert_eq(run_concurrent(), 0);
}
