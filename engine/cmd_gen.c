/* cmd_gen: `rapport gen`: synthetic interaction streams (engine/gen.c) to stdout, a file or Kafka.
 */
#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "event.h"
#include "gen.h"
#include "timefmt.h"

#define MS_DAY (86400 * INT64_C(1000))
#define MAX_X  64 /* -X properties */

static const char usage_text[] =
    "usage: rapport gen [options]\n"
    "\n"
    "Writes a synthetic, seeded stream of interaction events (README) in event-time order: to\n"
    "stdout, a file, or a Kafka topic. Same options and seed, same stream.\n"
    "\n"
    "Population and time:\n"
    "  --customers N     number of customers, ids c0..c(N-1) (default 1000)\n"
    "  --seed N          random seed (default 1)\n"
    "  --start TIME      event time of the first day, RFC 3339, a date, ms since the epoch, or\n"
    "                    'now' (default 2026-01-01T00:00:00Z)\n"
    "  --days D          event-time span the archetypes play out over, in days (default 30)\n"
    "  --events N        emit exactly N events, activity scaled so that they span about\n"
    "                    --days; 0 (the default): every event of the span at the natural\n"
    "                    density, about 1 event per customer per day\n"
    "  --mix SPEC        archetype weights, e.g. 'advocate=20,loyal=10' (others keep their\n"
    "                    default); 'only:loyal=1,drifting=1' starts from zero\n"
    "  --zipf S          Zipf exponent of activity between customers (default 0.8; 0 = even)\n"
    "  --labels FILE     write 'cid,archetype' for every customer (with a header line)\n"
    "\n"
    "Output:\n"
    "  --format F        json (JSON Lines, default) or msgpack (concatenated maps)\n"
    "  -o, --output FILE write to FILE instead of stdout\n"
    "  --brokers H:P     produce to Kafka instead (bootstrap servers); needs --topic\n"
    "  --topic T         the topic: key = cid, value = event; murmur2_random partitioner (as\n"
    "                    Java clients), idempotent producer; waits for every delivery\n"
    "  -X KEY=VALUE      extra librdkafka producer property (repeatable), e.g. -X linger.ms=50\n"
    "  --rate R          pace to R events per second of wall clock (default 0: as fast as\n"
    "                    possible)\n"
    "  --duration S      stop after S seconds of wall clock\n"
    "  -h, --help        this text\n"
    "\n"
    "With --brokers, a progress line goes to stderr every second and 'delivered N events' to\n"
    "stdout at the end; the exit status is 1 when any delivery failed. SIGINT/SIGTERM stop it\n"
    "cleanly (outstanding deliveries are awaited and counted).\n"
    "\n"
    "Archetypes (default mix in percent of the population):\n"
    "  loyal=28               steady sessions every ~2 days, regular purchases, questions\n"
    "                         answered within hours\n"
    "  advocate=8             engaged; shares, referrals (about half convert: the referred\n"
    "                         customer signs up and buys with `referrer`), answers to other\n"
    "                         customers, reviews 4-5, NPS 9-10, positive mentions\n"
    "  drifting=12            like loyal, but activity decays to ~5 % by the end of the span\n"
    "  silent_churner=10      like loyal until a day in 30-60 % of the span, then nothing\n"
    "  ignored_complainer=6   questions and complaints that are never answered or resolved,\n"
    "                         negative sentiment, reviews 1-2, NPS 0-4, refunds\n"
    "  served_complainer=8    questions replied and complaints resolved within hours\n"
    "  transactional=16       regular purchases, little else\n"
    "  window_shopper=8       views and clicks, rarely buys\n"
    "  unsubscriber=4         ordinary, then `unsubscribe` in 35-65 % of the span and 15 % of\n"
    "                         the activity afterwards\n"
    "A quarter of loyal, transactional and window-shopper customers join during the span (first\n"
    "event `signup`), on their own or when an advocate refers them. Activity is Zipf-skewed\n"
    "between customers and follows a daily cycle (quiet nights, evening peak, UTC).\n";

/* Set by SIGINT/SIGTERM: stop producing, wait for the deliveries, report, exit. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct gen_opts {
    const char *output, *labels, *brokers, *topic;
    bool msgpack;
    double rate;       /* events per second of wall clock; 0 = unpaced */
    double duration_s; /* 0 = until the stream ends */
    const char *xprops[MAX_X];
    int n_x;
};

/* Wall-clock pacing and the --duration deadline, shared by both outputs. */
struct pacer {
    int64_t t0;
    double rate;
    int64_t deadline; /* 0 = none */
};

