/* demo: `rapport demo`: mock cluster + generator thread + the engine + a signal reader. */
#include "demo.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "event.h"
#include "gen.h"
#include "metrics.h"
#include "timefmt.h"

/*
 * Threads:
 * - the caller of rp_demo_run runs the engine (rp_engine_run), exactly as `rapport run` does:
 *   the demo is the same code path pointed at librdkafka's mock cluster, which serves the Kafka
 *   protocol from a thread of its own inside this process;
 * - the generator thread produces synthetic events (engine/gen.c, msgpack, keyed by cid with
 *   Kafka's default partitioner) to the input topic, paced by EVENT time: an event is sent when
 *   the wall clock reaches start + (event time - first event time) / speed, so that `speed` days
 *   of customer behaviour pass every second and silence over days (churn) shows within
 *   seconds. At 1 day/s the population of 2000 gives about 2000 events/s, which the mock
 *   cluster serves comfortably (100 000 customers, about 100 k events/s, still keep up on two
 *   cores); starting the clock only once the engine has its partitions avoids a backlog;
 * - the reader thread consumes the two signal topics from the beginning (an ordinary consumer,
 *   as a marketing tool would), prints every signal, and owns the status line: it is the only
 *   thread that writes to `out`, so lines never interleave. It also enforces --seconds.
 * Stop: rp_demo_stop (SIGINT/SIGTERM) or the deadline sets `stop` and rp_engine_stop; the
 * engine then drains, flushes and commits; the reader prints what is still on its way (until its
 * position reaches the end of every signal partition) and a final status line.
 */

/* The embedded default: the engine's defaults plus what suits a sped-up, in-process run. The
 * generator's stream is in event-time order, so a 1-minute lateness loses nothing and lets the
 * watermark (and the timers) follow the stream closely; a 10 s shutdown keeps Ctrl-C snappy; the
 * mock cluster answers a fetch that finds no data only after the full fetch.wait.max.ms (500 ms by
 * default), even when data arrives meanwhile (a real broker answers as soon as fetch.min.bytes are
 * there), so a short wait keeps the engine within a few ms of the generator. -c FILE applies over
 * this. */
static const char demo_config[] = "[kafka]\n"
                                  "group.id = rapport-demo\n"
                                  "fetch.wait.max.ms = 50\n"
                                  "[engine]\n"
                                  "allowed_lateness = 1m\n"
                                  "shutdown_timeout = 10s\n"
                                  "expected_customers = 10000\n";

enum { PHASE_RUN = 0, PHASE_STOPPING, PHASE_DRAIN };

struct rp_demo {
    struct rp_demo_opts o;
    FILE *out;
    bool tty, color;
    struct rp_config cfg;
    bool cfg_ready;
    char *credits_topic;
    rd_kafka_t *mock_rk; /* throwaway handle that hosts the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    char bootstraps[256];
    struct rp_engine *e;

    /* generator thread */
    rd_kafka_t *gen_rk;
    rd_kafka_topic_t *gen_rkt;
    struct rp_gen *gen;
    struct rp_gen_config gcfg;
    /* archetype of customer i this season: written by the generator thread when a season
     * starts, read by the reader to label signals (relaxed: a label at a season's edge may be
     * the next season's, nothing else depends on it) */
    _Atomic unsigned char *arch;
    pthread_t gen_thread;
    bool gen_started;
    /* written by the generator thread or its delivery reports (same thread), read by the
     * reader for the status: relaxed, each a self-contained value */
    _Atomic uint64_t produced, delivered, failed;
    _Atomic int64_t gen_ts;
    char gen_error[320]; /* generator thread only, read after join */

    /* reader thread */
    rd_kafka_t *rd_rk;
    pthread_t rd_thread;
    bool rd_started;
    uint64_t signals[RP_KIND__COUNT][2]; /* reader thread; read by rp_demo_run after join */
    char status[512];                    /* last status line drawn (tty) */
    bool status_shown;
    uint64_t customers_max; /* reader thread */

