/* test_http: the operations server over real sockets: routes, status codes, decoding, threads. */
#define _GNU_SOURCE /* strcasestr */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "rp_err.h"

/* ---- a tiny HTTP/1.1 client on plain sockets (no dependency) ---- */

struct resp {
    int status;
    char headers[2048];
    char body[8192];
    size_t body_len;
};

static int connect_to(const char *ip, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends one request with Connection: close and reads the whole answer. Returns 0 or -1. */
static int request(int port, const char *method, const char *path, struct resp *r)
{
    memset(r, 0, sizeof(*r));
    int fd = connect_to("127.0.0.1", port);
    if (fd < 0)
        return -1;
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                     "Content-Length: 0\r\n\r\n",
                     method, path);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    static char buf[16384];
    size_t got = 0;
    for (;;) {
        ssize_t k = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (k < 0) {
            close(fd);
            return -1; /* timeout */
        }
        if (k == 0)
            break;
        got += (size_t)k;
        cr_assert_lt(got, sizeof(buf) - 1, "response too large");
    }
    close(fd);
    buf[got] = '\0';
    cr_assert_eq(sscanf(buf, "HTTP/1.1 %d", &r->status), 1, "bad status line: %.80s", buf);
    char *end = strstr(buf, "\r\n\r\n");
    cr_assert_not_null(end);
    snprintf(r->headers, sizeof(r->headers), "%.*s", (int)(end - buf), buf);
    r->body_len = got - (size_t)(end + 4 - buf);
    cr_assert_lt(r->body_len, sizeof(r->body));
    memcpy(r->body, end + 4, r->body_len);
    return 0;
}

static bool has_header(const struct resp *r, const char *line)
{
    /* case-insensitive search for "Name: value" */
    size_t n = strlen(line);
    for (const char *p = r->headers; *p; p++)
        if (strncasecmp(p, line, n) == 0)
            return true;
    return false;
}

/* ---- handlers of a fake engine ---- */

static atomic_bool ready_flag;
static atomic_bool metrics_fail;
static atomic_int blocked_in_lookup;
static atomic_bool release_lookup;

static int h_metrics(void *opaque, char **body, size_t *len)
{
    cr_assert_eq(opaque, (void *)&ready_flag);
    if (atomic_load(&metrics_fail))
        return RP_ERR_NOMEM;
    *body = strdup("# TYPE rapport_customers gauge\nrapport_customers 3\n");
    *len = strlen(*body);
    return 0;
}

static bool h_ready(void *opaque)
{
    (void)opaque;
    return atomic_load(&ready_flag);
}

/* Answers {"cid_hex":"..."} so the test sees exactly which bytes arrived. */
static int h_customer(void *opaque, const char *cid, size_t len, char **json, size_t *json_len)
{
    (void)opaque;
    if (len == 7 && memcmp(cid, "missing", 7) == 0)
        return RP_ERR_NOT_FOUND;
    if (len == 4 && memcmp(cid, "slow", 4) == 0)
        return RP_ERR_IO; /* e.g. the owning worker did not answer in time */
    if (len == 9 && memcmp(cid, "restoring", 9) == 0)
        return RP_ERR_NOT_READY; /* its partition is ours, being restored */
    if (len == 5 && memcmp(cid, "block", 5) == 0) {
        atomic_fetch_add(&blocked_in_lookup, 1);
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (!atomic_load(&release_lookup)) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - t0.tv_sec > 10)
                break;
            usleep(1000);
        }
    }
    char *out = malloc(32 + 2 * len);
    int n = sprintf(out, "{\"cid_hex\":\"");
    for (size_t i = 0; i < len; i++)
        n += sprintf(out + n, "%02x", (unsigned char)cid[i]);
    n += sprintf(out + n, "\"}");
    *json = out;
    *json_len = (size_t)n;
    return RP_OK;
}

static const struct rp_http_handlers handlers = {
    .opaque = &ready_flag, .metrics = h_metrics, .ready = h_ready, .customer = h_customer};

static struct rp_http *srv;
static int port;

