/* wire: internals shared by the event and signal codecs: msgpack/JSON writers, UTF-8 check, the
 * JSON lexer and error details. */
#include "wire.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- msgpack writers ---- */

void rp_mp_put_map(struct rp_wbuf *w, uint32_t n)
{
    uint8_t b[9];
    rp_wbuf_put(w, b, rp_mp_enc_map(b, n));
}

void rp_mp_put_array(struct rp_wbuf *w, uint32_t n)
{
    uint8_t b[9];
    rp_wbuf_put(w, b, rp_mp_enc_array(b, n));
}

void rp_mp_put_str(struct rp_wbuf *w, const char *s, size_t len)
{
    uint8_t b[9];
    rp_wbuf_put(w, b, rp_mp_enc_str_head(b, len));
    rp_wbuf_put(w, s, len);
}

void rp_mp_put_uint(struct rp_wbuf *w, uint64_t v)
{
    uint8_t b[9];
    rp_wbuf_put(w, b, rp_mp_enc_uint(b, v));
}

void rp_mp_put_int(struct rp_wbuf *w, int64_t v)
{
    uint8_t b[9];
    rp_wbuf_put(w, b, rp_mp_enc_int(b, v));
}

void rp_mp_put_double(struct rp_wbuf *w, double v)
{
    uint8_t b[9];
    rp_wbuf_put(w, b, rp_mp_enc_double(b, v));
}

/* ---- JSON writers ---- */

void rp_json_put_str(struct rp_wbuf *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    rp_wbuf_byte(w, '"');
    size_t run = 0; /* bytes copied as they are, flushed in one put */
    for (size_t k = 0; k < len; k++) {
        unsigned char ch = (unsigned char)s[k];
        if (ch >= 0x20 && ch != '"' && ch != '\\') {
            run++;
            continue;
        }
        rp_wbuf_put(w, s + k - run, run);
        run = 0;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (ch) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            n = 6;
        }
        rp_wbuf_put(w, esc, n);
    }
    rp_wbuf_put(w, s + len - run, run);
    rp_wbuf_byte(w, '"');
}

size_t rp_u64_to_dec(uint64_t v, char *out)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t k = 0; k < n; k++)
        out[k] = tmp[n - 1 - k];
    return n;
}

void rp_json_put_uint(struct rp_wbuf *w, uint64_t v)
{
    char b[20];
    rp_wbuf_put(w, b, rp_u64_to_dec(v, b));
}

void rp_json_put_int(struct rp_wbuf *w, int64_t v)
{
    if (v < 0) {
        rp_wbuf_byte(w, '-');
        rp_json_put_uint(w, (uint64_t)0 - (uint64_t)v);
    } else {
        rp_json_put_uint(w, (uint64_t)v);
    }
}

void rp_json_put_double(struct rp_wbuf *w, double v)
{
    char b[32];
    int n;
    if (!isfinite(v)) {
        /* JSON has no NaN/Infinity; callers validate, this keeps the output parseable. */
        rp_json_put_lit(w, "null");
        return;
    }
    /* Shortest of %.15g..%.17g that reads back exactly: 15 digits are always enough for
     * "human" numbers (42.5), 17 always round-trip. */
    for (int prec = 15;; prec++) {
        n = snprintf(b, sizeof b, "%.*g", prec, v);
        if (prec == 17 || strtod(b, NULL) == v)
            break;
    }
    /* Keep it a JSON number that a reader sees as non-integral where it matters: "1e+20" and
     * "42" are valid JSON; nothing to add. */
    rp_wbuf_put(w, b, (size_t)n);
}

/* ---- UTF-8 ---- */

