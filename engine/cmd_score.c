/* cmd_score: `rapport score`: the operators offline, events from files/stdin, signals to stdout.
 */
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "config.h"
#include "event.h"
#include "mp_reader.h"
#include "pipeline.h"
#include "signal.h"
#include "timefmt.h"

static const char usage_text[] =
    "usage: rapport score [-c FILE] [--until TIME] [--state-out FILE] [FILE...]\n"
    "\n"
    "Runs the relationship operators offline, with no Kafka: reads interaction events (README)\n"
    "from the FILEs in order, or from stdin when none is given (`-` is stdin too). Each input is\n"
    "concatenated msgpack maps when its first non-blank byte (after an optional UTF-8 byte order\n"
    "mark) is a msgpack map header (0x80-0x8f, 0xde, 0xdf), JSON Lines otherwise: a bad first\n"
    "line is one rejected line. A msgpack record over 65536 bytes is one too_large record,\n"
    "passed by its headers; only a byte that cannot start a msgpack value (0xc1) ends a msgpack\n"
    "input early, and the bytes skipped are counted on stderr.\n"
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
    "                        engagement_long, reasons), in cid byte order, evaluated at the\n"
    "                        final watermark (--until, unless the input's own is later); `-`\n"
    "                        for stdout after the signals\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit status: 0 when the input was read (rejected lines do not change it), 1 on an I/O\n"
    "error, 2 on a usage or configuration error (-c).\n";

#define MAX_SHOWN 5 /* rejected inputs shown with their details */

