/* cmd_demo: `rapport demo` (placeholder until its issue lands: refuses to run). */
#include <stdio.h>

#include "commands.h"

int rp_cmd_demo(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "rapport demo: not built yet\n");
    return 2;
}