    int64_t t0_ns;
    /* relaxed: flags that publish nothing else (stop may be set from a signal handler) */
    _Atomic int stop;
    /* release by rp_demo_run after rp_engine_run returned, acquire by the reader */
    _Atomic int engine_done;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void rp_demo_opts_defaults(struct rp_demo_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->customers = 2000;
    o->speed = 1.0;
    o->seed = 1;
    o->partitions = 4;
    o->status_every_s = 5;
}

/* ---------------------------------------------------------------- formatting */

/* "2026-01-04 13:22" from ms since the epoch (UTC). */
static void format_minute(int64_t ms, char *buf, size_t cap)
{
    char iso[32];
    if (rp_time_format_rfc3339(ms, iso, sizeof(iso)) == 0) {
        snprintf(buf, cap, "%" PRId64, ms);
        return;
    }
    iso[10] = ' ';
    iso[16] = 0;
    snprintf(buf, cap, "%s", iso);
}

/* Appends with snprintf semantics, never past cap - 1; *n may exceed cap (then it stops). */
__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t cap, size_t *n,
                                                         const char *fmt, ...)
{
    if (*n >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *n, cap - *n, fmt, ap);
    va_end(ap);
    if (k > 0)
        *n += (size_t)k;
}

size_t rp_demo_format_signal(const struct rp_signal *s, const char *archetype, bool color,
                             char *buf, size_t cap)
{
    if (cap == 0)
        return 0;
    buf[0] = 0;
    size_t n = 0;
    char when[40];
    format_minute(s->as_of_ms, when, sizeof(when));
    const char *on = "", *off = "", *bold = "";
    if (color) {
        on = s->kind == RP_KIND_CHURN_RISK ? "\033[31m" : "\033[32m";
        off = "\033[0m";
        bold = s->transition == RP_TR_ENTER ? "\033[1m" : "";
    }
    append(buf, cap, &n, "%s  %s%s%-10s %-5s%s  %-8.*s  score %.2f (was %.2f)  segment %-13s", when,
           bold, on, rp_signal_kind_name(s->kind), rp_transition_name(s->transition), off,
           (int)s->cid.len, s->cid.bytes, s->score, s->previous_score,
           rp_segment_name(s->segment) ? rp_segment_name(s->segment) : "?");
    if (s->n_reasons == 0)
        append(buf, cap, &n, "  (no reasons)");
    for (unsigned i = 0; i < s->n_reasons && i < RP_SIGNAL_MAX_REASONS; i++) {
        const char *name = rp_reason_name(s->reasons[i].code);
        append(buf, cap, &n, "%s%s %.2f", i ? ", " : "  reasons ", name ? name : "?",
               s->reasons[i].weight);
    }
    if (archetype)
        append(buf, cap, &n, "  (archetype: %s)", archetype);
    if (n >= cap)
        n = cap - 1;
    /* no trailing blanks when there is nothing after the padded segment */
    while (n > 0 && buf[n - 1] == ' ')
        buf[--n] = 0;
    return n;
}

size_t rp_demo_format_status(const struct rp_demo_status *st, char *buf, size_t cap)
{
    if (cap == 0)
        return 0;
    buf[0] = 0;
    size_t n = 0;
    append(buf, cap, &n, "status [%3.0fs]%s", st->elapsed_s, st->stopped ? " stopped |" : "");
    if (!st->ready && st->events == 0) {
        append(buf, cap, &n, " waiting for the engine to join its group and get partitions");
        return n < cap ? n : cap - 1;
    }
    /* most telling first: a narrow terminal cuts the end of the line */
    append(buf, cap, &n,
           " churn_risk %" PRIu64 " enter %" PRIu64 " exit | advocate %" PRIu64 " enter %" PRIu64
           " exit | ",
           st->signals[RP_KIND_CHURN_RISK][RP_TR_ENTER],
           st->signals[RP_KIND_CHURN_RISK][RP_TR_EXIT], st->signals[RP_KIND_ADVOCATE][RP_TR_ENTER],
           st->signals[RP_KIND_ADVOCATE][RP_TR_EXIT]);
    if (st->stopped)
        append(buf, cap, &n, "%" PRIu64 " events (%.0f/s on average)", st->events,
               st->events_per_s);
    else
        append(buf, cap, &n, "%.0f events/s", st->events_per_s);
    append(buf, cap, &n, " | %" PRIu64 " customers", st->customers);
    if (st->lag >= 0)
        append(buf, cap, &n, " | lag %" PRId64, st->lag);
    if (st->event_time_ms != INT64_MIN) {
        char when[40];
        format_minute(st->event_time_ms, when, sizeof(when));
        append(buf, cap, &n, " | event time %s", when);
    }
    return n < cap ? n : cap - 1;
}

/* ---------------------------------------------------------------- output (reader thread) */

static int term_cols(FILE *f)
{
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
    return 80;
}

