/* cmd_score: `rapport score`: the operators offline, events from files/stdin, signals to stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "config.h"
#include "event.h"
#include "pipeline.h"
#include "signal.h"
#include "timefmt.h"

static const char usage_text[] =
    "usage: rapport score [-c FILE] [--until TIME] [--state-out FILE] [FILE...]\n"
    "\n"
    "Runs the relationship operators offline, with no Kafka: reads interaction events (README)\n"
    "from the FILEs in order, or from stdin when none is given (`-` is stdin too). Each input is\n"
    "JSON Lines or concatenated msgpack maps, detected from its first non-blank byte ('{': JSON).\n"
    "\n"
    "Event time drives everything: after each event the watermark becomes the largest event time\n"
    "seen minus [engine] allowed_lateness (default 5m); an event behind the watermark is rejected\n"
    "as too_late. After the input, the watermark moves to --until so that due timers (silence,\n"
    "unanswered questions, unresolved complaints) fire.\n"
    "\n"
    "Signals (README) are written to stdout as JSON Lines. Rejected inputs are counted by code\n"
    "on stderr, with the first few line (msgpack: record) numbers and details. Deterministic:\n"
    "the same input gives the same output, except emitted_at (the wall clock).\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE     configuration file (README; only [scoring] and [engine]\n"
    "                        allowed_lateness matter here)\n"
    "  --until TIME          after the input, advance the watermark to TIME (ms since the epoch\n"
    "                        or RFC 3339, e.g. 1997-09-30T00:00:00Z)\n"
    "  --state-out FILE      write one JSON line per customer (cid, churn_risk, advocate,\n"
    "                        segment, p_alive, x, t_x_weeks, T_weeks, engagement_short,\n"
    "                        engagement_long, reasons), in cid byte order, evaluated at --until\n"
    "                        (or at the final watermark); `-` for stdout after the signals\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit status: 0 when the input was read (rejected lines do not change it), 1 on an I/O or\n"
    "configuration error, 2 on a usage error.\n";

#define MAX_SHOWN 5 /* rejected inputs shown with their details */

struct score_run {
    struct rp_pipeline *pipe;
    int64_t lateness_ms;
    int64_t max_ts;
    bool any_ts;
    uint64_t rejected[RP_ERR__DEAD_LETTER_END];
    uint64_t shown;
    FILE *out;
    char sigbuf[RP_SIGNAL_ENCODED_MAX + 2];
};

