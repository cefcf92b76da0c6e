/* wire: internals shared by the event and signal codecs (value view, bounded writer, UTF-8, JSON
 * text helpers, error details). Not part of the public API. */
#ifndef RP_WIRE_H
#define RP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rp_err.h"

/** Kinds of a decoded scalar or container header, common to msgpack and JSON. */
enum rp_wkind {
    RP_W_NIL = 0,
    RP_W_BOOL,
    RP_W_UINT,   /* u: a non-negative integer */
    RP_W_INT,    /* i: a negative integer */
    RP_W_BIGINT, /* JSON integer literal beyond 64 bits; f holds its approximate value */
    RP_W_FLOAT,  /* f */
    RP_W_STR,    /* s, len (borrowed from the buffer, or from a decode scratch for JSON) */
    RP_W_BIN,
    RP_W_EXT,
    RP_W_ARRAY, /* n elements follow */
    RP_W_MAP,   /* n pairs follow */
};

/** One value header as read from the wire. */
struct rp_wval {
    enum rp_wkind kind;
    bool b;
    bool bad_utf8; /* JSON strings: invalid UTF-8 or a lone surrogate escape */
    uint64_t u;
    int64_t i;
    double f;
    const char *s;
    size_t len; /* STR/BIN/EXT: payload bytes (JSON: decoded length, may exceed the scratch) */
    uint64_t n; /* ARRAY/MAP: element/pair count (msgpack only) */
};

/** A bounded output buffer: writes past the end set `full` and are dropped. */
struct rp_wbuf {
    char *p;
    char *end;
    bool full;
};

static inline void rp_wbuf_put(struct rp_wbuf *w, const void *src, size_t n)
{
    if ((size_t)(w->end - w->p) < n) {
        w->full = true;
        w->p = w->end;
        return;
    }
    memcpy(w->p, src, n);
    w->p += n;
}

static inline void rp_wbuf_byte(struct rp_wbuf *w, uint8_t b)
{
    if (w->p == w->end) {
        w->full = true;
        return;
    }
    *w->p++ = (char)b;
}

/*
 * msgpack encodings of one value or header (the smallest, big-endian as the format requires),
 * written at `b` (room for 9 bytes); each returns its size. The rp_mp_put_* writers below add the
 * bounds check; an encoder that knows its buffer is large enough writes with these directly
 * (signal.c).
 */
static inline size_t rp_mp_enc_be(uint8_t *b, uint8_t tag, uint64_t v, int bytes)
{
    b[0] = tag;
    for (int k = 0; k < bytes; k++)
        b[1 + k] = (uint8_t)(v >> (8 * (bytes - 1 - k)));
    return (size_t)bytes + 1;
}

static inline size_t rp_mp_enc_map(uint8_t *b, uint32_t n)
{
    if (n < 16) {
        b[0] = (uint8_t)(0x80 | n);
        return 1;
    }
    return n <= 0xffff ? rp_mp_enc_be(b, 0xde, n, 2) : rp_mp_enc_be(b, 0xdf, n, 4);
}

static inline size_t rp_mp_enc_array(uint8_t *b, uint32_t n)
{
    if (n < 16) {
        b[0] = (uint8_t)(0x90 | n);
        return 1;
    }
    return n <= 0xffff ? rp_mp_enc_be(b, 0xdc, n, 2) : rp_mp_enc_be(b, 0xdd, n, 4);
}

/** The header of a string of `len` bytes (the bytes follow it). */
static inline size_t rp_mp_enc_str_head(uint8_t *b, size_t len)
{
    if (len < 32) {
        b[0] = (uint8_t)(0xa0 | len);
        return 1;
    }
    if (len <= 0xff)
        return rp_mp_enc_be(b, 0xd9, len, 1);
    return len <= 0xffff ? rp_mp_enc_be(b, 0xda, len, 2) : rp_mp_enc_be(b, 0xdb, len, 4);
}

static inline size_t rp_mp_enc_uint(uint8_t *b, uint64_t v)
{
    if (v <= 0x7f) {
        b[0] = (uint8_t)v;
        return 1;
    }
    if (v <= 0xff)
        return rp_mp_enc_be(b, 0xcc, v, 1);
    if (v <= 0xffff)
        return rp_mp_enc_be(b, 0xcd, v, 2);
    if (v <= 0xffffffffu)
        return rp_mp_enc_be(b, 0xce, v, 4);
    return rp_mp_enc_be(b, 0xcf, v, 8);
}

