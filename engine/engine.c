/* engine: the `rapport run` runtime: group consumer, routing to workers, rebalance, commits,
 * shutdown, and the HTTP callbacks. */
#include "engine.h"

#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "http.h"

/*
 * Threads and hand-offs:
 * - the caller of rp_engine_run is the consumer thread: it polls the group consumer `rk` (input
 *   topic) and the credits consumer `rk_cr`, routes each message by partition into that
 *   partition's open batch, and hands full batches to the owning worker through the worker's
 *   SPSC ring. Batches come from a per-worker pool preallocated at start and return through a
 *   second SPSC ring: nothing is allocated per event, nothing is locked on the data path.
 *   It also serves the producer's delivery reports (rd_kafka_poll), commits, and runs the
 *   rebalance callback (librdkafka calls it from rd_kafka_consumer_poll on this thread).
 * - workers (worker.c) own the pipelines of their partitions.
 * - HTTP threads (http.c) read lock-free metrics and message workers through mailboxes.
 *
 * Credits (SPEC §2: one customer's event credits another) travel through the internal topic
 * `<internal_prefix>.credits`, which has the input's partition count and is keyed and
 * partitioned exactly like the input (murmur2 of the cid): credit partition p belongs to whoever
 * owns input partition p. cooperative-sticky would not keep partition p of two topics together,
 * so the group consumer subscribes to the input only, and a second consumer handle `rk_cr` is
 * assigned by hand the credits partitions that mirror the input assignment (same rebalance
 * callback). Its offsets are committed through the group member `rk`, in the same commit
 * request as the input offsets (the broker accepts offsets of any topic from a member).
 *
 * State restore (until the changelog of the next issue): the input topic itself is the log of
 * the state. On assignment of a partition with a committed offset C, the engine reads the
 * partition from its beginning and applies offsets < C with every output suppressed (their
 * signals, dead letters and credits already exist downstream), then continues normally from C.
 * So a restart or a moved partition keeps the customers' history (bounded by the input's
 * retention) and /readyz turns ready once every assigned partition has caught up to C.
 */

void rp_log(const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(
        line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ rapport: ", tm.tm_year + 1900,
        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line); /* one write per line: lines of threads do not interleave */
}

int64_t rp_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rp_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static const char *topic_name(struct rp_engine *e, enum rp_topic_kind t)
{
    return t == RP_T_INPUT ? e->cfg->topic_input : e->credits_topic;
}

static rd_kafka_t *handle_of(struct rp_engine *e, enum rp_topic_kind t)
{
    return t == RP_T_INPUT ? e->rk : e->rk_cr;
}

/* ---------------------------------------------------------------- batches and dispatch */

static void recycle(struct rp_worker *w)
{
    void *b[64];
    size_t n;
    while ((n = rp_ring_dequeue_burst(&w->ret, b, 64)) > 0)
        for (size_t i = 0; i < n; i++)
            w->free[w->n_free++] = b[i];
}

static void recycle_all(struct rp_engine *e)
{
    for (int i = 0; i < e->n_workers; i++)
        recycle(&e->workers[i]);
}

static struct rp_batch *batch_get(struct rp_worker *w)
{
    if (w->n_free == 0)
        recycle(w);
    if (w->n_free == 0)
        return NULL;
    struct rp_batch *b = w->free[--w->n_free];
    b->n = 0;
    b->track = NULL;
    return b;
}

static void batch_put(struct rp_worker *w, struct rp_batch *b)
{
    for (uint32_t i = 0; i < b->n; i++)
        rd_kafka_message_destroy(b->msgs[i]);
    b->n = 0;
    w->free[w->n_free++] = b;
}

static struct rp_worker *worker_of(struct rp_engine *e, struct rp_part *pt)
{
    return &e->workers[atomic_load_explicit(&pt->worker, memory_order_relaxed)];
}

/* Hands the open batch of `pt` to its worker. False when the ring or the commit log is full. */
static bool try_dispatch(struct rp_engine *e, struct rp_part *pt)
{
    struct rp_batch *b = pt->open;
    struct rp_worker *w = worker_of(e, pt);
    if (rp_commit_log_full(&pt->log))
        return false;
    b->track = rp_commit_log_push(&pt->log, b->msgs[b->n - 1]->offset + 1);
    if (!rp_ring_enqueue(&w->ring, b)) {
        pt->log.head--; /* take the record back: it was never handed out */
        b->track = NULL;
        return false;
    }
    pt->open = NULL;
    pt->pending = false;
    return true;
}

/* Reads a partition again from pt->rewind, the first message that route() had to drop. A seek,
 * never pause/resume: librdkafka 2.0.x's batch consume API could skip offsets on resume, which
 * restarts from its own idea of the position (fixed in 2.1.0, confluentinc/librdkafka#4208);
 * a seek names the offset. Asynchronous (timeout 0): the version barrier it sets at once
 * discards the messages fetched before it, and 2.0.x's seek timeout is off by 1000x (#4230). */
static void seek_rewind(struct rp_engine *e, struct rp_part *pt)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic_name(e, pt->topic), pt->partition)->offset =
        pt->rewind;
    rd_kafka_error_t *err = rd_kafka_seek_partitions(handle_of(e, pt->topic), l, 0);
    if (err) {
        rp_log("seek %s [%" PRId32 "] to %" PRId64 ": %s", topic_name(e, pt->topic), pt->partition,
               pt->rewind, rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
    }
    rd_kafka_topic_partition_list_destroy(l);
    pt->rewind = -1;
}

/* The wake-up eventfd's increment, written by librdkafka (an eventfd takes 8 bytes). */
static const uint64_t wake_one = 1;

static void detach_queue(struct rp_part *pt)
{
    if (pt->q) {
        rd_kafka_queue_io_event_enable(pt->q, -1, NULL, 0);
        rd_kafka_queue_destroy(pt->q);
    }
    pt->q = NULL;
}

/* A batch that cannot go now: keep it (bounded: one per partition) and stop reading the
 * partition's queue (librdkafka's bounded prefetch is the backpressure, see rp_part.q). */
static void hold(struct rp_part *pt)
{
    pt->pending = true;
}

static void route(struct rp_engine *e, enum rp_topic_kind t, rd_kafka_message_t *m)
{
    if (m->partition < 0 || m->partition >= e->n_parts) {
        rd_kafka_message_destroy(m);
        return;
    }
    struct rp_part *pt = &e->parts[t][m->partition];
    if (!pt->assigned) { /* a straggler of a revoked partition */
        rd_kafka_message_destroy(m);
        return;
    }
    if (!pt->open && !pt->pending && pt->rewind < 0) {
        pt->open = batch_get(worker_of(e, pt));
        pt->flush_ns = rp_mono_ns();
        if (pt->open) {
            pt->open->type = RP_B_DATA;
            pt->open->part = pt;
        }
    }
    if (pt->pending || !pt->open || pt->rewind >= 0) {
        /* Defensive (the partition's own queue is read only when there is room; a message from
         * the consumer queue may not find it): drop it and every later one of the partition,
         * and read them again from the first (retry_held). */
        if (pt->rewind < 0 || m->offset < pt->rewind)
            pt->rewind = m->offset;
        rd_kafka_message_destroy(m);
        return;
    }
    pt->open->msgs[pt->open->n++] = m;
    if (pt->open->n == e->batch_size && !try_dispatch(e, pt))
        hold(pt);
}

/* Dispatches every open batch; `older_than_ns` > 0 only those opened before that time. */
static void flush_open(struct rp_engine *e, int64_t older_than_ns)
{
    for (int t = 0; t < RP_T__COUNT; t++)
        for (int32_t p = 0; p < e->n_parts; p++) {
            struct rp_part *pt = &e->parts[t][p];
            if (!pt->open || pt->open->n == 0 || (older_than_ns && pt->flush_ns > older_than_ns))
                continue;
            if (!try_dispatch(e, pt))
                hold(pt);
        }
}

/* Retries held batches; reads a partition again from where route() dropped its messages once
 * it has a free batch and no held one. */
static void retry_held(struct rp_engine *e)
{
    for (int t = 0; t < RP_T__COUNT; t++)
        for (int32_t p = 0; p < e->n_parts; p++) {
            struct rp_part *pt = &e->parts[t][p];
            if (!pt->assigned)
                continue;
            if (pt->pending && !try_dispatch(e, pt))
                continue;
            if (pt->rewind >= 0 && worker_of(e, pt)->n_free > 0)
                seek_rewind(e, pt);
        }
}

