/* mp_reader: a bounds-checked, zero-allocation, non-recursive msgpack cursor (internal).
 *
 * Why hand-written rather than msgpack-c's unpacker: msgpack_unpack() builds an object tree in a
 * zone whose size follows what the headers claim (a map header claiming 2^32 entries makes it
 * reserve for them), it recurses over nesting, and it allocates per message. The event decoder
 * needs none of the tree: it reads each header once, copies the few known fields and skips the
 * rest, so a cursor that never reads outside [p, end) and never allocates is both safer and about
 * twice as fast. */
#ifndef RP_MP_READER_H
#define RP_MP_READER_H

#include <stdint.h>
#include <string.h>

#include "wire.h"

struct rp_mp_cur {
    const uint8_t *p;
    const uint8_t *end;
};

static inline uint16_t rp_mp_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}
static inline uint32_t rp_mp_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t rp_mp_be64(const uint8_t *p)
{
    return (uint64_t)rp_mp_be32(p) << 32 | rp_mp_be32(p + 4);
}

/* Payload of `n` bytes at the cursor (str/bin/ext data): bounds-checked. */
static inline int rp_mp_take(struct rp_mp_cur *c, size_t n, struct rp_wval *v)
{
    if ((size_t)(c->end - c->p) < n)
        return -1;
    v->s = (const char *)c->p;
    v->len = n;
    c->p += n;
    return 0;
}

/**
 * Reads one value header at the cursor. Scalars and str/bin/ext are consumed whole; for an array
 * or map only the header is consumed and `v->n` tells how many elements (pairs, for a map)
 * follow. Returns 0, or -1 when the bytes are truncated or not msgpack (0xc1).
 */
