/* bench_e2e: helpers for bench/bench_e2e.sh: the bare librdkafka consumer rate (the limit) and
 * produce-to-signal latency at a paced rate. */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "event.h"
#include "gen.h"
#include "signal.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static rd_kafka_t *consumer(const char *brokers, const char *group)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", brokers, NULL, 0);
    rd_kafka_conf_set(c, "group.id", group, NULL, 0);
    rd_kafka_conf_set(c, "auto.offset.reset", "earliest", NULL, 0);
    rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "bench_e2e: %s\n", err);
        exit(1);
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* The limit: a group consumer that reads N messages and touches every payload byte (as the
 * decoder would), timed from the first message to the N-th. It polls in bursts like the engine
 * (rd_kafka_consumer_poll per message measured 2-5x slower here: a queue lock per message). */
static int bare(const char *brokers, const char *topic, uint64_t n)
{
    char group[64];
    snprintf(group, sizeof(group), "bench-bare-%d", (int)(now_s() * 1000) % 1000000);
    rd_kafka_t *rk = consumer(brokers, group);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    /* the fastest way librdkafka offers: bursts from the consumer queue (as the engine) */
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    rd_kafka_message_t *burst[1024];
    uint64_t got = 0, sum = 0;
    double t0 = 0, deadline = now_s() + 300;
    while (got < n && now_s() < deadline) {
        ssize_t k = rd_kafka_consume_batch_queue(q, 0, burst, 1024);
        if (k <= 0) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 5);
            if (!m)
                continue;
            burst[0] = m;
            k = 1;
        }
        for (ssize_t j = 0; j < k; j++) {
            rd_kafka_message_t *m = burst[j];
            if (!m->err) {
                if (got++ == 0)
                    t0 = now_s();
                const uint8_t *p = m->payload;
                for (size_t i = 0; i < m->len; i++)
                    sum += p[i];
            }
            rd_kafka_message_destroy(m);
        }
    }
    rd_kafka_queue_destroy(q);
    double dt = now_s() - t0;
    printf("bare consumer: %" PRIu64 " messages in %.3f s = %.0f msg/s (checksum %" PRIu64 ")\n",
           got, dt, got / dt, sum % 10);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got == n ? 0 : 1;
}

/* Latency: signals read from the output topics; latency = arrival wall time - as_of, where the
 * paced producer sets every event's time to its wall-clock produce time, so that a signal caused
 * by an event has as_of = that event's produce time. Timer-fired signals (as_of = a due time,
 * released only when the watermark passes it, i.e. allowed_lateness later by design) are
 * counted apart: latencies >= 60 s. */
struct lat {
    const char *brokers, *prefix;
    /* set: read this topic (the input) instead, latency = arrival - the message's timestamp
     * (its producer's CreateTime): what the broker and a plain consumer add, without the engine */
    const char *input;
    /* input topic with message.timestamp.type=LogAppendTime: the input path split in two,
     * produce (the event's ts) -> broker append here, and `ms` is append -> arrival */
    struct lat *append;
    _Atomic int stop;
    int64_t *ms;
    size_t n, cap, late;
};

/* Adds every partition of `topic` to `l` at its end offset. Exits when the topic is unknown. */
static void add_all_at_end(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l, const char *topic)
{
    int parts = 0;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == 0) {
        if (md->topic_cnt == 1 && !md->topics[0].err)
            parts = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    if (parts <= 0) {
        fprintf(stderr, "bench_e2e: no metadata for %s\n", topic);
        exit(1);
    }
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_END;
}

static void lat_add(struct lat *L, int64_t d)
{
    if (L->n == L->cap) {
        L->cap = L->cap ? 2 * L->cap : 1024;
        L->ms = realloc(L->ms, L->cap * sizeof(int64_t));
    }
    L->ms[L->n++] = d;
}

