/* rp_err: names of the error codes (the dead-letter ones are wire contract, SPEC §1). */
#include "rp_err.h"

#include <string.h>

static const char *const dead_letter_names[RP_ERR__DEAD_LETTER_END] = {
    [RP_OK] = "ok",
    [RP_ERR_MALFORMED] = "malformed",
    [RP_ERR_NOT_A_MAP] = "not_a_map",
    [RP_ERR_MISSING_FIELD] = "missing_field",
    [RP_ERR_BAD_FIELD_TYPE] = "bad_field_type",
    [RP_ERR_OUT_OF_RANGE] = "out_of_range",
    [RP_ERR_TOO_LARGE] = "too_large",
    [RP_ERR_UNKNOWN_TYPE] = "unknown_type",
    [RP_ERR_UNSUPPORTED_VERSION] = "unsupported_version",
    [RP_ERR_TOO_LATE] = "too_late",
};

const char *rp_strerror(enum rp_err err)
{
    if ((unsigned)err < RP_ERR__DEAD_LETTER_END)
        return dead_letter_names[err];
    switch (err) {
    case RP_ERR_NOMEM:
        return "out of memory";
    case RP_ERR_IO:
        return "input/output error";
    case RP_ERR_INVALID_ARG:
        return "invalid argument";
    case RP_ERR_CONFIG:
        return "configuration error";
    case RP_ERR_KAFKA:
        return "kafka error";
    case RP_ERR_FULL:
        return "full";
    case RP_ERR_NOT_FOUND:
        return "not found";
    case RP_ERR_NOT_READY:
        return "not ready";
    default:
        return "unknown error";
    }
}

enum rp_err rp_err_from_name(const char *name)
{
    for (int i = RP_ERR_MALFORMED; i < RP_ERR__DEAD_LETTER_END; i++)
        if (strcmp(name, dead_letter_names[i]) == 0)
            return (enum rp_err)i;
    return RP_OK;
}