static void wait_step(struct rp_engine *e)
{
    recycle_all(e);
    rd_kafka_poll(e->prod, 1); /* delivery reports */
}

/* Sends a control batch to a worker, waiting for room (workers always drain). */
static void send_control(struct rp_engine *e, struct rp_part *pt, enum rp_batch_type type)
{
    struct rp_worker *w = worker_of(e, pt);
    struct rp_batch *b;
    while (!(b = batch_get(w)))
        wait_step(e);
    b->type = type;
    b->part = pt;
    while (!rp_ring_enqueue(&w->ring, b))
        wait_step(e);
}

/* ---------------------------------------------------------------- commits */

/* Folds completed records; returns false on a failed produce (fatal). */
static bool advance_logs(struct rp_engine *e)
{
    bool ok = true;
    for (int t = 0; t < RP_T__COUNT; t++)
        for (int32_t p = 0; p < e->n_parts; p++) {
            struct rp_part *pt = &e->parts[t][p];
            if (!pt->assigned)
                continue;
            bool failed = false;
            rp_commit_log_advance(&pt->log, &failed);
            if (failed)
                ok = false;
        }
    if (!ok && !atomic_exchange_explicit(&e->fatal, 1, memory_order_relaxed))
        rp_log("a produce failed for good: no offset past it will be committed; stopping");
    return ok;
}

/* Commits (asynchronously) every partition whose committable offset moved. `only` limits it to
 * one partition number (-1: all). */
static rd_kafka_resp_err_t commit(struct rp_engine *e, int32_t only)
{
    advance_logs(e);
    /* acquire: pairs with the delivery report's release decrement */
    if (atomic_load_explicit(&e->untracked, memory_order_acquire) > 0)
        return RD_KAFKA_RESP_ERR__IN_PROGRESS; /* idle-time timer signals in flight */
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int t = 0; t < RP_T__COUNT; t++)
        for (int32_t p = 0; p < e->n_parts; p++) {
            struct rp_part *pt = &e->parts[t][p];
            if (!pt->assigned || (only >= 0 && p != only))
                continue;
            if (pt->log.committable > pt->log.committed && pt->log.committable >= 0) {
                rd_kafka_topic_partition_t *r =
                    rd_kafka_topic_partition_list_add(l, topic_name(e, pt->topic), p);
                r->offset = pt->log.committable;
                /* the watermark whose timer signals this offset covers: a restore fires the
                 * timers up to it silently (engine.c, state restore) */
                if (pt->topic == RP_T_INPUT && pt->log.committable_wm != INT64_MIN) {
                    /* and the credits it had applied: a restore replays those silently and
                     * applies the others as new (worker.c, credits) */
                    char md[64];
                    int n = snprintf(md, sizeof(md), "wm=%" PRId64 " cr=%" PRId64,
                                     pt->log.committable_wm, pt->log.committable_cr);
                    r->metadata = strdup(md); /* freed with the list */
                    r->metadata_size = r->metadata ? (size_t)n : 0;
                }
                pt->log.committed = pt->log.committable;
            }
        }
    if (l->cnt > 0) {
        /* (the result comes to commit_result(); commit_sync() waits for it) */
        err = rd_kafka_commit_queue(e->rk, l, e->commit_q, NULL, NULL);
        if (!err)
            e->async_commits++;
        if (err) {
            if (err != e->last_commit_err) /* (retried every 100 ms: one line per cause) */
                rp_log("commit: %s", rd_kafka_err2str(err));
            e->last_commit_err = err;
            for (int i = 0; i < l->cnt; i++) { /* resend them next time */
                struct rp_part *pt = &e->parts[strcmp(l->elems[i].topic, e->cfg->topic_input) == 0
                                                   ? RP_T_INPUT
                                                   : RP_T_CREDITS][l->elems[i].partition];
                if (pt->log.committed == l->elems[i].offset)
                    pt->log.committed = -1;
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return err;
}

/* A synchronous commit, retried until it succeeds or the deadline passes (revoke, shutdown). */
static void wait_async_commits(struct rp_engine *e, int64_t deadline);

/* Whether partition `only` (-1: any assigned one) has a committable offset not committed. */
static bool uncommitted(const struct rp_engine *e, int32_t only)
{
    for (int t = 0; t < RP_T__COUNT; t++)
        for (int32_t p = 0; p < e->n_parts; p++) {
            const struct rp_part *pt = &e->parts[t][p];
            if (pt->assigned && (only < 0 || p == only) && pt->log.committable >= 0 &&
                pt->log.committable > pt->log.committed)
                return true;
        }
    return false;
}

/* Commits and waits for the result, again until it is committed or the deadline passes. An
 * asynchronous commit waited for here, not rd_kafka_commit(sync): that one waits for the group
 * coordinator however long it takes (every broker gone: session.timeout.ms, 45 s, past any
 * shutdown_timeout). */
static void commit_sync(struct rp_engine *e, int32_t only, int64_t deadline)
{
    wait_async_commits(e, deadline);
    for (;;) {
        rd_kafka_resp_err_t err = commit(e, only);
        wait_async_commits(e, deadline);
        if ((!err && !uncommitted(e, only)) || rp_mono_ns() >= deadline)
            return;
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
        wait_step(e);
    }
}

/* Commit results, on the consumer thread (ours from the commit queue, librdkafka's own through
 * on_commit): a failed partition is marked uncommitted so that the next commit resends it. */
static void commit_result(struct rp_engine *e, rd_kafka_resp_err_t err,
                          const rd_kafka_topic_partition_list_t *offsets)
{
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return;
    int failed = 0;
    rd_kafka_resp_err_t cause = err;
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        rd_kafka_topic_partition_t *r = &offsets->elems[i];
        if (!err && !r->err)
            continue;
        if (!cause)
            cause = r->err;
        failed++;
        enum rp_topic_kind t =
            strcmp(r->topic, e->cfg->topic_input) == 0 ? RP_T_INPUT : RP_T_CREDITS;
        if (r->partition >= 0 && r->partition < e->n_parts &&
            e->parts[t][r->partition].log.committed == r->offset)
            e->parts[t][r->partition].log.committed = -1;
    }
    if (cause && cause != e->last_commit_err) /* (one line per cause while it lasts) */
        rp_log("offset commit failed: %s (%d partitions; retried with the next commit)",
               rd_kafka_err2str(cause), failed);
    e->last_commit_err = cause;
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    commit_result(opaque, err, offsets);
}

/* Results of the asynchronous commits (consumer thread). */
static void serve_commit_results(struct rp_engine *e)
{
    rd_kafka_event_t *ev;
    while (e->commit_q && (ev = rd_kafka_queue_poll(e->commit_q, 0))) {
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT) {
            commit_result(e, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev));
            e->async_commits--;
        }
        rd_kafka_event_destroy(ev);
    }
}

/* Waits until no asynchronous commit is in flight (or the deadline). */
static void wait_async_commits(struct rp_engine *e, int64_t deadline)
{
    serve_commit_results(e);
    while (e->async_commits > 0 && rp_mono_ns() < deadline) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        serve_commit_results(e);
    }
}

/* How often the consumer thread refreshes each assigned partition's lag, backlog flag and
 * watermark gauges. */
#define RP_GAUGES_PERIOD_NS (200 * 1000000LL)
/* How long the consumer thread waits for the broker's answer about silent partitions' ends, and
 * how often it asks (a round-trip that blocks the thread: 1.3 ms on the local test broker, so
 * 0.13 % of the thread's time at this period; RP_END_CONFIRM_FRESH_MS must exceed it). */
#define RP_END_QUERY_TIMEOUT_MS 100
#define RP_END_QUERY_PERIOD_MS  1000

