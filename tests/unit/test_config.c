/* test_config: the INI parser of SPEC §5: every key, defaults, errors, durations, reference. */
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "event.h"
#include "rp_err.h"
#include "scoring_config.h"
#include "signal.h"

#define D_MS   INT64_C(86400000)
#define H_MS   INT64_C(3600000)
#define MIN_MS INT64_C(60000)

static struct rp_config cfg;
static char err[512];

static void setup(void)
{
    cr_assert_eq(rp_config_init(&cfg), RP_OK);
    err[0] = '\0';
}

static void teardown(void)
{
    rp_config_fini(&cfg);
}

TestSuite(config, .init = setup, .fini = teardown);

static int load(const char *text)
{
    return rp_config_load_string(&cfg, "test.ini", text, strlen(text), err, sizeof(err));
}

/* ---- durations ---- */

Test(duration, table)
{
    static const struct {
        const char *text;
        int64_t ms;
    } ok[] = {
        {"0", 0},
        {"250", 250},
        {"250ms", 250},
        {"30s", 30000},
        {"5m", 5 * MIN_MS},
        {"24h", 24 * H_MS},
        {"7d", 7 * D_MS},
        {"0d", 0},
        {"9223372036854775807", INT64_MAX},
        {"9223372036854775807ms", INT64_MAX},
        {"106751991167d", INT64_C(106751991167) * D_MS},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t v = -1;
        cr_assert_eq(rp_duration_parse(ok[i].text, &v), 0, "%s", ok[i].text);
        cr_assert_eq(v, ok[i].ms, "%s -> %lld", ok[i].text, (long long)v);
    }
    static const char *const bad[] = {
        "",
        "-1",
        "-5m",
        "+5m",
        " 5m",
        "5 m",
        "5m ",
        "5M",
        "5mm",
        "5x",
        "1.5h",
        "m",
        "ms",
        "5sm",
        "0x10",
        "9223372036854775808",
        "106751991168d",
        "99999999999999999999999",
        "1e3",
        "5min",
        "5hours",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = 12345;
        cr_assert_eq(rp_duration_parse(bad[i], &v), -1, "accepted \"%s\"", bad[i]);
        cr_assert_eq(v, 12345, "wrote on failure for \"%s\"", bad[i]);
    }
    int64_t v;
    cr_assert_eq(rp_duration_parse(NULL, &v), -1);
}

/* ---- defaults ---- */

Test(config, defaults)
{
    cr_assert_str_eq(cfg.topic_input, "rapport.interactions");
    cr_assert_str_eq(cfg.topic_churn_risk, "rapport.signals.churn_risk");
    cr_assert_str_eq(cfg.topic_advocate, "rapport.signals.advocate");
    cr_assert_str_eq(cfg.topic_dead_letter, "rapport.dead_letter");
    cr_assert_str_eq(cfg.topic_internal_prefix, "rapport.internal");
    cr_assert_eq(cfg.workers, 0);
    cr_assert_eq(cfg.guarantee, RP_AT_LEAST_ONCE);
    cr_assert_eq(cfg.idle_partition_timeout_ms, 30000);
    cr_assert_eq(cfg.shutdown_timeout_ms, 30000);
    cr_assert_eq(cfg.commit_interval_ms, 1000);
    cr_assert_eq(cfg.batch_size, 512);
    cr_assert_eq(cfg.ring_size, 256);
    cr_assert_eq(cfg.expected_customers, 100000);
    cr_assert_eq(cfg.output_format, RP_OUT_MSGPACK);
    cr_assert_str_eq(cfg.http_listen, "127.0.0.1:9464");
    cr_assert_str_eq(rp_config_kafka_get(&cfg, "group.id"), "rapport");
    cr_assert_str_eq(rp_config_kafka_get(&cfg, "bootstrap.servers"), "127.0.0.1:9092");
    cr_assert_null(rp_config_kafka_get(&cfg, "security.protocol"));
    /* [scoring] defaults are exactly rp_scoring_config_defaults() */
    struct rp_scoring_config def;
    rp_scoring_config_defaults(&def);
    cr_assert(memcmp(&def, &cfg.scoring, sizeof(def)) == 0);
    cr_assert_eq(rp_scoring_config_validate(&cfg.scoring, err, sizeof(err)), RP_OK, "%s", err);
    /* an empty file changes nothing */
    cr_assert_eq(load(""), RP_OK, "%s", err);
    cr_assert(memcmp(&def, &cfg.scoring, sizeof(def)) == 0);
    cr_assert_eq(cfg.n_kafka, 2);
}

/* ---- every key lands in its field ---- */

/* Looks the field of "section.key" up by setting it through the parser and checking the value
 * with the formatter, then checks the field by address for the keys with a known place. */
