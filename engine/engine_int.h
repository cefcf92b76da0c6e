/* engine_int: structures shared by the engine's consumer thread, its workers and the producer. */
#ifndef RP_ENGINE_INT_H
#define RP_ENGINE_INT_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "commit.h"
#include "config.h"
#include "metrics.h"
#include "pipeline.h"
#include "ring.h"

/* One line per notable event on stderr (never per record). */
void rp_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int64_t rp_wall_ms(void);
int64_t rp_mono_ns(void);

enum rp_topic_kind { RP_T_INPUT = 0, RP_T_CREDITS = 1, RP_T__COUNT };
enum rp_batch_type { RP_B_DATA = 0, RP_B_ASSIGN, RP_B_REVOKE };

/* A batch of messages of ONE partition, or a control message, handed to a worker through its
 * ring. Allocated once in the worker's pool; the messages are owned by the batch from dispatch
 * until the worker destroys them. */
struct rp_batch {
    enum rp_batch_type type;
    struct rp_part *part;
    struct rp_track *track; /* DATA only: the commit record this batch holds a reference on */
    uint32_t n;
    rd_kafka_message_t *msgs[]; /* batch_size slots */
};

/*
 * One (topic, partition) this instance may own: the input topic's partitions and the credits
 * topic's partitions with the same numbers (credits of partition p belong to whoever owns input
 * partition p: same worker, same pipeline).
 */
struct rp_part {
    enum rp_topic_kind topic;
    int32_t partition;
    /* Written by the consumer thread before the ASSIGN control is enqueued, read by the worker
     * after dequeuing it (the ring's release/acquire orders them); stable while assigned. */
    int64_t replay_until; /* offsets below it restore state only: their outputs already exist */
    int64_t restore_wm;   /* input: timers up to this watermark already fired (commit metadata) */
    /* input: credits below this offset of the co-numbered credits partition had been applied
     * when the restored offset was committed (commit metadata; -1: not recorded) */
    int64_t restore_cr;
    int64_t cr_start; /* credits: the first offset this assignment reads (0: unknown) */
    /* relaxed: read by HTTP threads only to pick the worker to ask; a stale value finds the
     * pipeline missing and answers 404/503, never touches another worker's state */
    _Atomic int worker;
    /* --- consumer thread only --- */
    bool assigned;
    bool pending;     /* `open` is full and waits for ring space */
    int64_t rewind;   /* defensive: first offset route() dropped, to seek to (-1: none) */
    int64_t flush_ns; /* when the open batch got its first message */
    struct rp_batch *open;
    struct rp_commit_log log;
    /* the partition's own librdkafka queue, not forwarded to the consumer queue: read only while
     * the worker has room, so that librdkafka's bounded prefetch (queued.min.messages,
     * queued.max.messages.kbytes per partition) is the backpressure and nothing is paused (a
     * pause discards the prefetched messages, and librdkafka 2.0.x could skip offsets on
     * resume with the batch consume API, see seek_rewind) */
    rd_kafka_queue_t *q;
    /* --- shared --- */
    /* ready: worker has created the pipeline (input) and finished restoring. revoked: worker
     * has processed every batch before the REVOKE control and dropped the pipeline. Both are
     * stored with release by the worker and loaded with acquire by the consumer/HTTP threads. */
    _Atomic int ready;
    _Atomic int revoked;
    /* Input only, for the watermark: max event time seen and the wall time of the last event.
     * Written by the owning worker, read by every worker and the consumer thread; relaxed,
     * because each is a self-contained monotonic value that publishes no other data: a stale
     * read only holds the watermark back a little. */
    _Atomic int64_t max_ts;
    _Atomic int64_t last_wall_ms;
    _Atomic int active; /* assigned here: counted in the watermark (relaxed, same reason) */
    /* unread messages known to exist (high watermark > position), set by the consumer thread:
     * a silent partition with a backlog is blocked (broker down, worker full), not idle, and keeps
     * holding the watermark back (relaxed: a self-contained flag) */
    _Atomic int backlog;
    /* The broker's word on the partition's end (engine.c, confirm_ends): the wall ms of its last
     * confirmation that nothing lies beyond the high watermark `backlog` was computed from, and
     * the last time that could not be confirmed (no answer, or more to read); INT64_MIN: never.
     * rp_part_idle counts a silent partition idle only while the confirmation is fresh
     * and idle_partition_timeout has passed since the last unknown: a broker that is down or
     * hangs confirms nothing, and one just back gives producers that timeout to deliver what
     * they held. Consumer thread writes, relaxed. */
    _Atomic int64_t end_confirmed_ms, end_unknown_ms;
#define RP_END_CONFIRM_FRESH_MS 2000 /* how long a confirmation counts */
    int64_t hi_cached; /* consumer thread: the high watermark `backlog` was computed from */
};