static inline int rp_mp_read(struct rp_mp_cur *c, struct rp_wval *v)
{
    if (c->p >= c->end)
        return -1;
    const uint8_t b = *c->p++;
    const size_t avail = (size_t)(c->end - c->p);
    if (b <= 0x7f) {
        v->kind = RP_W_UINT;
        v->u = b;
        return 0;
    }
    if (b >= 0xe0) {
        v->kind = RP_W_INT;
        v->i = (int8_t)b;
        return 0;
    }
    if (b <= 0x8f) {
        v->kind = RP_W_MAP;
        v->n = b & 0x0f;
        return 0;
    }
    if (b <= 0x9f) {
        v->kind = RP_W_ARRAY;
        v->n = b & 0x0f;
        return 0;
    }
    if (b <= 0xbf) {
        v->kind = RP_W_STR;
        return rp_mp_take(c, b & 0x1f, v);
    }
    /* 0xc0..0xdf: sizes of the fixed-width part that follows the tag byte */
    static const uint8_t head[32] = {
        0, 0, 0, 0, 1, 2, 4, 1, 2, 4, 4, 8, 1, 2, 4, 8, /* c0..cf */
        1, 2, 4, 8, 1, 1, 1, 1, 1, 1, 2, 4, 2, 4, 2, 4, /* d0..df */
    };
    const size_t h = head[b - 0xc0];
    if (avail < h)
        return -1;
    const uint8_t *q = c->p;
    c->p += h;
    switch (b) {
    case 0xc0:
        v->kind = RP_W_NIL;
        return 0;
    case 0xc1:
        return -1; /* never used */
    case 0xc2:
    case 0xc3:
        v->kind = RP_W_BOOL;
        v->b = b == 0xc3;
        return 0;
    case 0xc4:
        v->kind = RP_W_BIN;
        return rp_mp_take(c, q[0], v);
    case 0xc5:
        v->kind = RP_W_BIN;
        return rp_mp_take(c, rp_mp_be16(q), v);
    case 0xc6:
        v->kind = RP_W_BIN;
        return rp_mp_take(c, rp_mp_be32(q), v);
    case 0xc7:
        v->kind = RP_W_EXT;
        return rp_mp_take(c, (size_t)q[0] + 1, v);
    case 0xc8:
        v->kind = RP_W_EXT;
        return rp_mp_take(c, (size_t)rp_mp_be16(q) + 1, v);
    case 0xc9:
        v->kind = RP_W_EXT;
        return rp_mp_take(c, (size_t)rp_mp_be32(q) + 1, v);
    case 0xca: {
        uint32_t u = rp_mp_be32(q);
        float f;
        memcpy(&f, &u, 4);
        v->kind = RP_W_FLOAT;
        v->f = f;
        return 0;
    }
    case 0xcb: {
        uint64_t u = rp_mp_be64(q);
        memcpy(&v->f, &u, 8);
        v->kind = RP_W_FLOAT;
        return 0;
    }
    case 0xcc:
        v->kind = RP_W_UINT;
        v->u = q[0];
        return 0;
    case 0xcd:
        v->kind = RP_W_UINT;
        v->u = rp_mp_be16(q);
        return 0;
    case 0xce:
        v->kind = RP_W_UINT;
        v->u = rp_mp_be32(q);
        return 0;
    case 0xcf:
        v->kind = RP_W_UINT;
        v->u = rp_mp_be64(q);
        return 0;
    case 0xd0:
        v->i = (int8_t)q[0];
        goto signed_int;
    case 0xd1:
        v->i = (int16_t)rp_mp_be16(q);
        goto signed_int;
    case 0xd2:
        v->i = (int32_t)rp_mp_be32(q);
        goto signed_int;
    case 0xd3:
        v->i = (int64_t)rp_mp_be64(q);
    signed_int:
        /* Some encoders write non-negative numbers in the signed formats: fold them into UINT
         * so that consumers see one representation per number. */
        if (v->i >= 0) {
            v->kind = RP_W_UINT;
            v->u = (uint64_t)v->i;
        } else {
            v->kind = RP_W_INT;
        }
        return 0;
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: /* fixext 1/2/4/8/16: the type byte was the 1-byte head */
        v->kind = RP_W_EXT;
        return rp_mp_take(c, (size_t)1 << (b - 0xd4), v);
    case 0xd9:
        v->kind = RP_W_STR;
        return rp_mp_take(c, q[0], v);
    case 0xda:
        v->kind = RP_W_STR;
        return rp_mp_take(c, rp_mp_be16(q), v);
    case 0xdb:
        v->kind = RP_W_STR;
        return rp_mp_take(c, rp_mp_be32(q), v);
    case 0xdc:
        v->kind = RP_W_ARRAY;
        v->n = rp_mp_be16(q);
        return 0;
    case 0xdd:
        v->kind = RP_W_ARRAY;
        v->n = rp_mp_be32(q);
        return 0;
    case 0xde:
        v->kind = RP_W_MAP;
        v->n = rp_mp_be16(q);
        return 0;
    default: /* 0xdf */
        v->kind = RP_W_MAP;
        v->n = rp_mp_be32(q);
        return 0;
    }
}

/**
 * Skips the elements of a container whose header `v` was just read, iteratively: a stack of
 * pending item counts, one per open level, bounded by `max_depth` (the level of `v` is `depth`).
 * A count larger than the bytes left fails at once (each item needs at least one byte), so a
 * header claiming 2^32 entries costs nothing. Returns 0, -1 when truncated or not msgpack, or -2
 * when nesting exceeds `max_depth` (<= 64).
 */
static inline int rp_mp_skip_children(struct rp_mp_cur *c, const struct rp_wval *v, int depth,
                                      int max_depth)
{
    uint64_t pending[64];
    int top = 0;
    uint64_t n = v->kind == RP_W_MAP ? v->n * 2 : v->n;
    if (n == 0)
        return 0;
    if (n > (uint64_t)(c->end - c->p))
        return -1;
    pending[top++] = n;
    struct rp_wval e;
    while (top > 0) {
        if (rp_mp_read(c, &e) != 0)
            return -1;
        pending[top - 1]--;
        if (e.kind == RP_W_MAP || e.kind == RP_W_ARRAY) {
            uint64_t k = e.kind == RP_W_MAP ? e.n * 2 : e.n;
            if (depth + top > max_depth)
                return -2;
            if (k > (uint64_t)(c->end - c->p))
                return -1;
            if (k > 0)
                pending[top++] = k;
        }
        while (top > 0 && pending[top - 1] == 0)
            top--;
    }
    return 0;
}

#endif
