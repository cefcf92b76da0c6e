/* fuzz_event: libFuzzer target for the event decoder (both formats), msgpack framing and the
 * signal decoder. A successful decode must survive encode -> decode unchanged in both formats. */
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