/*
 * Asks the broker for the end offset of every input partition that has been silent for half
 * of idle_partition_timeout or more, and records whether it confirms that the partition holds
 * nothing beyond the high watermark the backlog flag was computed from (rp_part.end_*).
 * librdkafka's cached high watermark is only as fresh as the last fetch: while the broker is
 * down, a partition that was being read looks caught up and silent. Counted idle then, it let
 * the watermark run ahead, and its events were dead-lettered as too_late once the broker came
 * back (tests/integration/run_broker_crash.sh: 22 % of them). One ListOffsets request per broker,
 * bounded by RP_END_QUERY_TIMEOUT_MS, for silent partitions only, every RP_END_QUERY_PERIOD_MS.
 * Sent through the producer's connections: on the consumer's, the broker answers it only after the
 * pending long-poll fetch (fetch.wait.max.ms, 500 ms), which would stall this thread that long.
 */
static void confirm_ends(struct rp_engine *e, int64_t now_wall)
{
    if (now_wall - e->ends_queried_ms < RP_END_QUERY_PERIOD_MS)
        return;
    e->ends_queried_ms = now_wall;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(e->n_parts);
    for (int32_t p = 0; p < e->n_parts; p++) {
        struct rp_part *pt = &e->parts[RP_T_INPUT][p];
        int64_t seen = atomic_load_explicit(&pt->last_wall_ms, memory_order_relaxed);
        if (pt->assigned && 2 * (now_wall - seen) >= e->cfg->idle_partition_timeout_ms)
            rd_kafka_topic_partition_list_add(l, e->cfg->topic_input, p)->offset =
                RD_KAFKA_OFFSET_END; /* (as a timestamp: the latest offset) */
    }
    bool answered = l->cnt && rd_kafka_offsets_for_times(e->prod, l, RP_END_QUERY_TIMEOUT_MS) == 0;
    bool refresh = l->cnt && !answered;
    for (int i = 0; i < l->cnt; i++) {
        struct rp_part *pt = &e->parts[RP_T_INPUT][l->elems[i].partition];
        refresh |= l->elems[i].err != 0;
        if (answered && !l->elems[i].err && l->elems[i].offset >= 0 && pt->hi_cached >= 0 &&
            l->elems[i].offset <= pt->hi_cached &&
            !atomic_load_explicit(&pt->backlog, memory_order_relaxed)) {
            atomic_store_explicit(&pt->end_confirmed_ms, now_wall, memory_order_relaxed);
        } else {
            atomic_store_explicit(&pt->end_confirmed_ms, INT64_MIN, memory_order_relaxed);
            atomic_store_explicit(&pt->end_unknown_ms, now_wall, memory_order_relaxed);
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    /* The producer never reads the input topic, so nothing else refreshes its leaders there:
     * after a leader change every query went to the old leader (NOT_LEADER_FOR_PARTITION) until
     * topic.metadata.refresh.interval.ms, and the partitions never counted idle again
     * (test_engine_faults leader_changes). A failed query asks for the topic's metadata, at most
     * once per query period. */
    if (refresh) {
        const struct rd_kafka_metadata *md;
        if (rd_kafka_metadata(e->prod, 0, e->t_input_md, &md, RP_END_QUERY_TIMEOUT_MS) == 0)
            rd_kafka_metadata_destroy(md);
    }
}

static void update_partition_gauges(struct rp_engine *e)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(e->n_parts);
    for (int32_t p = 0; p < e->n_parts; p++)
        if (e->parts[RP_T_INPUT][p].assigned)
            rd_kafka_topic_partition_list_add(l, e->cfg->topic_input, p);
    if (l->cnt)
        rd_kafka_position(e->rk, l);
    for (int i = 0; i < l->cnt; i++) {
        int64_t lo, hi;
        struct rp_part *pt = &e->parts[RP_T_INPUT][l->elems[i].partition];
        pt->hi_cached = -1;
        if (rd_kafka_get_watermark_offsets(e->rk, e->cfg->topic_input, pt->partition, &lo, &hi) ==
                0 &&
            hi >= 0) {
            int64_t pos = l->elems[i].offset >= 0 ? l->elems[i].offset : pt->log.committed;
            if (pos >= 0)
                rp_metrics_set_partition_lag(e->metrics, pt->partition, hi > pos ? hi - pos : 0);
            atomic_store_explicit(&pt->backlog, pos < 0 ? hi > lo : hi > pos, memory_order_relaxed);
            pt->hi_cached = hi;
        }
        int64_t ts = atomic_load_explicit(&pt->max_ts, memory_order_relaxed);
        if (ts != INT64_MIN)
            rp_metrics_set_partition_watermark(e->metrics, pt->partition,
                                               ts - e->cfg->scoring.allowed_lateness_ms);
    }
    rd_kafka_topic_partition_list_destroy(l);
    int64_t now = rp_wall_ms();
    confirm_ends(e, now);
    for (int32_t p = 0; p < e->n_parts; p++) {
        struct rp_part *pt = &e->parts[RP_T_INPUT][p];
        if (pt->assigned)
            rp_metrics_set_partition_idle(e->metrics, p,
                                          atomic_load_explicit(&pt->active, memory_order_relaxed) &&
                                              rp_part_idle(e, pt, now));
    }
    int64_t wm = rp_engine_watermark(e, now);
    if (wm != INT64_MIN)
        rp_metrics_set_watermark(e->metrics, wm);
}

/* ---------------------------------------------------------------- rebalance */

static int64_t deadline_ns(struct rp_engine *e)
{
    return e->shutdown_deadline_ns ? e->shutdown_deadline_ns
                                   : rp_mono_ns() + e->cfg->shutdown_timeout_ms * 1000000LL;
}

/*
 * The committed offsets of `q`, asked again while the group coordinator cannot answer yet (a
 * broker starting, the coordinator moving: NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, ...),
 * for up to RP_COMMITTED_WAIT_MS. Assigning with offsets unknown would leave the fetch to
 * librdkafka, whose own attempt (2.0.2) gives up and never fetches the partitions. Every
 * partition gets a definite answer before the assignment, or the error after the wait.
 */
#define RP_COMMITTED_WAIT_MS 60000
static rd_kafka_resp_err_t fetch_committed(struct rp_engine *e, rd_kafka_topic_partition_list_t *q)
{
    int64_t until = rp_mono_ns() + RP_COMMITTED_WAIT_MS * 1000000LL;
    for (int attempt = 0;; attempt++) {
        rd_kafka_resp_err_t err = rd_kafka_committed(e->rk, q, 10000);
        for (int i = 0; !err && i < q->cnt; i++)
            err = q->elems[i].err;
        if (!err)
            return err;
        bool stop = atomic_load_explicit(&e->stop, memory_order_relaxed);
        if (stop || rp_mono_ns() > until) {
            rp_log("fetching committed offsets: %s (starting from auto.offset.reset)",
                   rd_kafka_err2str(err));
            return err;
        }
        if (attempt == 0)
            rp_log("fetching committed offsets: %s (asking again)", rd_kafka_err2str(err));
        struct timespec ts = {0, 200000000};
        nanosleep(&ts, NULL);
    }
}

/* Where an input partition with no committed offset starts: auto.offset.reset, resolved here so
 * that librdkafka does not fetch the committed offsets once more on its own (see above). */
static int64_t offset_reset(const struct rp_engine *e)
{
    const char *v = rp_config_kafka_get(e->cfg, "auto.offset.reset");
    if (!v || !strcmp(v, "earliest") || !strcmp(v, "smallest") || !strcmp(v, "beginning"))
        return RD_KAFKA_OFFSET_BEGINNING; /* (the engine's default) */
    if (!strcmp(v, "latest") || !strcmp(v, "largest") || !strcmp(v, "end"))
        return RD_KAFKA_OFFSET_END;
    return RD_KAFKA_OFFSET_INVALID; /* "error": librdkafka's own handling */
}

static void on_assign(struct rp_engine *e, rd_kafka_topic_partition_list_t *parts)
{
    /* committed offsets of both topics, in one request */
    rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_new(2 * parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_list_add(q, e->cfg->topic_input, parts->elems[i].partition);
        rd_kafka_topic_partition_list_add(q, e->credits_topic, parts->elems[i].partition);
    }
    rd_kafka_resp_err_t err = fetch_committed(e, q);
    rd_kafka_topic_partition_list_t *cr = rd_kafka_topic_partition_list_new(parts->cnt);
    char desc[512];
    size_t dl = 0;
    desc[0] = 0;
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (p < 0 || p >= e->n_parts) {
            rp_log("assigned partition %" PRId32 " beyond the %" PRId32
                   " known at start (restart to pick up new partitions)",
                   p, e->n_parts);
            continue;
        }
        /* least-loaded worker */
        int wi = 0;
        for (int k = 1; k < e->n_workers; k++)
            if (e->workers[k].n_assigned < e->workers[wi].n_assigned)
                wi = k;
        e->workers[wi].n_assigned++;
        for (int t = 0; t < RP_T__COUNT; t++) {
            struct rp_part *pt = &e->parts[t][p];
            int64_t c = err ? RD_KAFKA_OFFSET_INVALID : q->elems[2 * i + t].offset;
            int64_t lo = -1, hi = -1;
            if (c > 0)
                rd_kafka_query_watermark_offsets(e->rk, topic_name(e, (enum rp_topic_kind)t), p,
                                                 &lo, &hi, 5000);
            int64_t start;
            pt->restore_wm = INT64_MIN;
            pt->restore_cr = -1;
            pt->cr_start = 0;
            int64_t applied = t == RP_T_CREDITS ? e->parts[RP_T_INPUT][p].restore_cr : -1;
            if (applied >= 0) {
                /* credits: replay from the start, silently below the prefix the input's commit
                 * says was applied (credits wait for their event time, so the credits topic's
                 * own committed offset may be past credits never applied) */
                pt->replay_until = applied;
                start = RD_KAFKA_OFFSET_BEGINNING;
            } else if (c > 0 && lo >= 0 && lo < c) { /* restore: replay [lo, c) silently */
                pt->replay_until = c;
                start = RD_KAFKA_OFFSET_BEGINNING;
                pt->cr_start = lo;
                const rd_kafka_topic_partition_t *ce = &q->elems[2 * i + t];
                char md[64] = "";
                if (ce->metadata && ce->metadata_size > 0 && ce->metadata_size < sizeof(md)) {
                    memcpy(md, ce->metadata, ce->metadata_size);
                    md[ce->metadata_size] = 0;
                    long long v, vc;
                    int got = sscanf(md, "wm=%lld cr=%lld", &v, &vc);
                    if (got >= 1)
                        pt->restore_wm = (int64_t)v;
                    if (got == 2 && vc >= 0)
                        pt->restore_cr = (int64_t)vc;
                }
            } else {
                pt->replay_until = 0;
                start = c >= 0              ? c
                        : t == RP_T_CREDITS ? RD_KAFKA_OFFSET_BEGINNING
                        : err               ? c  /* unknown: librdkafka asks once more */
                                            : offset_reset(e); /* none committed */
                pt->cr_start = c >= 0 ? c : 0;
            }
            atomic_store_explicit(&pt->worker, wi, memory_order_relaxed);
            rp_commit_log_reset(&pt->log, c >= 0 ? c : -1);
            pt->assigned = true;
            pt->pending = false;
            pt->rewind = -1;
            pt->open = NULL;
            atomic_store_explicit(&pt->revoked, 0, memory_order_relaxed);
            atomic_store_explicit(&pt->ready, 0, memory_order_relaxed);
            if (t == RP_T_INPUT) {
                parts->elems[i].offset = start;
                atomic_store_explicit(&pt->max_ts, INT64_MIN, memory_order_relaxed);
                atomic_store_explicit(&pt->last_wall_ms, rp_wall_ms(), memory_order_relaxed);
                atomic_store_explicit(&pt->active, 1, memory_order_relaxed);
                atomic_store_explicit(&pt->backlog, 1, memory_order_relaxed); /* until known */
                atomic_store_explicit(&pt->end_confirmed_ms, INT64_MIN, memory_order_relaxed);
                atomic_store_explicit(&pt->end_unknown_ms, INT64_MIN, memory_order_relaxed);
                pt->hi_cached = -1;
                rp_metrics_set_partition_assigned(e->metrics, p, true);
                rp_metrics_set_partition_idle(e->metrics, p, false);
            } else {
                rd_kafka_topic_partition_list_add(cr, e->credits_topic, p)->offset = start;
            }
        }
        /* after both topics' settings: the ring publishes them to the worker */
        send_control(e, &e->parts[RP_T_INPUT][p], RP_B_ASSIGN);
        int n = snprintf(desc + dl, sizeof(desc) - dl, "%s%" PRId32 "->w%d%s", i ? " " : "", p, wi,
                         e->parts[RP_T_INPUT][p].replay_until > 0 ? "(restore)" : "");
        if (n > 0 && (size_t)n < sizeof(desc) - dl)
            dl += (size_t)n;
    }
    if (cr->cnt) {
        rd_kafka_error_t *ae = rd_kafka_incremental_assign(e->rk_cr, cr);
        if (ae) {
            rp_log("assigning credits partitions: %s", rd_kafka_error_string(ae));
            rd_kafka_error_destroy(ae);
        }
    }
    rp_log("assigned %s [%s]", e->cfg->topic_input, desc);
    rd_kafka_topic_partition_list_destroy(cr);
    rd_kafka_topic_partition_list_destroy(q);
}

