/* demo: `rapport demo`: the engine on librdkafka's in-process mock cluster, fed by the generator,
 * with a reader that prints its signals and a live status line. */
#ifndef RP_DEMO_H
#define RP_DEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "signal.h"

/** What `rapport demo` runs. rp_demo_opts_defaults() fills every field. */
struct rp_demo_opts {
    const char *config_path; /* NULL: the embedded default only; else applied over it */
    const char *http;        /* NULL: the configuration's [http] listen; "" disables */
    double seconds;          /* stop by itself after this many wall seconds; 0 = on a signal */
    uint32_t customers;      /* synthetic population (default 2000) */
    double speed;            /* days of event time per wall second (default 1) */
    uint64_t seed;           /* generator seed (default 1) */
    int partitions;          /* partitions of the input topic (default 4) */
    int status_every_s;      /* plain status lines when stdout is not a terminal (default 5) */
};

void rp_demo_opts_defaults(struct rp_demo_opts *o);

struct rp_demo;

/**
 * Starts the mock cluster (one broker, every topic the engine reads and writes created with
 * `partitions` partitions), loads the configuration (embedded default, then `config_path`, then
 * bootstrap.servers of the mock cluster and `http`), and creates the engine with it, the same
 * rp_engine that `rapport run` drives. `out` (borrowed, e.g. stdout) receives the signals and the
 * status; whether it is a terminal decides in-place redraw vs plain lines. Returns NULL and fills
 * errstr on failure; *usage_error is then true when the configuration was at fault.
 */
struct rp_demo *rp_demo_create(const struct rp_demo_opts *opts, FILE *out, char *errstr,
                               size_t errstr_size, bool *usage_error);

/**
 * Runs until `seconds` elapse or rp_demo_stop: the engine on the calling thread, the generator
 * and the signal reader on their own threads; then stops the engine cleanly and prints the
 * signals still on their way and a final status line. Returns 0, or 1 when the engine failed.
 */
int rp_demo_run(struct rp_demo *d);

/** Asks rp_demo_run to stop. Async-signal-safe (relaxed atomic stores only); any thread. */
void rp_demo_stop(struct rp_demo *d);

/** Frees everything (the engine, the clients, the mock cluster). After rp_demo_run returned. */
void rp_demo_destroy(struct rp_demo *d);

/**
 * One signal as a readable line (no newline): event time, kind, transition, customer, score
 * (and the previous one), segment, the reasons with their weights and, when `archetype` is not
 * NULL, the behaviour the generator gave the customer, e.g.
 * "2026-01-04 13:22  churn_risk enter  c1234     score 0.74 (was 0.61)  segment at_risk
 * reasons SILENCE 0.31, ENGAGEMENT_DROP 0.22  (archetype: silent_churner)" (one line).
 * `color` adds ANSI colours. Returns the length (truncated to cap - 1).
 */
size_t rp_demo_format_signal(const struct rp_signal *s, const char *archetype, bool color,
                             char *buf, size_t cap);

/** What the status line shows. */
struct rp_demo_status {
    double elapsed_s;
    int64_t event_time_ms; /* generator's event-time clock; INT64_MIN before the first event */
    double events_per_s;   /* events the engine consumed per wall second, last interval */
    uint64_t events;       /* events consumed so far */
    uint64_t customers;    /* customers the workers hold */
    uint64_t signals[RP_KIND__COUNT][2]; /* printed so far, [kind][transition] */
    int64_t lag;  /* produced and acknowledged but not yet consumed; -1 unknown */
    bool ready;   /* the engine has its partitions */
    bool stopped; /* the final line: events_per_s is the average of the run */
};

/** The status line (no newline, no control characters). Returns the length (truncated). */
size_t rp_demo_format_status(const struct rp_demo_status *st, char *buf, size_t cap);

#endif
