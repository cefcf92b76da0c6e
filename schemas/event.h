/* event: the interaction event of SPEC §1 (schema version 1): decode and validate msgpack or JSON.
 */
#ifndef RP_EVENT_H
#define RP_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rp_err.h"

/* Limits of SPEC §1, in bytes. */
#define RP_CID_MAX     64 /* cid, target, referrer: 1..64 bytes */
#define RP_REF_MAX     64 /* ref: 1..64 bytes */
#define RP_ID_MAX      64 /* id: <= 64 bytes */
#define RP_CHANNEL_MAX 16 /* channel: <= 16 bytes */
/* A message larger than this is `too_large` before it is parsed. */
#define RP_EVENT_MAX_BYTES (64 * 1024)
/* Unknown values nested deeper than this are `too_large` (the decoder never recurses). */
#define RP_EVENT_MAX_DEPTH 64
/* Event times outside [0, RP_TS_MAX] (year 9999) are `out_of_range`. */
#define RP_TS_MAX INT64_C(253402300799999)

/** The `type` vocabulary of SPEC §1. The order is stable: it indexes weight tables. */
enum rp_event_type {
    RP_EV_VIEW = 0,
    RP_EV_CLICK,
    RP_EV_LOGIN,
    RP_EV_EMAIL_OPEN,
    RP_EV_LIKE,
    RP_EV_COMMENT,
    RP_EV_SIGNUP,
    RP_EV_PURCHASE,
    RP_EV_REFUND,
    RP_EV_QUESTION,
    RP_EV_REPLY,
    RP_EV_COMPLAINT,
    RP_EV_RESOLUTION,
    RP_EV_REVIEW,
    RP_EV_NPS,
    RP_EV_MENTION,
    RP_EV_SHARE,
    RP_EV_REFERRAL,
    RP_EV_ANSWER,
    RP_EV_UNSUBSCRIBE,
    RP_EV__COUNT
};

/** Wire name of an event type ("view", ...); NULL for an out-of-range value. */
const char *rp_event_type_name(enum rp_event_type t);
/** Looks a wire name up; returns -1 when it is not in the vocabulary. */
int rp_event_type_parse(const char *s, size_t len);
/** How many type names the msgpack decoder's hashed lookup could not place (they are found the
 * slower way): 0 for the names of SPEC §1, which test_event checks. */
int rp_event_type_hash_left_out(void);

/**
 * A customer id in canonical form: the bytes of the string, or the decimal digits of a uint
 * (so that 42 and "42" are the same customer). Not NUL-terminated; `len` is 1..RP_CID_MAX.
 */
struct rp_cid {
    uint8_t len;
    char bytes[RP_CID_MAX];
};

/** A short string copied out of the message (not NUL-terminated). */
struct rp_ref {
    uint8_t len;
    char bytes[RP_REF_MAX];
};

/* Bits of rp_event.present for the optional fields. */
#define RP_F_VALUE     (1u << 0)
#define RP_F_SCORE     (1u << 1)
#define RP_F_SENTIMENT (1u << 2)
#define RP_F_REF       (1u << 3)
#define RP_F_TARGET    (1u << 4)
#define RP_F_REFERRER  (1u << 5)
#define RP_F_CHANNEL   (1u << 6)
#define RP_F_ID        (1u << 7)

/**
 * A decoded, validated event. Self-contained: every string is copied in, so it stays valid after
 * the message buffer is released. Fields whose bit is not in `present` are zero (numbers are 0,
 * strings have len 0). Bytes of a string past its `len` are unspecified: the decoders do not
 * clear them (the whole struct is ~400 bytes; clearing it cost more than decoding a field).
 */