static void start(void)
{
    atomic_store(&ready_flag, false);
    atomic_store(&metrics_fail, false);
    atomic_store(&blocked_in_lookup, 0);
    atomic_store(&release_lookup, false);
    char err[256] = "";
    srv = rp_http_create("127.0.0.1:0", &handlers, err, sizeof(err));
    cr_assert_not_null(srv, "%s", err);
    port = rp_http_port(srv);
    cr_assert_gt(port, 0);
}

static void stop(void)
{
    rp_http_destroy(srv);
    srv = NULL;
}

TestSuite(http, .init = start, .fini = stop, .timeout = 60);

static struct resp R;

static void get(const char *path)
{
    cr_assert_eq(request(port, "GET", path, &R), 0, "GET %s failed", path);
}

static void assert_body(const char *want)
{
    cr_assert_eq(R.body_len, strlen(want), "body \"%.*s\"", (int)R.body_len, R.body);
    cr_assert(memcmp(R.body, want, R.body_len) == 0, "body \"%.*s\"", (int)R.body_len, R.body);
}

Test(http, healthz)
{
    get("/healthz");
    cr_assert_eq(R.status, 200);
    assert_body("ok\n");
    get("/healthz?probe=1"); /* the query string is not part of the route */
    cr_assert_eq(R.status, 200);
}

Test(http, readyz_flips)
{
    get("/readyz");
    cr_assert_eq(R.status, 503);
    assert_body("not ready\n");
    atomic_store(&ready_flag, true);
    get("/readyz");
    cr_assert_eq(R.status, 200);
    assert_body("ready\n");
    atomic_store(&ready_flag, false);
    get("/readyz");
    cr_assert_eq(R.status, 503);
}

Test(http, metrics)
{
    get("/metrics");
    cr_assert_eq(R.status, 200);
    cr_assert(has_header(&R, "Content-Type: text/plain; version=0.0.4"), "%s", R.headers);
    assert_body("# TYPE rapport_customers gauge\nrapport_customers 3\n");
    atomic_store(&metrics_fail, true);
    get("/metrics");
    cr_assert_eq(R.status, 500);
}

Test(http, customer_found_and_decoded)
{
    get("/customers/alice");
    cr_assert_eq(R.status, 200);
    cr_assert(has_header(&R, "Content-Type: application/json"), "%s", R.headers);
    assert_body("{\"cid_hex\":\"616c696365\"}");
    get("/customers/a%2Fb"); /* encoded slash is part of the cid */
    assert_body("{\"cid_hex\":\"612f62\"}");
    get("/customers/a%2541"); /* decoded exactly once: "a%41" */
    assert_body("{\"cid_hex\":\"61253431\"}");
    get("/customers/%00x%e2%82%AC"); /* any byte, upper or lower hex */
    assert_body("{\"cid_hex\":\"0078e282ac\"}");
    get("/customers/a+b"); /* '+' is not a space in a path */
    assert_body("{\"cid_hex\":\"612b62\"}");
    /* 64 bytes pass, 65 do not */
    char path[128] = "/customers/";
    memset(path + 11, 'x', 64);
    path[75] = '\0';
    get(path);
    cr_assert_eq(R.status, 200);
    path[75] = 'x';
    path[76] = '\0';
    get(path);
    cr_assert_eq(R.status, 400);
}

Test(http, customer_errors)
{
    get("/customers/missing");
    cr_assert_eq(R.status, 404);
    cr_assert(strstr(R.body, "\"error\":\"not_found\""), "%s", R.body);
    cr_assert(has_header(&R, "Content-Type: application/json"));
    get("/customers/slow");
    cr_assert_eq(R.status, 503);
    cr_assert(strstr(R.body, "\"error\":\"unavailable\""), "%s", R.body);
    /* held here but being restored: 503 (retry), not 404 (which says: ask another instance) */
    get("/customers/restoring");
    cr_assert_eq(R.status, 503);
    cr_assert(strstr(R.body, "restoring"), "%s", R.body);
    get("/customers/");
    cr_assert_eq(R.status, 400);
    get("/customers/%zz");
    cr_assert_eq(R.status, 400);
    get("/customers/abc%4");
    cr_assert_eq(R.status, 400);
    get("/customers/a/b");
    cr_assert_eq(R.status, 404);
}

