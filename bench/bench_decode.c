/* bench_decode: single-thread throughput of event decode+validate, msgpack and JSON (issue 2), and
 * of cutting a stream of concatenated msgpack values into events (framing + decode, or the
 * one-pass rp_event_decode_msgpack_next).
 * Usage: bench_decode [N events (default 1000000)] [passes (default 5)] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msgpack.h>

#include "event.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A typical mix: mostly engagement, some purchases with amounts, a few conversations and voice. */
static void make_event(uint64_t i, uint64_t *rng, struct rp_event *ev)
{
    static const char *const channels[] = {"web", "app", "email", "social", "support", "store"};
    static const enum rp_event_type mix[16] = {
        RP_EV_VIEW, RP_EV_VIEW,     RP_EV_VIEW,     RP_EV_CLICK,     RP_EV_CLICK, RP_EV_LOGIN,
        RP_EV_LIKE, RP_EV_PURCHASE, RP_EV_PURCHASE, RP_EV_QUESTION,  RP_EV_REPLY, RP_EV_REVIEW,
        RP_EV_NPS,  RP_EV_SHARE,    RP_EV_REFUND,   RP_EV_EMAIL_OPEN};
    *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t r = *rng >> 33;
    memset(ev, 0, sizeof *ev);
    char cid[16];
    snprintf(cid, sizeof cid, "c%07llu", (unsigned long long)(r % 1000000));
    rp_cid_set(&ev->cid, cid);
    ev->ts_ms = 1700000000000LL + (int64_t)i * 37;
    ev->type = mix[r % 16];
    const char *ch = channels[(r >> 4) % 6];
    ev->channel_len = (uint8_t)strlen(ch);
    memcpy(ev->channel, ch, ev->channel_len);
    ev->present = RP_F_CHANNEL;
    switch (ev->type) {
    case RP_EV_PURCHASE:
    case RP_EV_REFUND:
        ev->value = (double)(r % 20000) / 100.0;
        ev->present |= RP_F_VALUE;
        break;
    case RP_EV_QUESTION:
    case RP_EV_REPLY:
        ev->ref.len = (uint8_t)snprintf(ev->ref.bytes, sizeof ev->ref.bytes, "t%06llu",
                                        (unsigned long long)(r % 999999));
        ev->present |= RP_F_REF;
        break;
    case RP_EV_REVIEW:
        ev->score = (int32_t)(1 + r % 5);
        ev->present |= RP_F_SCORE;
        break;
    case RP_EV_NPS:
        ev->score = (int32_t)(r % 11);
        ev->present |= RP_F_SCORE;
        break;
    default:
        break;
    }
}

typedef enum rp_err (*decode_fn)(const void *, size_t, struct rp_event *, char *, size_t);

static void run(const char *name, decode_fn fn, const char *buf, const uint32_t *off, size_t n,
                int passes)
{
    struct rp_event ev;
    double best = 1e30;
    uint64_t check = 0;
    for (int p = 0; p < passes; p++) {
        double t0 = now_s();
        for (size_t i = 0; i < n; i++) {
            if (fn(buf + off[i], off[i + 1] - off[i], &ev, NULL, 0) != RP_OK) {
                fprintf(stderr, "%s: event %zu failed to decode\n", name, i);
                exit(1);
            }
            check += (uint64_t)ev.ts_ms + ev.cid.len;
        }
        double dt = now_s() - t0;
        if (dt < best)
            best = dt;
    }
    printf("%-8s %10.2f M events/s  %6.1f ns/event  %5.1f bytes/event  %7.1f MB/s  (best of %d, "
           "check %llu)\n",
           name, (double)n / best / 1e6, best / (double)n * 1e9, (double)off[n] / (double)n,
           (double)off[n] / best / 1e6, passes, (unsigned long long)(check % 1000));
}

/* Baseline for comparison in the same run (so that load on a shared machine affects both): a
 * naive msgpack-c unpack of each message into a reused zone, with no validation at all. */
static void run_msgpack_c(const char *buf, const uint32_t *off, size_t n, int passes)
{
    msgpack_zone z;
    msgpack_zone_init(&z, 2048);
    double best = 1e30;
    uint64_t check = 0;
    for (int p = 0; p < passes; p++) {
        double t0 = now_s();
        for (size_t i = 0; i < n; i++) {
            msgpack_object o;
            size_t pos = 0;
            if (msgpack_unpack(buf + off[i], off[i + 1] - off[i], &pos, &z, &o) !=
                MSGPACK_UNPACK_SUCCESS) {
                fprintf(stderr, "msgpack-c: event %zu failed\n", i);
                exit(1);
            }
            check += o.via.map.size;
            msgpack_zone_clear(&z);
        }
        double dt = now_s() - t0;
        if (dt < best)
            best = dt;
    }
    msgpack_zone_destroy(&z);
    printf("%-8s %10.2f M events/s  %6.1f ns/event  (msgpack-c unpack, no validation; check "
           "%llu)\n",
           "baseline", (double)n / best / 1e6, best / (double)n * 1e9,
           (unsigned long long)(check % 1000));
}