/* Draws the status line: in place on a terminal (cut to its width so it never wraps, which
 * would defeat "\r"), as a plain line otherwise. */
static void draw_status(struct rp_demo *d, const char *line, bool final)
{
    if (d->tty) {
        int cols = term_cols(d->out);
        /* the final line is printed whole (it stays): only the redrawn one must fit */
        fprintf(d->out, "\r\033[K%.*s%s", final ? (int)strlen(line) : cols - 1, line,
                final ? "\n" : "");
        d->status_shown = !final;
        snprintf(d->status, sizeof(d->status), "%s", line);
    } else {
        fprintf(d->out, "%s\n", line);
    }
    fflush(d->out);
}

/* The archetype the generator gave customer "c<i>" this season, or NULL (not one of its ids). */
static const char *archetype_of(struct rp_demo *d, const struct rp_cid *cid)
{
    if (cid->len < 2 || cid->len > 11 || cid->bytes[0] != 'c')
        return NULL;
    uint64_t i = 0;
    for (unsigned k = 1; k < cid->len; k++) {
        if (cid->bytes[k] < '0' || cid->bytes[k] > '9' ||
            (k == 1 && cid->bytes[k] == '0' && cid->len > 2))
            return NULL;
        i = i * 10 + (uint64_t)(cid->bytes[k] - '0');
    }
    if (i >= d->o.customers)
        return NULL;
    return rp_archetype_name(
        (enum rp_archetype)atomic_load_explicit(&d->arch[i], memory_order_relaxed));
}

static void print_signal(struct rp_demo *d, const struct rp_signal *s)
{
    char line[768];
    rp_demo_format_signal(s, archetype_of(d, &s->cid), d->color, line, sizeof(line));
    if (d->tty && d->status_shown) {
        int cols = term_cols(d->out);
        fprintf(d->out, "\r\033[K%s\n%.*s", line, cols - 1, d->status);
    } else {
        fprintf(d->out, "%s\n", line);
    }
    fflush(d->out);
}

static void collect_status(struct rp_demo *d, struct rp_demo_status *st, uint64_t *last_events,
                           int64_t *last_ns)
{
    struct rp_metrics *m = rp_engine_metrics(d->e);
    uint64_t consumed = 0;
    for (int p = 0; p < rp_metrics_n_partitions(m); p++) {
        struct rp_metrics_part_totals t;
        rp_metrics_part_totals(m, p, &t);
        consumed += t.consumed;
    }
    struct rp_metrics_worker_totals wt;
    rp_metrics_worker_totals(m, &wt);
    int64_t now = mono_ns();
    memset(st, 0, sizeof(*st));
    st->elapsed_s = (double)(now - d->t0_ns) / 1e9;
    st->event_time_ms = atomic_load_explicit(&d->gen_ts, memory_order_relaxed);
    double dt = (double)(now - *last_ns) / 1e9;
    st->events_per_s = dt > 0 ? (double)(consumed - *last_events) / dt : 0;
    st->events = consumed;
    st->customers = wt.customers;
    /* the revoke at shutdown drops the state (and the gauge): the final line shows the most
     * customers held, which in a demo (no eviction) is how many the run left */
    if (wt.customers > d->customers_max)
        d->customers_max = wt.customers;
    memcpy(st->signals, d->signals, sizeof(st->signals));
    uint64_t delivered = atomic_load_explicit(&d->delivered, memory_order_relaxed);
    st->lag = delivered > consumed ? (int64_t)(delivered - consumed) : 0;
    st->ready = rp_engine_ready(d->e);
    *last_events = consumed;
    *last_ns = now;
}

/* True when the reader's position is at the end of every signal partition. */
static bool reader_caught_up(struct rp_demo *d)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(d->rd_rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR || !l)
        return true;
    rd_kafka_position(d->rd_rk, l);
    bool done = true;
    for (int i = 0; i < l->cnt && done; i++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(d->rd_rk, l->elems[i].topic, l->elems[i].partition,
                                             &lo, &hi, 2000) != RD_KAFKA_RESP_ERR_NO_ERROR)
            continue; /* cannot tell: do not wait for it */
        int64_t pos = l->elems[i].offset;
        if (hi > 0 && (pos < 0 ? lo < hi : pos < hi))
            done = false;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return done;
}

