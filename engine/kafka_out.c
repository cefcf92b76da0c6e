/* kafka_out: the engine's idempotent producer: signals, dead letters and credits, with delivery
 * tracking for at-least-once commits. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine_int.h"
#include "signal.h"

/* Marks a produce not tied to a batch (see rp_engine.untracked). */
static char untracked_marker;

/*
 * A dead letter too large for the producer (its message.max.bytes, checked when it is queued)
 * or for the dead-letter topic (the broker's limit, in the delivery report) goes out without its
 * value, with a header saying so: bad input never stops the engine (SPEC §1), and the original
 * stays in the input topic where rapport.topic/partition/offset point. Adds the header to `h`
 * (still the caller's) and returns true when the dead letter should be produced again without
 * its value.
 */
static bool dead_letter_too_large(struct rp_engine *e, rd_kafka_topic_t *rkt,
                                  rd_kafka_resp_err_t err, size_t val_len, rd_kafka_headers_t *h)
{
    if (err != RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || rkt != e->t_dlq || val_len == 0 || !h)
        return false;
    char note[160];
    snprintf(note, sizeof(note),
             "%zu bytes, too large for the dead-letter topic: read it at rapport.topic, "
             "rapport.partition, rapport.offset",
             val_len);
    rd_kafka_header_add(h, "rapport.value_omitted", -1, note, -1);
    rp_log("dead letter of %zu bytes: sent without its value (%s)", val_len, rd_kafka_err2str(err));
    return true;
}

/* Delivery reports run on the thread that calls rd_kafka_poll(prod): the consumer thread (main
 * loop, revoke and shutdown waits) or rd_kafka_flush at the end. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct rp_engine *e = opaque;
    bool ok = m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!ok && m->rkt == e->t_dlq && m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        /* refused by the broker: again without the value, under the same delivery tracking */
        rd_kafka_headers_t *mh = NULL, *h;
        if (rd_kafka_message_headers(m, &mh) == RD_KAFKA_RESP_ERR_NO_ERROR && mh &&
            (h = rd_kafka_headers_copy(mh)) != NULL) {
            if (dead_letter_too_large(e, m->rkt, m->err, m->len, h) &&
                rd_kafka_producev(rk, RD_KAFKA_V_RKT(m->rkt), RD_KAFKA_V_PARTITION(m->partition),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_HEADERS(h),
                                  RD_KAFKA_V_OPAQUE(m->_private),
                                  RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR)
                return; /* (the headers belong to the new message) */
            rd_kafka_headers_destroy(h);
        }
    }
    if (!ok) {
        int64_t n = atomic_fetch_add_explicit(&e->produce_errors, 1, memory_order_relaxed);
        if (n < 10)
            rp_log("delivery to %s failed: %s", rd_kafka_topic_name(m->rkt),
                   rd_kafka_err2str(m->err));
    }
    if (m->_private == &untracked_marker) {
        if (!ok)
            atomic_store_explicit(&e->fatal, 1, memory_order_relaxed);
        /* release: pairs with the commit path's acquire load */
        atomic_fetch_sub_explicit(&e->untracked, 1, memory_order_release);
    } else if (m->_private) {
        rp_track_unref(m->_private, ok);
    }
}

int rp_out_create(struct rp_engine *e, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    /* [kafka] verbatim; consumer-only keys are skipped here so librdkafka does not warn */
    static const char *const consumer_only[] = {"group.id",
                                                "group.instance.id",
                                                "partition.assignment.strategy",
                                                "session.timeout.ms",
                                                "heartbeat.interval.ms",
                                                "max.poll.interval.ms",
                                                "auto.offset.reset",
                                                "enable.auto.commit",
                                                "auto.commit.interval.ms",
                                                "enable.auto.offset.store",
                                                "fetch.min.bytes",
                                                "fetch.max.bytes",
                                                "fetch.wait.max.ms",
                                                "max.partition.fetch.bytes",
                                                "queued.min.messages",
                                                "queued.max.messages.kbytes",
                                                "isolation.level",
                                                "enable.partition.eof",
                                                "check.crcs",
                                                NULL};
    for (size_t i = 0; i < e->cfg->n_kafka; i++) {
        bool skip = false;
        for (int k = 0; consumer_only[k]; k++)
            skip |= strcmp(e->cfg->kafka[i].key, consumer_only[k]) == 0;
        if (skip)
            continue;
        if (rd_kafka_conf_set(conf, e->cfg->kafka[i].key, e->cfg->kafka[i].value, err,
                              sizeof(err)) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "[kafka] %s: %s", e->cfg->kafka[i].key, err);
            rd_kafka_conf_destroy(conf);
            return RP_ERR_CONFIG;
        }
    }
    /* Idempotence: retries never duplicate or reorder a signal within a partition. */
    static const char *const forced[][2] = {
        {"enable.idempotence", "true"},
        {"client.id", "rapport-producer"},
    };
    for (size_t i = 0; i < sizeof(forced) / sizeof(forced[0]); i++)
        if (rd_kafka_conf_set(conf, forced[i][0], forced[i][1], err, sizeof(err)) !=
            RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "producer %s: %s", forced[i][0], err);
            rd_kafka_conf_destroy(conf);
            return RP_ERR_KAFKA;
        }
    /* Latency vs. batching: 5 ms unless the user set linger.ms. */
    if (!rp_config_kafka_get(e->cfg, "linger.ms"))
        rd_kafka_conf_set(conf, "linger.ms", "5", NULL, 0);
    if (!rp_config_kafka_get(e->cfg, "queue.buffering.max.messages"))
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", NULL, 0);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, e);
    e->prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!e->prod) {
        snprintf(errstr, errstr_size, "producer: %s", err);
        rd_kafka_conf_destroy(conf);
        return RP_ERR_KAFKA;
    }
    e->t_sig[RP_KIND_CHURN_RISK] = rd_kafka_topic_new(e->prod, e->cfg->topic_churn_risk, NULL);
    e->t_sig[RP_KIND_ADVOCATE] = rd_kafka_topic_new(e->prod, e->cfg->topic_advocate, NULL);
    e->t_dlq = rd_kafka_topic_new(e->prod, e->cfg->topic_dead_letter, NULL);
    e->t_credits = rd_kafka_topic_new(e->prod, e->credits_topic, NULL);
    e->t_input_md = rd_kafka_topic_new(e->prod, e->cfg->topic_input, NULL);
    if (!e->t_sig[0] || !e->t_sig[1] || !e->t_dlq || !e->t_credits || !e->t_input_md) {
        snprintf(errstr, errstr_size, "producer topics: %s",
                 rd_kafka_err2str(rd_kafka_last_error()));
        return RP_ERR_KAFKA;
    }
    return RP_OK;
}