bool rp_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *e = s + len;
    while (s < e) {
        /* ASCII fast path: eight bytes at a time. */
        while (e - s >= 8) {
            uint64_t x;
            memcpy(&x, s, 8);
            if (x & UINT64_C(0x8080808080808080))
                break;
            s += 8;
        }
        if (s == e)
            break;
        unsigned c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* > U+10FFFF */
        } else {
            return false;
        }
        if ((size_t)(e - s) <= need)
            return false;
        if (s[1] < lo || s[1] > hi)
            return false;
        for (size_t k = 2; k <= need; k++)
            if ((s[k] & 0xc0) != 0x80)
                return false;
        s += need + 1;
    }
    return true;
}

enum rp_err rp_detail(enum rp_err err, char *detail, size_t detail_size, const char *fmt, ...)
{
    if (detail && detail_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, detail_size, fmt, ap);
        va_end(ap);
    }
    return err;
}

/* ---- JSON lexer ---- */

static int hex4(const char *p, const char *end, unsigned *out)
{
    if (end - p < 4)
        return -1;
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned c = (unsigned char)p[k], d;
        if (c - '0' <= 9)
            d = c - '0';
        else if ((c | 0x20) - 'a' <= 5)
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* Appends a byte to the scratch while it has room; the length counts every byte regardless. */
#define SCRATCH_PUT(ch)                                                                            \
    do {                                                                                           \
        if (n < cap)                                                                               \
            scratch[n] = (char)(ch);                                                               \
        n++;                                                                                       \
    } while (0)

int rp_json_string(struct rp_json_cur *c, char *scratch, size_t cap, struct rp_wval *v)
{
    /* The opening quote is at c->p. */
    const char *p = c->p + 1, *end = c->end, *start = p;
    v->kind = RP_W_STR;
    v->bad_utf8 = false;
    bool ascii = true;
    /* Fast scan: most strings are short ASCII with no escapes and can be borrowed in place. */
    while (p < end) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"') {
            v->s = start;
            v->len = (size_t)(p - start);
            if (!ascii)
                v->bad_utf8 = !rp_utf8_valid(start, v->len);
            c->p = p + 1;
            return 0;
        }
        if (ch == '\\')
            break;
        if (ch < 0x20)
            return -1; /* control characters must be escaped */
        if (ch >= 0x80)
            ascii = false;
        p++;
    }
    if (p >= end)
        return -1;
    /* Slow path: decode escapes into the scratch (bytes beyond `cap` are counted, not kept). */
    size_t n = 0;
    size_t utf8_from = 0; /* raw (unescaped) bytes are validated per run */
    for (const char *q = start; q < p; q++)
        SCRATCH_PUT(*q);
    bool raw_ok = ascii || rp_utf8_valid(start, (size_t)(p - start));
    const char *run = NULL;
    (void)utf8_from;
    while (p < end) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\') {
            if (run) {
                if (!rp_utf8_valid(run, (size_t)(p - run)))
                    raw_ok = false;
                run = NULL;
            }
            if (ch == '"')
                break;
            if (end - p < 2)
                return -1;
            char e = p[1];
            p += 2;
            switch (e) {
            case '"':
            case '\\':
            case '/':
                SCRATCH_PUT(e);
                break;
            case 'b':
                SCRATCH_PUT('\b');
                break;
            case 'f':
                SCRATCH_PUT('\f');
                break;
            case 'n':
                SCRATCH_PUT('\n');
                break;
            case 'r':
                SCRATCH_PUT('\r');
                break;
            case 't':
                SCRATCH_PUT('\t');
                break;
            case 'u': {
                unsigned cp;
                if (hex4(p, end, &cp) != 0)
                    return -1;
                p += 4;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    unsigned lo;
                    if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' && hex4(p + 2, end, &lo) == 0 &&
                        lo >= 0xdc00 && lo <= 0xdfff) {
                        p += 6;
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    } else {
                        v->bad_utf8 = true; /* lone high surrogate: no UTF-8 for it */
                        break;
                    }
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    v->bad_utf8 = true; /* lone low surrogate */
                    break;
                }
                if (cp < 0x80) {
                    SCRATCH_PUT(cp);
                } else if (cp < 0x800) {
                    SCRATCH_PUT(0xc0 | cp >> 6);
                    SCRATCH_PUT(0x80 | (cp & 0x3f));
                } else if (cp < 0x10000) {
                    SCRATCH_PUT(0xe0 | cp >> 12);
                    SCRATCH_PUT(0x80 | (cp >> 6 & 0x3f));
                    SCRATCH_PUT(0x80 | (cp & 0x3f));
                } else {
                    SCRATCH_PUT(0xf0 | cp >> 18);
                    SCRATCH_PUT(0x80 | (cp >> 12 & 0x3f));
                    SCRATCH_PUT(0x80 | (cp >> 6 & 0x3f));
                    SCRATCH_PUT(0x80 | (cp & 0x3f));
                }
                break;
            }
            default:
                return -1;
            }
            continue;
        }
        if (ch < 0x20)
            return -1;
        if (!run)
            run = p;
        SCRATCH_PUT(ch);
        p++;
    }
    if (p >= end)
        return -1;
    if (!raw_ok)
        v->bad_utf8 = true;
    v->s = scratch;
    v->len = n;
    c->p = p + 1;
    return 0;
}