Test(config, every_key_parses)
{
    const char *const *keys;
    size_t n = rp_config_keys(&keys);
    cr_assert_gt(n, 60);
    cr_assert_null(keys[n]);
    /* each key can be set on its own, and reads back through the formatter */
    for (size_t i = 0; i < n; i++) {
        char section[32], key[64], text[256], back[128], before[128];
        const char *dot = strchr(keys[i], '.');
        cr_assert_not_null(dot);
        snprintf(section, sizeof(section), "%.*s", (int)(dot - keys[i]), keys[i]);
        snprintf(key, sizeof(key), "%s", dot + 1);
        cr_assert_eq(rp_config_format_value(&cfg, section, key, before, sizeof(before)), RP_OK,
                     "%s", keys[i]);
        /* a value different from the default but legal for the key's type */
        const char *value;
        if (strcmp(section, "kafka") == 0)
            value = "custom-value";
        else if (strcmp(section, "topics") == 0)
            value = "my.topic-1";
        else if (strcmp(keys[i], "engine.guarantee") == 0)
            value = "exactly_once";
        else if (strcmp(keys[i], "output.format") == 0)
            value = "json";
        else if (strcmp(keys[i], "http.listen") == 0)
            value = "0.0.0.0:8080";
        else if (strcmp(keys[i], "engine.ring_size") == 0)
            value = "1024";
        else if (strcmp(keys[i], "engine.allowed_lateness") == 0)
            value = "2h";
        else if (strcmp(section, "engine") == 0)
            value = strstr(key, "timeout") || strstr(key, "interval") ? "45m" : "7";
        else if (strcmp(key, "silence_start_gaps") == 0)
            value = "3"; /* below silence_full_gaps' default */
        else if (strcmp(key, "silence_full_gaps") == 0)
            value = "8";
        else if (strcmp(key, "lapsed_silence_gaps") == 0)
            value = "12";
        else if (strcmp(key, "new_customer") == 0)
            value = "21d";
        else if (strstr(key, "half_life_long"))
            value = "400d";
        else if (strstr(key, "half_life") || strstr(key, "sla") || strstr(key, "gap") ||
                 strstr(key, "cooldown") || strstr(key, "unit"))
            value = "5d";
        else if (strstr(key, ".exit"))
            value = "0.25";
        else
            value = "0.625";
        snprintf(text, sizeof(text), "[%s]\n%s = %s\n", section, key, value);
        struct rp_config c;
        cr_assert_eq(rp_config_init(&c), RP_OK);
        int rc = rp_config_load_string(&c, "k.ini", text, strlen(text), err, sizeof(err));
        cr_assert_eq(rc, RP_OK, "%s: %s", keys[i], err);
        cr_assert_eq(rp_config_format_value(&c, section, key, back, sizeof(back)), RP_OK);
        cr_assert_str_eq(back, value, "%s", keys[i]);
        cr_assert_str_neq(back, before, "%s: test value equals the default", keys[i]);
        rp_config_fini(&c);
    }
}