static void on_revoke(struct rp_engine *e, rd_kafka_topic_partition_list_t *parts, bool lost)
{
    int64_t deadline = deadline_ns(e);
    bool timed_out = false;
    /* 1. every open or held batch of these partitions to its worker, then the REVOKE control */
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (p < 0 || p >= e->n_parts || !e->parts[RP_T_INPUT][p].assigned)
            continue;
        for (int t = 0; t < RP_T__COUNT; t++) {
            struct rp_part *pt = &e->parts[t][p];
            while (pt->open && pt->open->n && !try_dispatch(e, pt)) {
                if (rp_mono_ns() > deadline) {
                    batch_put(worker_of(e, pt), pt->open); /* uncommitted: re-read by the next
                                                              owner */
                    pt->open = NULL;
                    timed_out = true;
                    break;
                }
                wait_step(e);
            }
            if (pt->open) {
                batch_put(worker_of(e, pt), pt->open);
                pt->open = NULL;
            }
            pt->pending = false;
        }
        send_control(e, &e->parts[RP_T_INPUT][p], RP_B_REVOKE);
    }
    /* 2. wait for the workers to finish them and for the broker to acknowledge their outputs */
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (p < 0 || p >= e->n_parts || !e->parts[RP_T_INPUT][p].assigned)
            continue;
        for (int t = 0; t < RP_T__COUNT; t++) {
            struct rp_part *pt = &e->parts[t][p];
            for (;;) {
                bool failed = false;
                rp_commit_log_advance(&pt->log, &failed);
                bool done =
                    atomic_load_explicit(&e->parts[RP_T_INPUT][p].revoked, memory_order_acquire) &&
                    rp_commit_log_drained(&pt->log);
                if (done || failed)
                    break;
                if (rp_mono_ns() > deadline) {
                    timed_out = true;
                    break;
                }
                wait_step(e);
            }
        }
    }
    /* 3. commit what is acknowledged (not when lost: another member may own them already) */
    if (!lost)
        for (int i = 0; i < parts->cnt; i++)
            if (parts->elems[i].partition >= 0 && parts->elems[i].partition < e->n_parts)
                commit_sync(e, parts->elems[i].partition, deadline);
    /* 4. forget them */
    rd_kafka_topic_partition_list_t *cr = rd_kafka_topic_partition_list_new(parts->cnt);
    char desc[256];
    size_t dl = 0;
    desc[0] = 0;
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (p < 0 || p >= e->n_parts || !e->parts[RP_T_INPUT][p].assigned)
            continue;
        struct rp_worker *w = worker_of(e, &e->parts[RP_T_INPUT][p]);
        w->n_assigned--;
        for (int t = 0; t < RP_T__COUNT; t++) {
            struct rp_part *pt = &e->parts[t][p];
            pt->assigned = false;
            detach_queue(pt);
            atomic_store_explicit(&pt->active, 0, memory_order_relaxed);
        }
        rd_kafka_topic_partition_list_add(cr, e->credits_topic, p);
        rp_metrics_set_partition_assigned(e->metrics, p, false);
        int n = snprintf(desc + dl, sizeof(desc) - dl, "%s%" PRId32, dl ? " " : "", p);
        if (n > 0 && (size_t)n < sizeof(desc) - dl)
            dl += (size_t)n;
    }
    if (cr->cnt) {
        rd_kafka_error_t *ue = rd_kafka_incremental_unassign(e->rk_cr, cr);
        if (ue) {
            rp_log("unassigning credits partitions: %s", rd_kafka_error_string(ue));
            rd_kafka_error_destroy(ue);
        }
    }
    rd_kafka_topic_partition_list_destroy(cr);
    rp_log("%s %s [%s]%s", lost ? "lost" : "revoked", e->cfg->topic_input, desc,
           timed_out ? " (timed out waiting: uncommitted work will be re-read)" : "");
}

