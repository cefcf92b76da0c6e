/* fuzz_event: libFuzzer target for the event decoder (both formats), msgpack framing, the one-pass
 * stream decode and the signal decoder. A successful decode must survive encode -> decode
 * unchanged in both formats, and the one-pass stream decode must equal framing + decode. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "signal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const struct rp_event *a, const struct rp_event *b)
{
#define STR_EQ(x) (a->x.len == b->x.len && memcmp(a->x.bytes, b->x.bytes, a->x.len) == 0)
    return a->ts_ms == b->ts_ms && a->type == b->type && a->present == b->present && STR_EQ(cid) &&
           a->value == b->value && a->score == b->score && a->sentiment == b->sentiment &&
           STR_EQ(ref) && STR_EQ(target) && STR_EQ(referrer) && STR_EQ(id) &&
           a->channel_len == b->channel_len && memcmp(a->channel, b->channel, a->channel_len) == 0;
#undef STR_EQ
}

static void check_round_trip(const struct rp_event *ev)
{
    char buf[2048];
    struct rp_event back;
    char detail[128];
    size_t n = rp_event_encode_msgpack(ev, buf, sizeof buf);
    if (n == 0 || rp_msgpack_frame(buf, n) != n ||
        rp_event_decode_msgpack(buf, n, &back, detail, sizeof detail) != RP_OK ||
        !same(ev, &back)) {
        fprintf(stderr, "msgpack round trip failed: %s\n", detail);
        abort();
    }
    n = rp_event_encode_json(ev, buf, sizeof buf);
    if (n == 0 || rp_event_decode_json(buf, n, &back, detail, sizeof detail) != RP_OK ||
        !same(ev, &back)) {
        fprintf(stderr, "JSON round trip failed: %s: %.*s\n", detail, (int)n, buf);
        abort();
    }
}

/*
 * rp_event_decode_msgpack_next on [data, data+size) must give exactly what rp_msgpack_frame and
 * rp_event_decode_msgpack on the framed bytes give: consumed, code, detail and fields. The
 * destinations start dirty (other events' bytes) so that nothing relies on zeroed memory.
 * Returns the bytes consumed (the frame).
 */
static size_t check_next(const uint8_t *data, size_t size)
{
    static struct rp_event a, b;
    char da[256], db[256];
    memset(&a, 0x5a, sizeof a);
    memset(&b, 0xa5, sizeof b);
    size_t used = 12345;
    enum rp_err eb = rp_event_decode_msgpack_next(data, size, &b, &used, db, sizeof db);
    size_t f = rp_msgpack_frame(data, size);
    if (used != f) {
        fprintf(stderr, "one pass consumed %zu, frame says %zu\n", used, f);
        abort();
    }
    if (f == 0 || f == (size_t)-1) {
        if (eb != RP_ERR_MALFORMED || db[0] == '\0')
            abort();
        return f;
    }
    if (f > size)
        abort();
    enum rp_err ea = rp_event_decode_msgpack(data, f, &a, da, sizeof da);
    if (ea != eb || strcmp(da, db) != 0 || (ea == RP_OK && !same(&a, &b))) {
        fprintf(stderr, "one pass: %s (%s); frame + decode: %s (%s)\n", rp_strerror(eb), db,
                rp_strerror(ea), da);
        abort();
    }
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp_event ev;
    char detail[128];
    enum rp_err e = rp_event_decode(data, size, &ev, detail, sizeof detail);
    if (e == RP_OK)
        check_round_trip(&ev);
    else if (detail[0] == '\0' || memchr(detail, '\0', sizeof detail) == NULL)
        abort(); /* every error carries a NUL-terminated detail */
    /* Both decoders on every input, whatever the detection says. */
    if (rp_event_decode_msgpack(data, size, &ev, NULL, 0) == RP_OK)
        check_round_trip(&ev);
    if (rp_event_decode_json(data, size, &ev, NULL, 0) == RP_OK)
        check_round_trip(&ev);
    size_t f = rp_msgpack_frame(data, size);
    if (f != (size_t)-1 && f > size)
        abort();
    /* The input as a stream of concatenated values, walked the one-pass way (a few values at most,
     * so that long inputs stay fast). */
    size_t pos = 0;
    for (int i = 0; i < 16 && pos < size; i++) {
        size_t n = check_next(data + pos, size - pos);
        if (n == 0 || n == (size_t)-1)
            break;
        pos += n;
    }
    struct rp_signal s, back;
    if (rp_signal_decode(data, size, &s, NULL, 0) == RP_OK) {
        char buf[RP_SIGNAL_ENCODED_MAX];
        size_t n = rp_signal_encode_msgpack(&s, buf, sizeof buf);
        if (n && (rp_signal_decode(buf, n, &back, NULL, 0) != RP_OK ||
                  back.signal_id != s.signal_id || back.episode != s.episode))
            abort();
    }
    return 0;
}