Test(config, keys_land_in_their_fields)
{
    static const char text[] = "[topics]\n"
                               "input = in\n"
                               "churn_risk = cr\n"
                               "advocate = adv\n"
                               "dead_letter = dlq\n"
                               "internal_prefix = int\n"
                               "[engine]\n"
                               "workers = 3\n"
                               "guarantee = exactly_once\n"
                               "allowed_lateness = 90s\n"
                               "idle_partition_timeout = 2m\n"
                               "shutdown_timeout = 45s\n"
                               "commit_interval = 250ms\n"
                               "batch_size = 128\n"
                               "ring_size = 64\n"
                               "expected_customers = 5000000\n"
                               "[scoring]\n"
                               "half_life_short = 3d\n"
                               "half_life_long = 60d\n"
                               "half_life_friction = 10d\n"
                               "half_life_advocacy = 100d\n"
                               "rhythm_prior_gap = 5d\n"
                               "answer_sla = 12h\n"
                               "complaint_sla = 48h\n"
                               "cooldown = 1d\n"
                               "weight.view = 0.11\n"
                               "weight.unsubscribe = 0.12\n"
                               "weight.email_open = 0.13\n"
                               "churn_risk.enter = 0.8\n"
                               "churn_risk.exit = 0.4\n"
                               "advocate.enter = 0.9\n"
                               "advocate.exit = 0.6\n"
                               "bgnbd.r = 1.5\n"
                               "bgnbd.alpha = 2.5\n"
                               "bgnbd.a = 3.5\n"
                               "bgnbd.b = 4.5\n"
                               "bgnbd.unit = 1d\n"
                               "churn_weight.engagement_drop = 0.01\n"
                               "churn_weight.silence = 0.02\n"
                               "churn_weight.low_p_alive = 0.03\n"
                               "churn_weight.unanswered = 0.04\n"
                               "churn_weight.complaint = 0.05\n"
                               "churn_weight.negative_sentiment = 0.06\n"
                               "churn_weight.refunds = 0.07\n"
                               "churn_weight.unsubscribed = 0.08\n"
                               "advocate_weight.referral_converted = 11\n"
                               "advocate_weight.referral = 12\n"
                               "advocate_weight.share = 13\n"
                               "advocate_weight.helped = 14\n"
                               "advocate_weight.promoter = 15\n"
                               "advocate_weight.positive_review = 16\n"
                               "advocate_weight.positive_mention = 17\n"
                               "advocate_saturation = 9\n"
                               "[output]\n"
                               "format = json\n"
                               "[http]\n"
                               "listen = [::1]:0\n";
    cr_assert_eq(load(text), RP_OK, "%s", err);
    cr_assert_str_eq(cfg.topic_input, "in");
    cr_assert_str_eq(cfg.topic_churn_risk, "cr");
    cr_assert_str_eq(cfg.topic_advocate, "adv");
    cr_assert_str_eq(cfg.topic_dead_letter, "dlq");
    cr_assert_str_eq(cfg.topic_internal_prefix, "int");
    cr_assert_eq(cfg.workers, 3);
    cr_assert_eq(cfg.guarantee, RP_EXACTLY_ONCE);
    cr_assert_eq(cfg.scoring.allowed_lateness_ms, 90000);
    cr_assert_eq(cfg.idle_partition_timeout_ms, 120000);
    cr_assert_eq(cfg.shutdown_timeout_ms, 45000);
    cr_assert_eq(cfg.commit_interval_ms, 250);
    cr_assert_eq(cfg.batch_size, 128);
    cr_assert_eq(cfg.ring_size, 64);
    cr_assert_eq(cfg.expected_customers, 5000000);
    const struct rp_scoring_config *s = &cfg.scoring;
    cr_assert_eq(s->half_life_short_ms, 3 * D_MS);
    cr_assert_eq(s->half_life_long_ms, 60 * D_MS);
    cr_assert_eq(s->half_life_friction_ms, 10 * D_MS);
    cr_assert_eq(s->half_life_advocacy_ms, 100 * D_MS);
    cr_assert_eq(s->rhythm_prior_gap_ms, 5 * D_MS);
    cr_assert_eq(s->answer_sla_ms, 12 * H_MS);
    cr_assert_eq(s->complaint_sla_ms, 48 * H_MS);
    cr_assert_eq(s->cooldown_ms, 1 * D_MS);
    cr_assert_eq(s->weight[RP_EV_VIEW], 0.11);
    cr_assert_eq(s->weight[RP_EV_UNSUBSCRIBE], 0.12);
    cr_assert_eq(s->weight[RP_EV_EMAIL_OPEN], 0.13);
    struct rp_scoring_config def;
    rp_scoring_config_defaults(&def);
    cr_assert_eq(s->weight[RP_EV_CLICK], def.weight[RP_EV_CLICK]); /* untouched */
    cr_assert_eq(s->enter[RP_KIND_CHURN_RISK], 0.8);
    cr_assert_eq(s->exit[RP_KIND_CHURN_RISK], 0.4);
    cr_assert_eq(s->enter[RP_KIND_ADVOCATE], 0.9);
    cr_assert_eq(s->exit[RP_KIND_ADVOCATE], 0.6);
    cr_assert_eq(s->bgnbd_r, 1.5);
    cr_assert_eq(s->bgnbd_alpha, 2.5);
    cr_assert_eq(s->bgnbd_a, 3.5);
    cr_assert_eq(s->bgnbd_b, 4.5);
    cr_assert_eq(s->bgnbd_unit_ms, D_MS);
    cr_assert_eq(s->w_engagement_drop, 0.01);
    cr_assert_eq(s->w_silence, 0.02);
    cr_assert_eq(s->w_low_p_alive, 0.03);
    cr_assert_eq(s->w_unanswered, 0.04);
    cr_assert_eq(s->w_complaint, 0.05);
    cr_assert_eq(s->w_negative_sentiment, 0.06);
    cr_assert_eq(s->w_refunds, 0.07);
    cr_assert_eq(s->w_unsubscribed, 0.08);
    cr_assert_eq(s->w_referral_converted, 11);
    cr_assert_eq(s->w_referral, 12);
    cr_assert_eq(s->w_share, 13);
    cr_assert_eq(s->w_helped, 14);
    cr_assert_eq(s->w_promoter, 15);
    cr_assert_eq(s->w_positive_review, 16);
    cr_assert_eq(s->w_positive_mention, 17);
    cr_assert_eq(s->advocate_saturation, 9);
    cr_assert_eq(cfg.output_format, RP_OUT_JSON);
    cr_assert_str_eq(cfg.http_listen, "[::1]:0");
}