/* Per-partition queues for the partitions just assigned (input and mirrored credits). */
static void attach_queues(struct rp_engine *e, rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (p < 0 || p >= e->n_parts)
            continue;
        for (int t = 0; t < RP_T__COUNT; t++) {
            struct rp_part *pt = &e->parts[t][p];
            detach_queue(pt);
            pt->q = rd_kafka_queue_get_partition(handle_of(e, (enum rp_topic_kind)t),
                                                 topic_name(e, (enum rp_topic_kind)t), p);
            if (pt->q) {
                rd_kafka_queue_forward(pt->q, NULL);
                if (e->wake_fd >= 0)
                    rd_kafka_queue_io_event_enable(pt->q, e->wake_fd, &wake_one, sizeof(wake_one));
            }
        }
    }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct rp_engine *e = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *ae = NULL;
    if (e->tearing_down) {
        /* (a close finished by rp_engine_destroy: the workers are gone, nothing to hand over;
         * only what librdkafka needs to end the close) */
        if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
            if (cooperative)
                ae = rd_kafka_incremental_unassign(rk, parts);
            else
                rd_kafka_assign(rk, NULL);
        }
    } else if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(e, parts);
        if (cooperative)
            ae = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        attach_queues(e, parts);
        /* (an empty assignment too: a member with nothing to own, more members than
         * partitions, is ready, as a Kafka Streams instance with no task is RUNNING) */
        atomic_store_explicit(&e->joined, 1, memory_order_release);
    } else {
        bool lost = rd_kafka_assignment_lost(rk);
        if (lost) /* out of the group until it joins again */
            atomic_store_explicit(&e->joined, 0, memory_order_relaxed);
        on_revoke(e, parts, lost);
        if (cooperative)
            ae = rd_kafka_incremental_unassign(rk, parts);
        else
            rd_kafka_assign(rk, NULL);
    }
    if (ae) {
        rp_log("rebalance: %s", rd_kafka_error_string(ae));
        rd_kafka_error_destroy(ae);
    }
}

/* ---------------------------------------------------------------- creation */

static rd_kafka_t *make_consumer(struct rp_engine *e, bool group_member, char *errstr,
                                 size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    for (size_t i = 0; i < e->cfg->n_kafka; i++)
        if (rd_kafka_conf_set(conf, e->cfg->kafka[i].key, e->cfg->kafka[i].value, err,
                              sizeof(err)) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "[kafka] %s: %s", e->cfg->kafka[i].key, err);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    char gid[512];
    if (group_member)
        snprintf(gid, sizeof(gid), "%s", e->group_id);
    else /* assign() needs a group id; this one never joins nor commits */
        snprintf(gid, sizeof(gid), "%s.credits-reader", e->group_id);
    const char *forced[][2] = {
        {"group.id", gid},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "false"},
    };
    for (size_t i = 0; i < sizeof(forced) / sizeof(forced[0]); i++)
        rd_kafka_conf_set(conf, forced[i][0], forced[i][1], NULL, 0);
    if (group_member) {
        if (rd_kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", err,
                              sizeof(err)) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "consumer: %s", err);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
        rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
        rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
    }
    /* a stream processor starts at the beginning of a topic it has never read (Kafka Streams) */
    if (!rp_config_kafka_get(e->cfg, "auto.offset.reset"))
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", NULL, 0);
    rd_kafka_conf_set_opaque(conf, e);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        snprintf(errstr, errstr_size, "consumer: %s", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Finds the input's partition count; creates the missing internal and output topics. */
static int prepare_topics(struct rp_engine *e, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(e->prod, 1, NULL, &md, 10000);
    if (err) {
        snprintf(errstr, errstr_size, "cannot read metadata from %s: %s",
                 rp_config_kafka_get(e->cfg, "bootstrap.servers")
                     ? rp_config_kafka_get(e->cfg, "bootstrap.servers")
                     : "(no bootstrap.servers)",
                 rd_kafka_err2str(err));
        return RP_ERR_KAFKA;
    }
    const char *want[] = {e->credits_topic, e->cfg->topic_churn_risk, e->cfg->topic_advocate,
                          e->cfg->topic_dead_letter};
    bool have[4] = {false, false, false, false};
    e->n_parts = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        const char *name = md->topics[i].topic;
        if (strcmp(name, e->cfg->topic_input) == 0 && !md->topics[i].err)
            e->n_parts = md->topics[i].partition_cnt;
        for (int k = 0; k < 4; k++)
            if (strcmp(name, want[k]) == 0 && !md->topics[i].err)
                have[k] = true;
    }
    int32_t cr_parts = -1;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, e->credits_topic) == 0 && !md->topics[i].err)
            cr_parts = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    if (e->n_parts <= 0) {
        snprintf(errstr, errstr_size,
                 "input topic '%s' does not exist: create it (keyed by cid, default "
                 "partitioner) before starting",
                 e->cfg->topic_input);
        return RP_ERR_KAFKA;
    }
    if (cr_parts >= 0 && cr_parts != e->n_parts) {
        snprintf(errstr, errstr_size,
                 "internal topic '%s' has %" PRId32 " partitions but input '%s' has %" PRId32
                 ": they must be co-partitioned",
                 e->credits_topic, cr_parts, e->cfg->topic_input, e->n_parts);
        return RP_ERR_KAFKA;
    }
    rd_kafka_NewTopic_t *nt[4];
    int n = 0;
    for (int k = 0; k < 4; k++)
        if (!have[k]) {
            char err2[256];
            nt[n] = rd_kafka_NewTopic_new(want[k], e->n_parts, -1, err2, sizeof(err2));
            if (!nt[n]) {
                snprintf(errstr, errstr_size, "topic %s: %s", want[k], err2);
                for (int j = 0; j < n; j++)
                    rd_kafka_NewTopic_destroy(nt[j]);
                return RP_ERR_KAFKA;
            }
            n++;
        }
    if (n == 0)
        return RP_OK;
    rd_kafka_queue_t *rq = rd_kafka_queue_new(e->prod);
    rd_kafka_CreateTopics(e->prod, nt, (size_t)n, NULL, rq);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(rq, 15000);
    int rc = RP_OK;
    if (!ev) {
        snprintf(errstr, errstr_size, "creating topics: timed out");
        rc = RP_ERR_KAFKA;
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr =
            res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
        if (!res && rd_kafka_event_error(ev)) {
            snprintf(errstr, errstr_size, "creating topics: %s", rd_kafka_event_error_string(ev));
            rc = RP_ERR_KAFKA;
        }
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t te = rd_kafka_topic_result_error(tr[i]);
            if (te && te != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(errstr, errstr_size, "creating topic %s: %s",
                         rd_kafka_topic_result_name(tr[i]),
                         rd_kafka_topic_result_error_string(tr[i]));
                rc = RP_ERR_KAFKA;
            } else if (!te) {
                rp_log("created topic %s (%" PRId32 " partitions)",
                       rd_kafka_topic_result_name(tr[i]), e->n_parts);
            }
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(rq);
    for (int j = 0; j < n; j++)
        rd_kafka_NewTopic_destroy(nt[j]);
    return rc;
}

static int http_metrics(void *opaque, char **body, size_t *len)
{
    return rp_metrics_render(rp_engine_metrics(opaque), body, len);
}

static bool http_ready(void *opaque)
{
    return rp_engine_ready(opaque);
}

static int http_customer(void *opaque, const char *cid, size_t len, char **json, size_t *jlen)
{
    return rp_engine_customer(opaque, cid, len, 2000, json, jlen);
}

static size_t next_pow2(size_t v)
{
    size_t p = 2;
    while (p < v)
        p <<= 1;
    return p;
}

