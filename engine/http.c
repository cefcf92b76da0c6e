/* http: the operations HTTP server on libmicrohttpd: routes, status codes, listen-address parsing.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "event.h" /* RP_CID_MAX */

struct rp_http {
    struct MHD_Daemon *daemon;
    struct rp_http_handlers h;
    int port;
};

/* Idle keep-alive connections are closed after this, so that a forgotten client cannot hold one
 * of the RP_HTTP_MAX_CONNECTIONS threads for ever. */
#define CONNECTION_TIMEOUT_S 10
#define LISTEN_BACKLOG       64

long rp_http_percent_decode(const char *in, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            int v = 0;
            for (int k = 1; k <= 2; k++) {
                if (i + (size_t)k >= len)
                    return -1;
                char h = in[i + (size_t)k];
                int d = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
                if (d < 0)
                    return -1;
                v = v * 16 + d;
            }
            c = (char)v;
            i += 2;
        }
        if (o >= cap)
            return -1;
        out[o++] = c;
    }
    return (long)o;
}

/* ---- responses ---- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO; /* MHD closes the connection */
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    /* constant strings: MHD may point at them for the response's life */
    return reply(conn, status, "text/plain; charset=utf-8", (void *)text, strlen(text),
                 MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result reply_json_error(struct MHD_Connection *conn, unsigned status,
                                        const char *json)
{
    return reply(conn, status, "application/json", (void *)json, strlen(json),
                 MHD_RESPMEM_PERSISTENT);
}

/* ---- routes ---- */

static enum MHD_Result route_metrics(struct rp_http *http, struct MHD_Connection *conn)
{
    char *body = NULL;
    size_t len = 0;
    if (!http->h.metrics || http->h.metrics(http->h.opaque, &body, &len) != 0 || !body) {
        free(body);
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics unavailable\n");
    }
    return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len,
                 MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result route_customer(struct rp_http *http, struct MHD_Connection *conn,
                                      const char *raw)
{
    /* The URL reaches us still escaped (identity unescape callback below), so that "%2F" is a
     * byte of the cid while a bare '/' is a path separator, and a bad escape is a 400. */
    if (strchr(raw, '/'))
        return reply_json_error(conn, MHD_HTTP_NOT_FOUND,
                                "{\"error\":\"not_found\",\"detail\":\"no such route\"}\n");
    char cid[RP_CID_MAX];
    long n = rp_http_percent_decode(raw, strlen(raw), cid, sizeof(cid));
    if (n <= 0)
        return reply_json_error(conn, MHD_HTTP_BAD_REQUEST,
                                "{\"error\":\"bad_request\",\"detail\":\"cid must be 1 to 64 "
                                "bytes, percent-encoded\"}\n");
    char *json = NULL;
    size_t len = 0;
    int rc = http->h.customer ? http->h.customer(http->h.opaque, cid, (size_t)n, &json, &len)
                              : RP_ERR_INVALID_ARG;
    if (rc == RP_OK && json)
        return reply(conn, MHD_HTTP_OK, "application/json", json, len, MHD_RESPMEM_MUST_FREE);
    free(json);
    if (rc == RP_ERR_NOT_FOUND)
        return reply_json_error(conn, MHD_HTTP_NOT_FOUND,
                                "{\"error\":\"not_found\",\"detail\":\"customer not held by "
                                "this instance\"}\n");
    if (rc == RP_ERR_NOT_READY) /* (404 would send the caller to another instance) */
        return reply_json_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                "{\"error\":\"unavailable\",\"detail\":\"this instance owns "
                                "the customer's partition and is restoring it: retry\"}\n");
    return reply_json_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "{\"error\":\"unavailable\",\"detail\":\"the owning worker did not "
                            "answer\"}\n");
}