static void *reader_main(void *arg)
{
    struct rp_demo *d = arg;
    int64_t deadline = d->o.seconds > 0 ? d->t0_ns + (int64_t)(d->o.seconds * 1e9) : 0;
    int64_t every_ns =
        (d->tty ? 1 : (d->o.status_every_s > 0 ? d->o.status_every_s : 5)) * 1000000000LL;
    int64_t next_status = d->t0_ns + (d->tty ? 250000000LL : every_ns);
    int64_t last_ns = d->t0_ns, drain_deadline = 0, next_check = 0, next_sample = 0;
    uint64_t last_events = 0;
    int phase = PHASE_RUN;
    bool waiting_said = false;
    struct rp_demo_status st;
    char line[512];
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(d->rd_rk, 100);
        bool got = m != NULL;
        if (m) {
            struct rp_signal s;
            char detail[128];
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    fprintf(stderr, "rapport demo: signal reader: %s\n",
                            rd_kafka_message_errstr(m));
            } else if (rp_signal_decode(m->payload, m->len, &s, detail, sizeof(detail)) == RP_OK) {
                if (s.kind < RP_KIND__COUNT && (unsigned)s.transition < 2)
                    d->signals[s.kind][s.transition]++;
                print_signal(d, &s);
            } else {
                fprintf(stderr,
                        "rapport demo: undecodable signal at %s [%" PRId32 "] %" PRId64 ": %s\n",
                        rd_kafka_topic_name(m->rkt), m->partition, m->offset, detail);
            }
            rd_kafka_message_destroy(m);
        }
        int64_t now = mono_ns();
        /* acquire: pairs with rp_demo_run's release once rp_engine_run has returned */
        bool engine_done = atomic_load_explicit(&d->engine_done, memory_order_acquire);
        if (phase == PHASE_RUN &&
            (engine_done || atomic_load_explicit(&d->stop, memory_order_relaxed) ||
             (deadline && now >= deadline))) {
            /* the engine logs its shutdown on stderr: end the status line first */
            if (d->tty && d->status_shown) {
                fputs("\r\033[K", d->out);
                fflush(d->out);
                d->status_shown = false;
            }
            rp_demo_stop(d);
            phase = PHASE_STOPPING;
        }
        if (phase == PHASE_STOPPING && engine_done) {
            phase = PHASE_DRAIN;
            drain_deadline = now + 5000000000LL;
        }
        if (phase == PHASE_DRAIN && now >= next_check) {
            /* the engine flushed its producer: read every signal it produced, then stop */
            if (now >= drain_deadline || (!got && reader_caught_up(d)))
                break;
            next_check = now + 100000000LL;
        }
        if (phase == PHASE_RUN && now >= next_sample) {
            struct rp_metrics_worker_totals wt;
            rp_metrics_worker_totals(rp_engine_metrics(d->e), &wt);
            if (wt.customers > d->customers_max)
                d->customers_max = wt.customers;
            next_sample = now + 100000000LL;
        }
        if (phase == PHASE_RUN && now >= next_status) {
            collect_status(d, &st, &last_events, &last_ns);
            rp_demo_format_status(&st, line, sizeof(line));
            if (!d->tty || st.ready || st.events > 0) {
                draw_status(d, line, false);
            } else if (!waiting_said) {
                /* the engine logs its assignment on stderr, the same terminal: no line in place
                 * until it has happened, or the log would land at the end of it */
                fprintf(d->out, "%s\n", line);
                fflush(d->out);
                waiting_said = true;
            }
            next_status = now + every_ns;
        }
    }
    collect_status(d, &st, &last_events, &last_ns);
    /* the last interval includes the shutdown: show the run's average rate instead */
    st.events_per_s = st.elapsed_s > 0 ? (double)st.events / st.elapsed_s : 0;
    st.customers = d->customers_max;
    st.stopped = true;
    rp_demo_format_status(&st, line, sizeof(line));
    draw_status(d, line, true);
    return NULL;
}

