/* worker: one engine worker thread: owns the pipelines of its partitions, decodes, applies,
 * dead-letters, advances the watermark and answers customer lookups between batches. */
#define _GNU_SOURCE /* pthread_setname_np */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "customer_table.h"
#include "engine_int.h"
#include "event.h"

#define RP_WORKER_BURST 16
/* Idle worker: recompute the watermark this often (idle partitions drop out of it). */
#define RP_WORKER_TICK_NS (50 * 1000000LL)

bool rp_part_idle(const struct rp_engine *e, struct rp_part *pt, int64_t now_wall_ms)
{
    /* Without an event for idle_partition_timeout, nothing left to read, the broker's word that
     * nothing lies beyond (fresh, and no failed query for idle_partition_timeout: engine.c,
     * confirm_ends). */
    int64_t seen = atomic_load_explicit(&pt->last_wall_ms, memory_order_relaxed);
    int64_t confirmed = atomic_load_explicit(&pt->end_confirmed_ms, memory_order_relaxed);
    int64_t unknown = atomic_load_explicit(&pt->end_unknown_ms, memory_order_relaxed);
    return now_wall_ms - seen >= e->cfg->idle_partition_timeout_ms &&
           !atomic_load_explicit(&pt->backlog, memory_order_relaxed) && confirmed != INT64_MIN &&
           now_wall_ms - confirmed < RP_END_CONFIRM_FRESH_MS &&
           (unknown == INT64_MIN || now_wall_ms - unknown >= e->cfg->idle_partition_timeout_ms);
}

int64_t rp_engine_watermark(struct rp_engine *e, int64_t now_wall_ms)
{
    /* Minimum over active partitions of their max event time; an idle partition (rp_part_idle)
     * is left out; when all are idle, the maximum of them (the stream has stopped: let timers
     * fire up to where the data went, as `rapport score` does at its end). */
    int64_t min_live = INT64_MAX, max_idle = INT64_MIN;
    bool any_live = false;
    for (int32_t p = 0; p < e->n_parts; p++) {
        struct rp_part *pt = &e->parts[RP_T_INPUT][p];
        if (!atomic_load_explicit(&pt->active, memory_order_relaxed))
            continue;
        int64_t ts = atomic_load_explicit(&pt->max_ts, memory_order_relaxed);
        if (rp_part_idle(e, pt, now_wall_ms)) {
            if (ts > max_idle)
                max_idle = ts;
        } else {
            any_live = true;
            if (ts < min_live)
                min_live = ts;
        }
    }
    int64_t m = any_live ? min_live : max_idle;
    if (m == INT64_MIN || m == INT64_MAX)
        return INT64_MIN;
    return m - e->cfg->scoring.allowed_lateness_ms;
}

static bool tainted_hash(const struct rp_worker *w, uint64_t h)
{
    for (size_t i = 0; i < w->n_taint; i++)
        if (w->taint[i].hash == h)
            return true;
    return false;
}

static bool tainted(const struct rp_worker *w, const struct rp_cid *cid)
{
    return w->n_taint > 0 && tainted_hash(w, rp_ctable_hash(cid->bytes, cid->len));
}

static void taint(struct rp_worker *w, int32_t p, const struct rp_cid *cid)
{
    uint64_t h = rp_ctable_hash(cid->bytes, cid->len);
    if (tainted_hash(w, h))
        return;
    if (w->n_taint == w->cap_taint) {
        size_t cap = w->cap_taint ? 2 * w->cap_taint : 64;
        struct rp_taint *t = realloc(w->taint, cap * sizeof(*t));
        if (!t) {
            rp_log("worker %d: out of memory: a restored customer's new signals may stay silent",
                   w->idx);
            return;
        }
        w->taint = t;
        w->cap_taint = cap;
    }
    w->taint[w->n_taint++] = (struct rp_taint){h, p};
}

static void untaint_partition(struct rp_worker *w, int32_t p)
{
    size_t k = 0;
    for (size_t i = 0; i < w->n_taint; i++)
        if (w->taint[i].partition != p)
            w->taint[k++] = w->taint[i];
    w->n_taint = k;
}

static void on_signal(void *opaque, const struct rp_signal *s)
{
    const struct rp_hook_ctx *ctx = opaque;
    struct rp_worker *w = ctx->w;
    if (w->suppress && !tainted(w, &s->cid))
        return; /* restoring: this signal was emitted before the restart */
    rp_metrics_add(&ctx->mp->signals[s->kind][s->transition], 1);
    rp_out_signal(w, s);
}

