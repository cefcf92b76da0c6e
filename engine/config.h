/* config: the INI configuration file of SPEC §5: parse, validate, defaults, reference. */
#ifndef RP_CONFIG_H
#define RP_CONFIG_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "scoring_config.h"

enum rp_guarantee { RP_AT_LEAST_ONCE = 0, RP_EXACTLY_ONCE = 1 };
enum rp_output_format { RP_OUT_MSGPACK = 0, RP_OUT_JSON = 1 };

/** One `[kafka]` entry, passed verbatim to librdkafka. */
struct rp_kv {
    char *key;
    char *value;
};

struct rp_config {
    /* [kafka]: verbatim librdkafka properties, in file order; group.id defaults to "rapport" */
    struct rp_kv *kafka;
    size_t n_kafka;
    /* [topics] */
    char *topic_input;           /* rapport.interactions */
    char *topic_churn_risk;      /* rapport.signals.churn_risk */
    char *topic_advocate;        /* rapport.signals.advocate */
    char *topic_dead_letter;     /* rapport.dead_letter */
    char *topic_internal_prefix; /* rapport.internal */
    /* [engine] */
    int workers;                       /* 0 = one per core */
    enum rp_guarantee guarantee;       /* at_least_once */
    int64_t idle_partition_timeout_ms; /* 30 s: a partition silent this long leaves the watermark */
    int64_t shutdown_timeout_ms;       /* 30 s */
    int64_t commit_interval_ms;        /* 1 s */
    int batch_size;                    /* events per ring batch, 512 */
    int ring_size;                     /* batches per worker ring, 256 (power of two) */
    int64_t expected_customers;        /* initial table size per worker, 100000 */
    /* [scoring] (and [engine] allowed_lateness -> scoring.allowed_lateness_ms) */
    struct rp_scoring_config scoring;
    /* [output] */
    enum rp_output_format output_format; /* msgpack */
    /* [http] */
    char *http_listen; /* "127.0.0.1:9464"; NULL or "" = disabled */
};

/** Fills every field with its default (allocates the default strings). */
int rp_config_init(struct rp_config *cfg);
/** Frees what the config owns. */
void rp_config_fini(struct rp_config *cfg);

/**
 * Parses the file at `path` over the defaults already in `cfg` (call rp_config_init first).
 * On error returns RP_ERR_CONFIG and writes "FILE:LINE: [section] key: reason" into errstr
 * (RP_ERR_IO when the file cannot be read, RP_ERR_NOMEM); `cfg` is then left unchanged.
 * [kafka] afterwards holds the file's keys in file order, then earlier keys the file did not set.
 */
int rp_config_load(struct rp_config *cfg, const char *path, char *errstr, size_t errstr_size);
/** Same from a string (tests, fuzzing); `name` stands for the file name in messages. */
int rp_config_load_string(struct rp_config *cfg, const char *name, const char *text, size_t len,
                          char *errstr, size_t errstr_size);

/** Looks a [kafka] key up; NULL when absent. */
const char *rp_config_kafka_get(const struct rp_config *cfg, const char *key);

/** Parses "250ms", "30s", "5m", "24h", "7d" (and a bare number of ms). Returns 0 or -1. */
int rp_duration_parse(const char *s, int64_t *out_ms);

/**
 * Writes the configuration reference (every section and key, its default and meaning) as
 * Markdown to `out`: generated from the same key table the parser uses.
 */
void rp_config_reference(FILE *out);

/**
 * Every key as "section.key" ("engine.workers", "scoring.weight.view", and the [kafka] keys that
 * have a rapport default, "kafka.group.id"), in reference order; NULL-terminated. Static storage,
 * valid for the life of the process. Returns the count.
 */
size_t rp_config_keys(const char *const **keys_out);

/**
 * Writes the value of `section`.`key` in `cfg` as the reference shows it ("7d", "0.7",
 * "at_least_once"). Returns 0 or RP_ERR_NOT_FOUND for an unknown key.
 */
int rp_config_format_value(const struct rp_config *cfg, const char *section, const char *key,
                           char *buf, size_t size);

#endif