/* ---------------------------------------------------------------- generator thread */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct rp_demo *d = opaque;
    /* runs inside rd_kafka_poll/flush on the generator thread: the only writer */
    if (m->err)
        atomic_store_explicit(&d->failed,
                              atomic_load_explicit(&d->failed, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    else
        atomic_store_explicit(&d->delivered,
                              atomic_load_explicit(&d->delivered, memory_order_relaxed) + 1,
                              memory_order_relaxed);
}

static void record_archetypes(struct rp_demo *d)
{
    for (uint32_t i = 0; i < d->o.customers; i++)
        atomic_store_explicit(&d->arch[i], (unsigned char)rp_gen_archetype(d->gen, i),
                              memory_order_relaxed);
}

static void *gen_main(void *arg)
{
    struct rp_demo *d = arg;
    /* start the clock when the engine has its partitions: the first seconds the user watches
     * are the first days of the population, not a backlog built during the group join */
    while (!atomic_load_explicit(&d->stop, memory_order_relaxed) && !rp_engine_ready(d->e))
        sleep_ms(20);
    const double wall_ms_per_event_ms = 1.0 / (d->o.speed * 86400.0);
    int64_t t0_ms = mono_ns() / 1000000, base_ts = d->gcfg.start_ms;
    uint64_t produced = 0;
    struct rp_event ev;
    bool have = false;
    uint8_t buf[2048];
    while (!atomic_load_explicit(&d->stop, memory_order_relaxed)) {
        if (!have) {
            if (!rp_gen_next(d->gen, &ev)) {
                /* the span is over: the next season, with the same ids and fresh behaviours,
                 * continues the same event-time line */
                char err[256];
                d->gcfg.start_ms = rp_gen_end_ms(d->gen);
                d->gcfg.seed++;
                rp_gen_destroy(d->gen);
                d->gen = rp_gen_create(&d->gcfg, err, sizeof(err));
                if (!d->gen) {
                    snprintf(d->gen_error, sizeof(d->gen_error), "generator: %s", err);
                    break;
                }
                record_archetypes(d);
                continue;
            }
            have = true;
        }
        int64_t due = t0_ms + (int64_t)((double)(ev.ts_ms - base_ts) * wall_ms_per_event_ms);
        int64_t now = mono_ns() / 1000000;
        if (due > now) {
            /* serves delivery reports while it waits for the event's time */
            rd_kafka_poll(d->gen_rk, (int)(due - now < 50 ? due - now : 50));
            continue;
        }
        size_t len = rp_event_encode_msgpack(&ev, buf, sizeof(buf));
        if (len == 0) {
            snprintf(d->gen_error, sizeof(d->gen_error), "generator: cannot encode an event");
            break;
        }
        if (rd_kafka_produce(d->gen_rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, buf, len,
                             ev.cid.bytes, ev.cid.len, NULL) != 0) {
            rd_kafka_resp_err_t err = rd_kafka_last_error();
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(d->gen_rk, 10); /* local queue full: serve deliveries, retry */
                continue;
            }
            snprintf(d->gen_error, sizeof(d->gen_error), "generator: produce: %s",
                     rd_kafka_err2str(err));
            break;
        }
        have = false;
        produced++;
        atomic_store_explicit(&d->produced, produced, memory_order_relaxed);
        atomic_store_explicit(&d->gen_ts, ev.ts_ms, memory_order_relaxed);
        if ((produced & 255) == 0)
            rd_kafka_poll(d->gen_rk, 0);
    }
    rd_kafka_flush(d->gen_rk, 5000);
    return NULL;
}

/* ---------------------------------------------------------------- set-up */

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 3) /* LOG_ERR and worse */
        fprintf(stderr, "rapport demo: kafka: %s: %s\n", fac, buf);
}

static int set(rd_kafka_conf_t *conf, const char *k, const char *v, char *errstr, size_t size)
{
    return rd_kafka_conf_set(conf, k, v, errstr, size) == RD_KAFKA_CONF_OK ? 0 : -1;
}

static int start_mock(struct rp_demo *d, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    d->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!d->mock_rk) {
        rd_kafka_conf_destroy(conf);
        return RP_ERR_KAFKA;
    }
    d->mc = rd_kafka_mock_cluster_new(d->mock_rk, 1);
    if (!d->mc) {
        snprintf(errstr, errstr_size, "cannot start librdkafka's mock cluster");
        return RP_ERR_KAFKA;
    }
    snprintf(d->bootstraps, sizeof(d->bootstraps), "%s", rd_kafka_mock_cluster_bootstraps(d->mc));
    /* every topic the engine reads or writes, co-partitioned with the input (the mock cluster
     * does not serve CreateTopics, so the engine finds them all in place) */
    const char *topics[] = {d->cfg.topic_input, d->cfg.topic_churn_risk, d->cfg.topic_advocate,
                            d->cfg.topic_dead_letter, d->credits_topic};
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(d->mc, topics[i], d->o.partitions, 1);
        if (err) {
            snprintf(errstr, errstr_size, "mock cluster: topic %s: %s", topics[i],
                     rd_kafka_err2str(err));
            return RP_ERR_KAFKA;
        }
    }
    return RP_OK;
}

