/* main: the `rapport` binary: dispatches to the subcommands (SPEC §4). */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

struct rp_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct rp_command commands[] = {
    {"run", rp_cmd_run, "the engine: consume interactions from Kafka, emit signals"},
    {"score", rp_cmd_score,
     "the same operators offline: events from files/stdin, signals to stdout"},
    {"demo", rp_cmd_demo, "the engine on an embedded Kafka cluster with a synthetic generator"},
    {"gen", rp_cmd_gen, "synthetic interaction streams to stdout, a file or Kafka"},
};

/* The malloc the process runs on: jemalloc answers mallctl("version"); anything else is taken
 * for the C library's. (A build can lose jemalloc silently: CMakeLists.txt, rp_jemalloc.) */
static void print_allocator(FILE *out)
{
    typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
    mallctl_fn mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    const char *version = NULL;
    size_t len = sizeof(version);
    if (mallctl && mallctl("version", &version, &len, NULL, 0) == 0 && version)
        fprintf(out, "allocator: jemalloc %s\n", version);
    else
        fprintf(out, "allocator: the C library's malloc\n");
}

static void usage(FILE *out)
{
    fprintf(out, "usage: rapport <command> [options]   (rapport <command> --help)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-6s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("rapport 0.1.0\n");
        print_allocator(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "rapport: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