Test(http, unknown_routes_and_methods)
{
    get("/");
    cr_assert_eq(R.status, 404);
    get("/nope");
    cr_assert_eq(R.status, 404);
    get("/metrics/");
    cr_assert_eq(R.status, 404);
    get("/customers");
    cr_assert_eq(R.status, 404);
    static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(request(port, methods[i], "/metrics", &R), 0);
        cr_assert_eq(R.status, 405, "%s", methods[i]);
        cr_assert(has_header(&R, "Allow: GET, HEAD"), "%s", R.headers);
    }
    cr_assert_eq(request(port, "HEAD", "/healthz", &R), 0);
    cr_assert_eq(R.status, 200);
    cr_assert_eq(R.body_len, 0);
}

/* A lookup that blocks (owning worker busy) must not stop other routes: thread per connection. */
static void *blocked_get(void *arg)
{
    (void)arg;
    struct resp *r = malloc(sizeof(*r));
    if (request(port, "GET", "/customers/block", r) != 0)
        r->status = -1;
    return r;
}

Test(http, slow_lookup_does_not_block_health)
{
    pthread_t t;
    pthread_create(&t, NULL, blocked_get, NULL);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (atomic_load(&blocked_in_lookup) == 0) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        cr_assert_lt(now.tv_sec - t0.tv_sec, 10, "lookup never started");
        usleep(1000);
    }
    get("/healthz");
    cr_assert_eq(R.status, 200);
    get("/metrics");
    cr_assert_eq(R.status, 200);
    cr_assert(!atomic_load(&release_lookup)); /* the lookup was still blocked meanwhile */
    atomic_store(&release_lookup, true);
    void *res;
    pthread_join(t, &res);
    struct resp *r = res;
    cr_assert_eq(r->status, 200);
    free(r);
}

/* Reads one response off a kept-alive connection, using its Content-Length. */
static void read_one(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t k = read(fd, buf + got, cap - 1 - got);
        cr_assert_gt(k, 0, "connection closed early");
        got += (size_t)k;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strcasestr(buf, "Content-Length:");
        if (end && cl && got >= (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10))
            return;
        cr_assert_lt(got, cap - 1);
    }
}

/* Prometheus keeps its scrape connection open: several requests, one after the other. */
Test(http, keep_alive_requests_on_one_connection)
{
    int fd = connect_to("127.0.0.1", port);
    cr_assert_geq(fd, 0);
    char buf[4096];
    static const char a[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char b[] = "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int round = 0; round < 3; round++) {
        cr_assert_eq(write(fd, a, sizeof(a) - 1), (ssize_t)(sizeof(a) - 1));
        read_one(fd, buf, sizeof(buf));
        cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
        cr_assert_eq(write(fd, b, sizeof(b) - 1), (ssize_t)(sizeof(b) - 1));
        read_one(fd, buf, sizeof(buf));
        cr_assert(strncmp(buf, "HTTP/1.1 503", 12) == 0, "%s", buf);
    }
    close(fd);
}