/* Returns false when the run must stop (deadline or signal). May sleep to hold the rate. */
static bool pace(const struct pacer *p, uint64_t sent)
{
    if (stop_requested)
        return false;
    if (p->rate <= 0 && p->deadline == 0 && (sent & 1023))
        return true;
    int64_t now = now_ms();
    if (p->deadline && now >= p->deadline)
        return false;
    if (p->rate > 0) {
        int64_t due = p->t0 + (int64_t)((double)sent * 1000.0 / p->rate);
        if (due > now) {
            if (p->deadline && due >= p->deadline) {
                sleep_ms(p->deadline - now);
                return false;
            }
            sleep_ms(due - now);
        }
    }
    return true;
}

/* Encodes one event; returns the length or 0 on failure (the encoders never fail on the
 * generator's events, whose fields are all within SPEC §1 limits). */
static size_t encode(const struct rp_event *ev, bool msgpack, char *buf, size_t cap)
{
    if (msgpack)
        return rp_event_encode_msgpack(ev, buf, cap);
    size_t n = rp_event_encode_json(ev, buf, cap - 1);
    if (n)
        buf[n++] = '\n';
    return n;
}

static int gen_to_file(struct rp_gen *g, const struct gen_opts *o)
{
    FILE *out = stdout;
    if (o->output && strcmp(o->output, "-") != 0) {
        out = fopen(o->output, "wb");
        if (!out) {
            fprintf(stderr, "rapport gen: %s: %s\n", o->output, strerror(errno));
            return 1;
        }
    }
    static char obuf[1 << 20];
    setvbuf(out, obuf, _IOFBF, sizeof(obuf));
    struct pacer p = {.t0 = now_ms(), .rate = o->rate};
    if (o->duration_s > 0)
        p.deadline = p.t0 + (int64_t)(o->duration_s * 1000.0);
    struct rp_event ev;
    char buf[4096];
    uint64_t n = 0;
    int rc = 0;
    while (pace(&p, n) && rp_gen_next(g, &ev)) {
        size_t len = encode(&ev, o->msgpack, buf, sizeof(buf));
        if (len == 0) {
            fprintf(stderr, "rapport gen: could not encode event %llu\n",
                    (unsigned long long)rp_gen_count(g));
            rc = 1;
            break;
        }
        if (fwrite(buf, 1, len, out) != len)
            break;
        n++;
    }
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "rapport gen: write error: %s\n", strerror(errno));
        rc = 1;
    }
    if (out != stdout)
        fclose(out);
    return rc;
}

/* Delivery counters, updated by the delivery-report callback (which runs inside rd_kafka_poll
 * and rd_kafka_flush on this thread, so plain integers would do; atomics keep it honest if a
 * background poller is ever enabled). */
struct delivery {
    atomic_uint_fast64_t ok, failed;
    char first_error[256];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct delivery *d = opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        atomic_fetch_add_explicit(&d->ok, 1, memory_order_relaxed);
    } else {
        if (atomic_fetch_add_explicit(&d->failed, 1, memory_order_relaxed) == 0)
            snprintf(d->first_error, sizeof(d->first_error), "%s", rd_kafka_err2str(m->err));
    }
}

static void progress(struct delivery *d, uint64_t produced, int64_t t0, uint64_t *last_ok,
                     int64_t *last_t)
{
    int64_t now = now_ms();
    uint64_t ok = atomic_load_explicit(&d->ok, memory_order_relaxed);
    double rate = now > *last_t ? (double)(ok - *last_ok) * 1000.0 / (double)(now - *last_t) : 0;
    fprintf(stderr, "gen: %.0fs produced %llu delivered %llu failed %llu (%.0f ev/s)\n",
            (double)(now - t0) / 1000.0, (unsigned long long)produced, (unsigned long long)ok,
            (unsigned long long)atomic_load_explicit(&d->failed, memory_order_relaxed), rate);
    *last_ok = ok;
    *last_t = now;
}