struct rp_engine *rp_engine_create(const struct rp_config *cfg, char *errstr, size_t errstr_size)
{
    struct rp_engine *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    e->cfg = cfg;
    /* (no eventfd: the idle wait falls back to a 1 ms poll of the consumer queue) */
    e->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    e->n_workers = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (e->n_workers < 1)
        e->n_workers = 1;
    e->batch_size = cfg->batch_size > 0 ? (size_t)cfg->batch_size : 512;
    const char *gid = rp_config_kafka_get(cfg, "group.id");
    e->group_id = strdup(gid ? gid : "rapport");
    size_t cl = strlen(cfg->topic_internal_prefix) + sizeof(".credits");
    e->credits_topic = malloc(cl);
    if (!e->group_id || !e->credits_topic) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    snprintf(e->credits_topic, cl, "%s.credits", cfg->topic_internal_prefix);
    atomic_init(&e->stop, 0);
    atomic_init(&e->fatal, 0);
    atomic_init(&e->untracked, 0);
    atomic_init(&e->produce_errors, 0);

    if (!rp_config_kafka_get(cfg, "bootstrap.servers")) {
        snprintf(errstr, errstr_size, "[kafka] bootstrap.servers is required");
        goto fail;
    }
    if (rp_out_create(e, errstr, errstr_size) != RP_OK)
        goto fail;
    if (prepare_topics(e, errstr, errstr_size) != RP_OK)
        goto fail;
    e->metrics = rp_metrics_create(1 + e->n_workers, e->n_workers, e->n_parts, errstr, errstr_size);
    if (!e->metrics)
        goto fail;
    for (int t = 0; t < RP_T__COUNT; t++) {
        e->parts[t] = calloc((size_t)e->n_parts, sizeof(struct rp_part));
        if (!e->parts[t]) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
        for (int32_t p = 0; p < e->n_parts; p++) {
            struct rp_part *pt = &e->parts[t][p];
            pt->topic = (enum rp_topic_kind)t;
            pt->partition = p;
            pt->rewind = -1;
            atomic_init(&pt->max_ts, INT64_MIN);
            /* records per partition: every batch the ring can hold, twice */
            if (rp_commit_log_init(&pt->log, (uint32_t)next_pow2(2 * (size_t)cfg->ring_size)) !=
                0) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
            }
        }
    }
    e->workers = calloc((size_t)e->n_workers, sizeof(struct rp_worker));
    if (!e->workers) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    /* pool: a full ring, plus one open batch per partition of both topics, plus controls */
    size_t pool = (size_t)cfg->ring_size + 2 * (size_t)e->n_parts + 8;
    for (int i = 0; i < e->n_workers; i++) {
        struct rp_worker *w = &e->workers[i];
        w->e = e;
        w->idx = i;
        w->mw = rp_metrics_worker(e->metrics, i);
        pthread_mutex_init(&w->mb.lock, NULL);
        atomic_init(&w->mb.state, RP_MB_IDLE);
        atomic_init(&w->stop, 0);
        w->pl = calloc((size_t)e->n_parts, sizeof(*w->pl));
        w->hctx = calloc((size_t)e->n_parts, sizeof(*w->hctx));
        w->hold = calloc((size_t)e->n_parts, sizeof(*w->hold));
        w->hold_ns = calloc((size_t)e->n_parts, sizeof(*w->hold_ns));
        w->cq = calloc((size_t)e->n_parts, sizeof(*w->cq));
        w->free = calloc(pool, sizeof(*w->free));
        w->all = calloc(pool, sizeof(*w->all));
        if (!w->pl || !w->hctx || !w->hold || !w->hold_ns || !w->cq || !w->free || !w->all ||
            rp_ring_init(&w->ring, next_pow2((size_t)cfg->ring_size)) != 0 ||
            rp_ring_init(&w->ret, next_pow2(pool)) != 0) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
        for (size_t k = 0; k < pool; k++) {
            struct rp_batch *b =
                calloc(1, sizeof(struct rp_batch) + e->batch_size * sizeof(rd_kafka_message_t *));
            if (!b) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
            }
            w->all[w->n_all++] = b;
            w->free[w->n_free++] = b;
        }
    }
    e->rk = make_consumer(e, true, errstr, errstr_size);
    if (!e->rk)
        goto fail;
    e->rk_cr = make_consumer(e, false, errstr, errstr_size);
    if (!e->rk_cr)
        goto fail;
    e->commit_q = rd_kafka_queue_new(e->rk);
    for (int i = 0; i < e->n_workers; i++)
        if (rp_worker_start(&e->workers[i]) != RP_OK) {
            snprintf(errstr, errstr_size, "cannot start worker thread");
            goto fail;
        }
    if (cfg->http_listen && cfg->http_listen[0]) {
        struct rp_http_handlers h = {
            .opaque = e, .metrics = http_metrics, .ready = http_ready, .customer = http_customer};
        e->http = rp_http_create(cfg->http_listen, &h, errstr, errstr_size);
        if (!e->http)
            goto fail;
    }
    if (e->http)
        rp_log("http on %s (port %d)", cfg->http_listen, rp_http_port(e->http));
    rp_log("started: %d workers, input %s (%" PRId32 " partitions), group %s, credits via %s",
           e->n_workers, cfg->topic_input, e->n_parts, e->group_id, e->credits_topic);
    return e;
fail:
    rp_engine_destroy(e);
    return NULL;
}

/* ---------------------------------------------------------------- run, stop, destroy */

static void poll_errors(struct rp_engine *e, rd_kafka_message_t *m)
{
    static int logged;
    if (logged++ < 20)
        rp_log("consumer: %s", rd_kafka_message_errstr(m));
    char fe[256];
    if (rd_kafka_fatal_error(e->rk, fe, sizeof(fe))) {
        rp_log("consumer fatal error: %s", fe);
        atomic_store_explicit(&e->fatal, 1, memory_order_relaxed);
    }
    rd_kafka_message_destroy(m);
}

/* Waits until every batch handed out so far is processed and acknowledged (or the deadline). */
static void drain_all(struct rp_engine *e, int64_t deadline)
{
    for (;;) {
        advance_logs(e);
        bool done = true;
        for (int t = 0; t < RP_T__COUNT && done; t++)
            for (int32_t p = 0; p < e->n_parts && done; p++)
                if (e->parts[t][p].assigned &&
                    (!rp_commit_log_drained(&e->parts[t][p].log) || e->parts[t][p].pending))
                    done = false;
        if (done || rp_mono_ns() > deadline ||
            atomic_load_explicit(&e->fatal, memory_order_relaxed))
            return;
        retry_held(e);
        wait_step(e);
    }
}

/* After the final commit: an asynchronous commit still in flight (the final one sends only what
 * moved since), or one retried after a broker outage, may leave an older offset stored; read the
 * offsets back and commit again where that happened. */
static int verify_commits_once(struct rp_engine *e)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2 * e->n_parts);
    for (int t = 0; t < RP_T__COUNT; t++)
        for (int32_t p = 0; p < e->n_parts; p++)
            if (e->parts[t][p].assigned && e->parts[t][p].log.committed >= 0)
                rd_kafka_topic_partition_list_add(l, topic_name(e, (enum rp_topic_kind)t), p);
    int redo = 0;
    if (l->cnt && rd_kafka_committed(e->rk, l, 5000) == 0)
        for (int i = 0; i < l->cnt; i++) {
            enum rp_topic_kind t =
                strcmp(l->elems[i].topic, e->cfg->topic_input) == 0 ? RP_T_INPUT : RP_T_CREDITS;
            struct rp_part *pt = &e->parts[t][l->elems[i].partition];
            if (l->elems[i].offset < pt->log.committed) {
                pt->log.committed = -1;
                redo++;
            }
        }
    rd_kafka_topic_partition_list_destroy(l);
    if (redo) {
        rp_log("%d committed offsets behind (asynchronous commits still in flight or retried "
               "late): committing again",
               redo);
        commit_sync(e, -1, e->shutdown_deadline_ns);
    }
    return redo;
}

static void verify_commits(struct rp_engine *e)
{
    for (int round = 0; round < 10 && rp_mono_ns() < e->shutdown_deadline_ns; round++) {
        if (verify_commits_once(e) == 0)
            return;
    }
}