static inline size_t rp_mp_enc_int(uint8_t *b, int64_t v)
{
    if (v >= 0)
        return rp_mp_enc_uint(b, (uint64_t)v);
    if (v >= -32) {
        b[0] = (uint8_t)(int8_t)v;
        return 1;
    }
    if (v >= INT8_MIN)
        return rp_mp_enc_be(b, 0xd0, (uint64_t)v & 0xff, 1);
    if (v >= INT16_MIN)
        return rp_mp_enc_be(b, 0xd1, (uint64_t)v & 0xffff, 2);
    if (v >= INT32_MIN)
        return rp_mp_enc_be(b, 0xd2, (uint64_t)v & 0xffffffffu, 4);
    return rp_mp_enc_be(b, 0xd3, (uint64_t)v, 8);
}

static inline size_t rp_mp_enc_double(uint8_t *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    return rp_mp_enc_be(b, 0xcb, u, 8);
}

/* msgpack writers into a bounded buffer (the encodings above). */
void rp_mp_put_map(struct rp_wbuf *w, uint32_t n);
void rp_mp_put_array(struct rp_wbuf *w, uint32_t n);
void rp_mp_put_str(struct rp_wbuf *w, const char *s, size_t len);
void rp_mp_put_uint(struct rp_wbuf *w, uint64_t v);
void rp_mp_put_int(struct rp_wbuf *w, int64_t v);
void rp_mp_put_double(struct rp_wbuf *w, double v);

/* JSON writers. */
void rp_json_put_str(struct rp_wbuf *w, const char *s, size_t len); /* quoted and escaped */
void rp_json_put_uint(struct rp_wbuf *w, uint64_t v);
void rp_json_put_int(struct rp_wbuf *w, int64_t v);
/* Shortest decimal that reads back as the same double (finite values only). */
void rp_json_put_double(struct rp_wbuf *w, double v);
static inline void rp_json_put_lit(struct rp_wbuf *w, const char *s)
{
    rp_wbuf_put(w, s, strlen(s));
}

/** True when [s, s+len) is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
 */
bool rp_utf8_valid(const char *s, size_t len);

/** True when every byte is ASCII: a few overlapping 8-byte loads for short strings, which is
 * what ids and channels are; the full validator runs only when this says no. */
static inline bool rp_ascii(const char *s, size_t len)
{
    uint64_t acc = 0, x;
    if (len >= 8) {
        for (size_t i = 0; i + 8 <= len; i += 8) {
            memcpy(&x, s + i, 8);
            acc |= x;
        }
        memcpy(&x, s + len - 8, 8);
        acc |= x;
    } else if (len >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + len - 4, 4);
        acc = a | b;
    } else {
        for (size_t i = 0; i < len; i++)
            acc |= (unsigned char)s[i];
    }
    return (acc & UINT64_C(0x8080808080808080)) == 0;
}

static inline bool rp_utf8_ok(const char *s, size_t len)
{
    return rp_ascii(s, len) || rp_utf8_valid(s, len);
}

/** Writes the decimal digits of v into out (>= 20 bytes); returns the count. */
size_t rp_u64_to_dec(uint64_t v, char *out);

/** Formats an error detail (printf-style) into `detail` when it is not NULL; returns `err`. */
enum rp_err rp_detail(enum rp_err err, char *detail, size_t detail_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/**
 * JSON lexer cursor over [p, end). Used by the event and signal JSON decoders.
 * rp_json_ws skips blanks; rp_json_value reads one value header: scalars completely, strings into
 * `scratch` (decoded; `v->s` points at the buffer itself when no escape needed decoding), '{'/'['
 * as RP_W_MAP/RP_W_ARRAY with the bracket consumed (n is 0: JSON does not tell counts).
 * Returns 0, or -1 when the text is not JSON.
 */
struct rp_json_cur {
    const char *p;
    const char *end;
};
static inline void rp_json_ws(struct rp_json_cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\t' || *c->p == '\r'))
        c->p++;
}
int rp_json_string(struct rp_json_cur *c, char *scratch, size_t cap, struct rp_wval *v);
int rp_json_value(struct rp_json_cur *c, char *scratch, size_t cap, struct rp_wval *v);
/**
 * Skips the rest of a container whose opening bracket was consumed, iteratively, keeping the
 * nesting in a bit stack. `depth` is the nesting level of that container (1 = top level).
 * Returns 0, -1 for bad JSON, or -2 when nesting exceeds `max_depth` (<= 64).
 */
int rp_json_skip_container(struct rp_json_cur *c, bool is_map, int depth, int max_depth);

#endif