/* Parses a JSON number at c->p. Integers without fraction/exponent stay exact (UINT/INT, or
 * BIGINT beyond 64 bits); others become doubles, correctly rounded: directly when the digits fit
 * in 2^53 and the power of ten is exact (Clinger's fast path), else through strtod. */
static int json_number(struct rp_json_cur *c, struct rp_wval *v)
{
    static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *p = c->p, *end = c->end, *start = p;
    bool neg = false;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    if (p >= end || (unsigned)(*p - '0') > 9)
        return -1;
    uint64_t mant = 0;
    int ndig = 0;     /* significant digits accumulated in mant */
    int dropped = 0;  /* integer digits that did not fit in mant */
    bool big = false; /* more than 19 significant digits */
    if (*p == '0') {
        p++;
    } else {
        while (p < end && (unsigned)(*p - '0') <= 9) {
            if (ndig < 19) {
                mant = mant * 10 + (unsigned)(*p - '0');
                ndig += mant != 0;
            } else {
                big = true;
                dropped++;
            }
            p++;
        }
    }
    int exp10 = dropped;
    bool is_float = false;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || (unsigned)(*p - '0') > 9)
            return -1;
        is_float = true;
        while (p < end && (unsigned)(*p - '0') <= 9) {
            if (ndig < 19) {
                mant = mant * 10 + (unsigned)(*p - '0');
                ndig += mant != 0;
                exp10--;
            } else {
                big = true;
            }
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        is_float = true;
        int es = 1, ev = 0;
        if (p < end && (*p == '+' || *p == '-')) {
            es = *p == '-' ? -1 : 1;
            p++;
        }
        if (p >= end || (unsigned)(*p - '0') > 9)
            return -1;
        while (p < end && (unsigned)(*p - '0') <= 9) {
            if (ev < 100000)
                ev = ev * 10 + (*p - '0');
            p++;
        }
        exp10 += es * ev;
    }
    c->p = p;
    if (!is_float && !big) {
        /* mant < 10^19 < 2^64 here, but 20-digit values are "big": u64 max has 20 digits */
        if (!neg) {
            v->kind = RP_W_UINT;
            v->u = mant;
        } else if (mant <= (uint64_t)INT64_MAX + 1) {
            v->kind = mant == 0 ? RP_W_UINT : RP_W_INT;
            v->u = 0;
            v->i = (int64_t)(0 - mant);
        } else {
            v->kind = RP_W_BIGINT;
            v->f = -(double)mant;
        }
        return 0;
    }
    if (!is_float && !neg && dropped == 1) {
        /* 20-digit integers: u64 max is 18446744073709551615 */
        unsigned last = (unsigned)(p[-1] - '0');
        if (mant < UINT64_MAX / 10 || (mant == UINT64_MAX / 10 && last <= UINT64_MAX % 10)) {
            v->kind = RP_W_UINT;
            v->u = mant * 10 + last;
            return 0;
        }
    }
    if (!big && mant < (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        double d = (double)mant;
        d = exp10 < 0 ? d / p10[-exp10] : d * p10[exp10];
        v->f = neg ? -d : d;
    } else {
        char tmp[64];
        size_t len = (size_t)(p - start);
        if (len >= sizeof tmp) {
            /* Very long literal: strtod needs a NUL-terminated copy; cap it by truncating
             * insignificant digits would change the grammar, so go through a larger buffer. */
            char big_tmp[1024];
            if (len >= sizeof big_tmp)
                return -1;
            memcpy(big_tmp, start, len);
            big_tmp[len] = '\0';
            v->f = strtod(big_tmp, NULL);
        } else {
            memcpy(tmp, start, len);
            tmp[len] = '\0';
            v->f = strtod(tmp, NULL);
        }
    }
    v->kind = is_float ? RP_W_FLOAT : RP_W_BIGINT;
    return 0;
}