static void on_credit(void *opaque, const struct rp_credit *c)
{
    struct rp_worker *w = ((const struct rp_hook_ctx *)opaque)->w;
    if (w->suppress)
        return; /* restoring: already in the credits topic */
    rp_out_credit(w, c);
}

static int64_t now_ms_hook(void *opaque)
{
    (void)opaque;
    return rp_wall_ms();
}

/*
 * Credits. `rapport score` applies a credit at once, at the event time of its cause; here it
 * comes back through the credits topic, typically a little later, and after a restore the
 * credits partition is replayed far ahead of its input partition. So that a credit meets the
 * customer's state where it belongs in event time, credits wait in a per-partition FIFO and are
 * applied just before the first event of the partition at or after their time, or when the
 * watermark passes them (at once, when it passed them before they arrived). The FIFO is
 * bounded: when full, the oldest is applied at once. A credit sent twice is taken once
 * (credit_repeated).
 *
 * Which credits a restore replays silently. The input partition's commit records the credits
 * partition's applied prefix (rp_track.cr: every credit below that offset had been applied, its
 * signals under that commit or an older one). After a restore, a credit below it is a repeat
 * (silent, like the replayed events); one at or above it was never applied before the commit, so
 * its signals are new even while the input is still being replayed, and so are the replayed
 * outputs of the customer it credits from then on (their state now differs from the one that
 * made the outputs before the restart): that customer is tainted and its signals pass. The same
 * holds for a credit below the prefix that arrives after the input's replay has ended. (A credit
 * applied on arrival, FIFO full or not allocated, is tracked by its credits batch rather than by
 * the input record that counts it in the prefix: a crash in between can leave its signal out.)
 */
static void apply_credit(struct rp_worker *w, int32_t p, const struct rp_credit_qe *qe)
{
    const struct rp_part *in = &w->e->parts[RP_T_INPUT][p];
    /* A credit below the prefix repeats what it did before the restart only while the input is
     * still being replayed: applied later (the credits partition can lag behind the input), it
     * meets a state the previous run never had. relaxed: `ready` is this worker's own store. */
    bool repeat = qe->offset < w->e->parts[RP_T_CREDITS][p].replay_until &&
                  !atomic_load_explicit(&in->ready, memory_order_relaxed);
    bool was = w->suppress;
    if (!repeat && in->replay_until > 0)
        taint(w, p, &qe->c.to);
    w->suppress = repeat;
    rp_pipeline_apply_credit(w->pl[p], &qe->c);
    w->suppress = was;
}

/* The credits partition's applied prefix (see apply_credit). */
static int64_t credits_applied(const struct rp_worker *w, int32_t p)
{
    const struct rp_credit_q *q = &w->cq[p];
    int64_t a = q->buf && q->head != q->tail ? q->buf[q->tail % RP_CREDIT_Q_CAP].offset : q->next;
    int64_t r = w->e->parts[RP_T_CREDITS][p].replay_until; /* applied before the restore */
    return a > r ? a : r;
}

static void credits_apply_until(struct rp_worker *w, int32_t p, int64_t ts)
{
    struct rp_credit_q *q = &w->cq[p];
    while (q->buf && q->head != q->tail) {
        struct rp_credit_qe *qe = &q->buf[q->tail % RP_CREDIT_Q_CAP];
        if (qe->c.ts_ms > ts)
            break;
        apply_credit(w, p, qe);
        q->tail++;
    }
}

/*
 * A credit sent again. At-least-once re-processes the uncommitted tail of an input partition
 * after a crash, and the events of that tail send their credits a second time: applied twice,
 * a converted referral would count double. Credits carry their source (input partition, offset,
 * rank within the event: rp_credit_src), and one source partition's credits reach a credits
 * partition in its offset order (one producer per source partition at a time, idempotent), so a
 * credit at or before the newest one taken from the same source partition is a repeat: skipped.
 * (An input topic deleted and created again restarts its offsets: its credits topic must go
 * with it, as Kafka Streams' application reset removes internal topics.)
 */