/*
 * Runs on an MHD connection thread. MHD calls it first when the headers are in, then for each
 * chunk of body, then once more with no data. Answering on that first call would make MHD close
 * the connection (it cannot know the request is complete), which defeats keep-alive for
 * Prometheus scrapes; so the first call only marks the request, any body is discarded, and the
 * answer comes on the last call.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    static int started; /* address used as the "headers seen" mark; never written */
    (void)version;
    (void)upload_data;
    if (*con_cls == NULL) {
        *con_cls = &started;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* no route takes a body */
        return MHD_YES;
    }
    struct rp_http *http = cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    if (strcmp(url, "/metrics") == 0)
        return route_metrics(http, conn);
    if (strcmp(url, "/healthz") == 0)
        return reply_text(conn, MHD_HTTP_OK, "ok\n");
    if (strcmp(url, "/readyz") == 0) {
        bool ready = http->h.ready && http->h.ready(http->h.opaque);
        return ready ? reply_text(conn, MHD_HTTP_OK, "ready\n")
                     : reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
    }
    static const char prefix[] = "/customers/";
    if (strncmp(url, prefix, sizeof(prefix) - 1) == 0)
        return route_customer(http, conn, url + sizeof(prefix) - 1);
    return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* Leaves URLs escaped: route_customer decodes the cid itself (see there). */
static size_t unescape_identity(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return strlen(s);
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("rapport: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* ---- listen address ---- */

/* Splits "HOST:PORT", "[V6]:PORT" or ":PORT" into host (NULL = any) and port strings. */
static int split_listen(const char *listen, char *host, size_t host_size, char *port,
                        size_t port_size)
{
    const char *colon;
    const char *h = listen;
    size_t hl;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return -1;
        h = listen + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || memchr(listen, ':', (size_t)(colon - listen)))
            return -1; /* none, or an unbracketed IPv6 address */
        hl = (size_t)(colon - listen);
    }
    const char *p = colon + 1;
    size_t pl = strlen(p);
    if (pl == 0 || pl >= port_size || hl >= host_size)
        return -1;
    long v = 0;
    for (size_t i = 0; i < pl; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
        if (v > 65535)
            return -1;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, p, pl + 1);
    return 0;
}

/* Resolves and binds the listening socket ourselves (rather than MHD_OPTION_SOCK_ADDR) to report
 * bind errors with errno and to read the ephemeral port back with getsockname. */
static int bind_listen(const char *addr, int *port_out, char *errstr, size_t errstr_size)
{
    char host[256], port[8];
    if (split_listen(addr, host, sizeof(host), port, sizeof(port)) != 0) {
        snprintf(errstr, errstr_size, "http: bad listen address \"%s\" (expected HOST:PORT)", addr);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        snprintf(errstr, errstr_size, "http: cannot resolve \"%s\": %s", addr, gai_strerror(gai));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, LISTEN_BACKLOG) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "http: cannot listen on %s: %s", addr, strerror(err));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        snprintf(errstr, errstr_size, "http: getsockname: %s", strerror(errno));
        close(fd);
        return -1;
    }
    *port_out = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

struct rp_http *rp_http_create(const char *listen, const struct rp_http_handlers *handlers,
                               char *errstr, size_t errstr_size)
{
    char dummy[1];
    if (errstr_size == 0) {
        errstr = dummy;
        errstr_size = sizeof(dummy);
    }
    if (!listen || !*listen) {
        snprintf(errstr, errstr_size, "HTTP is disabled");
        return NULL;
    }
    struct rp_http *http = calloc(1, sizeof(*http));
    if (!http) {
        snprintf(errstr, errstr_size, "http: out of memory");
        return NULL;
    }
    if (handlers)
        http->h = *handlers;
    int fd = bind_listen(listen, &http->port, errstr, errstr_size);
    if (fd < 0) {
        free(http);
        return NULL;
    }
    /* A thread per connection (bounded) so that a slow /customers lookup never holds up
     * /healthz or /metrics; MHD's internal thread only accepts. */
    http->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO |
            MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, http,
        /* the logger first, so that MHD's own start-up messages go through it too */
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)RP_HTTP_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_UNESCAPE_CALLBACK,
        unescape_identity, NULL, MHD_OPTION_END);
    if (!http->daemon) {
        snprintf(errstr, errstr_size, "http: cannot start the server on %s", listen);
        close(fd);
        free(http);
        return NULL;
    }
    return http;
}

int rp_http_port(const struct rp_http *http)
{
    return http->port;
}

void rp_http_destroy(struct rp_http *http)
{
    if (!http)
        return;
    /* Joins the listener and every connection thread, and closes the listening socket. */
    MHD_stop_daemon(http->daemon);
    free(http);
}