Test(config, every_event_type_has_a_weight_key)
{
    for (int t = 0; t < RP_EV__COUNT; t++) {
        char text[128];
        snprintf(text, sizeof(text), "[scoring]\nweight.%s = %d.5\n", rp_event_type_name(t), t);
        struct rp_config c;
        cr_assert_eq(rp_config_init(&c), RP_OK);
        cr_assert_eq(rp_config_load_string(&c, "w.ini", text, strlen(text), err, sizeof(err)),
                     RP_OK, "%s", err);
        for (int u = 0; u < RP_EV__COUNT; u++)
            if (u == t)
                cr_assert_eq(c.scoring.weight[u], t + 0.5);
            else
                cr_assert_eq(c.scoring.weight[u], cfg.scoring.weight[u]);
        rp_config_fini(&c);
    }
}

/* ---- [kafka] ---- */

Test(config, kafka_order_and_defaults)
{
    cr_assert_eq(load("[kafka]\n"
                      "security.protocol = SASL_SSL\n"
                      "bootstrap.servers = broker1:9092,broker2:9092\n"
                      "sasl.mechanisms = PLAIN\n"
                      "sasl.password = \"p#ss word\"\n"
                      "ssl.ca.location=/etc/ca.pem\n"),
                 RP_OK, "%s", err);
    cr_assert_eq(cfg.n_kafka, 6);
    static const char *const want[][2] = {
        {"security.protocol", "SASL_SSL"},
        {"bootstrap.servers", "broker1:9092,broker2:9092"},
        {"sasl.mechanisms", "PLAIN"},
        {"sasl.password", "p#ss word"},
        {"ssl.ca.location", "/etc/ca.pem"},
        {"group.id", "rapport"}, /* default, kept after the file's keys */
    };
    for (size_t i = 0; i < 6; i++) {
        cr_assert_str_eq(cfg.kafka[i].key, want[i][0]);
        cr_assert_str_eq(cfg.kafka[i].value, want[i][1]);
    }
}

Test(config, kafka_group_id_override)
{
    cr_assert_eq(load("[kafka]\ngroup.id = g2\n"), RP_OK, "%s", err);
    cr_assert_eq(cfg.n_kafka, 2);
    cr_assert_str_eq(cfg.kafka[0].key, "group.id");
    cr_assert_str_eq(rp_config_kafka_get(&cfg, "group.id"), "g2");
    cr_assert_str_eq(rp_config_kafka_get(&cfg, "bootstrap.servers"), "127.0.0.1:9092");
}

/* ---- syntax ---- */

Test(config, comments_whitespace_quotes)
{
    cr_assert_eq(load("\xEF\xBB\xBF# leading comment\r\n"
                      "; another comment\n"
                      "\n"
                      "   \t\n"
                      "  [ topics ]   # trailing comment\n"
                      "input=a.b\r\n"
                      "\tchurn_risk\t=\t  cr.topic   \n"
                      "advocate = adv # inline comment after a blank\n"
                      "dead_letter = \"quoted.dlq\"  ; comment after a quote\n"
                      "[http]\n"
                      "listen = \"\"\n"
                      "[kafka]\n"
                      "client.id = a#b\n"
                      "sasl.username = \"say \\\"hi\\\" \\\\ \\t\"\n"
                      "  # indented comment\n"
                      "[engine]\n"
                      "workers = 2 # two"),
                 RP_OK, "%s", err);
    cr_assert_str_eq(cfg.topic_input, "a.b");
    cr_assert_str_eq(cfg.topic_churn_risk, "cr.topic");
    cr_assert_str_eq(cfg.topic_advocate, "adv");
    cr_assert_str_eq(cfg.topic_dead_letter, "quoted.dlq");
    cr_assert_str_eq(cfg.http_listen, "");
    cr_assert_str_eq(rp_config_kafka_get(&cfg, "client.id"), "a#b");
    cr_assert_str_eq(rp_config_kafka_get(&cfg, "sasl.username"), "say \"hi\" \\ \t");
    cr_assert_eq(cfg.workers, 2);
}

Test(config, reopened_section)
{
    cr_assert_eq(load("[engine]\nworkers = 2\n[topics]\ninput = x\n[engine]\nbatch_size = 7\n"),
                 RP_OK, "%s", err);
    cr_assert_eq(cfg.workers, 2);
    cr_assert_eq(cfg.batch_size, 7);
}

/* ---- errors name file, line and key ---- */