static int gen_to_kafka(struct rp_gen *g, const struct gen_opts *o)
{
    char errstr[512];
    static struct delivery d;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *defaults[][2] = {
        {"bootstrap.servers", o->brokers}, {"enable.idempotence", "true"},
        {"partitioner", "murmur2_random"}, {"linger.ms", "20"},
        {"compression.type", "lz4"},       {"message.timeout.ms", "60000"},
    };
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
            fprintf(stderr, "rapport gen: %s\n", errstr);
            rd_kafka_conf_destroy(conf);
            return 2;
        }
    for (int i = 0; i < o->n_x; i++) {
        char kv[1024];
        if (strlen(o->xprops[i]) >= sizeof(kv)) {
            fprintf(stderr, "rapport gen: -X %.40s...: longer than %zu bytes\n", o->xprops[i],
                    sizeof(kv) - 1);
            rd_kafka_conf_destroy(conf);
            return 2;
        }
        snprintf(kv, sizeof(kv), "%s", o->xprops[i]);
        char *eq = strchr(kv, '=');
        if (!eq) {
            fprintf(stderr, "rapport gen: -X expects KEY=VALUE, got '%s'\n", o->xprops[i]);
            rd_kafka_conf_destroy(conf);
            return 2;
        }
        *eq = 0;
        if (rd_kafka_conf_set(conf, kv, eq + 1, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "rapport gen: -X %s: %s\n", o->xprops[i], errstr);
            rd_kafka_conf_destroy(conf);
            return 2;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &d);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "rapport gen: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    if (!rkt) {
        fprintf(stderr, "rapport gen: topic %s: %s\n", o->topic,
                rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_destroy(rk);
        return 1;
    }

    int64_t t0 = now_ms(), last_t = t0, next_report = t0 + 1000;
    uint64_t last_ok = 0, produced = 0;
    struct pacer p = {.t0 = t0, .rate = o->rate};
    if (o->duration_s > 0)
        p.deadline = t0 + (int64_t)(o->duration_s * 1000.0);
    struct rp_event ev;
    char buf[4096];
    int rc = 0;
    while (pace(&p, produced) && rp_gen_next(g, &ev)) {
        size_t len = encode(&ev, o->msgpack, buf, sizeof(buf));
        if (len == 0) {
            fprintf(stderr, "rapport gen: could not encode event %llu\n",
                    (unsigned long long)rp_gen_count(g));
            rc = 1;
            break;
        }
        if (!o->msgpack)
            len--; /* no newline in a Kafka message */
        for (;;) {
            if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, buf, len,
                                 ev.cid.bytes, ev.cid.len, NULL) == 0)
                break;
            rd_kafka_resp_err_t err = rd_kafka_last_error();
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "rapport gen: produce: %s\n", rd_kafka_err2str(err));
                rc = 1;
                goto drain;
            }
            rd_kafka_poll(rk, 50); /* the local queue is full: serve deliveries, then retry */
            if (stop_requested)
                goto drain;
        }
        produced++;
        if ((produced & 1023) == 0) {
            rd_kafka_poll(rk, 0);
            int64_t now = now_ms();
            if (now >= next_report) {
                progress(&d, produced, t0, &last_ok, &last_t);
                next_report = now + 1000;
            }
        }
    }
drain:
    /* wait for every delivery report, still printing progress, within the message timeout */
    {
        int64_t deadline = now_ms() + 90000;
        while (rd_kafka_outq_len(rk) > 0 && now_ms() < deadline) {
            rd_kafka_flush(rk, 1000);
            /* only while deliveries are still outstanding: the end state is the final line
             * below, printed once */
            if (rd_kafka_outq_len(rk) > 0 && now_ms() >= next_report && now_ms() < deadline) {
                progress(&d, produced, t0, &last_ok, &last_t);
                next_report = now_ms() + 1000;
            }
        }
    }
    progress(&d, produced, t0, &last_ok, &last_t);
    int left = rd_kafka_outq_len(rk);
    uint64_t ok = atomic_load(&d.ok), failed = atomic_load(&d.failed);
    if (failed > 0) {
        fprintf(stderr, "rapport gen: %llu deliveries failed (first: %s)\n",
                (unsigned long long)failed, d.first_error);
        rc = 1;
    }
    if (left > 0) {
        fprintf(stderr, "rapport gen: %d messages still undelivered at exit\n", left);
        rc = 1;
    }
    printf("delivered %llu events\n", (unsigned long long)ok);
    fflush(stdout);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return rc;
}