void rp_out_destroy(struct rp_engine *e)
{
    for (int k = 0; k < RP_KIND__COUNT; k++)
        if (e->t_sig[k])
            rd_kafka_topic_destroy(e->t_sig[k]);
    if (e->t_dlq)
        rd_kafka_topic_destroy(e->t_dlq);
    if (e->t_credits)
        rd_kafka_topic_destroy(e->t_credits);
    if (e->t_input_md)
        rd_kafka_topic_destroy(e->t_input_md);
    if (e->prod)
        rd_kafka_destroy(e->prod);
    e->prod = NULL;
}

int32_t rp_out_partition_of(const struct rp_engine *e, const char *key, size_t len)
{
    /* murmur2 & 0x7fffffff % n: the Java client's default partitioner for keyed messages. The
     * rkt argument is unused by librdkafka for this partitioner. */
    return rd_kafka_msg_partitioner_murmur2(NULL, key, len, e->n_parts, NULL, NULL);
}

/* Takes a reference for the produce (on the batch's record, or the untracked count) and returns
 * the opaque for the delivery report. */
static void *track_ref(struct rp_worker *w)
{
    if (w->cur_track) {
        rp_track_ref(w->cur_track);
        return w->cur_track;
    }
    /* relaxed: a counter the commit path loads with acquire. A commit that races with this
     * increment can pass offsets whose state fired this timer before its delivery is known:
     * a narrow window, accepted and documented (timers fired while no batch is in flight). */
    atomic_fetch_add_explicit(&w->e->untracked, 1, memory_order_relaxed);
    return &untracked_marker;
}

static void track_unref(struct rp_worker *w, void *opaque, bool ok)
{
    if (opaque == &untracked_marker) {
        if (!ok)
            atomic_store_explicit(&w->e->fatal, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&w->e->untracked, 1, memory_order_release);
    } else {
        rp_track_unref(opaque, ok);
    }
}

/* Produces with retries while the local queue is full (backpressure from the broker): the
 * worker waits, which in turn fills its ring, and its partitions' queues are left unread. */