static void expect_error(const char *text, const char *want)
{
    struct rp_config before;
    cr_assert_eq(rp_config_init(&before), RP_OK);
    int rc = load(text);
    cr_assert_eq(rc, RP_ERR_CONFIG, "accepted:\n%s", text);
    cr_assert(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err, want);
    /* a failed load leaves the config as it was */
    cr_assert(memcmp(&before.scoring, &cfg.scoring, sizeof(cfg.scoring)) == 0);
    cr_assert_str_eq(before.topic_input, cfg.topic_input);
    cr_assert_eq(before.workers, cfg.workers);
    cr_assert_eq(before.n_kafka, cfg.n_kafka);
    rp_config_fini(&before);
}

Test(config, errors)
{
    expect_error("[engine]\nworkers = 2\n[bogus]\n", "test.ini:3: [bogus]: unknown section");
    expect_error("[engine]\nworkerz = 2\n", "test.ini:2: [engine] workerz: unknown key");
    expect_error("[scoring]\nweight.teleport = 1\n",
                 "test.ini:2: [scoring] weight.teleport: unknown key");
    expect_error("[engine]\nworkers = two\n", "test.ini:2: [engine] workers: not an integer");
    expect_error("[engine]\nworkers = 2.5\n", "test.ini:2: [engine] workers: not an integer");
    expect_error("[engine]\nworkers = -1\n", "test.ini:2: [engine] workers: -1 is out of range");
    expect_error("[engine]\nworkers = 99999999999999999999\n",
                 "test.ini:2: [engine] workers: not an integer");
    expect_error("[engine]\nring_size = 100\n",
                 "test.ini:2: [engine] ring_size: must be a power of two");
    expect_error("[engine]\nallowed_lateness = 5 minutes\n",
                 "test.ini:2: [engine] allowed_lateness: not a duration");
    expect_error("[engine]\nallowed_lateness = -5m\n",
                 "test.ini:2: [engine] allowed_lateness: not a duration");
    expect_error("[engine]\nallowed_lateness = 8d\n",
                 "test.ini:2: [engine] allowed_lateness: 8d is out of range [0s, 7d]");
    expect_error("[engine]\nguarantee = at_most_once\n",
                 "test.ini:2: [engine] guarantee: \"at_most_once\" is not one of at_least_once, "
                 "exactly_once");
    expect_error("[output]\nformat = xml\n", "test.ini:2: [output] format:");
    expect_error("[scoring]\nbgnbd.r = 0\n",
                 "test.ini:2: [scoring] bgnbd.r: 0 is out of range (0,");
    expect_error("[scoring]\nchurn_risk.enter = 1.5\n",
                 "test.ini:2: [scoring] churn_risk.enter: 1.5 is out of range");
    expect_error("[scoring]\nweight.view = nan\n",
                 "test.ini:2: [scoring] weight.view: not a finite number");
    expect_error("[scoring]\nweight.view = inf\n", "weight.view: not a finite number");
    expect_error("[scoring]\nweight.view = \n", "weight.view: not a finite number");
    expect_error("[engine]\n\n# c\nworkers = 1\nworkers = 2\n",
                 "test.ini:5: [engine] workers: duplicate key (first set on line 4)");
    expect_error("[kafka]\ngroup.id = a\ngroup.id = b\n",
                 "test.ini:3: [kafka] group.id: duplicate key (first set on line 2)");
    expect_error("[kafka]\nbad key = 1\n", "test.ini:2: [kafka] bad key:");
    expect_error("[engine]\nworkers\n", "test.ini:2: [engine]: expected `key = value`");
    expect_error("[engine]\n= 3\n", "test.ini:2: [engine]: missing key");
    expect_error("workers = 3\n", "test.ini:1: workers: key outside a section");
    expect_error("[engine\n", "test.ini:1: section header without ']'");
    expect_error("[engine] x\n", "test.ini:1: unexpected text after the section header");
    expect_error("[]\n", "test.ini:1: empty section name");
    expect_error("[topics]\ninput = \"abc\n", "test.ini:2: [topics] input: unterminated");
    expect_error("[topics]\ninput = \"abc\" x\n",
                 "test.ini:2: [topics] input: unexpected text after the closing quote");
    expect_error("[topics]\ninput = \"a\\qb\"\n", "test.ini:2: [topics] input: bad escape");
    expect_error("[topics]\ninput = \n", "test.ini:2: [topics] input: a topic name must have");
    expect_error("[topics]\ninput = a/b\n", "test.ini:2: [topics] input: a topic name may only");
    expect_error("[http]\nlisten = localhost\n", "test.ini:2: [http] listen: expected HOST:PORT");
    expect_error("[http]\nlisten = 1.2.3.4:70000\n", "[http] listen: port must be");
    expect_error("[http]\nlisten = ::1:80\n", "[http] listen: an IPv6 host must be bracketed");
    expect_error("[http]\nlisten = 1.2.3.4:\n", "[http] listen: missing port");
    /* cross-field rules name the line and key too (details in cross_field_errors_name_line) */
    expect_error("[scoring]\nhalf_life_short = 100d\nhalf_life_long = 90d\n",
                 "test.ini:3: [scoring] half_life_long: 90d must be longer than half_life_short "
                 "(100d)");
    expect_error("[scoring]\nadvocate.exit = 0.8\n",
                 "test.ini:2: [scoring] advocate.exit: 0.8 must be less than advocate.enter (0.7)");
}