struct rp_event {
    int64_t ts_ms; /* event time, ms since the Unix epoch, 0..RP_TS_MAX */
    enum rp_event_type type;
    uint32_t present;  /* RP_F_* bits */
    double value;      /* >= 0, finite */
    int32_t score;     /* nps 0..10, review 1..5; any int for other types */
    double sentiment;  /* [-1, 1] */
    struct rp_cid cid; /* always set */
    struct rp_cid target;
    struct rp_cid referrer;
    struct rp_ref ref;
    struct rp_ref id; /* uint ids are canonicalised to decimal like cids */
    uint8_t channel_len;
    char channel[RP_CHANNEL_MAX];
};

/** Wire format of an input message, as auto-detected. */
enum rp_event_format { RP_FMT_MSGPACK = 0, RP_FMT_JSON = 1 };

/** Detects the format: JSON when the first non-blank byte is '{', msgpack otherwise. */
enum rp_event_format rp_event_detect(const void *buf, size_t len);

/*
 * Validation rules (both formats; first error wins, except that an unsupported `v` anywhere in
 * the map beats every field error, since a future version's fields may mean something else):
 * - message over RP_EVENT_MAX_BYTES: too_large (before parsing); empty, not msgpack/JSON,
 *   truncated, a container header claiming more items than bytes left (e.g. a map32 of 2^32-1
 *   entries), a str/bin/ext length beyond the buffer, trailing bytes after the map (JSON:
 *   trailing blanks are allowed), a duplicate known key: malformed.
 * - top-level value not a map/object: not_a_map.
 * - containers nested deeper than RP_EVENT_MAX_DEPTH, counting the top-level map as level 1
 *   (so a field's value may nest 63 levels): too_large.
 * - `v`: absent or null means 1; an integer other than 1: unsupported_version; not an integer:
 *   bad_field_type.
 * - `cid`/`target`/`referrer`: string of 1..64 bytes or uint (canonicalised to its decimal
 *   digits: 42 and "42" are the same customer). Empty string or negative integer (or a JSON
 *   integer beyond 2^64-1): out_of_range; 65+ bytes: too_large; float, bool, array, map:
 *   bad_field_type.
 * - `ts`: integer ms in [0, RP_TS_MAX]; negative or later: out_of_range; float (even 1.7e12):
 *   bad_field_type. JSON also takes an RFC 3339 string (rp_time_parse_rfc3339: Z or +hh:mm
 *   offsets, optional fraction truncated to ms): bad syntax bad_field_type, impossible date or
 *   outside the range out_of_range. A string `ts` in msgpack: bad_field_type.
 * - `type`: a string not in the vocabulary (case-sensitive): unknown_type; not a string:
 *   bad_field_type.
 * - `value`: any number >= 0 (ints accepted, -0.0 accepted); negative, NaN, +-inf (and JSON
 *   literals that overflow to inf): out_of_range; non-number: bad_field_type.
 * - `score`: an integer (floats such as 5.0: bad_field_type) within int32 (else out_of_range);
 *   for nps 0..10 and for review 1..5, else out_of_range.
 * - `sentiment`: number in [-1, 1]; outside or NaN: out_of_range.
 * - `ref`: string 0..64 bytes (65+: too_large; empty on a question, reply, complaint or
 *   resolution, which it pairs: out_of_range); `channel`: string of
 *   0..16 bytes (17+: too_large); `id`: string 0..64 bytes or uint (decimal, like cid).
 * - strings of known fields must be valid UTF-8 (no overlongs, surrogates, > U+10FFFF; JSON
 *   \uXXXX escapes and surrogate pairs are decoded, a lone surrogate is invalid):
 *   bad_field_type. Invalid UTF-8 elsewhere in JSON text (keys, unknown fields): malformed; in
 *   msgpack, unknown fields are not inspected.
 * - a known field set to null/nil is absent (it still counts for duplicate detection).
 * - required: cid, ts, type (missing_field); plus value for purchase/refund, score for
 *   nps/review, ref for question/reply/complaint/resolution, target for referral/answer.
 * - unknown keys (msgpack: also non-string keys) and their values of any type are skipped.
 */