/* A body is read and dropped (no route takes one), and the connection stays usable. */
Test(http, post_with_body_then_get)
{
    int fd = connect_to("127.0.0.1", port);
    cr_assert_geq(fd, 0);
    char buf[4096];
    static const char post[] = "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
                               "hello world";
    static const char get2[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert_eq(write(fd, post, sizeof(post) - 1), (ssize_t)(sizeof(post) - 1));
    read_one(fd, buf, sizeof(buf));
    cr_assert(strncmp(buf, "HTTP/1.1 405", 12) == 0, "%s", buf);
    cr_assert_eq(write(fd, get2, sizeof(get2) - 1), (ssize_t)(sizeof(get2) - 1));
    read_one(fd, buf, sizeof(buf));
    cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
    close(fd);
}

/* ---- creation ---- */

Test(http_create, errors_and_disabled)
{
    char err[256];
    cr_assert_null(rp_http_create("", &handlers, err, sizeof(err)));
    cr_assert(strstr(err, "disabled"), "%s", err);
    cr_assert_null(rp_http_create(NULL, &handlers, err, sizeof(err)));
    static const char *const bad[] = {"localhost",     "127.0.0.1:", "127.0.0.1:99999",
                                      "127.0.0.1:80x", "::1:80",     "[::1]80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        cr_assert_null(rp_http_create(bad[i], &handlers, err, sizeof(err)), "%s", bad[i]);
        cr_assert(strstr(err, "bad listen address"), "%s: %s", bad[i], err);
    }
    cr_assert_null(rp_http_create("no-such-host.invalid:0", &handlers, err, sizeof(err)));
    cr_assert(strstr(err, "cannot resolve"), "%s", err);
    /* no error buffer at all is accepted */
    struct rp_http *h = rp_http_create("127.0.0.1:0", &handlers, NULL, 0);
    cr_assert_not_null(h);
    rp_http_destroy(h);
    cr_assert_null(rp_http_create("bad", &handlers, NULL, 0));
}

Test(http_create, port_in_use_and_stop)
{
    char err[256], listen[64];
    struct rp_http *a = rp_http_create("127.0.0.1:0", &handlers, err, sizeof(err));
    cr_assert_not_null(a, "%s", err);
    int p = rp_http_port(a);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", p);
    cr_assert_null(rp_http_create(listen, &handlers, err, sizeof(err)));
    cr_assert(strstr(err, "cannot listen") && strstr(err, "in use"), "%s", err);
    rp_http_destroy(a);
    /* after destroy nothing listens there any more */
    int fd = connect_to("127.0.0.1", p);
    cr_assert_lt(fd, 0);
    if (fd >= 0)
        close(fd);
    rp_http_destroy(NULL);
}

Test(http_create, null_handlers_fail_safe)
{
    char err[256];
    struct rp_http_handlers none = {0};
    struct rp_http *h = rp_http_create("127.0.0.1:0", &none, err, sizeof(err));
    cr_assert_not_null(h, "%s", err);
    int p = rp_http_port(h);
    cr_assert_eq(request(p, "GET", "/metrics", &R), 0);
    cr_assert_eq(R.status, 500);
    cr_assert_eq(request(p, "GET", "/readyz", &R), 0);
    cr_assert_eq(R.status, 503);
    cr_assert_eq(request(p, "GET", "/customers/x", &R), 0);
    cr_assert_eq(R.status, 503);
    cr_assert_eq(request(p, "GET", "/healthz", &R), 0);
    cr_assert_eq(R.status, 200);
    rp_http_destroy(h);
}

Test(http_create, any_interface_and_ipv6)
{
    char err[256];
    struct rp_http *h = rp_http_create(":0", &handlers, err, sizeof(err));
    cr_assert_not_null(h, "%s", err);
    cr_assert_eq(request(rp_http_port(h), "GET", "/healthz", &R), 0);
    cr_assert_eq(R.status, 200);
    rp_http_destroy(h);
    h = rp_http_create("[::1]:0", &handlers, err, sizeof(err));
    if (!h) { /* a container without IPv6 loopback: the address must at least parse */
        cr_assert(!strstr(err, "bad listen address"), "%s", err);
        return;
    }
    cr_assert_gt(rp_http_port(h), 0);
    rp_http_destroy(h);
}

Test(http_decode, percent_decode)
{
    char out[8];
    cr_assert_eq(rp_http_percent_decode("a%20b", 5, out, sizeof(out)), 3);
    cr_assert(memcmp(out, "a b", 3) == 0);
    cr_assert_eq(rp_http_percent_decode("%41%4a%4A", 9, out, sizeof(out)), 3);
    cr_assert(memcmp(out, "AJJ", 3) == 0);
    cr_assert_eq(rp_http_percent_decode("", 0, out, sizeof(out)), 0);
    cr_assert_eq(rp_http_percent_decode("%", 1, out, sizeof(out)), -1);
    cr_assert_eq(rp_http_percent_decode("%4", 2, out, sizeof(out)), -1);
    cr_assert_eq(rp_http_percent_decode("%g0", 3, out, sizeof(out)), -1);
    cr_assert_eq(rp_http_percent_decode("12345678", 8, out, sizeof(out)), 8);
    cr_assert_eq(rp_http_percent_decode("123456789", 9, out, sizeof(out)), -1);
    cr_assert_eq(rp_http_percent_decode("1234567%41", 10, out, sizeof(out)), 8);
}