/*
 * A rule between two keys is reported at the line of the one this file set (the later when it
 * set both), with both values: the other may be a default the user never looked at.
 */
Test(config, cross_field_errors_name_line_and_key)
{
    char long_def[32], short_def[32], enter_def[32], exit_def[32], want[256];
    cr_assert_eq(rp_config_format_value(&cfg, "scoring", "half_life_long", long_def, 32), RP_OK);
    cr_assert_eq(rp_config_format_value(&cfg, "scoring", "half_life_short", short_def, 32), RP_OK);
    cr_assert_eq(rp_config_format_value(&cfg, "scoring", "churn_risk.enter", enter_def, 32), RP_OK);
    cr_assert_eq(rp_config_format_value(&cfg, "scoring", "churn_risk.exit", exit_def, 32), RP_OK);

    /* only one of the two set: that one, against the default of the other */
    snprintf(want, sizeof(want),
             "hl.ini:4: [scoring] half_life_short: 100d must be shorter than half_life_long (%s)",
             long_def);
    const char *text = "[scoring]\n# the short horizon\n\nhalf_life_short = 100d\n";
    cr_assert_eq(rp_config_load_string(&cfg, "hl.ini", text, strlen(text), err, sizeof(err)),
                 RP_ERR_CONFIG);
    cr_assert_str_eq(err, want);
    snprintf(want, sizeof(want),
             "test.ini:2: [scoring] half_life_long: 1ms must be longer than half_life_short (%s)",
             short_def);
    expect_error("[scoring]\nhalf_life_long = 1ms\n", want);
    cr_assert_str_eq(err, want);
    snprintf(want, sizeof(want),
             "exitgt.ini:3: [scoring] churn_risk.exit: 0.9 must be less than churn_risk.enter (%s)",
             enter_def);
    text = "[engine]\n[scoring]\nchurn_risk.exit = 0.9\n";
    cr_assert_eq(rp_config_load_string(&cfg, "exitgt.ini", text, strlen(text), err, sizeof(err)),
                 RP_ERR_CONFIG);
    cr_assert_str_eq(err, want);
    /* equal is a breach too; the section named is the key's, not the last one read */
    snprintf(want, sizeof(want),
             "test.ini:2: [scoring] churn_risk.enter: %s must be greater than churn_risk.exit (%s)",
             exit_def, exit_def);
    char text2[128];
    snprintf(text2, sizeof(text2), "[scoring]\nchurn_risk.enter = %s\n[engine]\nworkers = 1\n",
             exit_def);
    expect_error(text2, want);
    cr_assert_str_eq(err, want);

    /* both set: the later line, whichever key it holds */
    expect_error("[scoring]\nhalf_life_long = 10d\nweight.view = 1\nhalf_life_short = 10d\n",
                 "test.ini:4: [scoring] half_life_short: 10d must be shorter than half_life_long "
                 "(10d)");
    expect_error("[scoring]\nadvocate.exit = 0.5\n[engine]\nworkers = 1\n[scoring]\n"
                 "advocate.enter = 0.4\n",
                 "test.ini:6: [scoring] advocate.enter: 0.4 must be greater than advocate.exit "
                 "(0.5)");
    expect_error("[scoring]\nadvocate.enter = 0.4\nadvocate.exit = 0.5\n",
                 "test.ini:3: [scoring] advocate.exit: 0.5 must be less than advocate.enter (0.4)");

    /* a value set by an earlier file counts as the other side's value; the line is this file's */
    cr_assert_eq(load("[scoring]\nhalf_life_short = 30d\n"), RP_OK, "%s", err);
    cr_assert_eq(load("[engine]\nworkers = 2\n[scoring]\nhalf_life_long = 20d\n"), RP_ERR_CONFIG);
    cr_assert_str_eq(err, "test.ini:4: [scoring] half_life_long: 20d must be longer than "
                          "half_life_short (30d)");
    cr_assert_eq(cfg.scoring.half_life_long_ms, 90 * D_MS); /* unchanged by the failed load */

    /* both moved together consistently: fine */
    cr_assert_eq(load("[scoring]\nchurn_risk.enter = 0.3\nchurn_risk.exit = 0.2\n"), RP_OK, "%s",
                 err);
}

/*
 * Every [kafka] key and value goes through librdkafka's own checks at load time, with the file
 * and line, rather than when the engine creates its clients (possibly after contacting a broker).
 */
