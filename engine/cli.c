/* cli: small helpers shared by the subcommands' option parsing. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

int rp_cli_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == 0)
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int rp_cli_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || s == end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}