/* HTTP -> worker request for /customers/{cid}: one per worker; requesters serialise on `lock`
 * (never taken by the worker, which only polls `state` between batches). */
enum { RP_MB_IDLE = 0, RP_MB_POSTED, RP_MB_TAKEN, RP_MB_DONE };
struct rp_mailbox {
    pthread_mutex_t lock;
    _Atomic int state;
    int32_t partition;
    struct rp_cid cid;
    enum rp_err result;
    struct rp_customer_view view;
};

struct rp_engine;

/* FIFO of credits received for one input partition, applied in event-time position. */
#define RP_CREDIT_Q_CAP 8192
struct rp_credit_qe {
    struct rp_credit c;
    int64_t offset; /* in the credits partition */
};

/* Where a credit comes from: the input message whose event caused it (partition, offset) and
 * its rank among that event's credits. A credit carries it so that its receiver can tell a
 * credit sent again from the first sending (worker.c, credits_push). part < 0: unknown. */
struct rp_credit_src {
    int32_t part;
    uint8_t seq;
    int64_t offset;
};
/* No source known: outside the processing of an input message, or a credit of wire format v1. */
#define RP_CREDIT_SRC_NONE ((struct rp_credit_src){.part = -1, .offset = -1})

/* The last credit taken from one source partition (offset, seq); offset -1: none yet. */
struct rp_credit_seen {
    int64_t offset;
    int32_t seq;
};

struct rp_credit_q {
    struct rp_credit_qe *buf; /* RP_CREDIT_Q_CAP entries, allocated on assignment */
    uint32_t head, tail;      /* free-running; head - tail = queued */
    int64_t next;             /* the offset after the last credit received (applied prefix) */
    /* by source input partition (n_parts entries, allocated on assignment): the newest credit
     * taken from it; NULL: repeats are not recognised (degraded, as before) */
    struct rp_credit_seen *seen;
};

/* Customers (cid hashes, by input partition) whose restored state took a credit the commit did
 * not cover: their replayed outputs are new, not repeats (worker.c, credits). */
struct rp_taint {
    uint64_t hash;
    int32_t partition;
};

/* Messages decoded ahead of the one applied: their customers' state is fetched from memory
 * (rp_pipeline_prefetch_hashed, in stages) while earlier ones are applied. */
#define RP_WORKER_AHEAD 8

/* What a pipeline's hooks get as their opaque: the worker, and its metrics block of the input
 * partition, so that the pipeline's signals are counted under that partition. */
struct rp_hook_ctx {
    struct rp_worker *w;
    struct rp_metrics_part *mp;
};

struct rp_worker {
    struct rp_engine *e;
    int idx;
    pthread_t thread;
    bool started;
    struct rp_ring ring; /* consumer -> worker: batches (capacity cfg.ring_size) */
    struct rp_ring ret;  /* worker -> consumer: processed batches back to the pool */
    /* consumer thread only */
    struct rp_batch **free;
    size_t n_free;
    struct rp_batch **all;
    size_t n_all;
    int n_assigned; /* input partitions assigned to it */
    /* worker thread only */
    struct rp_pipeline **pl;  /* by input partition */
    struct rp_hook_ctx *hctx; /* by input partition: the opaque of that pipeline's hooks */
    /* by input partition: the newest record of that partition, on which the worker keeps its
     * reference after the batch so that timer signals of the partition's pipeline fired later
     * (watermark advances) are tracked by the partition's own offsets; released with the
     * pipeline's watermark when the next batch of the partition takes over, when the worker
     * goes idle, or on revoke */
    struct rp_track **hold;
    int64_t *hold_ns; /* by input partition: when the hold was taken (monotonic ns) */
    /* by input partition: credits waiting for their event time (see worker.c, credits) */
    struct rp_credit_q *cq;
    struct rp_taint *taint;
    size_t n_taint, cap_taint;
    struct rp_track *cur_track;
    /* the input message being applied: the source stamped on the credits its event causes */
    struct rp_credit_src cur_src;
    bool suppress;
    int64_t last_tick_ns;
    char enc[RP_SIGNAL_ENCODED_MAX];
    /* the events of a batch decoded a few messages ahead of the one applied (worker.c) */
    struct rp_decoded {
        struct rp_event ev;
        enum rp_err rc;
        uint64_t hash; /* rp_pipeline_cid_hash(&ev) when rc == RP_OK */
        uint32_t rec;  /* its record as prefetch stage 1 found it (rp_pipeline_prefetch_hashed),
                          handed to rp_pipeline_apply_hinted */
        char detail[160];
    } ahead[RP_WORKER_AHEAD];
    struct rp_metrics_worker *mw;
    struct rp_mailbox mb;
    _Atomic int stop; /* relaxed: a request to exit the loop, nothing published with it */
};