Test(config, kafka_keys_checked_by_librdkafka_at_load)
{
    expect_error("[engine]\nworkers = 1\n[kafka]\nclient.id = x\nfoo.bar = 1\n",
                 "test.ini:5: [kafka] foo.bar: No such configuration property");
    expect_error("[kafka]\nsession.timeout.ms = abc\n",
                 "test.ini:2: [kafka] session.timeout.ms: Invalid value");
    expect_error("[kafka]\nsession.timeout.ms = 0\n",
                 "test.ini:2: [kafka] session.timeout.ms: Configuration property "
                 "\"session.timeout.ms\" value 0 is outside allowed range");
    expect_error("[kafka]\n\nsecurity.protocol = carrier_pigeon\n",
                 "test.ini:3: [kafka] security.protocol: Invalid value");
    expect_error("[kafka]\nenable.idempotence = maybe\n",
                 "test.ini:2: [kafka] enable.idempotence: Expected bool value");
    /* the first bad key stops the load, like any other error */
    expect_error("[kafka]\nacks = all\nlinger.ms = soon\nfoo.bar = 1\n",
                 "test.ini:3: [kafka] linger.ms:");
    /* the reason is librdkafka's own, whole, after the file, line and key */
    char why[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    cr_assert_neq(rd_kafka_conf_set(conf, "linger.ms", "soon", why, sizeof(why)), RD_KAFKA_CONF_OK);
    rd_kafka_conf_destroy(conf);
    char want[640];
    snprintf(want, sizeof(want), "test.ini:3: [kafka] linger.ms: %s", why);
    cr_assert_str_eq(err, want);

    /* consumer-only, producer-only and topic-level properties are all accepted, as is "" */
    cr_assert_eq(load("[kafka]\n"
                      "session.timeout.ms = 45000\n"
                      "auto.offset.reset = latest\n"
                      "isolation.level = read_committed\n"
                      "linger.ms = 20\n"
                      "compression.type = lz4\n"
                      "acks = all\n"
                      "transaction.timeout.ms = 60000\n"
                      "client.id = \"\"\n"),
                 RP_OK, "%s", err);
    cr_assert_str_eq(rp_config_kafka_get(&cfg, "compression.type"), "lz4");
    cr_assert_str_eq(rp_config_kafka_get(&cfg, "client.id"), "");
}

Test(config, kafka_keys_checked_in_files_too)
{
    char path[] = "/tmp/rapport-test-config-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("[kafka]\nbootstrap.servers = b:9092\nfoo.bar = 1\n", f);
    fclose(f);
    int rc = rp_config_load(&cfg, path, err, sizeof(err));
    unlink(path);
    cr_assert_eq(rc, RP_ERR_CONFIG);
    char want[128];
    snprintf(want, sizeof(want), "%s:3: [kafka] foo.bar: No such configuration property", path);
    cr_assert(strstr(err, want), "%s", err);
    cr_assert_str_eq(rp_config_kafka_get(&cfg, "bootstrap.servers"), "127.0.0.1:9092");
}

Test(config, nul_byte_is_an_error)
{
    static const char text[] = "[engine]\nworkers = 1\0\n";
    int rc = rp_config_load_string(&cfg, "nul.ini", text, sizeof(text) - 1, err, sizeof(err));
    cr_assert_eq(rc, RP_ERR_CONFIG);
    cr_assert(strstr(err, "nul.ini:2:") && strstr(err, "NUL byte"), "%s", err);
}

Test(config, tiny_errstr_is_safe)
{
    char small[8];
    int rc = rp_config_load_string(&cfg, "x.ini", "[nope]\n", 7, small, sizeof(small));
    cr_assert_eq(rc, RP_ERR_CONFIG);
    cr_assert_eq(strlen(small), sizeof(small) - 1);
    rc = rp_config_load_string(&cfg, "x.ini", "[nope]\n", 7, NULL, 0);
    cr_assert_eq(rc, RP_ERR_CONFIG);
}

/* ---- files ---- */

Test(config, sample_file)
{
    char path[] = "/tmp/rapport-test-config-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("# rapport: a production-like configuration\n"
          "[kafka]\n"
          "bootstrap.servers = kafka-1:9092,kafka-2:9092\n"
          "group.id = rapport-prod\n"
          "security.protocol = SASL_SSL\n"
          "sasl.mechanisms = SCRAM-SHA-512\n"
          "sasl.username = rapport\n"
          "sasl.password = \"s3cr#t\"\n"
          "\n"
          "[topics]\n"
          "input = crm.interactions\n"
          "\n"
          "[engine]\n"
          "workers = 8\n"
          "guarantee = exactly_once\n"
          "allowed_lateness = 10m\n"
          "\n"
          "[scoring]\n"
          "answer_sla = 8h\n"
          "weight.purchase = 0.25\n"
          "churn_risk.enter = 0.75\n"
          "\n"
          "[output]\n"
          "format = json\n"
          "\n"
          "[http]\n"
          "listen = 0.0.0.0:9464\n",
          f);
    fclose(f);
    int rc = rp_config_load(&cfg, path, err, sizeof(err));
    cr_assert_eq(rc, RP_OK, "%s", err);
    cr_assert_eq(cfg.n_kafka, 6);
    cr_assert_str_eq(cfg.kafka[0].key, "bootstrap.servers");
    cr_assert_str_eq(rp_config_kafka_get(&cfg, "group.id"), "rapport-prod");
    cr_assert_str_eq(rp_config_kafka_get(&cfg, "sasl.password"), "s3cr#t");
    cr_assert_str_eq(cfg.topic_input, "crm.interactions");
    cr_assert_str_eq(cfg.topic_dead_letter, "rapport.dead_letter");
    cr_assert_eq(cfg.workers, 8);
    cr_assert_eq(cfg.guarantee, RP_EXACTLY_ONCE);
    cr_assert_eq(cfg.scoring.allowed_lateness_ms, 10 * MIN_MS);
    cr_assert_eq(cfg.scoring.answer_sla_ms, 8 * H_MS);
    cr_assert_eq(cfg.scoring.weight[RP_EV_PURCHASE], 0.25);
    cr_assert_eq(cfg.scoring.enter[RP_KIND_CHURN_RISK], 0.75);
    cr_assert_eq(cfg.output_format, RP_OUT_JSON);
    cr_assert_str_eq(cfg.http_listen, "0.0.0.0:9464");

    /* a bad file names the path given */
    f = fopen(path, "w");
    fputs("[engine]\nworkers = 8\nbatch_size = 0\n", f);
    fclose(f);
    rc = rp_config_load(&cfg, path, err, sizeof(err));
    cr_assert_eq(rc, RP_ERR_CONFIG);
    char want[128];
    snprintf(want, sizeof(want), "%s:3: [engine] batch_size:", path);
    cr_assert(strstr(err, want), "%s", err);
    cr_assert_eq(cfg.workers, 8); /* unchanged by the failed load */
    unlink(path);

    rc = rp_config_load(&cfg, path, err, sizeof(err));
    cr_assert_eq(rc, RP_ERR_IO);
    cr_assert(strstr(err, path), "%s", err);
}