static bool credit_repeated(struct rp_credit_q *q, int32_t n_parts, const struct rp_credit_src *src)
{
    if (!q->seen || src->part < 0 || src->part >= n_parts)
        return false; /* (no source: an older rapport's credit, or no memory for the table) */
    struct rp_credit_seen *s = &q->seen[src->part];
    if (src->offset < s->offset || (src->offset == s->offset && (int32_t)src->seq <= s->seq))
        return true;
    *s = (struct rp_credit_seen){.offset = src->offset, .seq = src->seq};
    return false;
}

static void credits_push(struct rp_worker *w, int32_t p, const struct rp_credit *c,
                         const struct rp_credit_src *src, int64_t offset)
{
    struct rp_credit_q *q = &w->cq[p];
    struct rp_credit_qe qe = {*c, offset};
    q->next = offset + 1;
    struct rp_metrics_part *mp = w->hctx[p].mp;
    if (credit_repeated(q, w->e->n_parts, src)) {
        rp_metrics_add(&mp->credits_repeated, 1);
        return;
    }
    rp_metrics_add(&mp->credits_new, 1);
    if (!q->buf) {
        apply_credit(w, p, &qe);
        return;
    }
    if (q->head - q->tail == RP_CREDIT_Q_CAP) {
        apply_credit(w, p, &q->buf[q->tail % RP_CREDIT_Q_CAP]);
        q->tail++;
    }
    q->buf[q->head % RP_CREDIT_Q_CAP] = qe;
    q->head++;
}

static void release_hold(struct rp_worker *w, int32_t p)
{
    struct rp_track *t = w->hold[p];
    if (!t)
        return;
    t->wm = w->pl[p] ? rp_pipeline_watermark(w->pl[p]) : INT64_MIN;
    t->cr = credits_applied(w, p);
    w->hold[p] = NULL;
    rp_track_unref(t, true); /* release: orders the wm store before the consumer sees refs 0 */
}

static void advance_all(struct rp_worker *w)
{
    int64_t wm = rp_engine_watermark(w->e, rp_wall_ms());
    if (wm == INT64_MIN)
        return;
    for (int32_t p = 0; p < w->e->n_parts; p++) {
        struct rp_pipeline *pl = w->pl[p];
        if (!pl || wm <= rp_pipeline_watermark(pl))
            continue;
        w->cur_track = w->hold[p];     /* NULL: untracked, see rp_engine.untracked */
        credits_apply_until(w, p, wm); /* behind the watermark: before the timers pass them */
        /* Restored partition: the timers up to the watermark its last commit covered fired
         * before the restart and their signals were acknowledged: fire them silently. */
        int64_t rw = w->e->parts[RP_T_INPUT][p].restore_wm;
        if (rp_pipeline_watermark(pl) < rw) {
            w->suppress = true;
            rp_pipeline_advance(pl, wm < rw ? wm : rw);
            w->suppress = false;
        }
        if (wm > rp_pipeline_watermark(pl))
            rp_pipeline_advance(pl, wm);
    }
    w->cur_track = NULL;
}

static void update_gauges(struct rp_worker *w)
{
    for (int32_t p = 0; p < w->e->n_parts; p++)
        if (w->pl[p])
            rp_metrics_set_partition_state(w->e->metrics, p, rp_pipeline_customers(w->pl[p]),
                                           rp_pipeline_state_bytes(w->pl[p]));
    rp_metrics_gauge_set(&w->mw->ring_occupancy, rp_ring_count(&w->ring));
}

static void mark_restored(struct rp_worker *w, struct rp_part *pt, int64_t offset)
{
    if (offset + 1 >= pt->replay_until && !atomic_load_explicit(&pt->ready, memory_order_relaxed)) {
        /* release: pairs with the acquire in /readyz and the revoke wait */
        atomic_store_explicit(&pt->ready, 1, memory_order_release);
        rp_log("partition %" PRId32 " restored by worker %d: offsets up to %" PRId64
               " replayed, %zu customers",
               pt->partition, w->idx, pt->replay_until,
               w->pl[pt->partition] ? rp_pipeline_customers(w->pl[pt->partition]) : (size_t)0);
    }
}