/**
 * Decodes and validates one event from `buf` (auto-detected format; the whole buffer must be one
 * event, trailing bytes are `malformed`).
 * Returns RP_OK and fills `*ev`, or a dead-letter code and writes a human-readable reason into
 * `detail` (NUL-terminated, truncated to `detail_size`; may be NULL/0). Never allocates, never
 * recurses, and reads only within [buf, buf+len). Thread-safe (no shared state).
 */
enum rp_err rp_event_decode(const void *buf, size_t len, struct rp_event *ev, char *detail,
                            size_t detail_size);

/** Same, with the format given (no detection). */
enum rp_err rp_event_decode_msgpack(const void *buf, size_t len, struct rp_event *ev, char *detail,
                                    size_t detail_size);
enum rp_err rp_event_decode_json(const void *buf, size_t len, struct rp_event *ev, char *detail,
                                 size_t detail_size);

/**
 * Encodes `ev` as msgpack (what `rapport gen` writes and tests feed back into the decoder).
 * Returns the number of bytes written, or 0 when `cap` is too small.
 */
size_t rp_event_encode_msgpack(const struct rp_event *ev, void *out, size_t cap);
/** Encodes `ev` as one JSON object (no newline), NUL-terminated; returns length or 0 if too small.
 */
size_t rp_event_encode_json(const struct rp_event *ev, char *out, size_t cap);

/**
 * Framing for a stream of concatenated msgpack values (`rapport score` input): returns the size in
 * bytes of the first complete msgpack value in `buf`, 0 when `buf` holds only a prefix of one
 * (read more), or (size_t)-1 when the bytes cannot start a valid value. Never recurses.
 */
size_t rp_msgpack_frame(const void *buf, size_t len);

/**
 * One-pass decode of a stream of concatenated msgpack values (`rapport score` input): decodes
 * and validates the first value of [buf, buf+len) and says in `*consumed` how far it reaches,
 * without framing it first. The outcome is by contract exactly that of
 *
 *     f = rp_msgpack_frame(buf, len);  then, when f is a size,
 *     rp_event_decode_msgpack(buf, f, ev, detail, detail_size)
 *
 * for every input (same code, same detail text, same fields on RP_OK; `*ev` is unspecified
 * after an error, as with rp_event_decode_msgpack):
 * - `*consumed` is always set to what rp_msgpack_frame(buf, len) returns:
 *   - a size n >= 1: the first n bytes are one complete msgpack value; the return value is
 *     RP_OK with `*ev` filled, or its dead-letter code (and detail). Either way the next value
 *     starts at buf + n: a value that frames but fails validation (not a map, too deep, over
 *     RP_EVENT_MAX_BYTES, a bad field, ...) is skipped whole.
 *   - 0: `buf` holds only a prefix of a value (len == 0 included): read more and call again
 *     with the prefix still at the front. Returns RP_ERR_MALFORMED ("truncated"), which is the
 *     value's fate only if the input ends there.
 *   - (size_t)-1: the bytes cannot be a msgpack value (0xc1 where a value starts, at any
 *     depth): no boundary to the next value can be found. Returns RP_ERR_MALFORMED.
 * - `buf` may hold any number of bytes after the first value: they change neither the outcome
 *   nor the cost (a few of them may be loaded as part of a word, never past buf+len).
 * Same guarantees as rp_event_decode_msgpack: never allocates, never recurses, reads only
 * within [buf, buf+len), thread-safe. `consumed` must not be NULL.
 */
enum rp_err rp_event_decode_msgpack_next(const void *buf, size_t len, struct rp_event *ev,
                                         size_t *consumed, char *detail, size_t detail_size);

/** Sets a cid from a C string; returns RP_OK, or RP_ERR_TOO_LARGE / RP_ERR_OUT_OF_RANGE. */
enum rp_err rp_cid_set(struct rp_cid *cid, const char *s);

#endif
