/* cmd_score: `rapport score` (placeholder until its issue lands: refuses to run). */
#include <stdio.h>

#include "commands.h"

int rp_cmd_score(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "rapport score: not built yet\n");
    return 2;
}
