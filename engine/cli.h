/* cli: small helpers shared by the subcommands' option parsing. */
#ifndef RP_CLI_H
#define RP_CLI_H

#include <stdint.h>

/** Parses a whole string as an unsigned decimal integer (no sign, no junk). Returns 0 or -1. */
int rp_cli_parse_u64(const char *s, uint64_t *out);

/** Parses a whole string as a finite double. Returns 0 or -1. */
int rp_cli_parse_double(const char *s, double *out);

#endif
