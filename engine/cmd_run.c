/* cmd_run: `rapport run` (placeholder until its issue lands: refuses to run). */
#include <stdio.h>

#include "commands.h"

int rp_cmd_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "rapport run: not built yet\n");
    return 2;
}