static int json_lit(struct rp_json_cur *c, const char *lit, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

int rp_json_value(struct rp_json_cur *c, char *scratch, size_t cap, struct rp_wval *v)
{
    if (c->p >= c->end)
        return -1;
    switch (*c->p) {
    case '"':
        return rp_json_string(c, scratch, cap, v);
    case '{':
        c->p++;
        v->kind = RP_W_MAP;
        v->n = 0;
        return 0;
    case '[':
        c->p++;
        v->kind = RP_W_ARRAY;
        v->n = 0;
        return 0;
    case 't':
        v->kind = RP_W_BOOL;
        v->b = true;
        return json_lit(c, "true", 4);
    case 'f':
        v->kind = RP_W_BOOL;
        v->b = false;
        return json_lit(c, "false", 5);
    case 'n':
        v->kind = RP_W_NIL;
        return json_lit(c, "null", 4);
    default:
        return json_number(c, v);
    }
}

int rp_json_skip_container(struct rp_json_cur *c, bool is_map, int depth, int max_depth)
{
    /* Bit k of `maps` tells whether open level k (0 = the container we were given) is an
     * object; `top` is the number of open levels. Each level expects: a value (or the closing
     * bracket if empty), then ',' or its closing bracket. Objects also expect "key": first. */
    uint64_t maps = is_map ? 1 : 0;
    int top = 1;
    bool first = true; /* just after an opening bracket */
    char scratch[1];
    struct rp_wval v;
    while (top > 0) {
        rp_json_ws(c);
        if (c->p >= c->end)
            return -1;
        bool in_map = maps >> (top - 1) & 1;
        char ch = *c->p;
        if (first && ch == (in_map ? '}' : ']')) {
            c->p++;
            top--;
            first = false;
            goto after_value;
        }
        first = false;
        if (in_map) {
            if (ch != '"' || rp_json_string(c, scratch, 0, &v) != 0 || v.bad_utf8)
                return -1;
            rp_json_ws(c);
            if (c->p >= c->end || *c->p != ':')
                return -1;
            c->p++;
            rp_json_ws(c);
        }
        if (rp_json_value(c, scratch, 0, &v) != 0 || (v.kind == RP_W_STR && v.bad_utf8))
            return -1;
        if (v.kind == RP_W_MAP || v.kind == RP_W_ARRAY) {
            if (depth + top > max_depth)
                return -2;
            if (v.kind == RP_W_MAP)
                maps |= UINT64_C(1) << top;
            else
                maps &= ~(UINT64_C(1) << top);
            top++;
            first = true;
            continue;
        }
    after_value:
        /* After a value at level `top`: ',' continues it, its bracket closes it. */
        while (top > 0) {
            rp_json_ws(c);
            if (c->p >= c->end)
                return -1;
            bool m = maps >> (top - 1) & 1;
            if (*c->p == ',') {
                c->p++;
                break;
            }
            if (*c->p == (m ? '}' : ']')) {
                c->p++;
                top--;
                continue;
            }
            return -1;
        }
    }
    return 0;
}
