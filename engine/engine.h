/* engine: the `rapport run` runtime: consumer group member, workers, producer, commits, HTTP. */
#ifndef RP_ENGINE_H
#define RP_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "rp_err.h"

struct rp_engine;
struct rp_metrics;

/**
 * Creates an engine from `cfg` (borrowed: must outlive the engine): connects the producer and
 * both consumers, checks that the input topic exists and creates the internal credits topic
 * `<internal_prefix>.credits` (and missing output topics) with the input's partition count,
 * starts the workers and the HTTP server. Nothing is consumed before rp_engine_run.
 * Returns NULL and fills errstr on failure.
 */
struct rp_engine *rp_engine_create(const struct rp_config *cfg, char *errstr, size_t errstr_size);

/**
 * Runs the consumer loop on the calling thread until rp_engine_stop (or a fatal error), then
 * shuts down cleanly within shutdown_timeout: stops fetching, drains the workers, flushes the
 * producer, commits and leaves the group. Returns RP_OK, or RP_ERR_KAFKA after a fatal error
 * (a produce that failed for good: offsets past it were not committed).
 */
int rp_engine_run(struct rp_engine *e);

/** Asks rp_engine_run to stop. Async-signal-safe (one relaxed atomic store); any thread. */
void rp_engine_stop(struct rp_engine *e);

/** After rp_engine_run: false when leaving the consumer group was given up at the shutdown
 * deadline (no group coordinator answered). rp_engine_destroy then waits for librdkafka to
 * finish closing (up to its socket and session timeouts); a process that is ending may skip
 * it. */
bool rp_engine_left_group(const struct rp_engine *e);

/** Frees everything; call after rp_engine_run returned (or instead of it). */
void rp_engine_destroy(struct rp_engine *e);

/** The engine's metrics (valid until rp_engine_destroy); any thread may render them. */
struct rp_metrics *rp_engine_metrics(struct rp_engine *e);

/** /readyz: a member of the group (an assignment came, if only an empty one) whose assigned
 * partitions are all restored. Any thread. */
bool rp_engine_ready(struct rp_engine *e);

/** HTTP port bound (when [http] listen is set), or -1. */
int rp_engine_http_port(const struct rp_engine *e);

/**
 * /customers/{cid}: asks the worker that owns `cid` for its view, waiting up to `timeout_ms`.
 * RP_OK and a malloc'd JSON document in *json_out (caller frees); RP_ERR_NOT_FOUND when this
 * instance does not own the customer or does not know it; RP_ERR_FULL on timeout. Any thread but
 * a worker's.
 */
int rp_engine_customer(struct rp_engine *e, const char *cid, size_t cid_len, int timeout_ms,
                       char **json_out, size_t *len_out);

#endif