/* A stream of concatenated msgpack values (`rapport score` input, bench_pipeline's buffer): how
 * the stream is cut into events is part of the cost. "frame" finds each value's end with
 * rp_msgpack_frame and then decodes it (two passes over the bytes); "next" is the one-pass
 * rp_event_decode_msgpack_next. */
enum stream_mode { FRAME_THEN_DECODE, ONE_PASS };

static void run_stream(const char *name, enum stream_mode mode, const char *buf, size_t len,
                       size_t n, int passes)
{
    struct rp_event ev;
    double best = 1e30;
    uint64_t check = 0;
    for (int p = 0; p < passes; p++) {
        double t0 = now_s();
        size_t pos = 0, got = 0;
        while (pos < len) {
            size_t used;
            enum rp_err e;
            if (mode == FRAME_THEN_DECODE) {
                used = rp_msgpack_frame(buf + pos, len - pos);
                e = used == 0 || used == (size_t)-1
                        ? RP_ERR_MALFORMED
                        : rp_event_decode_msgpack(buf + pos, used, &ev, NULL, 0);
            } else {
                e = rp_event_decode_msgpack_next(buf + pos, len - pos, &ev, &used, NULL, 0);
            }
            if (e != RP_OK) {
                fprintf(stderr, "%s: event %zu failed to decode\n", name, got);
                exit(1);
            }
            check += (uint64_t)ev.ts_ms + ev.cid.len;
            pos += used;
            got++;
        }
        double dt = now_s() - t0;
        if (got != n) {
            fprintf(stderr, "%s: %zu events, expected %zu\n", name, got, n);
            exit(1);
        }
        if (dt < best)
            best = dt;
    }
    printf("%-8s %10.2f M events/s  %6.1f ns/event  %5.1f bytes/event  %7.1f MB/s  (best of %d, "
           "check %llu)\n",
           name, (double)n / best / 1e6, best / (double)n * 1e9, (double)len / (double)n,
           (double)len / best / 1e6, passes, (unsigned long long)(check % 1000));
}

/* The brief's example event, only cid and ts varying:
 * {"v":1,"cid":"c0012345","ts":1700000000000,"type":"purchase","value":42.5,"channel":"web"} */
static void make_example(uint64_t i, uint64_t *rng, struct rp_event *ev)
{
    (void)rng;
    memset(ev, 0, sizeof *ev);
    char cid[16];
    snprintf(cid, sizeof cid, "c%07llu", (unsigned long long)(i * 7919 % 10000000));
    rp_cid_set(&ev->cid, cid);
    ev->ts_ms = 1700000000000LL + (int64_t)i;
    ev->type = RP_EV_PURCHASE;
    ev->value = 42.5;
    memcpy(ev->channel, "web", 3);
    ev->channel_len = 3;
    ev->present = RP_F_VALUE | RP_F_CHANNEL;
}

static int bench_set(const char *title, void (*make)(uint64_t, uint64_t *, struct rp_event *),
                     size_t n, int passes)
{
    char *mp = malloc(n * 128), *js = malloc(n * 256);
    uint32_t *mo = malloc((n + 1) * sizeof *mo), *jo = malloc((n + 1) * sizeof *jo);
    if (!mp || !js || !mo || !jo) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    uint64_t rng = 42;
    size_t mlen = 0, jlen = 0;
    struct rp_event ev;
    for (size_t i = 0; i < n; i++) {
        make(i, &rng, &ev);
        mo[i] = (uint32_t)mlen;
        jo[i] = (uint32_t)jlen;
        mlen += rp_event_encode_msgpack(&ev, mp + mlen, 128);
        size_t jl = rp_event_encode_json(&ev, js + jlen, 256);
        js[jlen + jl] = '\n'; /* JSON Lines: the newline is part of each message (trailing blank) */
        jlen += jl + 1;
    }
    mo[n] = (uint32_t)mlen;
    jo[n] = (uint32_t)jlen;
    printf("%s: %zu events, one thread; e.g. %.*s\n", title, n, (int)(jo[1] - jo[0] - 1), js);
    run("msgpack", rp_event_decode_msgpack, mp, mo, n, passes);
    run_msgpack_c(mp, mo, n, passes);
    run_stream("mp-frame", FRAME_THEN_DECODE, mp, mlen, n, passes);
    run_stream("mp-next", ONE_PASS, mp, mlen, n, passes);
    run("json", rp_event_decode_json, js, jo, n, passes);
    run("auto-mp", rp_event_decode, mp, mo, n, passes);
    run("auto-js", rp_event_decode, js, jo, n, passes);
    free(mp);
    free(js);
    free(mo);
    free(jo);
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    int passes = argc > 2 ? atoi(argv[2]) : 5;
    if (n < 2 || passes <= 0) {
        fprintf(stderr, "usage: bench_decode [N >= 2] [passes]\n");
        return 2;
    }
    if (bench_set("mix (16 types, optional fields vary)", make_event, n, passes) != 0)
        return 1;
    return bench_set("example (purchase, value, channel)", make_example, n, passes);
}
