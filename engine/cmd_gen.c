/* cmd_gen: `rapport gen` (placeholder until its issue lands: refuses to run). */
#include <stdio.h>

#include "commands.h"

int rp_cmd_gen(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "rapport gen: not built yet\n");
    return 2;
}