/* Decodes message `m` into `d` (what the apply loop below needs of it). */
static void decode_one(struct rp_pipeline *pl, rd_kafka_message_t *m, struct rp_decoded *d)
{
    d->detail[0] = 0;
    d->rec = UINT32_MAX; /* none, until prefetch stage 1 finds it */
    if (!m->payload) {
        d->rc = RP_ERR_MALFORMED;
        snprintf(d->detail, sizeof(d->detail), "empty message");
        return;
    }
    d->rc = rp_event_decode(m->payload, m->len, &d->ev, d->detail, sizeof(d->detail));
    if (d->rc == RP_OK && pl) {
        d->hash = rp_pipeline_cid_hash(&d->ev);
        rp_pipeline_prefetch_hashed(pl, d->hash, 0, &d->rec);
    }
}

static void prefetch_ahead(struct rp_worker *w, struct rp_pipeline *pl, uint32_t j, uint32_t n,
                           int stage)
{
    if (pl && j < n && w->ahead[j % RP_WORKER_AHEAD].rc == RP_OK)
        rp_pipeline_prefetch_hashed(pl, w->ahead[j % RP_WORKER_AHEAD].hash, stage,
                                    &w->ahead[j % RP_WORKER_AHEAD].rec);
}

static void process_input(struct rp_worker *w, struct rp_batch *b)
{
    struct rp_part *pt = b->part;
    struct rp_pipeline *pl = w->pl[pt->partition];
    struct rp_metrics_part *mp = rp_metrics_part(w->e->metrics, 1 + w->idx, pt->partition);
    int64_t max_ts = atomic_load_explicit(&pt->max_ts, memory_order_relaxed);
    /* Decoding is pure, so messages are decoded up to RP_WORKER_AHEAD - 1 ahead of the one
     * applied, and their customers' records fetched in stages (the hash slot when decoded,
     * then the record, the cid bytes and extension links, the extensions): at 100 k+ customers
     * those cache misses cost more than the operators' arithmetic. */
    uint32_t decoded = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        while (decoded < b->n && decoded < i + RP_WORKER_AHEAD) {
            decode_one(pl, b->msgs[decoded], &w->ahead[decoded % RP_WORKER_AHEAD]);
            decoded++;
        }
        prefetch_ahead(w, pl, i + 4, decoded, 1);
        prefetch_ahead(w, pl, i + 2, decoded, 2);
        prefetch_ahead(w, pl, i + 1, decoded, 3);
        rd_kafka_message_t *m = b->msgs[i];
        struct rp_decoded *d = &w->ahead[i % RP_WORKER_AHEAD];
        struct rp_event *ev = &d->ev;
        w->suppress = m->offset < pt->replay_until;
        w->cur_src = (struct rp_credit_src){.part = pt->partition, .offset = m->offset};
        rp_metrics_add(&mp->consumed, 1);
        enum rp_err rc = d->rc;
        if (rc == RP_OK) {
            if (ev->ts_ms < rp_pipeline_watermark(pl))
                rp_metrics_add(&mp->late, 1);
            if (ev->ts_ms > max_ts)
                max_ts = ev->ts_ms;
            if (pl)
                credits_apply_until(w, pt->partition, ev->ts_ms);
            rc = pl ? rp_pipeline_apply_hinted(pl, ev, d->hash, d->rec) : RP_ERR_NOT_FOUND;
            if (rc == RP_ERR_TOO_LATE)
                snprintf(d->detail, sizeof(d->detail),
                         "event time %" PRId64 " behind watermark %" PRId64, ev->ts_ms,
                         rp_pipeline_watermark(pl));
        }
        if (rc == RP_OK) {
            rp_metrics_add(&mp->applied, 1);
        } else {
            if (rc <= RP_OK || rc >= RP_ERR__DEAD_LETTER_END)
                rc = RP_ERR_MALFORMED; /* cannot happen: the pipeline exists while assigned */
            rp_metrics_add(&mp->dead_lettered[rc], 1);
            if (!w->suppress)
                rp_out_dead_letter(w, m, rc, d->detail);
        }
        if (w->suppress)
            mark_restored(w, pt, m->offset);
        else if (!atomic_load_explicit(&pt->ready, memory_order_relaxed))
            atomic_store_explicit(&pt->ready, 1, memory_order_release);
        rd_kafka_message_destroy(m);
    }
    w->suppress = false;
    w->cur_src = RP_CREDIT_SRC_NONE;
    atomic_store_explicit(&pt->max_ts, max_ts, memory_order_relaxed);
    atomic_store_explicit(&pt->last_wall_ms, rp_wall_ms(), memory_order_relaxed);
}

