/* rp_err: the one error enum of rapport, shared by every layer, and its names. */
#ifndef RP_ERR_H
#define RP_ERR_H

/*
 * The first block are the dead-letter codes of SPEC §1: their names (rp_strerror) are written
 * into the `rapport.error` header and used as the `code` label of
 * rapport_events_dead_lettered_total, so they are part of the wire contract. The second block
 * are runtime errors that never reach the wire.
 */
enum rp_err {
    RP_OK = 0,
    /* dead-letter codes (SPEC §1) */
    RP_ERR_MALFORMED,      /* "malformed": not parseable msgpack/JSON, truncated, trailing bytes */
    RP_ERR_NOT_A_MAP,      /* "not_a_map": the top-level value is not a map/object */
    RP_ERR_MISSING_FIELD,  /* "missing_field": a required field is absent */
    RP_ERR_BAD_FIELD_TYPE, /* "bad_field_type": a field has the wrong type or bad encoding */
    RP_ERR_OUT_OF_RANGE,   /* "out_of_range": a number outside its domain, empty string */
    RP_ERR_TOO_LARGE,      /* "too_large": a message, string or nesting over its limit */
    RP_ERR_UNKNOWN_TYPE,   /* "unknown_type": `type` not in the vocabulary */
    RP_ERR_UNSUPPORTED_VERSION, /* "unsupported_version": `v` other than 1 */
    RP_ERR_TOO_LATE,            /* "too_late": event time behind the watermark */
    RP_ERR__DEAD_LETTER_END,    /* not a code: the number of codes above plus one */
    /* runtime errors */
    RP_ERR_NOMEM = 100,
    RP_ERR_IO,
    RP_ERR_INVALID_ARG,
    RP_ERR_CONFIG,
    RP_ERR_KAFKA,
    RP_ERR_FULL,
    RP_ERR_NOT_FOUND,
    RP_ERR_NOT_READY, /* held here but not usable yet (a partition being restored) */
};

/** The stable name of an error ("malformed", "too_late", "out of memory", ...). Never NULL. */
const char *rp_strerror(enum rp_err err);

/** Parses a dead-letter code name back into its enum; returns RP_OK when it is not one. */
enum rp_err rp_err_from_name(const char *name);

#endif