static void *lat_reader(void *arg)
{
    struct lat *L = arg;
    rd_kafka_t *rk = consumer(L->brokers, "bench-lat");
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
    char t1[256], t2[256];
    snprintf(t1, sizeof(t1), "%s.churn", L->prefix);
    snprintf(t2, sizeof(t2), "%s.advocate", L->prefix);
    if (L->input) {
        add_all_at_end(rk, l, L->input);
    } else {
        add_all_at_end(rk, l, t1);
        add_all_at_end(rk, l, t2);
    }
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    while (!atomic_load(&L->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
        if (!m)
            continue;
        struct rp_signal s;
        if (L->input && !m->err) {
            rd_kafka_timestamp_type_t tt;
            int64_t ts = rd_kafka_message_timestamp(m, &tt);
            struct rp_event ev;
            lat_add(L, wall_ms() - ts);
            if (tt == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME &&
                rp_event_decode(m->payload, m->len, &ev, NULL, 0) == RP_OK)
                lat_add(L->append, ts - ev.ts_ms);
        } else if (!m->err && rp_signal_decode(m->payload, m->len, &s, NULL, 0) == RP_OK) {
            int64_t d = wall_ms() - s.as_of_ms;
            if (getenv("BENCH_E2E_SLOW") && d >= atoi(getenv("BENCH_E2E_SLOW")) && d < 60000)
                fprintf(stderr,
                        "slow %" PRId64 " ms: %s %s %s reason %s emitted-as_of %" PRId64 " ms\n", d,
                        rp_signal_kind_name(s.kind), rp_transition_name(s.transition),
                        rp_segment_name(s.segment),
                        s.n_reasons ? rp_reason_name(s.reasons[0].code) : "-",
                        s.emitted_at_ms - s.as_of_ms);
            if (d >= 60000)
                L->late++;
            else
                lat_add(L, d);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_destroy(rk);
    return NULL;
}

/* The q-th percentile of L's sorted samples (L->n > 0). */
static int64_t pct(const struct lat *L, size_t q)
{
    return L->ms[(L->n * q) / 100];
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int latency(const char *brokers, const char *topic, const char *prefix, double rate,
                   double secs)
{
    struct lat L = {.brokers = brokers, .prefix = prefix};
    struct lat La = {0};
    struct lat Lin = {.brokers = brokers, .prefix = prefix, .input = topic, .append = &La};
    pthread_t th, th_in;
    pthread_create(&th, NULL, lat_reader, &L);
    pthread_create(&th_in, NULL, lat_reader, &Lin);
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", brokers, NULL, 0);
    rd_kafka_conf_set(c, "partitioner", "murmur2_random", NULL, 0);
    /* librdkafka's default linger (and the engine's): with 1 ms (as before) or 0, each produce
     * request carries a few events, and at 20 k ev/s over 16 partitions the broker queued those
     * requests for 0.1-1.5 s (seen by LogAppendTime): a latency of this producer, not the engine */
    rd_kafka_conf_set(c, "linger.ms", "5", NULL, 0);
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
    struct rp_gen_config gc;
    rp_gen_config_defaults(&gc);
    gc.customers = 20000;
    gc.events = (uint64_t)(rate * secs) + 1;
    struct rp_gen *g = rp_gen_create(&gc, err, sizeof(err));
    if (!prod || !g) {
        fprintf(stderr, "bench_e2e: %s\n", err);
        return 1;
    }
    /* warm-up: connect the producer and learn the topic's leaders before timing, or the first
     * second of events waits for that (it showed as a ~1 s p99) */
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(prod, topic, NULL);
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(prod, 0, rkt, &md, 10000) == 0)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    struct timespec w = {1, 0};
    nanosleep(&w, NULL); /* let the reader's assignment settle at the end offsets */
    struct rp_event ev;
    uint8_t buf[512];
    uint64_t sent = 0;
    double t0 = now_s();
    while (now_s() - t0 < secs && rp_gen_next(g, &ev)) {
        /* pace: event i leaves at t0 + i / rate */
        double due = t0 + sent / rate;
        while (now_s() < due) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
        ev.ts_ms = wall_ms(); /* event time = produce time (see struct lat) */
        size_t n = rp_event_encode_msgpack(&ev, buf, sizeof(buf));
        while (rd_kafka_producev(prod, RD_KAFKA_V_TOPIC(topic),
                                 RD_KAFKA_V_KEY(ev.cid.bytes, ev.cid.len), RD_KAFKA_V_VALUE(buf, n),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(prod, 1);
        rd_kafka_poll(prod, 0);
        sent++;
    }
    double dt = now_s() - t0;
    rd_kafka_flush(prod, 10000);
    nanosleep(&w, NULL);
    nanosleep(&w, NULL); /* the last signals arrive */
    atomic_store(&L.stop, 1);
    atomic_store(&Lin.stop, 1);
    pthread_join(th, NULL);
    pthread_join(th_in, NULL);
    qsort(L.ms, L.n, sizeof(int64_t), cmp64);
    qsort(Lin.ms, Lin.n, sizeof(int64_t), cmp64);
    qsort(La.ms, La.n, sizeof(int64_t), cmp64);
    printf("paced producer: %" PRIu64 " events in %.1f s = %.0f ev/s\n", sent, dt, sent / dt);
    if (Lin.n)
        printf("input path alone (a plain consumer of the input topic, arrival - produce time, "
               "%zu events): p50 %" PRId64 " ms, p90 %" PRId64 " ms, p99 %" PRId64 " ms\n",
               Lin.n, pct(&Lin, 50), pct(&Lin, 90), pct(&Lin, 99));
    if (La.n) /* (the line above is then broker append -> arrival) */
        printf("  of which produce -> broker append (LogAppendTime): p50 %" PRId64
               " ms, p90 %" PRId64 " ms, p99 %" PRId64 " ms\n",
               pct(&La, 50), pct(&La, 90), pct(&La, 99));
    if (L.n == 0) {
        printf("latency: no event-triggered signal arrived\n");
        return 1;
    }
    printf("produce-to-signal latency over %zu event-triggered signals: p50 %" PRId64
           " ms, p90 %" PRId64 " ms, p99 %" PRId64 " ms, max %" PRId64
           " ms (%zu timer signals not counted)\n",
           L.n, pct(&L, 50), pct(&L, 90), pct(&L, 99), L.ms[L.n - 1], L.late);
    rp_gen_destroy(g);
    rd_kafka_destroy(prod);
    free(L.ms);
    free(Lin.ms);
    free(La.ms);
    return 0;
}

/* The sum of every sample of `metric` in one GET /metrics from 127.0.0.1:port; -1 on error. */
static double metric_sum(int port, const char *metric)
{
    static char buf[1 << 20];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    size_t len = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1)) {
        ssize_t r;
        while (len < sizeof(buf) - 1 && (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
            len += (size_t)r;
    }
    close(fd);
    if (len == 0)
        return -1;
    buf[len] = 0;
    double sum = 0;
    size_t ml = strlen(metric);
    for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, metric, ml) == 0 && (l[ml] == ' ' || l[ml] == '{')) {
            char *sp = strchr(l, ' ');
            if (sp)
                sum += strtod(sp + 1, NULL);
        }
    }
    return sum;
}

/* Times an engine: polls its /metrics every 20 ms over a plain socket (no process started per
 * poll: on 2 cores a curl + awk pair every 10 ms took a noticeable share of the CPU from the
 * engine being measured, and so does rendering /metrics too often) until `metric` reaches n;
 * prints events after the first poll that saw any, and the seconds from that poll to the last
 * (so at most 20 ms of error at each end). */
static int watch(int port, const char *metric, double n, double timeout_s)
{
    double t0 = 0, c0 = 0, start = now_s();
    for (;;) {
        double c = metric_sum(port, metric), t = now_s();
        if (c > 0 && t0 == 0) {
            t0 = t;
            c0 = c;
        }
        if (c >= n) {
            printf("%.0f events in %.3f s = %.0f ev/s\n", n - c0, t - t0,
                   t > t0 ? (n - c0) / (t - t0) : 0.0);
            return 0;
        }
        if (t - start > timeout_s) {
            fprintf(stderr, "bench_e2e: %s reached only %.0f of %.0f\n", metric, c, n);
            return 1;
        }
        struct timespec d = {0, 20 * 1000000L};
        nanosleep(&d, NULL);
    }
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "watch") == 0)
        return watch(atoi(argv[2]), argv[3], atof(argv[4]), 120.0);
    if (argc == 5 && strcmp(argv[1], "bare") == 0)
        return bare(argv[2], argv[3], strtoull(argv[4], NULL, 10));
    if (argc == 7 && strcmp(argv[1], "latency") == 0)
        return latency(argv[2], argv[3], argv[4], atof(argv[5]), atof(argv[6]));
    fprintf(stderr, "usage: bench_e2e bare BROKERS TOPIC N\n"
                    "       bench_e2e watch HTTP_PORT METRIC N\n"
                    "       bench_e2e latency BROKERS INPUT_TOPIC OUTPUT_PREFIX RATE SECONDS\n"
                    "(see bench/bench_e2e.sh)\n");
    return 2;
}