static void process_credits(struct rp_worker *w, struct rp_batch *b)
{
    struct rp_part *pt = b->part;
    struct rp_pipeline *pl = w->pl[pt->partition];
    struct rp_credit c;
    struct rp_credit_src src;
    for (uint32_t i = 0; i < b->n; i++) {
        rd_kafka_message_t *m = b->msgs[i];
        w->suppress = m->offset < pt->replay_until;
        if (pl && m->payload && rp_credit_decode(m->payload, m->len, &c, &src) == RP_OK)
            credits_push(w, pt->partition, &c, &src, m->offset);
        else
            rp_log("credits partition %" PRId32 " offset %" PRId64 ": bad credit, skipped",
                   pt->partition, m->offset);
        rd_kafka_message_destroy(m);
    }
    w->suppress = false;
    /* Credits whose time the partition's watermark has already passed (they travelled behind
     * it) are due now: waiting for the next event or watermark move could be forever on a
     * partition that went quiet. Tracked as advance_all's: under the input partition's hold,
     * the record whose commit will count them in the applied prefix. */
    if (pl) {
        struct rp_track *t = w->cur_track;
        w->cur_track = w->hold[pt->partition]; /* NULL: untracked (rp_engine.untracked) */
        credits_apply_until(w, pt->partition, rp_pipeline_watermark(pl));
        w->cur_track = t;
    }
}

static void process(struct rp_worker *w, struct rp_batch *b)
{
    struct rp_engine *e = w->e;
    struct rp_part *pt = b->part;
    switch (b->type) {
    case RP_B_ASSIGN:
        if (pt->topic == RP_T_INPUT && !w->pl[pt->partition]) {
            char err[256];
            w->hctx[pt->partition] = (struct rp_hook_ctx){
                .w = w, .mp = rp_metrics_part(e->metrics, 1 + w->idx, pt->partition)};
            struct rp_pipeline_hooks hooks = {.opaque = &w->hctx[pt->partition],
                                              .on_signal = on_signal,
                                              .on_credit = on_credit,
                                              .now_ms = now_ms_hook};
            size_t expect = (size_t)(e->cfg->expected_customers / (e->n_parts ? e->n_parts : 1));
            w->pl[pt->partition] =
                rp_pipeline_create(&e->cfg->scoring, &hooks, expect + 16, err, sizeof(err));
            struct rp_credit_q *q = &w->cq[pt->partition];
            q->head = q->tail = 0;
            q->next = e->parts[RP_T_CREDITS][pt->partition].cr_start;
            untaint_partition(w, pt->partition);
            if (!q->buf) /* NULL: credits are applied on arrival (degraded, still correct) */
                q->buf = malloc(RP_CREDIT_Q_CAP * sizeof(struct rp_credit_qe));
            if (!q->seen) /* NULL: repeated credits are not recognised (degraded) */
                q->seen = malloc((size_t)e->n_parts * sizeof(struct rp_credit_seen));
            for (int32_t s = 0; q->seen && s < e->n_parts; s++)
                q->seen[s] = (struct rp_credit_seen){.offset = -1, .seq = -1};
            if (!w->pl[pt->partition]) {
                rp_log("worker %d: partition %" PRId32 ": %s", w->idx, pt->partition, err);
                atomic_store_explicit(&e->fatal, 1, memory_order_relaxed);
                atomic_store_explicit(&e->stop, 1, memory_order_relaxed);
            }
            if (pt->replay_until <= 0)
                atomic_store_explicit(&pt->ready, 1, memory_order_release);
        }
        break;
    case RP_B_REVOKE:
        if (pt->topic == RP_T_INPUT)
            release_hold(w, pt->partition);
        if (pt->topic == RP_T_INPUT && w->pl[pt->partition]) {
            /* queued credits go with the state: a restore replays the credits topic too */
            w->cq[pt->partition].head = w->cq[pt->partition].tail = 0;
            untaint_partition(w, pt->partition);
            rp_pipeline_destroy(w->pl[pt->partition]);
            w->pl[pt->partition] = NULL;
            rp_metrics_set_partition_state(e->metrics, pt->partition, 0, 0);
        }
        atomic_store_explicit(&pt->ready, 0, memory_order_relaxed);
        /* release: every batch of this partition before it has been processed and released */
        atomic_store_explicit(&pt->revoked, 1, memory_order_release);
        break;
    case RP_B_DATA: {
        int64_t t0 = rp_mono_ns();
        w->cur_track = b->track; /* signals and credits caused by these messages */
        if (pt->topic == RP_T_INPUT) {
            process_input(w, b);
            /* this batch's record takes over the partition's timers (see rp_worker.hold) */
            release_hold(w, pt->partition);
            w->hold[pt->partition] = b->track;
            w->hold_ns[pt->partition] = t0;
        } else {
            process_credits(w, b);
        }
        w->cur_track = NULL;
        /* timers due under the new watermark fire now, each pipeline's under its own hold */
        advance_all(w);
        /* a partition that went quiet while others keep this worker busy: let its last
         * record complete, so that its offsets get committed within about commit_interval */
        for (int32_t p = 0; p < e->n_parts; p++)
            if (w->hold[p] && t0 - w->hold_ns[p] > e->cfg->commit_interval_ms * 1000000LL)
                release_hold(w, p);
        rp_metrics_observe_batch(w->mw, (uint64_t)(rp_mono_ns() - t0));
        if (pt->topic != RP_T_INPUT)
            rp_track_unref(b->track, true);
        b->n = 0;
        break;
    }
    }
    b->track = NULL;
}

