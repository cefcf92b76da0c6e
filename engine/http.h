/* http: the embedded operations server (SPEC §6): /metrics, /healthz, /readyz, /customers/{cid}. */
#ifndef RP_HTTP_H
#define RP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "rp_err.h"

/*
 * Runs on libmicrohttpd with its own threads (one internal listener plus a thread per
 * connection, bounded by RP_HTTP_MAX_CONNECTIONS), so a slow customer lookup never delays
 * /healthz or /metrics. Every callback below is called on one of those server threads, possibly
 * on several at once: it must be thread-safe with respect to the engine (e.g. read lock-free
 * metrics, or message the owning worker and wait with a deadline).
 *
 * Routes (GET and HEAD; any other method is 405 with `Allow: GET, HEAD`):
 *   /metrics          200 text/plain; version=0.0.4, body from `metrics`; 500 if it fails
 *   /healthz          200 "ok\n" while the process serves
 *   /readyz           200 "ready\n" when `ready` returns true, else 503 "not ready\n"
 *   /customers/{cid}  `cid` is percent-decoded (1..64 bytes, else 400); `customer` answers:
 *                     RP_OK 200 application/json, RP_ERR_NOT_FOUND 404 {"error":"not_found",..},
 *                     anything else (timeout, shutting down) 503 {"error":"unavailable",..}
 *   anything else     404
 * A NULL callback answers as if it failed (metrics 500, ready false, customer 503).
 */

#define RP_HTTP_MAX_CONNECTIONS 32

struct rp_http_handlers {
    void *opaque; /* passed back to every callback */
    /**
     * Renders the /metrics body: sets *body_out to a malloc'd buffer that the server frees
     * (e.g. rp_metrics_render) and *len_out to its length. Returns 0, or an error (-> 500).
     */
    int (*metrics)(void *opaque, char **body_out, size_t *len_out);
    /** Whether the engine is ready (assigned partitions restored). */
    bool (*ready)(void *opaque);
    /**
     * Looks up one customer; `cid` (not NUL-terminated, may hold any byte) is valid during the
     * call only. On RP_OK sets *json_out to a malloc'd JSON document (the server frees it) and
     * *len_out to its length. RP_ERR_NOT_FOUND: not owned here (404). Any other error
     * (e.g. the owning worker did not answer in time): 503.
     */
    int (*customer)(void *opaque, const char *cid, size_t cid_len, char **json_out,
                    size_t *len_out);
};

struct rp_http;

/**
 * Starts serving on `listen`: "HOST:PORT" (HOST a name, an IPv4 address, or a bracketed IPv6
 * address "[::1]:9464"; an empty HOST ":9464" means every interface). PORT 0 picks a free port
 * (see rp_http_port). `handlers` is copied. Returns NULL and fills errstr when the address is bad
 * or cannot be bound. An empty `listen` means HTTP is disabled: do not call (returns NULL with
 * "HTTP is disabled").
 */
struct rp_http *rp_http_create(const char *listen, const struct rp_http_handlers *handlers,
                               char *errstr, size_t errstr_size);
/** The TCP port actually bound (useful after PORT 0). */
int rp_http_port(const struct rp_http *http);
/**
 * Stops accepting, waits for the connection threads to finish their current request, frees.
 * After it returns no callback runs any more. NULL is a no-op.
 */
void rp_http_destroy(struct rp_http *http);

/**
 * Percent-decodes `in[0..len)` into `out` (capacity `cap`), returning the decoded length, or -1
 * on a bad escape ("%4", "%zz") or when it does not fit. '+' is kept (this is a path, not a form).
 */
long rp_http_percent_decode(const char *in, size_t len, char *out, size_t cap);

#endif
