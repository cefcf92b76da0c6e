/* cmd_run: `rapport run -c FILE`: the engine (SPEC §4), stopped cleanly by SIGTERM/SIGINT. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "engine.h"

static struct rp_engine *volatile running;   /* for the signal handler */
static volatile sig_atomic_t stop_requested; /* a signal before the engine exists */

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
    if (running)
        rp_engine_stop(running); /* one relaxed atomic store: async-signal-safe */
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rapport run -c FILE\n"
            "       rapport run --print-config-reference\n"
            "\n"
            "Runs the engine: joins the consumer group ([kafka] group.id) on the input topic,\n"
            "keeps every owned customer's state, emits churn-risk and advocate signals, sends\n"
            "unusable messages to the dead-letter topic and serves HTTP ([http] listen:\n"
            "/metrics, /healthz, /readyz, /customers/{cid}). At-least-once: an input offset is\n"
            "committed only after every signal, dead letter and credit it caused is acknowledged.\n"
            "SIGTERM or SIGINT stops it cleanly within [engine] shutdown_timeout (stop fetching,\n"
            "drain, flush, commit, leave the group).\n"
            "\n"
            "The input must be keyed by customer id with Kafka's default (murmur2) partitioner,\n"
            "as Java clients do and kcat does with -X partitioner=murmur2_random: credits between\n"
            "customers travel through <internal_prefix>.credits, created with the input's\n"
            "partition count, and reach the owner of the credited customer's input partition.\n"
            "\n"
            "options:\n"
            "  -c, --config FILE          configuration file (README, Configuration)\n"
            "  --print-config-reference   print every configuration key with its default\n"
            "  -h, --help                 this help\n"
            "\n"
            "exit status: 0 stopped cleanly, 1 runtime failure, 2 usage or configuration error\n");
}

int rp_cmd_run(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--print-config-reference") == 0) {
            rp_config_reference(stdout);
            return 0;
        } else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
                   i + 1 < argc) {
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        } else {
            fprintf(stderr, "rapport run: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "rapport run: -c FILE is required\n");
        usage(stderr);
        return 2;
    }
    struct rp_config cfg;
    char err[1024];
    if (rp_config_init(&cfg) != 0) {
        fprintf(stderr, "rapport run: out of memory\n");
        return 1;
    }
    if (rp_config_load(&cfg, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "rapport run: %s\n", err);
        rp_config_fini(&cfg);
        return 2;
    }
    if (cfg.guarantee == RP_EXACTLY_ONCE) {
        fprintf(stderr,
                "rapport run: %s: guarantee = exactly_once is not available yet "
                "(use at_least_once)\n",
                path);
        rp_config_fini(&cfg);
        return 2;
    }
    /* (handlers first: creating the engine may wait seconds for the brokers, and a stop
     * asked meanwhile is a clean stop as soon as it exists, not death by the signal) */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct rp_engine *e = rp_engine_create(&cfg, err, sizeof(err));
    if (!e) {
        fprintf(stderr, "rapport run: %s\n", err);
        rp_config_fini(&cfg);
        return 1;
    }
    running = e;
    if (stop_requested)
        rp_engine_stop(e);
    int rc = rp_engine_run(e);
    running = NULL;
    if (rp_engine_left_group(e)) {
        rp_engine_destroy(e);
    } else {
        /* Leaving the group was given up at shutdown_timeout (no coordinator answers):
         * tearing the Kafka clients down would wait for it again. The process ends now; the
         * coordinator moves the partitions after session.timeout.ms, and what was not
         * committed is consumed again (at-least-once). */
        fprintf(stderr, "rapport run: exiting without tearing down the Kafka clients\n");
    }
    rp_config_fini(&cfg);
    return rc == 0 ? 0 : 1;
}
