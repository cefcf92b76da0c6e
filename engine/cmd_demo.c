/* cmd_demo: `rapport demo`: the engine on an embedded Kafka cluster with a synthetic generator. */
#include <signal.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "demo.h"

static const char usage_text[] =
    "usage: rapport demo [options]\n"
    "\n"
    "Runs the whole product in one process, with no external service: librdkafka's in-process\n"
    "mock Kafka cluster, the synthetic generator (`rapport gen`) producing to its input topic,\n"
    "and the engine of `rapport run` consuming it. Prints every churn-risk and advocate signal\n"
    "as it happens (event time, kind, transition, customer, score, segment, reasons with\n"
    "weights, and the archetype the generator gave the customer, to compare with) and a status\n"
    "line (signals by kind, events/s, customers, consumer lag), redrawn in place on a terminal\n"
    "and printed every 5 seconds otherwise. Event time runs fast (--speed days per second), so\n"
    "that weeks of customer behaviour, silences included, pass in seconds. The engine's log\n"
    "lines go to stderr.\n"
    "\n"
    "options:\n"
    "  --seconds N        stop by itself after N seconds (default: run until Ctrl-C)\n"
    "  -c, --config FILE  configuration applied over the demo's embedded default\n"
    "                     ([scoring], [engine], [topics], [output]...: `rapport run\n"
    "                     --print-config-reference`); [kafka] bootstrap.servers always\n"
    "                     points at the mock cluster\n"
    "  --http ADDR        HOST:PORT of /metrics, /healthz, /readyz, /customers/{cid}\n"
    "                     (default 127.0.0.1:9464, or the file's [http] listen; port 0 picks a\n"
    "                     free one; '' disables)\n"
    "  --customers N      synthetic population (default 2000)\n"
    "  --speed D          days of event time per wall-clock second (default 1; about\n"
    "                     customers x speed events per second)\n"
    "  --seed N           generator seed (default 1)\n"
    "  --partitions N     partitions of the input topic (default 4)\n"
    "  -h, --help         this text\n"
    "\n"
    "exit status: 0 stopped cleanly (--seconds or Ctrl-C), 1 runtime failure, 2 usage or\n"
    "configuration error\n";

static struct rp_demo *running; /* for the signal handler */

static void on_stop_signal(int sig)
{
    (void)sig;
    if (running)
        rp_demo_stop(running); /* relaxed atomic stores: async-signal-safe */
}

int rp_cmd_demo(int argc, char **argv)
{
    enum { O_SECONDS = 256, O_HTTP, O_CUSTOMERS, O_SPEED, O_SEED, O_PARTITIONS };
    static const struct option longopts[] = {
        {"seconds", required_argument, NULL, O_SECONDS},
        {"config", required_argument, NULL, 'c'},
        {"http", required_argument, NULL, O_HTTP},
        {"customers", required_argument, NULL, O_CUSTOMERS},
        {"speed", required_argument, NULL, O_SPEED},
        {"seed", required_argument, NULL, O_SEED},
        {"partitions", required_argument, NULL, O_PARTITIONS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct rp_demo_opts o;
    rp_demo_opts_defaults(&o);
    uint64_t u;
    double v;
    int c;
    optind = 1;
    opterr = 0;
#define BAD(...)                                                                                   \
    do {                                                                                           \
        fprintf(stderr, "rapport demo: " __VA_ARGS__);                                             \
        fprintf(stderr, "\n(rapport demo --help for usage)\n");                                    \
        return 2;                                                                                  \
    } while (0)
    while ((c = getopt_long(argc, argv, "hc:", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case 'c':
            o.config_path = optarg;
            break;
        case O_SECONDS:
            if (rp_cli_parse_double(optarg, &v) || !(v > 0) || v > 1e7)
                BAD("--seconds: expected a number of seconds > 0, got '%s'", optarg);
            o.seconds = v;
            break;
        case O_HTTP:
            o.http = optarg;
            break;
        case O_CUSTOMERS:
            if (rp_cli_parse_u64(optarg, &u) || u < 1 || u > 10000000)
                BAD("--customers: expected a count in [1, 10000000], got '%s'", optarg);
            o.customers = (uint32_t)u;
            break;
        case O_SPEED:
            if (rp_cli_parse_double(optarg, &v) || !(v > 0) || v > 3650)
                BAD("--speed: expected days per second in (0, 3650], got '%s'", optarg);
            o.speed = v;
            break;
        case O_SEED:
            if (rp_cli_parse_u64(optarg, &u))
                BAD("--seed: expected an unsigned integer, got '%s'", optarg);
            o.seed = u;
            break;
        case O_PARTITIONS:
            if (rp_cli_parse_u64(optarg, &u) || u < 1 || u > 256)
                BAD("--partitions: expected a count in [1, 256], got '%s'", optarg);
            o.partitions = (int)u;
            break;
        default:
            if (optopt)
                BAD("option '%s' needs a value or is unknown", argv[optind - 1]);
            BAD("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        BAD("unexpected argument '%s'", argv[optind]);
#undef BAD

    signal(SIGPIPE, SIG_IGN);
    char err[1024];
    bool usage_error = false;
    struct rp_demo *d = rp_demo_create(&o, stdout, err, sizeof(err), &usage_error);
    if (!d) {
        fprintf(stderr, "rapport demo: %s\n", err);
        return usage_error ? 2 : 1;
    }
    running = d;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int rc = rp_demo_run(d);
    running = NULL;
    rp_demo_destroy(d);
    return rc;
}
