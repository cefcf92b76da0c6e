/* gen: the synthetic interaction generator (seeded, deterministic, event-time ordered) behind
 * `rapport gen`, `rapport demo` and the benchmarks. */
#ifndef RP_GEN_H
#define RP_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "event.h"

/**
 * The behaviours a synthetic customer follows over the generated span (SPEC §4). The order is
 * stable: it indexes rp_gen_config.mix and is what the labels file names.
 */
enum rp_archetype {
    RP_ARCH_LOYAL = 0,      /* steady sessions, regular purchases, questions answered */
    RP_ARCH_ADVOCATE,       /* engaged; shares, referrals that convert, answers, 4-5 reviews,
                               NPS 9-10, positive mentions */
    RP_ARCH_DRIFTING,       /* like loyal, but activity decays to ~5 % by the end */
    RP_ARCH_SILENT_CHURNER, /* like loyal until a stop day in 30-60 % of the span, then nothing */
    RP_ARCH_IGNORED_COMPLAINER, /* questions and complaints nobody answers, negative sentiment,
                                   low reviews and NPS, refunds */
    RP_ARCH_SERVED_COMPLAINER,  /* questions replied and complaints resolved within hours */
    RP_ARCH_TRANSACTIONAL,      /* regular purchases, little else */
    RP_ARCH_WINDOW_SHOPPER,     /* views and clicks, rarely buys */
    RP_ARCH_UNSUBSCRIBER,       /* ordinary, then `unsubscribe` in 35-65 % of the span and 15 %
                                   of the activity afterwards */
    RP_ARCH__COUNT
};

/** Wire/label name of an archetype ("loyal", "silent_churner", ...); NULL when out of range. */
const char *rp_archetype_name(enum rp_archetype a);
/** Looks a name up; -1 when unknown. */
int rp_archetype_parse(const char *s, size_t len);

/** What to generate. rp_gen_config_defaults() fills every field; then change what you need. */
struct rp_gen_config {
    uint32_t customers; /* population size, >= 1 (default 1000) */
    uint64_t seed;    /* same seed and config, same stream on a given build and libm (default 1) */
    int64_t start_ms; /* event time of the span's start (default 2026-01-01T00:00:00Z) */
    int64_t span_ms;  /* event-time span the archetypes play out over (default 30 days) */
    /*
     * 0: emit every event that falls in [start, start + span) at the natural density (about one
     * event per customer per day on average). N > 0: scale every customer's activity so that
     * about N events fall in the span, and emit exactly N (the tail may run slightly past the
     * span's end, or stop short of it).
     */
    uint64_t events;
    /* relative weights of the archetypes (need not sum to 100); see rp_gen_config_defaults */
    double mix[RP_ARCH__COUNT];
    double zipf_s; /* Zipf exponent of activity between customers (default 0.8) */
};

/** The documented defaults (mix: loyal=28,advocate=8,drifting=12,silent_churner=10,
 * ignored_complainer=6,served_complainer=8,transactional=16,window_shopper=8,unsubscriber=4). */
void rp_gen_config_defaults(struct rp_gen_config *cfg);

/**
 * Parses a mix "loyal=30,advocate=8,..." over `cfg->mix`: named archetypes get the given weight,
 * the others keep theirs (so "advocate=50" only changes advocates; start from all zeros with
 * "only:" prefix, e.g. "only:loyal=1,drifting=1"). Returns RP_OK or RP_ERR_INVALID_ARG with a
 * reason in errstr.
 */
int rp_gen_mix_parse(struct rp_gen_config *cfg, const char *s, char *errstr, size_t errstr_size);

struct rp_gen;

/**
 * Builds a generator: allocates its per-customer state (about 80 bytes a customer) and the
 * follow-up heap once; rp_gen_next then allocates nothing (the follow-up heap only grows, by
 * doubling, in the rare case it fills). Returns NULL and writes a reason into errstr when the
 * config is invalid or memory is short.
 */
struct rp_gen *rp_gen_create(const struct rp_gen_config *cfg, char *errstr, size_t errstr_size);
void rp_gen_destroy(struct rp_gen *g);

/**
 * The next event, in non-decreasing event time (ties in a fixed order), valid per SPEC §1.
 * Returns true and fills `*ev`, or false when the stream is over (then keeps returning false).
 * Not thread-safe: one generator per thread.
 */
bool rp_gen_next(struct rp_gen *g, struct rp_event *ev);

/** Number of events returned so far. */
uint64_t rp_gen_count(const struct rp_gen *g);
/** Number of customers (rp_gen_config.customers). */
uint32_t rp_gen_customers(const struct rp_gen *g);
/** Archetype of customer `i` (0 <= i < customers). */
enum rp_archetype rp_gen_archetype(const struct rp_gen *g, uint32_t i);
/** Writes customer `i`'s cid ("c" + decimal i, e.g. "c42") into `cid`. */
void rp_gen_cid(uint32_t i, struct rp_cid *cid);
/** Activity multiplier of customer `i` (Zipf weight, mean about 1 over the population). */
double rp_gen_activity(const struct rp_gen *g, uint32_t i);
/** Event time at which the span ends (start + span). */
int64_t rp_gen_end_ms(const struct rp_gen *g);

/** Writes "cid,archetype" for every customer, one a line, with a header line "cid,archetype". */
int rp_gen_write_labels(const struct rp_gen *g, FILE *out);

#endif