/*
 * Leaves the group (or, for the credits reader, drops its assignment) by the shutdown deadline.
 * rd_kafka_consumer_close() waits as long as the group coordinator takes to answer: with every
 * broker gone, session.timeout.ms (45 s) and more, past shutdown_timeout. The asynchronous close
 * is served here instead (rd_kafka_consume_queue() runs the rebalance callback, as
 * rd_kafka_consumer_poll() does) until it is done or the deadline passes; then the handle is
 * destroyed without a second close (rp_engine_destroy), which serves the queue until
 * librdkafka's own close is done: rp_engine_left_group() tells the caller.
 */
static void close_consumer(struct rp_engine *e, rd_kafka_t *rk, const char *what)
{
    int64_t deadline_ns = e->shutdown_deadline_ns;
    int slot = rk == e->rk ? 0 : 1;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_error_t *err = rd_kafka_consumer_close_queue(rk, q);
    if (err) {
        rp_log("leaving the group (%s): %s", what, rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
        rd_kafka_queue_destroy(q);
        return;
    }
    while (!rd_kafka_consumer_closed(rk)) {
        int64_t left_ms = (deadline_ns - rp_mono_ns()) / 1000000;
        if (left_ms <= 0) {
            rp_log("leaving the group (%s): not done by shutdown_timeout, given up (the group "
                   "coordinator moves the partitions after session.timeout.ms)",
                   what);
            e->close_q[slot] = q; /* (librdkafka's close goes on: served by the destroy) */
            return;
        }
        rd_kafka_message_t *m = rd_kafka_consume_queue(q, left_ms < 100 ? (int)left_ms : 100);
        if (m)
            rd_kafka_message_destroy(m);
    }
    rd_kafka_queue_destroy(q);
}

/* Serves a close that rp_engine_run gave up until librdkafka has finished it (the consumer
 * handle cannot be destroyed before: its close waits for the application to serve the queue). */
static void finish_close(struct rp_engine *e, rd_kafka_t *rk, int slot)
{
    if (!e->close_q[slot])
        return;
    e->tearing_down = true;
    while (!rd_kafka_consumer_closed(rk)) {
        rd_kafka_message_t *m = rd_kafka_consume_queue(e->close_q[slot], 100);
        if (m)
            rd_kafka_message_destroy(m);
    }
    rd_kafka_queue_destroy(e->close_q[slot]);
    e->close_q[slot] = NULL;
}

/* Nothing to read anywhere: sleeps until a queue the consumer thread reads gets something (the
 * eventfd), 1 ms at most (delivery reports, commit results and workers freeing room do not write
 * to it). Without the eventfd, waits on the consumer queue for 1 ms. Returns the messages routed
 * meanwhile (0 or 1). */
static ssize_t idle_wait(struct rp_engine *e)
{
    if (e->wake_fd >= 0) {
        struct pollfd pfd = {.fd = e->wake_fd, .events = POLLIN};
        uint64_t v;
        if (poll(&pfd, 1, 1) > 0 && read(e->wake_fd, &v, sizeof(v)) < 0) {
            /* (EAGAIN: drained already; nothing to do) */
        }
        return 0;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(e->rk, 1);
    if (!m)
        return 0;
    if (m->err)
        poll_errors(e, m);
    else
        route(e, RP_T_INPUT, m);
    return 1;
}

int rp_engine_run(struct rp_engine *e)
{
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, e->cfg->topic_input, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(e->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        rp_log("subscribe %s: %s", e->cfg->topic_input, rd_kafka_err2str(err));
        return RP_ERR_KAFKA;
    }
    const int64_t flush_ns = 2 * 1000000LL; /* an open batch waits at most this long */
    enum { RP_BURST = 1024 };
    rd_kafka_message_t *burst[RP_BURST];
    rd_kafka_queue_t *q_in = rd_kafka_queue_get_consumer(e->rk);
    rd_kafka_queue_t *q_cr = rd_kafka_queue_get_consumer(e->rk_cr);
    if (e->wake_fd >= 0) {
        rd_kafka_queue_io_event_enable(q_in, e->wake_fd, &wake_one, sizeof(wake_one));
        rd_kafka_queue_io_event_enable(q_cr, e->wake_fd, &wake_one, sizeof(wake_one));
    }
    int64_t next_commit = rp_mono_ns() + e->cfg->commit_interval_ms * 1000000LL;
    int64_t next_gauges = rp_mono_ns() + RP_GAUGES_PERIOD_NS;
    while (!atomic_load_explicit(&e->stop, memory_order_relaxed) &&
           !atomic_load_explicit(&e->fatal, memory_order_relaxed)) {
        recycle_all(e);
        rd_kafka_poll(e->prod, 0);
        serve_commit_results(e);
        retry_held(e);
        /* Bursts through rd_kafka_consume_batch_queue: one queue lock per burst instead of one
         * per message (rd_kafka_consumer_poll); both serve the rebalance callback. It waits for
         * a full burst until its timeout, so it is only called with 0; the blocking wait, when
         * there is nothing to do, is one rd_kafka_consumer_poll for the first message. */
        ssize_t n = rd_kafka_consume_batch_queue(q_cr, 0, burst, RP_BURST);
        for (ssize_t i = 0; i < n; i++) {
            if (burst[i]->err)
                poll_errors(e, burst[i]);
            else
                route(e, RP_T_CREDITS, burst[i]);
        }
        bool open = false;
        for (int t = 0; t < RP_T__COUNT && !open; t++)
            for (int32_t p = 0; p < e->n_parts && !open; p++)
                open = e->parts[t][p].open != NULL;
        ssize_t got = rd_kafka_consume_batch_queue(q_in, 0, burst, RP_BURST);
        for (ssize_t i = 0; i < got; i++) {
            if (burst[i]->err)
                poll_errors(e, burst[i]);
            else
                route(e, RP_T_INPUT, burst[i]);
        }
        /* each partition's own queue, as far as its worker has room (see rp_part.q) */
        ssize_t from_parts = 0;
        for (int t = 0; t < RP_T__COUNT; t++)
            for (int32_t p = 0; p < e->n_parts; p++) {
                struct rp_part *pt = &e->parts[t][p];
                if (!pt->assigned || !pt->q || pt->pending || pt->rewind >= 0 ||
                    rp_commit_log_full(&pt->log))
                    continue;
                struct rp_worker *w = worker_of(e, pt);
                if (rp_ring_count(&w->ring) >= rp_ring_capacity(&w->ring) || w->n_free == 0)
                    continue;
                size_t room = e->batch_size - (pt->open ? pt->open->n : 0);
                ssize_t k = rd_kafka_consume_batch_queue(pt->q, 0, burst,
                                                         room < RP_BURST ? room : RP_BURST);
                for (ssize_t i = 0; i < k; i++) {
                    if (burst[i]->err)
                        poll_errors(e, burst[i]);
                    else
                        route(e, (enum rp_topic_kind)t, burst[i]);
                }
                if (k > 0)
                    from_parts += k;
            }
        if (got + from_parts == 0 && !open && n <= 0)
            got = idle_wait(e);
        got += from_parts;
        int64_t now = rp_mono_ns();
        /* nothing more right now: hand out partial batches; under load, only old ones */
        flush_open(e, got < RP_BURST ? 0 : now - flush_ns);
        if (now >= next_commit) {
            commit(e, -1);
            next_commit = now + e->cfg->commit_interval_ms * 1000000LL;
        }
        /* on their own period, not the commit's: the backlog flags they set tell an idle
         * partition from a blocked one for the watermark, and commit_interval may be an hour */
        if (now >= next_gauges) {
            update_partition_gauges(e);
            next_gauges = now + RP_GAUGES_PERIOD_NS;
        }
    }
    /* clean shutdown (SPEC §4): stop fetching, drain, flush, commit, leave the group */
    bool fatal = atomic_load_explicit(&e->fatal, memory_order_relaxed);
    rp_log("stopping%s", fatal ? " after a fatal error" : "");
    e->shutdown_deadline_ns = rp_mono_ns() + e->cfg->shutdown_timeout_ms * 1000000LL;
    e->closing = true;
    if (!fatal) {
        flush_open(e, 0);
        drain_all(e, e->shutdown_deadline_ns);
        commit_sync(e, -1, e->shutdown_deadline_ns);
        verify_commits(e);
    }
    rd_kafka_queue_io_event_enable(q_in, -1, NULL, 0);
    rd_kafka_queue_io_event_enable(q_cr, -1, NULL, 0);
    rd_kafka_queue_destroy(q_in);
    rd_kafka_queue_destroy(q_cr);
    /* leaving the group calls on_revoke for what is still assigned (commits nothing new) */
    close_consumer(e, e->rk_cr, "credits reader");
    close_consumer(e, e->rk, "group");
    e->closed = true;
    int64_t left_ms = (e->shutdown_deadline_ns - rp_mono_ns()) / 1000000;
    if (rd_kafka_flush(e->prod, left_ms > 0 ? (int)left_ms : 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* what is still queued is lost when the producer is destroyed: a failure, not a stop */
        rp_log("shutdown: %d messages still undelivered after shutdown_timeout",
               rd_kafka_outq_len(e->prod));
        atomic_store_explicit(&e->fatal, 1, memory_order_relaxed);
    }
    for (int i = 0; i < e->n_workers; i++)
        rp_worker_join(&e->workers[i]);
    fatal = atomic_load_explicit(&e->fatal, memory_order_relaxed);
    rp_log("stopped%s", fatal ? " (fatal error: offsets past the failure were not committed)" : "");
    return fatal ? RP_ERR_KAFKA : RP_OK;
}

bool rp_engine_left_group(const struct rp_engine *e)
{
    return !e->close_q[0] && !e->close_q[1]; /* (no close left for the destroy to finish) */
}

void rp_engine_stop(struct rp_engine *e)
{
    atomic_store_explicit(&e->stop, 1, memory_order_relaxed);
}

void rp_engine_destroy(struct rp_engine *e)
{
    if (!e)
        return;
    if (e->http)
        rp_http_destroy(e->http); /* no callback runs after this */
    e->http = NULL;
    if (e->workers)
        for (int i = 0; i < e->n_workers; i++)
            rp_worker_join(&e->workers[i]);
    /* messages still referenced must be destroyed before their consumer */
    if (e->parts[0])
        for (int t = 0; t < RP_T__COUNT; t++)
            for (int32_t p = 0; p < e->n_parts; p++)
                if (e->parts[t][p].open) {
                    batch_put(worker_of(e, &e->parts[t][p]), e->parts[t][p].open);
                    e->parts[t][p].open = NULL;
                }
    if (e->workers)
        for (int i = 0; i < e->n_workers; i++) {
            struct rp_worker *w = &e->workers[i];
            void *b;
            while (w->ring.slots && rp_ring_dequeue(&w->ring, &b)) {
                struct rp_batch *bb = b;
                for (uint32_t k = 0; k < bb->n; k++)
                    rd_kafka_message_destroy(bb->msgs[k]);
            }
            if (w->pl)
                for (int32_t p = 0; p < e->n_parts; p++)
                    if (w->pl[p])
                        rp_pipeline_destroy(w->pl[p]);
            for (size_t k = 0; k < w->n_all; k++)
                free(w->all[k]);
            free(w->all);
            free(w->free);
            free(w->pl);
            free(w->hctx);
            free(w->hold);
            free(w->hold_ns);
            if (w->cq)
                for (int32_t p = 0; p < e->n_parts; p++) {
                    free(w->cq[p].buf);
                    free(w->cq[p].seen);
                }
            free(w->cq);
            free(w->taint);
            rp_ring_fini(&w->ring);
            rp_ring_fini(&w->ret);
            pthread_mutex_destroy(&w->mb.lock);
        }
    if (e->parts[0])
        for (int t = 0; t < RP_T__COUNT; t++)
            for (int32_t p = 0; p < e->n_parts; p++)
                detach_queue(&e->parts[t][p]);
    if (e->commit_q)
        rd_kafka_queue_destroy(e->commit_q);
    /* (a consumer that run() closed, or gave up closing at the deadline, is not closed again:
     * rd_kafka_destroy() would wait for the group coordinator once more) */
    int no_close = e->closed ? RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE : 0;
    if (e->rk) {
        finish_close(e, e->rk, 0);
        rd_kafka_destroy_flags(e->rk, no_close);
    }
    if (e->rk_cr) {
        finish_close(e, e->rk_cr, 1);
        rd_kafka_destroy_flags(e->rk_cr, no_close);
    }
    rp_out_destroy(e);
    if (e->wake_fd >= 0)
        close(e->wake_fd); /* after the consumers: librdkafka may write to it until then */
    for (int t = 0; t < RP_T__COUNT; t++)
        if (e->parts[t]) {
            for (int32_t p = 0; p < e->n_parts; p++)
                rp_commit_log_fini(&e->parts[t][p].log);
            free(e->parts[t]);
        }
    free(e->workers);
    rp_metrics_destroy(e->metrics);
    free(e->credits_topic);
    free(e->group_id);
    free(e);
}

struct rp_metrics *rp_engine_metrics(struct rp_engine *e)
{
    return e->metrics;
}

int rp_engine_http_port(const struct rp_engine *e)
{
    return e->http ? rp_http_port(e->http) : -1;
}

bool rp_engine_ready(struct rp_engine *e)
{
    /* acquire: pairs with the release after an assignment's partition flags were set */
    if (!atomic_load_explicit(&e->joined, memory_order_acquire))
        return false;
    for (int32_t p = 0; p < e->n_parts; p++) {
        struct rp_part *pt = &e->parts[RP_T_INPUT][p];
        if (!atomic_load_explicit(&pt->active, memory_order_relaxed))
            continue;
        /* acquire: pairs with the worker's release once the pipeline exists and is restored */
        if (!atomic_load_explicit(&pt->ready, memory_order_acquire))
            return false;
    }
    return !atomic_load_explicit(&e->stop, memory_order_relaxed);
}

int rp_engine_customer(struct rp_engine *e, const char *cid, size_t cid_len, int timeout_ms,
                       char **json_out, size_t *len_out)
{
    if (cid_len == 0 || cid_len > RP_CID_MAX)
        return RP_ERR_NOT_FOUND;
    int32_t p = rp_out_partition_of(e, cid, cid_len);
    struct rp_part *pt = &e->parts[RP_T_INPUT][p];
    if (!atomic_load_explicit(&pt->active, memory_order_relaxed))
        return RP_ERR_NOT_FOUND; /* another instance's, or nobody's yet */
    if (!atomic_load_explicit(&pt->ready, memory_order_acquire))
        return RP_ERR_NOT_READY; /* ours, still being restored */
    struct rp_worker *w = worker_of(e, pt);
    struct rp_mailbox *mb = &w->mb;
    int64_t deadline = rp_mono_ns() + (int64_t)timeout_ms * 1000000LL;
    pthread_mutex_lock(&mb->lock);
    mb->partition = p;
    mb->cid.len = (uint8_t)cid_len;
    memcpy(mb->cid.bytes, cid, cid_len);
    /* release: the request fields above are visible to the worker that takes it */
    atomic_store_explicit(&mb->state, RP_MB_POSTED, memory_order_release);
    int rc = RP_OK;
    for (;;) {
        /* acquire: the worker's answer (view, result) before DONE */
        int s = atomic_load_explicit(&mb->state, memory_order_acquire);
        if (s == RP_MB_DONE)
            break;
        if (rp_mono_ns() > deadline && s == RP_MB_POSTED) {
            int expect = RP_MB_POSTED;
            if (atomic_compare_exchange_strong_explicit(
                    &mb->state, &expect, RP_MB_IDLE, memory_order_relaxed, memory_order_relaxed)) {
                rc = RP_ERR_FULL; /* withdrawn before the worker saw it */
                break;
            }
            continue; /* taken meanwhile: the answer is coming */
        }
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    if (rc == RP_OK) {
        rc = mb->result;
        if (rc == RP_OK) {
            char buf[4096];
            size_t n = rp_customer_view_json(&mb->view, buf, sizeof(buf));
            char *out = n ? malloc(n + 1) : NULL;
            if (!out) {
                rc = RP_ERR_NOMEM;
            } else {
                memcpy(out, buf, n + 1);
                *json_out = out;
                *len_out = n;
            }
        }
        atomic_store_explicit(&mb->state, RP_MB_IDLE, memory_order_relaxed);
    }
    pthread_mutex_unlock(&mb->lock);
    return rc;
}