static int start_generator_client(struct rp_demo *d, char *errstr, size_t errstr_size)
{
    rp_gen_config_defaults(&d->gcfg);
    d->gcfg.customers = d->o.customers;
    d->gcfg.seed = d->o.seed;
    d->gen = rp_gen_create(&d->gcfg, errstr, errstr_size);
    if (!d->gen)
        return RP_ERR_INVALID_ARG;
    d->arch = calloc(d->o.customers, sizeof(*d->arch));
    if (!d->arch) {
        snprintf(errstr, errstr_size, "out of memory");
        return RP_ERR_NOMEM;
    }
    record_archetypes(d);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    /* keyed by cid with Kafka's default (murmur2) partitioner, as the engine expects */
    if (set(conf, "bootstrap.servers", d->bootstraps, errstr, errstr_size) ||
        set(conf, "enable.idempotence", "true", errstr, errstr_size) ||
        set(conf, "partitioner", "murmur2_random", errstr, errstr_size) ||
        set(conf, "linger.ms", "5", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return RP_ERR_KAFKA;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, d);
    d->gen_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!d->gen_rk) {
        rd_kafka_conf_destroy(conf);
        return RP_ERR_KAFKA;
    }
    d->gen_rkt = rd_kafka_topic_new(d->gen_rk, d->cfg.topic_input, NULL);
    if (!d->gen_rkt) {
        snprintf(errstr, errstr_size, "topic %s: %s", d->cfg.topic_input,
                 rd_kafka_err2str(rd_kafka_last_error()));
        return RP_ERR_KAFKA;
    }
    return RP_OK;
}