struct rp_engine {
    const struct rp_config *cfg;
    int n_workers;
    int32_t n_parts; /* input partitions (credits topic has the same count) */
    char *credits_topic;
    char *group_id;
    rd_kafka_t *rk;               /* group consumer of the input topic */
    rd_kafka_t *rk_cr;            /* manually assigned consumer of the credits topic (mirrors rk) */
    bool closed;                  /* both consumers closed (or given up) by rp_engine_run */
    _Atomic int joined;           /* a member of the group: an assignment came, if only an empty one
                                   * (set with release after the partitions' flags; /readyz) */
    rd_kafka_queue_t *close_q[2]; /* a close given up at the shutdown deadline: its queue,
                                   * served on by rp_engine_destroy (rk, rk_cr) */
    bool tearing_down;            /* rp_engine_destroy: rebalances only (un)assign */
    rd_kafka_resp_err_t last_commit_err; /* logged once until it changes */
    rd_kafka_t *prod;                    /* idempotent producer: signals, dead letters, credits */
    rd_kafka_topic_t *t_sig[RP_KIND__COUNT];
    rd_kafka_topic_t *t_dlq, *t_credits;
    /* the producer's handle on the input topic, for metadata only (engine.c, confirm_ends), and
     * when the ends were last asked for (consumer thread) */
    rd_kafka_topic_t *t_input_md;
    int64_t ends_queried_ms;
    struct rp_part *parts[RP_T__COUNT]; /* [topic][partition] */
    struct rp_worker *workers;
    struct rp_metrics *metrics;
    struct rp_http *http;
    size_t batch_size;
    /* relaxed: stop requests (also from a signal handler); publish nothing else */
    _Atomic int stop;
    _Atomic int fatal;
    /* Produces not tied to any batch (timers fired while a worker is idle): commits wait until
     * it is zero. Incremented by workers (relaxed, before the produce), decremented by the
     * delivery report (release); the commit path loads it with acquire. */
    _Atomic int64_t untracked;
    _Atomic int64_t produce_errors;
    int64_t shutdown_deadline_ns; /* consumer thread; 0 outside shutdown */
    /* asynchronous commits: results come back on commit_q; the count in flight lets revoke and
     * shutdown wait until no older commit can land after their final synchronous one
     * (librdkafka retries a commit internally, e.g. after a timeout). Consumer thread only. */
    rd_kafka_queue_t *commit_q;
    int async_commits;
    bool closing;
    /* An eventfd that librdkafka writes to when a queue the consumer thread reads (each assigned
     * partition's, the consumer queue) goes from empty to non-empty: the idle wait of
     * rp_engine_run sleeps on it, so a fetch wakes the thread at once (-1: none, wait 1 ms). */
    int wake_fd;
};

/* kafka_out.c */
int rp_out_create(struct rp_engine *e, char *errstr, size_t errstr_size);
void rp_out_destroy(struct rp_engine *e);
/** Worker: produces a signal (tracked by w->cur_track, or untracked when NULL). */
void rp_out_signal(struct rp_worker *w, const struct rp_signal *s);
/** Worker: produces a credit to the credits topic, partition of `c->to`. */
void rp_out_credit(struct rp_worker *w, const struct rp_credit *c);
/** Worker: dead-letters message `m` unchanged with the SPEC §1 headers. */
void rp_out_dead_letter(struct rp_worker *w, const rd_kafka_message_t *m, enum rp_err code,
                        const char *detail);
/** The input partition that owns `cid` (murmur2, as Java clients and kcat -X partitioner=...). */
int32_t rp_out_partition_of(const struct rp_engine *e, const char *key, size_t len);
/** Credit wire format (internal topic), with the credit's source: returns bytes written, or 0. */
size_t rp_credit_encode(const struct rp_credit *c, const struct rp_credit_src *src, uint8_t *out,
                        size_t cap);
/** Decodes either version; a version-1 credit (no source) gets src->part = -1. */
enum rp_err rp_credit_decode(const void *buf, size_t len, struct rp_credit *c,
                             struct rp_credit_src *src);
/** Bytes of the largest encoded credit. */
#define RP_CREDIT_ENCODED_MAX (1 + 1 + 8 + 1 + RP_CID_MAX + 1 + RP_CID_MAX + 4 + 8 + 1)

/* worker.c */
int rp_worker_start(struct rp_worker *w);
void rp_worker_join(struct rp_worker *w);
/** Global watermark (ms) from every active partition's max event time; INT64_MIN when none. */
int64_t rp_engine_watermark(struct rp_engine *e, int64_t now_wall_ms);
/* Is this input partition idle, left out of the watermark (worker.c)? */
bool rp_part_idle(const struct rp_engine *e, struct rp_part *pt, int64_t now_wall_ms);

#endif