static void serve_mailbox(struct rp_worker *w)
{
    struct rp_mailbox *mb = &w->mb;
    int expect = RP_MB_POSTED;
    /* acquire (on success): the request fields written before the requester's release store */
    if (atomic_load_explicit(&mb->state, memory_order_relaxed) != RP_MB_POSTED ||
        !atomic_compare_exchange_strong_explicit(&mb->state, &expect, RP_MB_TAKEN,
                                                 memory_order_acquire, memory_order_relaxed))
        return;
    struct rp_pipeline *pl =
        mb->partition >= 0 && mb->partition < w->e->n_parts ? w->pl[mb->partition] : NULL;
    if (!pl) {
        mb->result = RP_ERR_NOT_FOUND;
    } else {
        int64_t at = atomic_load_explicit(&w->e->parts[RP_T_INPUT][mb->partition].max_ts,
                                          memory_order_relaxed);
        if (at == INT64_MIN)
            at = rp_wall_ms();
        mb->result = rp_pipeline_view(pl, &mb->cid, at, &mb->view);
    }
    /* release: the answer is complete before the requester sees DONE */
    atomic_store_explicit(&mb->state, RP_MB_DONE, memory_order_release);
}

static void *worker_main(void *arg)
{
    struct rp_worker *w = arg;
    void *burst[RP_WORKER_BURST];
    unsigned idle = 0;
    w->last_tick_ns = rp_mono_ns();
    w->cur_src = RP_CREDIT_SRC_NONE;
    while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
        size_t n = rp_ring_dequeue_burst(&w->ring, burst, RP_WORKER_BURST);
        for (size_t i = 0; i < n; i++) {
            process(w, burst[i]);
            /* the return ring holds the whole pool, so this cannot fail */
            while (!rp_ring_enqueue(&w->ret, burst[i]))
                ;
        }
        serve_mailbox(w);
        int64_t now = rp_mono_ns();
        if (n) {
            idle = 0;
            update_gauges(w);
            continue;
        }
        if (now - w->last_tick_ns >= RP_WORKER_TICK_NS) {
            w->last_tick_ns = now;
            advance_all(w);
            /* idle: let the held records complete so their offsets can be committed; timers
             * fired by later idle ticks are untracked (see rp_engine.untracked) */
            for (int32_t p = 0; p < w->e->n_parts; p++)
                release_hold(w, p);
            update_gauges(w);
        }
        /* Back off from spinning to short sleeps: the machine is shared with the broker. */
        if (++idle > 64) {
            struct timespec ts = {0, idle > 1024 ? 1000000 : 100000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

int rp_worker_start(struct rp_worker *w)
{
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        return RP_ERR_NOMEM;
    /* named for top -H, /proc/PID/task/TID/comm and bench_e2e.sh's CPU per thread (librdkafka
     * names its own "rdk:..."); the consumer thread is the process's main thread */
    char name[16];
    snprintf(name, sizeof(name), "rp:worker%d", w->idx);
    pthread_setname_np(w->thread, name);
    w->started = true;
    return RP_OK;
}

void rp_worker_join(struct rp_worker *w)
{
    if (!w->started)
        return;
    atomic_store_explicit(&w->stop, 1, memory_order_relaxed);
    pthread_join(w->thread, NULL);
    w->started = false;
}