static int64_t wall_ms(void *opaque)
{
    (void)opaque;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(void *opaque, const struct rp_signal *sig)
{
    struct score_run *r = opaque;
    size_t n = rp_signal_encode_json(sig, r->sigbuf, sizeof(r->sigbuf) - 1);
    if (n == 0)
        return; /* cannot happen: RP_SIGNAL_ENCODED_MAX always suffices */
    r->sigbuf[n++] = '\n';
    fwrite(r->sigbuf, 1, n, r->out);
}

static void reject(struct score_run *r, const char *name, uint64_t unit, const char *unit_name,
                   enum rp_err code, const char *detail)
{
    if (code > RP_OK && code < RP_ERR__DEAD_LETTER_END)
        r->rejected[code]++;
    if (r->shown++ < MAX_SHOWN)
        fprintf(stderr, "rapport score: %s: %s %llu: %s: %s\n", name, unit_name,
                (unsigned long long)unit, rp_strerror(code), detail);
}

/* One decoded event (or its decode error): apply, move the watermark. `detail` is scratch. */
static void apply_decoded(struct score_run *r, const char *name, uint64_t unit,
                          const char *unit_name, enum rp_err e, const struct rp_event *ev,
                          char *detail, size_t detail_size)
{
    if (e != RP_OK) {
        reject(r, name, unit, unit_name, e, detail);
        return;
    }
    e = rp_pipeline_apply(r->pipe, ev);
    if (e == RP_ERR_TOO_LATE) {
        char t1[32], t2[32];
        if (!rp_time_format_rfc3339(ev->ts_ms, t1, sizeof(t1)))
            snprintf(t1, sizeof(t1), "%lld", (long long)ev->ts_ms);
        if (!rp_time_format_rfc3339(rp_pipeline_watermark(r->pipe), t2, sizeof(t2)))
            snprintf(t2, sizeof(t2), "%lld", (long long)rp_pipeline_watermark(r->pipe));
        snprintf(detail, detail_size, "event time %s is behind the watermark %s", t1, t2);
        reject(r, name, unit, unit_name, e, detail);
        return;
    }
    if (e != RP_OK) {
        reject(r, name, unit, unit_name, e, rp_strerror(e));
        return;
    }
    if (!r->any_ts || ev->ts_ms > r->max_ts) {
        r->max_ts = ev->ts_ms;
        r->any_ts = true;
        rp_pipeline_advance(r->pipe, r->max_ts - r->lateness_ms);
    }
}

/* One JSON Lines line: decode, then as above. The stream's format decides: a line of a JSON Lines
 * input is JSON even if it does not start with '{' (then it is malformed, not a msgpack non-map).
 */
static void feed_json(struct score_run *r, const char *name, uint64_t unit, const void *buf,
                      size_t len)
{
    struct rp_event ev;
    char detail[256];
    enum rp_err e = rp_event_decode_json(buf, len, &ev, detail, sizeof(detail));
    apply_decoded(r, name, unit, "line", e, &ev, detail, sizeof(detail));
}

/* Reads one input to the end, framing JSON Lines or msgpack. Returns 0 or -1 (I/O error). */
static int read_input(struct score_run *r, FILE *in, const char *name)
{
    size_t cap = 1 << 20, len = 0, pos = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fprintf(stderr, "rapport score: out of memory\n");
        return -1;
    }
    int format = -1; /* -1 unknown, RP_FMT_JSON or RP_FMT_MSGPACK */
    uint64_t unit = 0;
    bool eof = false, skipping = false;
    int rc = 0;
    for (;;) {
        /* Refill: keep the unconsumed tail, grow when one record exceeds the buffer. */
        if (!eof) {
            if (pos > 0) {
                memmove(buf, buf + pos, len - pos);
                len -= pos;
                pos = 0;
            }
            if (len == cap) {
                char *nb = realloc(buf, cap * 2);
                if (!nb) {
                    fprintf(stderr, "rapport score: out of memory\n");
                    rc = -1;
                    break;
                }
                buf = nb;
                cap *= 2;
            }
            size_t n = fread(buf + len, 1, cap - len, in);
            len += n;
            if (n == 0) {
                if (ferror(in)) {
                    fprintf(stderr, "rapport score: %s: %s\n", name, strerror(errno));
                    rc = -1;
                    break;
                }
                eof = true;
            }
        }
        if (format < 0) {
            size_t i = pos;
            while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
                i++;
            if (i == len) {
                if (eof)
                    break; /* empty input */
                continue;
            }
            format = buf[i] == '{' ? RP_FMT_JSON : RP_FMT_MSGPACK;
        }
        bool progress = false;
        if (format == RP_FMT_JSON) {
            if (skipping) { /* the rest of an over-long line, already rejected */
                char *nl = memchr(buf + pos, '\n', len - pos);
                pos = nl ? (size_t)(nl - buf) + 1 : len;
                skipping = nl == NULL;
                progress = true;
            }
            for (;;) {
                char *nl = memchr(buf + pos, '\n', len - pos);
                size_t end = nl ? (size_t)(nl - buf) : (eof ? len : SIZE_MAX);
                if (end == SIZE_MAX && len - pos > RP_EVENT_MAX_BYTES) {
                    /* Bounded memory: a line this long is too_large whatever follows. */
                    unit++;
                    reject(r, name, unit, "line", RP_ERR_TOO_LARGE,
                           "line longer than the largest event (65536 bytes)");
                    pos = len;
                    skipping = true;
                    progress = true;
                    break;
                }
                if (end == SIZE_MAX || (end == pos && !nl && eof))
                    break;
                unit++;
                size_t a = pos, b = end;
                while (a < b && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\r'))
                    a++;
                while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\r'))
                    b--;
                if (b > a)
                    feed_json(r, name, unit, buf + a, b - a);
                pos = nl ? end + 1 : end;
                progress = true;
                if (!nl)
                    break;
            }
        } else {
            while (pos < len) {
                /* One pass: decode the next value and learn its size (what rp_msgpack_frame
                 * would say: 0 for a prefix, (size_t)-1 when no value can start here). */
                struct rp_event ev;
                char detail[256];
                size_t n;
                enum rp_err e = rp_event_decode_msgpack_next(buf + pos, len - pos, &ev, &n, detail,
                                                             sizeof(detail));
                if (n == 0 && len - pos > RP_EVENT_MAX_BYTES) {
                    /* Bounded memory: a header claiming more than the largest event. */
                    unit++;
                    reject(r, name, unit, "record", RP_ERR_TOO_LARGE,
                           "msgpack value larger than the largest event (65536 bytes): the rest "
                           "of this input is skipped");
                    pos = len;
                    eof = true; /* no way to find the next record boundary */
                    break;
                }
                if (n == 0)
                    break; /* a prefix: read more */
                unit++;
                if (n == (size_t)-1) {
                    reject(r, name, unit, "record", RP_ERR_MALFORMED,
                           "not a msgpack value: the rest of this input is skipped");
                    pos = len;
                    eof = true; /* no way to find the next record boundary */
                    break;
                }
                apply_decoded(r, name, unit, "record", e, &ev, detail, sizeof(detail));
                pos += n;
                progress = true;
            }
            if (eof && pos < len) {
                unit++;
                reject(r, name, unit, "record", RP_ERR_MALFORMED,
                       "truncated msgpack value at the end of the input");
                pos = len;
            }
        }
        if (eof && (pos >= len || !progress))
            break;
    }
    free(buf);
    return rc;
}

struct state_writer {
    FILE *out;
    char buf[4096];
    int err;
};

static void write_view(void *opaque, const struct rp_customer_view *v)
{
    struct state_writer *w = opaque;
    size_t n = rp_customer_view_json(v, w->buf, sizeof(w->buf) - 1);
    if (n == 0) {
        w->err = 1;
        return;
    }
    w->buf[n++] = '\n';
    if (fwrite(w->buf, 1, n, w->out) != n)
        w->err = 1;
}

int rp_cmd_score(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"until", required_argument, NULL, 'u'},
        {"state-out", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *state_path = NULL, *until_text = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'u':
            until_text = optarg;
            break;
        case 's':
            state_path = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }
    int64_t until = 0;
    if (until_text && rp_time_parse(until_text, strlen(until_text), &until) != 0) {
        fprintf(stderr, "rapport score: --until '%s': not ms since the epoch nor RFC 3339\n",
                until_text);
        return 2;
    }

    struct rp_config cfg;
    char err[512];
    if (rp_config_init(&cfg) != 0) {
        fprintf(stderr, "rapport score: out of memory\n");
        return 1;
    }
    if (config_path && rp_config_load(&cfg, config_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "rapport score: %s\n", err);
        rp_config_fini(&cfg);
        return 1;
    }

    static struct score_run run; /* large buffers: not on the stack */
    memset(&run, 0, sizeof(run));
    run.out = stdout;
    run.lateness_ms = cfg.scoring.allowed_lateness_ms;
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
    struct rp_pipeline_hooks hooks = {.opaque = &run, .on_signal = on_signal, .now_ms = wall_ms};
    run.pipe = rp_pipeline_create(&cfg.scoring, &hooks, 100000, err, sizeof(err));
    rp_config_fini(&cfg);
    if (!run.pipe) {
        fprintf(stderr, "rapport score: %s\n", err);
        return 1;
    }

    int rc = 0;
    if (optind >= argc) {
        rc = read_input(&run, stdin, "<stdin>");
    } else {
        for (int i = optind; i < argc && rc == 0; i++) {
            if (strcmp(argv[i], "-") == 0) {
                rc = read_input(&run, stdin, "<stdin>");
                continue;
            }
            FILE *in = fopen(argv[i], "rb");
            if (!in) {
                fprintf(stderr, "rapport score: %s: %s\n", argv[i], strerror(errno));
                rc = -1;
                break;
            }
            rc = read_input(&run, in, argv[i]);
            fclose(in);
        }
    }
    if (until_text)
        rp_pipeline_advance(run.pipe, until);

    if (rc == 0 && state_path) {
        int64_t at = until_text ? until : rp_pipeline_watermark(run.pipe);
        if (at == INT64_MIN)
            at = 0; /* no event and no --until */
        FILE *so = strcmp(state_path, "-") == 0 ? stdout : fopen(state_path, "w");
        if (!so) {
            fprintf(stderr, "rapport score: --state-out %s: %s\n", state_path, strerror(errno));
            rc = -1;
        } else {
            static struct state_writer w;
            w.out = so;
            w.err = 0;
            fflush(stdout);
            if (rp_pipeline_foreach(run.pipe, at, write_view, &w) != RP_OK || w.err) {
                fprintf(stderr, "rapport score: --state-out %s: write failed\n", state_path);
                rc = -1;
            }
            if (so != stdout && fclose(so) != 0) {
                fprintf(stderr, "rapport score: --state-out %s: %s\n", state_path, strerror(errno));
                rc = -1;
            }
        }
    }

    const struct rp_pipeline_stats *st = rp_pipeline_stats(run.pipe);
    run.rejected[RP_ERR_TOO_LATE] = st->too_late;
    uint64_t total = 0;
    for (int e = RP_OK + 1; e < RP_ERR__DEAD_LETTER_END; e++) {
        if (run.rejected[e]) {
            fprintf(stderr, "rapport score: rejected %llu: %s\n",
                    (unsigned long long)run.rejected[e], rp_strerror((enum rp_err)e));
            total += run.rejected[e];
        }
    }
    fprintf(stderr,
            "rapport score: %llu applied, %llu rejected, %zu customers, %llu signals, "
            "watermark %lld\n",
            (unsigned long long)st->applied, (unsigned long long)total,
            rp_pipeline_customers(run.pipe),
            (unsigned long long)(st->signals[0][0] + st->signals[0][1] + st->signals[1][0] +
                                 st->signals[1][1]),
            (long long)rp_pipeline_watermark(run.pipe));
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "rapport score: stdout: %s\n", strerror(errno));
        rc = -1;
    }
    rp_pipeline_destroy(run.pipe);
    return rc == 0 ? 0 : 1;
}