int rp_cmd_gen(int argc, char **argv)
{
    enum {
        O_CUSTOMERS = 256,
        O_SEED,
        O_DAYS,
        O_EVENTS,
        O_RATE,
        O_START,
        O_MIX,
        O_FORMAT,
        O_LABELS,
        O_BROKERS,
        O_TOPIC,
        O_DURATION,
        O_ZIPF,
    };
    static const struct option longopts[] = {
        {"customers", required_argument, NULL, O_CUSTOMERS},
        {"seed", required_argument, NULL, O_SEED},
        {"days", required_argument, NULL, O_DAYS},
        {"events", required_argument, NULL, O_EVENTS},
        {"rate", required_argument, NULL, O_RATE},
        {"start", required_argument, NULL, O_START},
        {"mix", required_argument, NULL, O_MIX},
        {"format", required_argument, NULL, O_FORMAT},
        {"output", required_argument, NULL, 'o'},
        {"labels", required_argument, NULL, O_LABELS},
        {"brokers", required_argument, NULL, O_BROKERS},
        {"topic", required_argument, NULL, O_TOPIC},
        {"duration", required_argument, NULL, O_DURATION},
        {"zipf", required_argument, NULL, O_ZIPF},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct rp_gen_config cfg;
    rp_gen_config_defaults(&cfg);
    struct gen_opts o = {0};
    char errstr[256];
    uint64_t u;
    double d;
    int c;
    optind = 1;
    opterr = 0;
#define BAD(...)                                                                                   \
    do {                                                                                           \
        fprintf(stderr, "rapport gen: " __VA_ARGS__);                                              \
        fprintf(stderr, "\n(rapport gen --help for usage)\n");                                     \
        return 2;                                                                                  \
    } while (0)
    while ((c = getopt_long(argc, argv, "ho:X:", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case O_CUSTOMERS:
            if (rp_cli_parse_u64(optarg, &u) || u < 1 || u > UINT32_MAX / 2)
                BAD("--customers: expected a count >= 1, got '%s'", optarg);
            cfg.customers = (uint32_t)u;
            break;
        case O_SEED:
            if (rp_cli_parse_u64(optarg, &u))
                BAD("--seed: expected an unsigned integer, got '%s'", optarg);
            cfg.seed = u;
            break;
        case O_DAYS:
            if (rp_cli_parse_double(optarg, &d) || !(d > 0) || d > 36500)
                BAD("--days: expected a number of days in (0, 36500], got '%s'", optarg);
            cfg.span_ms = (int64_t)(d * (double)MS_DAY);
            break;
        case O_EVENTS:
            if (rp_cli_parse_u64(optarg, &u))
                BAD("--events: expected a count, got '%s'", optarg);
            cfg.events = u;
            break;
        case O_RATE:
            if (rp_cli_parse_double(optarg, &d) || d < 0)
                BAD("--rate: expected events per second >= 0, got '%s'", optarg);
            o.rate = d;
            break;
        case O_START:
            if (strcmp(optarg, "now") == 0) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                cfg.start_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
            } else if (rp_time_parse(optarg, strlen(optarg), &cfg.start_ms) != 0)
                BAD("--start: expected RFC 3339, a date or ms since the epoch, got '%s'", optarg);
            break;
        case O_MIX:
            if (rp_gen_mix_parse(&cfg, optarg, errstr, sizeof(errstr)) != RP_OK)
                BAD("--%s", errstr);
            break;
        case O_FORMAT:
            if (strcmp(optarg, "json") == 0)
                o.msgpack = false;
            else if (strcmp(optarg, "msgpack") == 0)
                o.msgpack = true;
            else
                BAD("--format: expected json or msgpack, got '%s'", optarg);
            break;
        case 'o':
            o.output = optarg;
            break;
        case O_LABELS:
            o.labels = optarg;
            break;
        case O_BROKERS:
            o.brokers = optarg;
            break;
        case O_TOPIC:
            o.topic = optarg;
            break;
        case 'X':
            if (o.n_x == MAX_X)
                BAD("too many -X properties (at most %d)", MAX_X);
            o.xprops[o.n_x++] = optarg;
            break;
        case O_DURATION:
            if (rp_cli_parse_double(optarg, &d) || !(d > 0))
                BAD("--duration: expected seconds > 0, got '%s'", optarg);
            o.duration_s = d;
            break;
        case O_ZIPF:
            if (rp_cli_parse_double(optarg, &d) || d < 0 || d > 4)
                BAD("--zipf: expected an exponent in [0, 4], got '%s'", optarg);
            cfg.zipf_s = d;
            break;
        default:
            if (optopt)
                BAD("option '%s' needs a value or is unknown", argv[optind - 1]);
            BAD("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        BAD("unexpected argument '%s'", argv[optind]);
    if ((o.brokers != NULL) != (o.topic != NULL))
        BAD("--brokers and --topic go together");
    if (o.brokers && o.output)
        BAD("-o and --brokers exclude each other");
#undef BAD

    struct rp_gen *g = rp_gen_create(&cfg, errstr, sizeof(errstr));
    if (!g) {
        fprintf(stderr, "rapport gen: %s\n", errstr);
        return 2;
    }
    if (o.labels) {
        FILE *lf = fopen(o.labels, "w");
        if (!lf || rp_gen_write_labels(g, lf) != RP_OK || fclose(lf) != 0) {
            fprintf(stderr, "rapport gen: %s: %s\n", o.labels, strerror(errno));
            rp_gen_destroy(g);
            return 1;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int rc = o.brokers ? gen_to_kafka(g, &o) : gen_to_file(g, &o);
    rp_gen_destroy(g);
    return rc;
}