/* Loading twice: the second file overrides the first where it sets keys. */
Test(config, layered_loads)
{
    cr_assert_eq(load("[engine]\nworkers = 2\n[kafka]\nclient.id = a\n"), RP_OK, "%s", err);
    cr_assert_eq(load("[engine]\nworkers = 3\n"), RP_OK, "%s", err);
    cr_assert_eq(cfg.workers, 3);
    cr_assert_str_eq(rp_config_kafka_get(&cfg, "client.id"), "a");
}

/* ---- the reference ---- */

Test(config, reference_lists_every_key_with_its_actual_default)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    rp_config_reference(f);
    fclose(f);
    const char *const *keys;
    size_t n = rp_config_keys(&keys);
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(keys[i], '.');
        char section[32], row[256], val[128];
        snprintf(section, sizeof(section), "%.*s", (int)(dot - keys[i]), keys[i]);
        cr_assert_eq(rp_config_format_value(&cfg, section, dot + 1, val, sizeof(val)), RP_OK);
        if (val[0] == '\0')
            snprintf(val, sizeof(val), "\"\"");
        snprintf(row, sizeof(row), "| `%s` | `%s` |", dot + 1, val);
        cr_assert(strstr(text, row), "reference lacks row %s", row);
        char header[64];
        snprintf(header, sizeof(header), "## [%s]", section);
        cr_assert(strstr(text, header), "reference lacks %s", header);
    }
    /* scoring defaults are printed from the struct, e.g. the half-lives and BG/NBD r */
    struct rp_scoring_config def;
    rp_scoring_config_defaults(&def);
    char want[64];
    snprintf(want, sizeof(want), "| `half_life_short` | `%lldd` |",
             (long long)(def.half_life_short_ms / D_MS));
    cr_assert(strstr(text, want), "%s", want);
    snprintf(want, sizeof(want), "| `bgnbd.r` | `%g` |", def.bgnbd_r);
    cr_assert(strstr(text, want), "%s", want);
    cr_assert(strstr(text, "librdkafka"));
    cr_assert(strstr(text, "| `group.id` | `rapport` |"));
    free(text);
}

Test(config, keys_are_unique)
{
    const char *const *keys;
    size_t n = rp_config_keys(&keys);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            cr_assert_str_neq(keys[i], keys[j]);
    char buf[16];
    cr_assert_eq(rp_config_format_value(&cfg, "engine", "nope", buf, sizeof(buf)),
                 RP_ERR_NOT_FOUND);
}