struct score_run {
    struct rp_pipeline *pipe;
    int64_t lateness_ms;
    int64_t max_ts;
    bool any_ts;
    uint64_t rejected[RP_ERR__DEAD_LETTER_END];
    uint64_t shown;
    uint64_t skipped_bytes; /* msgpack input past an unframeable byte, to the end of its input */
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

/* A msgpack value walked by its headers alone, across refills: what `rapport score` does with a
 * record too large to buffer (over RP_EVENT_MAX_BYTES, so too_large whatever it holds). Only the
 * current header needs to be in memory; payloads are counted off as they stream past. Like
 * rp_msgpack_frame, no recursion: one counter of values still to read. */
struct mp_skip {
    uint64_t pending; /* values still to read (a container adds its children) */
    uint64_t payload; /* bytes of the current str/bin/ext/number still to pass */
    uint64_t bytes;   /* bytes of the value passed so far */
};

/* Walks [p, p+avail): returns 1 when the value has ended, 0 when more input is needed (an
 * incomplete header is left unconsumed), -1 at 0xc1 where a value starts (no boundary can be
 * found). `*used` is how many bytes were passed (at -1: the offset of the 0xc1). */
static int mp_skip_step(struct mp_skip *s, const uint8_t *p, size_t avail, size_t *used)
{
    /* bytes after the tag byte that hold a length, count or fixed-size body, for 0xc0..0xdf (as
     * mp_reader.h's rp_mp_read) */
    static const uint8_t head[32] = {
        0, 0, 0, 0, 1, 2, 4, 1, 2, 4, 4, 8, 1, 2, 4, 8, /* c0..cf */
        1, 2, 4, 8, 1, 1, 1, 1, 1, 1, 2, 4, 2, 4, 2, 4, /* d0..df */
    };
    size_t i = 0;
    int rc;
    for (;;) {
        if (s->payload > 0) {
            size_t k = avail - i < s->payload ? avail - i : (size_t)s->payload;
            i += k;
            s->payload -= k;
            if (s->payload > 0) {
                rc = 0;
                break;
            }
        }
        if (s->pending == 0) {
            rc = 1;
            break;
        }
        if (i == avail) {
            rc = 0;
            break;
        }
        const uint8_t b = p[i];
        if (b == 0xc1) {
            rc = -1;
            break;
        }
        size_t h = 1;
        uint64_t body = 0, children = 0;
        if (b <= 0x7f || b >= 0xe0) {
            /* fixint */
        } else if (b <= 0x8f) {
            children = 2 * (uint64_t)(b & 0x0f);
        } else if (b <= 0x9f) {
            children = b & 0x0f;
        } else if (b <= 0xbf) {
            body = b & 0x1f;
        } else {
            h += head[b - 0xc0];
            if (avail - i < h) {
                rc = 0; /* the header is split across reads: keep it for the next pass */
                break;
            }
            const uint8_t *q = p + i + 1;
            uint64_t n = h == 2 ? q[0] : h == 3 ? rp_mp_be16(q) : h == 5 ? rp_mp_be32(q) : 0;
            switch (b) {
            case 0xc4: /* bin 8/16/32 */
            case 0xc5:
            case 0xc6:
            case 0xd9: /* str 8/16/32 */
            case 0xda:
            case 0xdb:
                body = n;
                break;
            case 0xc7: /* ext 8/16/32: the type byte follows the length */
            case 0xc8:
            case 0xc9:
                body = n + 1;
                break;
            case 0xd4: /* fixext 1..16: the head was the type byte */
            case 0xd5:
            case 0xd6:
            case 0xd7:
            case 0xd8:
                body = (uint64_t)1 << (b - 0xd4);
                break;
            case 0xdc: /* array 16/32 */
            case 0xdd:
                children = n;
                break;
            case 0xde: /* map 16/32 */
            case 0xdf:
                children = 2 * n;
                break;
            default: /* nil, bool, float, int: the head is the whole value */
                break;
            }
        }
        i += h;
        s->pending = s->pending - 1 + children;
        s->payload = body;
    }
    s->bytes += i;
    *used = i;
    return rc;
}

/* The bytes from input offset `from` cannot be framed (0xc1 where a value starts): reads the
 * input to its end so that what is skipped is counted and reported, never silently lost.
 * `buffered` bytes of it are already read. Returns 0 or -1 (I/O error). */
static int skip_rest(struct score_run *r, FILE *in, const char *name, char *buf, size_t cap,
                     uint64_t from, size_t buffered, bool eof)
{
    uint64_t n = buffered;
    while (!eof) {
        size_t k = fread(buf, 1, cap, in);
        n += k;
        if (k == 0) {
            if (ferror(in)) {
                fprintf(stderr, "rapport score: %s: %s\n", name, strerror(errno));
                return -1;
            }
            eof = true;
        }
    }
    r->skipped_bytes += n;
    fprintf(stderr,
            "rapport score: %s: %llu bytes skipped from byte %llu to the end: no msgpack record "
            "boundary can be found after a 0xc1 byte\n",
            name, (unsigned long long)n, (unsigned long long)from);
    return 0;
}

/* Input detection: msgpack only when the first non-blank byte (after an optional UTF-8 byte order
 * mark) is a map header, since every valid event is a map; anything else is JSON Lines, where a
 * bad first line is one rejected line rather than a whole input misread as msgpack. */
static bool msgpack_map_header(uint8_t b)
{
    return (b & 0xf0) == 0x80 || b == 0xde || b == 0xdf;
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
    int format = -1;   /* -1 unknown, RP_FMT_JSON or RP_FMT_MSGPACK */
    uint64_t base = 0; /* input offset of buf[0] */
    uint64_t unit = 0;
    bool eof = false, skipping = false;
    struct mp_skip big = {0}; /* an over-large msgpack record being passed (pending > 0) */
    uint64_t big_from = 0;    /* its input offset */
    int rc = 0;
    for (;;) {
        /* Refill: keep the unconsumed tail, grow when one record exceeds the buffer. */
        if (!eof) {
            if (pos > 0) {
                memmove(buf, buf + pos, len - pos);
                len -= pos;
                base += pos;
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
            static const char bom[3] = {'\xef', '\xbb', '\xbf'};
            if (base == 0 && pos == 0) {
                size_t k = len < 3 ? len : 3;
                if (memcmp(buf, bom, k) == 0) {
                    if (k < 3 && !eof)
                        continue; /* maybe a byte order mark: read more */
                    if (k == 3)
                        pos = 3;
                }
            }
            size_t i = pos;
            while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
                i++;
            if (i == len) {
                if (eof)
                    break; /* empty input */
                /* Bounded memory: consume the blanks, counting the (JSON) lines they end. */
                for (size_t k = pos; k < i; k++)
                    unit += buf[k] == '\n';
                pos = i;
                continue;
            }
            format = msgpack_map_header((uint8_t)buf[i]) ? RP_FMT_MSGPACK : RP_FMT_JSON;
            if (format == RP_FMT_MSGPACK) {
                pos = i; /* leading blanks are not records (JSON keeps them: line numbers) */
                unit = 0;
            }
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
            char detail[256];
            while (pos < len || big.pending > 0) {
                if (big.pending > 0) {
                    /* Bounded memory: an over-large record streams past, header by header. */
                    size_t used;
                    int st = mp_skip_step(&big, (const uint8_t *)buf + pos, len - pos, &used);
                    pos += used;
                    progress = progress || used > 0;
                    if (st > 0) {
                        snprintf(detail, sizeof(detail),
                                 "msgpack value of %llu bytes (from byte %llu) is larger than the "
                                 "largest event (65536 bytes): skipped",
                                 (unsigned long long)big.bytes, (unsigned long long)big_from);
                        reject(r, name, unit, "record", RP_ERR_TOO_LARGE, detail);
                        big.pending = 0;
                        progress = true;
                        continue;
                    }
                    if (st < 0) {
                        snprintf(detail, sizeof(detail),
                                 "0xc1 at byte %llu of a msgpack value (from byte %llu) larger "
                                 "than the largest event: not msgpack",
                                 (unsigned long long)(base + pos), (unsigned long long)big_from);
                        reject(r, name, unit, "record", RP_ERR_MALFORMED, detail);
                        big.pending = 0;
                        if (skip_rest(r, in, name, buf, cap, big_from, len - pos + big.bytes,
                                      eof) != 0)
                            rc = -1;
                        pos = len;
                        eof = true;
                        break;
                    }
                    if (!eof)
                        break; /* read more */
                    snprintf(detail, sizeof(detail),
                             "msgpack value (from byte %llu) larger than the largest event "
                             "(65536 bytes), truncated after %llu bytes at the end of the input",
                             (unsigned long long)big_from, (unsigned long long)big.bytes);
                    reject(r, name, unit, "record", RP_ERR_TOO_LARGE, detail);
                    big.pending = 0;
                    pos = len;
                    progress = true;
                    break;
                }
                /* One pass: decode the next value and learn its size (what rp_msgpack_frame
                 * would say: 0 for a prefix, (size_t)-1 when no value can start here). */
                struct rp_event ev;
                size_t n;
                enum rp_err e = rp_event_decode_msgpack_next(buf + pos, len - pos, &ev, &n, detail,
                                                             sizeof(detail));
                if (n == 0 && len - pos > RP_EVENT_MAX_BYTES) {
                    /* More than the largest event is buffered and the value has not ended: it
                     * is too_large whatever it holds. Pass it by its headers, not by buffering. */
                    unit++;
                    big = (struct mp_skip){.pending = 1};
                    big_from = base + pos;
                    continue;
                }
                if (n == 0)
                    break; /* a prefix: read more */
                unit++;
                if (n == (size_t)-1) {
                    /* Find the 0xc1 for the report; the walk cannot end before it. */
                    struct mp_skip at = {.pending = 1};
                    size_t off;
                    mp_skip_step(&at, (const uint8_t *)buf + pos, len - pos, &off);
                    snprintf(detail, sizeof(detail),
                             "0xc1 at byte %llu of the msgpack value from byte %llu: not msgpack",
                             (unsigned long long)(base + pos + off),
                             (unsigned long long)(base + pos));
                    reject(r, name, unit, "record", RP_ERR_MALFORMED, detail);
                    if (skip_rest(r, in, name, buf, cap, base + pos, len - pos, eof) != 0)
                        rc = -1;
                    pos = len;
                    eof = true;
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
        if (rc != 0 || (eof && (pos >= len || !progress)))
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
    if (config_path) {
        int e = rp_config_load(&cfg, config_path, err, sizeof(err));
        if (e != RP_OK) {
            fprintf(stderr, "rapport score: %s\n", err);
            rp_config_fini(&cfg);
            /* a bad or unreadable file is a configuration error (as for run and demo) */
            return e == RP_ERR_CONFIG || e == RP_ERR_IO ? 2 : 1;
        }
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
        /* At the watermark, which --until moved (it never goes back: an --until before the
         * input's own watermark would evaluate a state that already holds later events). */
        int64_t at = rp_pipeline_watermark(run.pipe);
        if (at == INT64_MIN)
            at = 0; /* no event and no --until */
        if (until_text && until < at)
            fprintf(stderr,
                    "rapport score: --until %s is before the input's watermark %" PRId64
                    " (the watermark never goes back): the state is written as of %" PRId64 "\n",
                    until_text, at, at);
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
    /* No event and no --until: the watermark was never set (INT64_MIN inside the pipeline). */
    char wm[24] = "none";
    if (rp_pipeline_watermark(run.pipe) != INT64_MIN)
        snprintf(wm, sizeof(wm), "%lld", (long long)rp_pipeline_watermark(run.pipe));
    char skipped[48] = "";
    if (run.skipped_bytes)
        snprintf(skipped, sizeof(skipped), ", %llu bytes skipped",
                 (unsigned long long)run.skipped_bytes);
    fprintf(stderr,
            "rapport score: %llu applied, %llu rejected%s, %zu customers, %llu signals, "
            "watermark %s\n",
            (unsigned long long)st->applied, (unsigned long long)total, skipped,
            rp_pipeline_customers(run.pipe),
            (unsigned long long)(st->signals[0][0] + st->signals[0][1] + st->signals[1][0] +
                                 st->signals[1][1]),
            wm);
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "rapport score: stdout: %s\n", strerror(errno));
        rc = -1;
    }
    rp_pipeline_destroy(run.pipe);
    return rc == 0 ? 0 : 1;
}
