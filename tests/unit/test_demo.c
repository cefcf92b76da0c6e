/* test_demo: the readable forms `rapport demo` prints (signal lines and the status line). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "demo.h"

static struct rp_signal churn_signal(void)
{
    struct rp_signal s;
    memset(&s, 0, sizeof(s));
    memcpy(s.cid.bytes, "c1234", 5);
    s.cid.len = 5;
    s.kind = RP_KIND_CHURN_RISK;
    s.transition = RP_TR_ENTER;
    s.score = 0.7412;
    s.previous_score = 0.6149;
    s.threshold = 0.7;
    s.segment = RP_SEG_AT_RISK;
    s.n_reasons = 2;
    s.reasons[0].code = RP_R_SILENCE;
    s.reasons[0].weight = 0.3125;
    s.reasons[1].code = RP_R_ENGAGEMENT_DROP;
    s.reasons[1].weight = 0.2201;
    s.as_of_ms = INT64_C(1767532920000); /* 2026-01-04T13:22:00Z */
    return s;
}

Test(demo, signal_line_has_every_part)
{
    struct rp_signal s = churn_signal();
    char buf[512];
    size_t n = rp_demo_format_signal(&s, NULL, false, buf, sizeof(buf));
    cr_assert_eq(n, strlen(buf));
    cr_assert_str_eq(buf, "2026-01-04 13:22  churn_risk enter  c1234     score 0.74 (was 0.61)  "
                          "segment at_risk        reasons SILENCE 0.31, ENGAGEMENT_DROP 0.22");
    cr_assert_null(strchr(buf, '\033'), "no colour unless asked");
    cr_assert_null(strchr(buf, '\n'));
}

Test(demo, signal_line_with_archetype)
{
    struct rp_signal s = churn_signal();
    char buf[512];
    rp_demo_format_signal(&s, "silent_churner", false, buf, sizeof(buf));
    const char *tail = "reasons SILENCE 0.31, ENGAGEMENT_DROP 0.22  (archetype: silent_churner)";
    size_t n = strlen(buf), t = strlen(tail);
    cr_assert(n > t && strcmp(buf + n - t, tail) == 0, "%s", buf);
}

Test(demo, signal_line_advocate_exit_without_reasons)
{
    struct rp_signal s = churn_signal();
    s.kind = RP_KIND_ADVOCATE;
    s.transition = RP_TR_EXIT;
    s.segment = RP_SEG_ENGAGED;
    s.n_reasons = 0;
    char buf[512];
    rp_demo_format_signal(&s, NULL, false, buf, sizeof(buf));
    cr_assert(strstr(buf, "advocate   exit   c1234") != NULL, "%s", buf);
    cr_assert(strstr(buf, "segment engaged") != NULL, "%s", buf);
    cr_assert(strstr(buf, "(no reasons)") != NULL, "%s", buf);
}

Test(demo, signal_line_colour_and_truncation)
{
    struct rp_signal s = churn_signal();
    char buf[512];
    rp_demo_format_signal(&s, NULL, true, buf, sizeof(buf));
    cr_assert(strstr(buf, "\033[31m") != NULL, "churn in red");
    cr_assert(strstr(buf, "\033[0m") != NULL, "colour reset");
    char small[20];
    memset(small, 'x', sizeof(small));
    size_t n = rp_demo_format_signal(&s, NULL, false, small, sizeof(small));
    cr_assert_eq(n, sizeof(small) - 1);
    cr_assert_eq(small[sizeof(small) - 1], 0);
    cr_assert_eq(strncmp(small, "2026-01-04 13:22  c", 19), 0, "%s", small);
}

Test(demo, status_line)
{
    struct rp_demo_status st;
    memset(&st, 0, sizeof(st));
    st.elapsed_s = 12.2;
    st.event_time_ms = INT64_C(1767532920000);
    st.events_per_s = 2034.4;
    st.events = 20000;
    st.customers = 1990;
    st.signals[RP_KIND_CHURN_RISK][RP_TR_ENTER] = 45;
    st.signals[RP_KIND_CHURN_RISK][RP_TR_EXIT] = 2;
    st.signals[RP_KIND_ADVOCATE][RP_TR_ENTER] = 20;
    st.lag = 12;
    st.ready = true;
    char buf[512];
    rp_demo_format_status(&st, buf, sizeof(buf));
    cr_assert_str_eq(buf, "status [ 12s] churn_risk 45 enter 2 exit | advocate 20 enter 0 exit | "
                          "2034 events/s | 1990 customers | lag 12 | event time 2026-01-04 13:22");
    st.stopped = true;
    st.lag = -1;
    st.event_time_ms = INT64_MIN;
    rp_demo_format_status(&st, buf, sizeof(buf));
    cr_assert_str_eq(buf, "status [ 12s] stopped | churn_risk 45 enter 2 exit | advocate 20 enter "
                          "0 exit | 20000 events (2034/s on average) | 1990 customers");
}

Test(demo, status_line_before_assignment)
{
    struct rp_demo_status st;
    memset(&st, 0, sizeof(st));
    st.elapsed_s = 1;
    st.event_time_ms = INT64_MIN;
    char buf[512];
    rp_demo_format_status(&st, buf, sizeof(buf));
    cr_assert(strstr(buf, "waiting for the engine") != NULL, "%s", buf);
    cr_assert(strncmp(buf, "status [  1s]", 13) == 0, "%s", buf);
}

Test(demo, opts_defaults)
{
    struct rp_demo_opts o;
    rp_demo_opts_defaults(&o);
    cr_assert_eq(o.customers, 2000);
    cr_assert_float_eq(o.speed, 1.0, 1e-12);
    cr_assert_eq(o.partitions, 4);
    cr_assert_null(o.config_path);
    cr_assert_null(o.http);
    cr_assert_float_eq(o.seconds, 0, 1e-12);
}

Test(demo, bad_options_are_usage_errors)
{
    struct rp_demo_opts o;
    rp_demo_opts_defaults(&o);
    o.speed = 0;
    char err[256];
    bool usage = false;
    cr_assert_null(rp_demo_create(&o, stdout, err, sizeof(err), &usage));
    cr_assert(usage);
    rp_demo_opts_defaults(&o);
    o.config_path = "/nonexistent/rapport.conf";
    usage = false;
    cr_assert_null(rp_demo_create(&o, stdout, err, sizeof(err), &usage));
    cr_assert(usage);
    cr_assert(strstr(err, "/nonexistent/rapport.conf") != NULL, "%s", err);
}