static void produce(struct rp_worker *w, rd_kafka_topic_t *rkt, int32_t partition, const void *key,
                    size_t key_len, const void *val, size_t val_len, rd_kafka_headers_t *hdrs)
{
    void *opaque = track_ref(w);
    for (;;) {
        rd_kafka_resp_err_t err;
        if (hdrs)
            err = rd_kafka_producev(
                w->e->prod, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
                RD_KAFKA_V_VALUE((void *)val, val_len), RD_KAFKA_V_HEADERS(hdrs),
                RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        else
            err = rd_kafka_producev(
                w->e->prod, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
                RD_KAFKA_V_VALUE((void *)val, val_len), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (!err)
            return; /* the headers now belong to the message */
        if (dead_letter_too_large(w->e, rkt, err, val_len, hdrs)) {
            val = NULL;
            val_len = 0;
            continue;
        }
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL &&
            !atomic_load_explicit(&w->e->fatal, memory_order_relaxed)) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        rp_log("produce to %s failed: %s", rd_kafka_topic_name(rkt), rd_kafka_err2str(err));
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        track_unref(w, opaque, false);
        return;
    }
}

void rp_out_signal(struct rp_worker *w, const struct rp_signal *s)
{
    size_t n = w->e->cfg->output_format == RP_OUT_JSON
                   ? rp_signal_encode_json(s, w->enc, sizeof(w->enc))
                   : rp_signal_encode_msgpack(s, w->enc, sizeof(w->enc));
    if (n == 0) {
        rp_log("signal encoding failed (cid %.*s)", (int)s->cid.len, s->cid.bytes);
        return;
    }
    produce(w, w->e->t_sig[s->kind], RD_KAFKA_PARTITION_UA, s->cid.bytes, s->cid.len, w->enc, n,
            NULL);
}

/* Credit wire format on the internal topic (little-endian, versioned):
 *   version 1: u8 1, u8 kind, i64 ts_ms, u8 to.len, to bytes, u8 from.len, from bytes
 *   version 2: version 1's fields after u8 2, then i32 source partition, i64 source offset,
 *              u8 rank among the source event's credits
 * Version 2 is written; both are read (a topic written by an older rapport). */
static void put_le(uint8_t *out, size_t *o, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        out[(*o)++] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

size_t rp_credit_encode(const struct rp_credit *c, const struct rp_credit_src *src, uint8_t *out,
                        size_t cap)
{
    size_t need = 1 + 1 + 8 + 1 + c->to.len + 1 + c->from.len + 4 + 8 + 1;
    if (cap < need)
        return 0;
    size_t o = 0;
    out[o++] = 2;
    out[o++] = (uint8_t)c->kind;
    put_le(out, &o, (uint64_t)c->ts_ms, 8);
    out[o++] = c->to.len;
    memcpy(out + o, c->to.bytes, c->to.len);
    o += c->to.len;
    out[o++] = c->from.len;
    memcpy(out + o, c->from.bytes, c->from.len);
    o += c->from.len;
    put_le(out, &o, (uint32_t)src->part, 4);
    put_le(out, &o, (uint64_t)src->offset, 8);
    out[o++] = src->seq;
    return o;
}

enum rp_err rp_credit_decode(const void *buf, size_t len, struct rp_credit *c,
                             struct rp_credit_src *src)
{
    const uint8_t *p = buf;
    if (len < 12 || (p[0] != 1 && p[0] != 2) || p[1] > RP_CREDIT_REFERRAL_CONVERTED)
        return RP_ERR_MALFORMED;
    size_t tail = p[0] == 2 ? 4 + 8 + 1 : 0; /* the source, after the cids */
    memset(c, 0, sizeof(*c));
    *src = RP_CREDIT_SRC_NONE;
    c->kind = (enum rp_credit_kind)p[1];
    c->ts_ms = (int64_t)get_le(p + 2, 8);
    size_t o = 10;
    uint8_t tl = p[o++];
    if (tl == 0 || tl > RP_CID_MAX || o + tl + 1 > len)
        return RP_ERR_MALFORMED;
    c->to.len = tl;
    memcpy(c->to.bytes, p + o, tl);
    o += tl;
    uint8_t fl = p[o++];
    if (fl > RP_CID_MAX || o + fl + tail != len)
        return RP_ERR_MALFORMED;
    c->from.len = fl;
    memcpy(c->from.bytes, p + o, fl);
    o += fl;
    if (tail) {
        int32_t part = (int32_t)(uint32_t)get_le(p + o, 4);
        int64_t offset = (int64_t)get_le(p + o + 4, 8);
        if (part < 0 || offset < 0) /* (what a credit with no known source was sent with) */
            return RP_OK;
        *src = (struct rp_credit_src){.part = part, .offset = offset, .seq = p[o + 12]};
    }
    return RP_OK;
}

void rp_out_credit(struct rp_worker *w, const struct rp_credit *c)
{
    uint8_t buf[RP_CREDIT_ENCODED_MAX];
    size_t n = rp_credit_encode(c, &w->cur_src, buf, sizeof(buf));
    if (w->cur_src.part >= 0 && w->cur_src.seq < UINT8_MAX)
        w->cur_src.seq++; /* the next credit of the same event ranks after this one */
    if (n == 0)
        return;
    /* Same partition number as the credited customer's input partition, so that its owner
     * (who owns input partition p) consumes it. */
    int32_t p = rp_out_partition_of(w->e, c->to.bytes, c->to.len);
    produce(w, w->e->t_credits, p, c->to.bytes, c->to.len, buf, n, NULL);
}

void rp_out_dead_letter(struct rp_worker *w, const rd_kafka_message_t *m, enum rp_err code,
                        const char *detail)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(5);
    char part[16], off[24];
    snprintf(part, sizeof(part), "%" PRId32, m->partition);
    snprintf(off, sizeof(off), "%" PRId64, m->offset);
    const char *err = rp_strerror(code);
    rd_kafka_header_add(h, "rapport.error", -1, err, -1);
    rd_kafka_header_add(h, "rapport.detail", -1, detail ? detail : "", -1);
    rd_kafka_header_add(h, "rapport.topic", -1, rd_kafka_topic_name(m->rkt), -1);
    rd_kafka_header_add(h, "rapport.partition", -1, part, -1);
    rd_kafka_header_add(h, "rapport.offset", -1, off, -1);
    /* the original key and value, unchanged (a NULL value stays NULL) */
    produce(w, w->e->t_dlq, RD_KAFKA_PARTITION_UA, m->key, m->key_len, m->payload, m->len, h);
}