static int start_reader_client(struct rp_demo *d, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    char gid[300];
    snprintf(gid, sizeof(gid), "%s.demo-reader", rp_config_kafka_get(&d->cfg, "group.id"));
    /* assigned by hand, never joins the group nor commits: group.id only names the client */
    if (set(conf, "bootstrap.servers", d->bootstraps, errstr, errstr_size) ||
        set(conf, "group.id", gid, errstr, errstr_size) ||
        set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
        set(conf, "fetch.wait.max.ms", "50", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return RP_ERR_KAFKA;
    }
    d->rd_rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!d->rd_rk) {
        rd_kafka_conf_destroy(conf);
        return RP_ERR_KAFKA;
    }
    rd_kafka_poll_set_consumer(d->rd_rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2 * d->o.partitions);
    for (int p = 0; p < d->o.partitions; p++) {
        rd_kafka_topic_partition_list_add(l, d->cfg.topic_churn_risk, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_topic_partition_list_add(l, d->cfg.topic_advocate, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(d->rd_rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        snprintf(errstr, errstr_size, "signal reader: %s", rd_kafka_err2str(err));
        return RP_ERR_KAFKA;
    }
    return RP_OK;
}

/* Loads the embedded default, then the user's file, then what the demo imposes. */
static int load_config(struct rp_demo *d, char *errstr, size_t errstr_size, bool *usage_error)
{
    if (rp_config_init(&d->cfg) != 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return RP_ERR_NOMEM;
    }
    d->cfg_ready = true;
    int rc = rp_config_load_string(&d->cfg, "(demo default)", demo_config, strlen(demo_config),
                                   errstr, errstr_size);
    if (rc == RP_OK && d->o.config_path)
        rc = rp_config_load(&d->cfg, d->o.config_path, errstr, errstr_size);
    if (rc != RP_OK) {
        *usage_error = rc == RP_ERR_CONFIG || rc == RP_ERR_IO;
        return rc;
    }
    if (d->cfg.guarantee == RP_EXACTLY_ONCE) {
        snprintf(errstr, errstr_size,
                 "%s: guarantee = exactly_once is not available yet (use at_least_once)",
                 d->o.config_path ? d->o.config_path : "(demo default)");
        *usage_error = true;
        return RP_ERR_CONFIG;
    }
    size_t cl = strlen(d->cfg.topic_internal_prefix) + sizeof(".credits");
    d->credits_topic = malloc(cl);
    if (!d->credits_topic) {
        snprintf(errstr, errstr_size, "out of memory");
        return RP_ERR_NOMEM;
    }
    /* the engine's name for its credits topic (engine.h: `<internal_prefix>.credits`) */
    snprintf(d->credits_topic, cl, "%s.credits", d->cfg.topic_internal_prefix);
    return RP_OK;
}

/* Points the configuration at the mock cluster (and --http), through the parser so that the
 * values are checked like any file's. */
static int impose_config(struct rp_demo *d, char *errstr, size_t errstr_size, bool *usage_error)
{
    char text[1024];
    int n = snprintf(text, sizeof(text), "[kafka]\nbootstrap.servers = %s\n", d->bootstraps);
    int rc = rp_config_load_string(&d->cfg, "(mock cluster)", text, (size_t)n, errstr, errstr_size);
    if (rc != RP_OK || !d->o.http)
        return rc;
    n = snprintf(text, sizeof(text), "[http]\nlisten = %s\n", d->o.http);
    if (n <= 0 || (size_t)n >= sizeof(text) || strpbrk(d->o.http, "\r\n")) {
        snprintf(errstr, errstr_size, "--http: expected HOST:PORT, got '%.200s'", d->o.http);
        *usage_error = true;
        return RP_ERR_CONFIG;
    }
    rc = rp_config_load_string(&d->cfg, "--http", text, (size_t)n, errstr, errstr_size);
    if (rc != RP_OK)
        *usage_error = true;
    return rc;
}

struct rp_demo *rp_demo_create(const struct rp_demo_opts *opts, FILE *out, char *errstr,
                               size_t errstr_size, bool *usage_error)
{
    *usage_error = false;
    if (opts->customers < 1 || !(opts->speed > 0) || opts->partitions < 1 ||
        opts->partitions > 1024 || opts->seconds < 0) {
        snprintf(errstr, errstr_size, "bad demo options");
        *usage_error = true;
        return NULL;
    }
    struct rp_demo *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    d->o = *opts;
    d->out = out;
    d->tty = isatty(fileno(out));
    const char *nc = getenv("NO_COLOR");
    d->color = d->tty && !(nc && nc[0]);
    atomic_init(&d->produced, 0);
    atomic_init(&d->delivered, 0);
    atomic_init(&d->failed, 0);
    atomic_init(&d->gen_ts, INT64_MIN);
    atomic_init(&d->stop, 0);
    atomic_init(&d->engine_done, 0);
    if (load_config(d, errstr, errstr_size, usage_error) != RP_OK)
        goto fail;
    if (start_mock(d, errstr, errstr_size) != RP_OK)
        goto fail;
    if (impose_config(d, errstr, errstr_size, usage_error) != RP_OK)
        goto fail;
    d->e = rp_engine_create(&d->cfg, errstr, errstr_size);
    if (!d->e) {
        /* a busy HTTP port is the user's to change (--http) */
        *usage_error = strstr(errstr, "http") != NULL || strstr(errstr, "listen") != NULL;
        size_t len = strlen(errstr);
        if (*usage_error && len < errstr_size)
            snprintf(errstr + len, errstr_size - len,
                     " (--http HOST:PORT to choose another, --http '' to disable)");
        goto fail;
    }
    if (start_generator_client(d, errstr, errstr_size) != RP_OK)
        goto fail;
    if (start_reader_client(d, errstr, errstr_size) != RP_OK)
        goto fail;
    return d;
fail:
    rp_demo_destroy(d);
    return NULL;
}

/* ---------------------------------------------------------------- run, stop, destroy */

static void print_intro(struct rp_demo *d)
{
    FILE *o = d->out;
    fprintf(o,
            "rapport demo: the engine of `rapport run` on an in-process Kafka cluster\n"
            "  kafka    librdkafka mock cluster (1 broker) at %s\n"
            "  input    %s, %d partitions, fed by the generator: %" PRIu32
            " customers (seed %" PRIu64 "), %g day%s of event time per second\n"
            "  signals  %s and %s, read back and printed below\n"
            "           with the archetype the generator gave each customer, to compare with\n",
            d->bootstraps, d->cfg.topic_input, d->o.partitions, d->o.customers, d->o.seed,
            d->o.speed, d->o.speed == 1 ? "" : "s", d->cfg.topic_churn_risk, d->cfg.topic_advocate);
    int port = rp_engine_http_port(d->e);
    if (port > 0) {
        char host[256];
        snprintf(host, sizeof(host), "%s", d->cfg.http_listen);
        char *colon = strrchr(host, ':');
        if (colon)
            *colon = 0;
        if (host[0] == 0 || strcmp(host, "0.0.0.0") == 0)
            snprintf(host, sizeof(host), "127.0.0.1");
        else if (strcmp(host, "[::]") == 0)
            snprintf(host, sizeof(host), "[::1]");
        fprintf(o,
                "  http     http://%s:%d/metrics  (also /healthz, /readyz, /customers/{cid}, "
                "e.g. /customers/c42)\n",
                host, port);
    } else {
        fprintf(o, "  http     off\n");
    }
    if (d->o.seconds > 0)
        fprintf(o, "  stops    after %g s, or on Ctrl-C\n\n", d->o.seconds);
    else
        fprintf(o, "  stops    on Ctrl-C\n\n");
    fflush(o);
}

int rp_demo_run(struct rp_demo *d)
{
    d->t0_ns = mono_ns();
    print_intro(d);
    if (pthread_create(&d->rd_thread, NULL, reader_main, d) != 0) {
        fprintf(stderr, "rapport demo: cannot start the reader thread\n");
        return 1;
    }
    d->rd_started = true;
    int rc;
    if (pthread_create(&d->gen_thread, NULL, gen_main, d) != 0) {
        fprintf(stderr, "rapport demo: cannot start the generator thread\n");
        rp_demo_stop(d);
        rc = RP_ERR_NOMEM;
    } else {
        d->gen_started = true;
        rc = rp_engine_run(d->e);
    }
    atomic_store_explicit(&d->stop, 1, memory_order_relaxed);
    /* release: the reader may now drain and leave */
    atomic_store_explicit(&d->engine_done, 1, memory_order_release);
    if (d->gen_started)
        pthread_join(d->gen_thread, NULL);
    d->gen_started = false;
    pthread_join(d->rd_thread, NULL);
    d->rd_started = false;
    /* every signal the engine emitted should have come back through Kafka to the reader */
    struct rp_metrics_worker_totals wt;
    rp_metrics_worker_totals(rp_engine_metrics(d->e), &wt);
    for (int k = 0; k < RP_KIND__COUNT; k++)
        for (int t = 0; t < 2; t++)
            if (wt.signals[k][t] != d->signals[k][t])
                fprintf(stderr,
                        "rapport demo: warning: the engine emitted %" PRIu64 " %s %s signals, "
                        "%" PRIu64 " were read back\n",
                        wt.signals[k][t], rp_signal_kind_name((enum rp_signal_kind)k),
                        rp_transition_name((enum rp_transition)t), d->signals[k][t]);
    int status = rc == RP_OK ? 0 : 1;
    if (rc == RP_ERR_KAFKA)
        fprintf(stderr, "rapport demo: the engine stopped after a fatal error\n");
    if (d->gen_error[0]) {
        fprintf(stderr, "rapport demo: %s\n", d->gen_error);
        status = 1;
    }
    uint64_t failed = atomic_load_explicit(&d->failed, memory_order_relaxed);
    if (failed)
        fprintf(stderr, "rapport demo: %" PRIu64 " events could not be delivered\n", failed);
    return status;
}

void rp_demo_stop(struct rp_demo *d)
{
    atomic_store_explicit(&d->stop, 1, memory_order_relaxed);
    if (d->e)
        rp_engine_stop(d->e);
}

void rp_demo_destroy(struct rp_demo *d)
{
    if (!d)
        return;
    if (d->rd_started || d->gen_started) { /* destroyed without run finishing: stop threads */
        rp_demo_stop(d);
        atomic_store_explicit(&d->engine_done, 1, memory_order_release);
        if (d->gen_started)
            pthread_join(d->gen_thread, NULL);
        if (d->rd_started)
            pthread_join(d->rd_thread, NULL);
    }
    if (d->rd_rk) {
        rd_kafka_consumer_close(d->rd_rk);
        rd_kafka_destroy(d->rd_rk);
    }
    if (d->gen_rkt)
        rd_kafka_topic_destroy(d->gen_rkt);
    if (d->gen_rk)
        rd_kafka_destroy(d->gen_rk);
    rp_gen_destroy(d->gen);
    rp_engine_destroy(d->e);
    if (d->mc)
        rd_kafka_mock_cluster_destroy(d->mc);
    if (d->mock_rk)
        rd_kafka_destroy(d->mock_rk);
    free(d->credits_topic);
    free((void *)d->arch);
    if (d->cfg_ready)
        rp_config_fini(&d->cfg);
    free(d);
}
