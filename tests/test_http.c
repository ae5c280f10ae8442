/* SPDX-License-Identifier: MIT */
/* test_http.c - the HTTP transport over real loopback sockets. */
#include "helpers.h"
#include "service/http.h"
#include "base/log.h"
#include "th_http.h"
#include "th_wait.h"
#include "base/util.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TOKEN "s3cret-token-0123"

static void h_health(void *user, const http_request *req, http_response *resp)
{
    (void)user;
    (void)req;
    http_reply_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

static void h_things(void *user, const http_request *req, http_response *resp)
{
    const char *limit = http_query(req, "limit"), *x = http_query(req, "x");
    http_reply_json(resp, 200, json_pack("{s:s, s:s?, s:s?, s:s, s:i}", "path", req->path,
                                         "limit", limit, "x", x, "tail", req->tail,
                                         "user", *(int *)user));
}

static void h_create(void *user, const http_request *req, http_response *resp)
{
    (void)user;
    http_reply_json(resp, 201, json_pack("{s:s}", "method", req->method));
}

static void h_run(void *user, const http_request *req, http_response *resp)
{
    (void)user;
    http_reply_json(resp, 200, json_pack("{s:s}", "tail", req->tail));
}

static atomic_int slow_inside; /* h_slow has begun */

static void h_slow(void *user, const http_request *req, http_response *resp)
{
    (void)user;
    (void)req;
    atomic_store(&slow_inside, 1);
    usleep(1500 * 1000);
    http_reply_error(resp, 503, "slow %d", 1);
}

static void h_text(void *user, const http_request *req, http_response *resp)
{
    (void)user;
    (void)req;
    resp->body = xstrdup("hello");
    resp->content_type = "text/plain";
}

static void h_empty(void *user, const http_request *req, http_response *resp)
{
    (void)user;
    (void)req;
    (void)resp;
}

static void h_badstatus(void *user, const http_request *req, http_response *resp)
{
    (void)user;
    (void)req;
    resp->status = 42;
}

/* Held until gate_release(): a request that keeps its connection busy. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open, gate_inside;

static void h_gate(void *user, const http_request *req, http_response *resp)
{
    (void)user;
    (void)req;
    pthread_mutex_lock(&gate_mu);
    gate_inside++;
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    http_reply_json(resp, 200, json_pack("{s:b}", "passed", 1));
}

/* Wait (at most 5 s) until n requests are inside h_gate. */
static void gate_wait(int n)
{
    int inside = 0;
    for (int i = 0; i < 500 && inside < n; i++) {
        pthread_mutex_lock(&gate_mu);
        inside = gate_inside;
        pthread_mutex_unlock(&gate_mu);
        if (inside < n)
            usleep(10 * 1000);
    }
    cr_assert_eq(inside, n, "%d requests in the gate, want %d", inside, n);
}

static void gate_release(void)
{
    pthread_mutex_lock(&gate_mu);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

/* An error message with bytes that are not UTF-8, one of them a character cut short. */
static void h_badtext(void *user, const http_request *req, http_response *resp)
{
    (void)user;
    (void)req;
    http_reply_error(resp, 409, "bad \xff byte, cut \xc3");
}

static const http_route routes[] = {
    { "GET", "/healthz", 0, 1, h_health },
    { "GET", "/ping", 0, 1, h_health },
    { "GET", "/v1/gate", 0, 0, h_gate },
    { "GET", "/v1/badtext", 0, 0, h_badtext },
    { "GET", "/v1/things", 0, 0, h_things },
    { "POST", "/v1/things", 0, 0, h_create },
    { "GET", "/v1/runs/", 1, 0, h_run },
    { "GET", "/slow", 0, 1, h_slow },
    { "GET", "/text", 0, 0, h_text },
    { "GET", "/empty", 0, 0, h_empty },
    { "GET", "/bad", 0, 0, h_badstatus },
};

static int user_value = 7;

/*
 * A server on a free port of 127.0.0.1 with a request deadline; retries if
 * another process took the port meanwhile.
 */
static http_server *start_deadline(int *port, const char *token, unsigned limit, unsigned timeout,
                                   unsigned deadline)
{
    char err[256], listen[64];
    for (int attempt = 0; attempt < 5; attempt++) {
        *port = th_free_port();
        cr_assert_gt(*port, 0);
        snprintf(listen, sizeof listen, "127.0.0.1:%d", *port);
        http_config cfg = { listen, token, routes, sizeof routes / sizeof routes[0], &user_value,
                            limit, timeout, deadline };
        http_server *s = NULL;
        if (http_start(&cfg, &s, err, sizeof err) == 0)
            return s;
    }
    cr_assert_fail("http_start: %s", err);
    return NULL;
}

static http_server *start(int *port, const char *token, unsigned limit, unsigned timeout)
{
    return start_deadline(port, token, limit, timeout, 0);
}

static json_t *body_json(const th_response *r)
{
    json_error_t je;
    json_t *j = json_loads(r->body, 0, &je);
    cr_assert_not_null(j, "not JSON (%s): %s", je.text, r->body);
    return j;
}

static void assert_header(const th_response *r, const char *name, const char *want)
{
    char *v = th_header(r, name);
    cr_assert_not_null(v, "no %s header in:\n%s", name, r->headers);
    cr_assert_str_eq(v, want, "%s", name);
    free(v);
}

/* A JSON error body {"error": ..., "status": status}. */
static void assert_error(const th_response *r, int status)
{
    cr_assert_eq(r->status, status, "status %d, body %s", r->status, r->body);
    assert_header(r, "Content-Type", "application/json");
    json_t *j = body_json(r);
    cr_assert(json_is_string(json_object_get(j, "error")), "%s", r->body);
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), status, "%s", r->body);
    json_decref(j);
}

static int64_t get_ms(int port, const char *path, int *status)
{
    th_response r;
    int64_t t0 = util_mono_ms();
    cr_assert_eq(th_http(port, "GET", path, NULL, NULL, &r), 0, "GET %s", path);
    *status = r.status;
    th_response_free(&r);
    return util_mono_ms() - t0;
}

Test(http, json_reply_with_headers)
{
    int port;
    http_server *s = start(&port, NULL, 0, 0);
    th_response r;
    cr_assert_eq(th_http(port, "GET", "/v1/things?limit=5", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    assert_header(&r, "Content-Type", "application/json");
    assert_header(&r, "Cache-Control", "no-store");
    cr_assert_eq(r.body[strlen(r.body) - 1], '\n', "body ends with a newline: %s", r.body);
    json_t *j = body_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "path")), "/v1/things");
    cr_assert_str_eq(json_string_value(json_object_get(j, "tail")), "");
    cr_assert_eq(json_integer_value(json_object_get(j, "user")), 7);
    json_decref(j);
    th_response_free(&r);
    http_stop(s);
}

Test(http, text_empty_and_bad_status)
{
    int port;
    http_server *s = start(&port, NULL, 0, 0);
    th_response r;
    cr_assert_eq(th_http(port, "GET", "/text", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    assert_header(&r, "Content-Type", "text/plain");
    cr_assert_str_eq(r.body, "hello", "no newline added to a non-JSON body");
    th_response_free(&r);

    cr_assert_eq(th_http(port, "GET", "/empty", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "");
    assert_header(&r, "Content-Length", "0");
    th_response_free(&r);

    cr_assert_eq(th_http(port, "GET", "/bad", NULL, NULL, &r), 0);
    assert_error(&r, 500);
    th_response_free(&r);
    http_stop(s);
}

Test(http, unknown_path_404)
{
    int port;
    http_server *s = start(&port, NULL, 0, 0);
    th_response r;
    cr_assert_eq(th_http(port, "GET", "/nope", NULL, NULL, &r), 0);
    assert_error(&r, 404);
    assert_header(&r, "Cache-Control", "no-store");
    th_response_free(&r);
    /* An exact route is not a prefix. */
    cr_assert_eq(th_http(port, "GET", "/healthz/x", NULL, NULL, &r), 0);
    assert_error(&r, 404);
    th_response_free(&r);
    http_stop(s);
}

Test(http, wrong_method_405_with_allow)
{
    int port;
    http_server *s = start(&port, NULL, 0, 0);
    th_response r;
    cr_assert_eq(th_http(port, "DELETE", "/v1/things", NULL, NULL, &r), 0);
    assert_error(&r, 405);
    assert_header(&r, "Allow", "GET, HEAD, POST");
    th_response_free(&r);
    cr_assert_eq(th_http(port, "PUT", "/healthz", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 405);
    assert_header(&r, "Allow", "GET, HEAD");
    th_response_free(&r);
    cr_assert_eq(th_http(port, "POST", "/v1/things", NULL, "{}", &r), 0);
    cr_assert_eq(r.status, 201, "%s", r.body);
    th_response_free(&r);
    http_stop(s);
}

Test(http, prefix_route_tail)
{
    int port;
    http_server *s = start(&port, NULL, 0, 0);
    th_response r;
    cr_assert_eq(th_http(port, "GET", "/v1/runs/12?x=1", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *j = body_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "tail")), "12");
    json_decref(j);
    th_response_free(&r);
    /* The tail must not be empty. */
    cr_assert_eq(th_http(port, "GET", "/v1/runs/", NULL, NULL, &r), 0);
    assert_error(&r, 404);
    th_response_free(&r);
    cr_assert_eq(th_http(port, "GET", "/v1/runs", NULL, NULL, &r), 0);
    assert_error(&r, 404);
    th_response_free(&r);
    http_stop(s);
}

Test(http, query_args)
{
    int port;
    http_server *s = start(&port, NULL, 0, 0);
    th_response r;
    cr_assert_eq(th_http(port, "GET", "/v1/things?x=a%20b&limit=5", NULL, NULL, &r), 0);
    json_t *j = body_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "limit")), "5");
    cr_assert_str_eq(json_string_value(json_object_get(j, "x")), "a b");
    json_decref(j);
    th_response_free(&r);
    cr_assert_eq(th_http(port, "GET", "/v1/things", NULL, NULL, &r), 0);
    j = body_json(&r);
    cr_assert(json_is_null(json_object_get(j, "limit")), "absent argument is NULL: %s", r.body);
    json_decref(j);
    th_response_free(&r);
    http_stop(s);
}

static int status_with(int port, const char *method, const char *path, const char *headers)
{
    th_response r;
    cr_assert_eq(th_http(port, method, path, headers, NULL, &r), 0, "%s %s", method, path);
    int st = r.status;
    if (st == 401) {
        assert_error(&r, 401);
        assert_header(&r, "WWW-Authenticate", "Bearer");
    }
    th_response_free(&r);
    return st;
}

Test(http, bearer_token)
{
    int port;
    http_server *s = start(&port, TOKEN, 0, 0);
    cr_assert_eq(status_with(port, "GET", "/v1/things", NULL), 401);
    cr_assert_eq(status_with(port, "GET", "/v1/things", "Authorization: Bearer nope\r\n"), 401);
    /* Same length, last byte differs; and a prefix / an extension of the token. */
    cr_assert_eq(status_with(port, "GET", "/v1/things",
                             "Authorization: Bearer s3cret-token-0124\r\n"), 401);
    cr_assert_eq(status_with(port, "GET", "/v1/things",
                             "Authorization: Bearer s3cret-token-012\r\n"), 401);
    cr_assert_eq(status_with(port, "GET", "/v1/things",
                             "Authorization: Bearer s3cret-token-01234\r\n"), 401);
    cr_assert_eq(status_with(port, "GET", "/v1/things", "Authorization: " TOKEN "\r\n"), 401);
    cr_assert_eq(status_with(port, "GET", "/v1/things",
                             "Authorization: Basic " TOKEN "\r\n"), 401);
    cr_assert_eq(status_with(port, "GET", "/v1/things",
                             "Authorization: Bearer " TOKEN "\r\n"), 200);
    /* Open routes need none; an unknown path or a wrong method is not told apart without it. */
    cr_assert_eq(status_with(port, "GET", "/healthz", NULL), 200);
    cr_assert_eq(status_with(port, "GET", "/nope", NULL), 401);
    cr_assert_eq(status_with(port, "DELETE", "/v1/things", NULL), 401);
    cr_assert_eq(status_with(port, "GET", "/nope", "Authorization: Bearer " TOKEN "\r\n"), 404);
    http_stop(s);
}

Test(http, empty_token_means_no_auth)
{
    int port;
    http_server *s = start(&port, "", 0, 0);
    cr_assert_eq(status_with(port, "GET", "/v1/things", NULL), 200);
    http_stop(s);
}

Test(http, body_limit_413)
{
    int port;
    http_server *s = start(&port, NULL, 0, 0);
    char *big = malloc(70001);
    memset(big, 'x', 70000);
    big[70000] = '\0';
    th_response r;
    cr_assert_eq(th_http(port, "POST", "/v1/things", NULL, big, &r), 0);
    assert_error(&r, 413);
    th_response_free(&r);
    /* Exactly 64 KiB is fine. */
    big[65536] = '\0';
    cr_assert_eq(th_http(port, "POST", "/v1/things", NULL, big, &r), 0);
    cr_assert_eq(r.status, 201, "%s", r.body);
    th_response_free(&r);
    /* A chunked body has no Content-Length: counted as it comes. */
    big[65536] = 'x';
    big[65537] = '\0';
    char *req = NULL;
    int len = asprintf(&req, "POST /v1/things HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", 65537, big);
    cr_assert_gt(len, 0);
    cr_assert_eq(th_http_raw(port, req, (size_t)len, &r), 0);
    assert_error(&r, 413);
    th_response_free(&r);
    free(req);
    free(big);
    http_stop(s);
}

Test(http, garbage_request_then_still_serving)
{
    int port, st;
    http_server *s = start(&port, NULL, 0, 0);
    th_response r;
    const char *junk = "HELLO\r\n\r\n";
    if (th_http_raw(port, junk, strlen(junk), &r) == 0) {
        cr_assert(r.status >= 400 && r.status < 500, "status %d", r.status);
        th_response_free(&r);
    }
    get_ms(port, "/healthz", &st);
    cr_assert_eq(st, 200);
    http_stop(s);
}

Test(http, idle_client_blocks_nothing_and_is_dropped)
{
    int port, st;
    http_server *s = start(&port, NULL, 0, 1);
    int idle = th_connect(port);
    cr_assert_geq(idle, 0);
    cr_assert_lt(get_ms(port, "/healthz", &st), 1000);
    cr_assert_eq(st, 200);
    /* Timeout 1 s: the server closes the idle socket (recv sees EOF, not our 5 s timeout). */
    int64_t t0 = util_mono_ms();
    char c;
    cr_assert_eq(recv(idle, &c, 1, 0), 0, "idle connection closed by the server");
    int64_t waited = util_mono_ms() - t0;
    cr_assert_lt(waited, 3500, "dropped after %lld ms", (long long)waited);
    close(idle);
    http_stop(s);
}

/* The number the server gave its last connection. */
static unsigned long accepted(http_server *s)
{
    unsigned long n;
    unsigned open;
    http_counts(s, &n, &open);
    return n;
}

/* The connections open on s that count towards its caps. */
static unsigned open_now(http_server *s)
{
    unsigned long n;
    unsigned open;
    http_counts(s, &n, &open);
    return open;
}

/*
 * Connections that have sent nothing, each taken by the server before the
 * next is made: they are listed in this order (ties in age go to the first).
 */
static void open_idle(http_server *s, int port, const char *from, int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        unsigned long before = accepted(s);
        fds[i] = th_connect_from(port, from);
        cr_assert_geq(fds[i], 0, "connect from %s", from ? from : "127.0.0.1");
        TH_WAIT(accepted(s) > before, 5000, "connection %d from %s", i, from ? from : "127.0.0.1");
    }
}

/* GET path from address from (NULL: 127.0.0.1) on a connection of its own; the status. */
static int get_from(http_server *s, int port, const char *from, const char *path)
{
    unsigned long seq = accepted(s) + 1; /* the number ours gets: one client at a time */
    int fd = th_connect_from(port, from);
    cr_assert_geq(fd, 0);
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    th_response r;
    cr_assert_eq(th_exchange(fd, req, &r), 0, "GET %s from %s", path, from ? from : "127.0.0.1");
    int st = r.status;
    th_response_free(&r);
    close(fd);
    TH_WAIT(accepted(s) >= seq && !http_listed(s, seq), 5000, "GET %s: the server kept it", path);
    return st;
}

static void assert_open(const int *fds, int from, int to)
{
    for (int i = from; i < to; i++)
        cr_assert_not(th_closed_within(fds[i], 0), "connection %d is still open", i);
}

Test(http, idle_connections_give_way_at_the_cap)
{
    int port, idle[5];
    http_server *s = start(&port, NULL, 4, 0);
    /* Three idle and a new one: within the cap, nobody is closed. */
    open_idle(s, port, NULL, idle, 3);
    cr_assert_eq(get_from(s, port, NULL, "/v1/things"), 200);
    assert_open(idle, 0, 3);
    /* Four idle: the new one makes five, so the oldest waiting one gives way, and only it. */
    open_idle(s, port, NULL, idle + 3, 1);
    assert_open(idle, 0, 4);
    cr_assert_eq(get_from(s, port, NULL, "/v1/things"), 200);
    cr_assert(th_closed_within(idle[0], 1000), "the oldest idle connection is closed");
    assert_open(idle, 1, 4);
    open_idle(s, port, NULL, idle + 4, 1);
    cr_assert_eq(get_from(s, port, NULL, "/healthz"), 200);
    cr_assert(th_closed_within(idle[1], 1000), "then the next oldest");
    assert_open(idle, 2, 5);
    for (int i = 0; i < 5; i++)
        close(idle[i]);
    http_stop(s);
}

Test(http, caps_evict_within_the_client_address)
{
    /* 20 connections, 10 per client address; other addresses of 127/8 are other clients. */
    int port, a[10], b[10], c;
    http_server *s = start(&port, NULL, 20, 0);
    open_idle(s, port, "127.0.0.2", a, 10);
    /* Another address is below its own cap and the total is below 20: nobody goes. */
    cr_assert_eq(get_from(s, port, "127.0.0.1", "/v1/things"), 200);
    assert_open(a, 0, 10);
    /* The same address is at its cap: its own oldest goes. */
    cr_assert_eq(get_from(s, port, "127.0.0.2", "/v1/things"), 200);
    cr_assert(th_closed_within(a[0], 1000), "the address's oldest connection is closed");
    assert_open(a, 1, 10);
    /* 9 + 10 waiting: a new one makes 20, the total cap, and nobody goes. */
    open_idle(s, port, "127.0.0.3", b, 10);
    cr_assert_eq(get_from(s, port, "127.0.0.1", "/v1/things"), 200);
    assert_open(a, 1, 10);
    assert_open(b, 0, 10);
    /* 9 + 10 + 1 waiting: a new one would make 21; the oldest of any address goes. */
    open_idle(s, port, "127.0.0.4", &c, 1);
    cr_assert_eq(get_from(s, port, "127.0.0.1", "/v1/things"), 200);
    cr_assert(th_closed_within(a[1], 1000), "the oldest connection of any address is closed");
    assert_open(a, 2, 10);
    assert_open(b, 0, 10);
    assert_open(&c, 0, 1);
    for (int i = 0; i < 10; i++)
        close(a[i]);
    for (int i = 0; i < 10; i++)
        close(b[i]);
    close(c);
    http_stop(s);
}

typedef struct call {
    int port, rc;
    const char *path;
    th_response r;
} call;

static void *call_main(void *arg)
{
    call *c = arg;
    c->rc = th_http(c->port, "GET", c->path, NULL, NULL, &c->r);
    return NULL;
}

Test(http, busy_connections_at_the_cap_503_but_open_routes_answer)
{
    int port;
    http_server *s = start(&port, NULL, 4, 0);
    call held[4];
    pthread_t t[4];
    for (int i = 0; i < 3; i++) {
        held[i] = (call){ port, -1, "/v1/gate", { 0, NULL, NULL } };
        cr_assert_eq(pthread_create(&t[i], NULL, call_main, &held[i]), 0);
    }
    gate_wait(3);
    /* Three busy: a fourth connection is within the cap. */
    cr_assert_eq(get_from(s, port, NULL, "/v1/things"), 200);
    held[3] = (call){ port, -1, "/v1/gate", { 0, NULL, NULL } };
    cr_assert_eq(pthread_create(&t[3], NULL, call_main, &held[3]), 0);
    gate_wait(4);
    /* Four busy, none waiting to give way: a fifth is over the cap. */
    th_response r;
    cr_assert_eq(th_http(port, "GET", "/v1/things", NULL, NULL, &r), 0);
    assert_error(&r, 503);
    assert_header(&r, "Retry-After", "1");
    th_response_free(&r);
    /* Open routes (by their flag, whatever their name) are answered all the same. */
    cr_assert_eq(get_from(s, port, NULL, "/healthz"), 200);
    cr_assert_eq(get_from(s, port, NULL, "/ping"), 200);
    gate_release();
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(held[i].rc, 0);
        cr_assert_eq(held[i].r.status, 200, "%s", held[i].r.body);
        th_response_free(&held[i].r);
    }
    TH_WAIT(open_now(s) == 0, 5000, "the held connections are let go");
    cr_assert_eq(get_from(s, port, NULL, "/v1/things"), 200, "served again once the slots free");
    http_stop(s);
}

/* Clients that send one more header byte every interval_ms, as a slowloris does. */
typedef struct trickle {
    int fds[16];
    int n, interval_ms;
    atomic_int stop;
    pthread_t t;
} trickle;

static void *trickle_main(void *arg)
{
    trickle *tr = arg;
    while (!atomic_load(&tr->stop)) {
        for (int i = 0; i < tr->n; i++)
            send(tr->fds[i], "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        for (int slept = 0; slept < tr->interval_ms && !atomic_load(&tr->stop); slept += 10)
            usleep(10 * 1000);
    }
    return NULL;
}

static void trickle_start(trickle *tr, http_server *s, int port, int n, int interval_ms)
{
    unsigned long before = accepted(s);
    const char *head = "GET /v1/things HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    tr->n = n;
    tr->interval_ms = interval_ms;
    atomic_store(&tr->stop, 0);
    for (int i = 0; i < n; i++) {
        cr_assert_geq(tr->fds[i] = th_connect(port), 0, "slow client %d", i);
        cr_assert_eq(send(tr->fds[i], head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
    }
    TH_WAIT(accepted(s) >= before + (unsigned long)n, 5000, "the server has taken the slow clients");
    cr_assert_eq(pthread_create(&tr->t, NULL, trickle_main, tr), 0);
}

static void trickle_stop(trickle *tr)
{
    atomic_store(&tr->stop, 1);
    pthread_join(tr->t, NULL);
    for (int i = 0; i < tr->n; i++)
        close(tr->fds[i]);
}

Test(http, slowloris_leaves_healthz_answering)
{
    int port, st;
    http_server *s = start(&port, NULL, 0, 0); /* 32, 16 per address, deadline 10 s */
    trickle tr;
    trickle_start(&tr, s, port, 16, 1000);
    for (int i = 0; i < 3; i++) {
        int64_t ms = get_ms(port, "/healthz", &st);
        cr_assert_eq(st, 200);
        cr_assert_lt(ms, 1000, "/healthz took %lld ms", (long long)ms);
        usleep(700 * 1000);
    }
    cr_assert_eq(get_from(s, port, NULL, "/v1/things"), 200, "a non-open route gets a slot too");
    /* Each request above took the slot of one slow client; the others still trickle. */
    int open = 0;
    for (int i = 0; i < 16; i++)
        open += !th_closed_within(tr.fds[i], 0);
    cr_assert_geq(open, 12, "%d slow clients left", open);
    trickle_stop(&tr);
    http_stop(s);
}

Test(http, request_deadline_closes_slow_senders)
{
    int port;
    http_server *s = start_deadline(&port, NULL, 0, 0, 1); /* idle timeout 10 s, deadline 1 s */
    /* Just in time: the request is whole after about 600 ms. */
    int fd = th_connect(port);
    cr_assert_geq(fd, 0);
    const char *parts[] = { "GET /healthz HTTP/1.1\r\n", "Host: x\r\n", "X-A: b\r\n" };
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(send(fd, parts[i], strlen(parts[i]), MSG_NOSIGNAL), (ssize_t)strlen(parts[i]));
        usleep(200 * 1000);
    }
    th_response r;
    cr_assert_eq(th_exchange(fd, "\r\n", &r), 0, "served within the deadline");
    cr_assert_eq(r.status, 200);
    th_response_free(&r);
    close(fd);
    /* Too late: a byte every 200 ms is never idle, but it is closed at 1 s. */
    fd = th_connect(port);
    cr_assert_geq(fd, 0);
    int64_t t0 = util_mono_ms();
    send(fd, "GET /healthz HTTP/1.1\r\nX-Slow: ", 32, MSG_NOSIGNAL);
    int closed = 0;
    while (!closed && util_mono_ms() - t0 < 3000) {
        send(fd, "a", 1, MSG_NOSIGNAL);
        closed = th_closed_within(fd, 200);
    }
    int64_t took = util_mono_ms() - t0;
    cr_assert(closed, "a slow sender is closed at the deadline");
    cr_assert(took >= 900 && took < 1800, "closed after %lld ms", (long long)took);
    close(fd);
    http_stop(s);
}

Test(http, request_deadline_restarts_after_each_request)
{
    int port;
    http_server *s = start_deadline(&port, NULL, 0, 0, 1);
    int fd = th_connect(port);
    cr_assert_geq(fd, 0);
    int64_t t0 = util_mono_ms();
    usleep(600 * 1000);
    th_response r;
    cr_assert_eq(th_exchange(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
    cr_assert_eq(r.status, 200);
    th_response_free(&r);
    /* The second request is whole 1.3 s after the connection's start, 0.7 s after the first. */
    usleep(300 * 1000);
    const char *head = "GET /healthz HTTP/1.1\r\n";
    cr_assert_eq(send(fd, head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
    usleep(400 * 1000);
    cr_assert_eq(th_exchange(fd, "Host: x\r\n\r\n", &r), 0, "keep-alive request served");
    cr_assert_eq(r.status, 200);
    th_response_free(&r);
    cr_assert_gt(util_mono_ms() - t0, 1200);
    /* Then idle: closed 1 s after the end of the second request. */
    int64_t t1 = util_mono_ms();
    cr_assert(th_closed_within(fd, 2000), "idle keep-alive closed at the deadline");
    int64_t took = util_mono_ms() - t1;
    cr_assert(took >= 800 && took < 1600, "closed after %lld ms", (long long)took);
    close(fd);
    http_stop(s);
}

Test(http, address_in_use)
{
    int port;
    http_server *s = start(&port, NULL, 0, 0);
    char listen[64], err[256] = "";
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    http_config cfg = { listen, NULL, routes, 1, NULL, 0, 0 };
    http_server *s2 = NULL;
    cr_assert_eq(http_start(&cfg, &s2, err, sizeof err), -1);
    cr_assert_null(s2);
    cr_assert(strstr(err, listen) && strstr(err, "in use"), "%s", err);
    http_stop(s);
}

Test(http, bad_listen_strings)
{
    const char *bad[] = { "nonsense", "127.0.0.1:99999", "127.0.0.1:", ":8080", "::1:80",
                          "[::1]80", "127.0.0.1:80x", "no-such-host.invalid:80" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        http_config cfg = { bad[i], NULL, routes, 1, NULL, 0, 0 };
        http_server *s = NULL;
        cr_assert_eq(http_start(&cfg, &s, err, sizeof err), -1, "%s", bad[i]);
        cr_assert_null(s);
        cr_assert(strncmp(err, "http.listen ", 12) == 0 && strstr(err, bad[i]), "%s: %s",
                  bad[i], err);
    }
    http_stop(NULL);
}

Test(http, signal_mask_restored)
{
    sigset_t before, after;
    pthread_sigmask(SIG_SETMASK, NULL, &before);
    int port;
    http_server *s = start(&port, NULL, 0, 0);
    pthread_sigmask(SIG_SETMASK, NULL, &after);
    cr_assert_eq(sigismember(&after, SIGTERM), sigismember(&before, SIGTERM));
    cr_assert_eq(sigismember(&after, SIGINT), sigismember(&before, SIGINT));
    cr_assert_eq(sigismember(&after, SIGPIPE), sigismember(&before, SIGPIPE));
    http_stop(s);
}

Test(http, slow_handler_does_not_delay_others)
{
    int port, st;
    http_server *s = start(&port, NULL, 0, 0);
    call slow = { port, -1, "/slow", { 0, NULL, NULL } };
    pthread_t t;
    int64_t t0 = util_mono_ms();
    cr_assert_eq(pthread_create(&t, NULL, call_main, &slow), 0);
    TH_WAIT(atomic_load(&slow_inside), 5000, "the slow handler never began");
    cr_assert_lt(get_ms(port, "/healthz", &st), 500);
    cr_assert_eq(st, 200);
    pthread_join(t, NULL);
    cr_assert_geq(util_mono_ms() - t0, 1400);
    cr_assert_eq(slow.rc, 0);
    assert_error(&slow.r, 503);
    th_response_free(&slow.r);
    http_stop(s);
}

Test(http, invalid_utf8_path_404_with_json)
{
    int port;
    http_server *s = start(&port, NULL, 0, 0);
    th_response r;
    cr_assert_eq(th_http(port, "GET", "/%FF%FE", NULL, NULL, &r), 0);
    assert_error(&r, 404); /* the body parses: jansson checks UTF-8 */
    cr_assert(strstr(r.body, "\xef\xbf\xbd"), "the bytes shown as U+FFFD: %s", r.body);
    th_response_free(&r);
    /* A long path is cut in the message; never inside a character. */
    char path[700] = "/"; /* 201 bytes decoded: cut at 200, inside the last character */
    for (int i = 0; i < 100; i++)
        strcat(path, "%C3%A9");
    cr_assert_eq(th_http(port, "GET", path, NULL, NULL, &r), 0);
    assert_error(&r, 404);
    th_response_free(&r);
    http_stop(s);
}

Test(http, invalid_utf8_prefix_tail_400)
{
    int port;
    http_server *s = start(&port, NULL, 0, 0);
    th_response r;
    cr_assert_eq(th_http(port, "GET", "/v1/runs/1%FF", NULL, NULL, &r), 0);
    assert_error(&r, 400);
    th_response_free(&r);
    /* Overlong form and surrogate: what jansson refuses. */
    cr_assert_eq(th_http(port, "GET", "/v1/runs/%C0%AF", NULL, NULL, &r), 0);
    assert_error(&r, 400);
    th_response_free(&r);
    cr_assert_eq(th_http(port, "GET", "/v1/runs/%ED%A0%80", NULL, NULL, &r), 0);
    assert_error(&r, 400);
    th_response_free(&r);
    /* Valid multibyte text goes through. */
    cr_assert_eq(th_http(port, "GET", "/v1/runs/%C3%A9%F0%9F%98%80", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *j = body_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "tail")), "\xc3\xa9\xf0\x9f\x98\x80");
    json_decref(j);
    th_response_free(&r);
    http_stop(s);
}

Test(http, invalid_utf8_query_400)
{
    int port;
    http_server *s = start(&port, NULL, 0, 0);
    th_response r;
    cr_assert_eq(th_http(port, "GET", "/v1/things?limit=%FF", NULL, NULL, &r), 0);
    assert_error(&r, 400);
    th_response_free(&r);
    cr_assert_eq(th_http(port, "GET", "/v1/things?%FF=1", NULL, NULL, &r), 0);
    assert_error(&r, 400);
    th_response_free(&r);
    cr_assert_eq(th_http(port, "GET", "/v1/things?x=%C3%A9", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *j = body_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "x")), "\xc3\xa9");
    json_decref(j);
    th_response_free(&r);
    http_stop(s);
}

Test(http, error_reply_repairs_its_message)
{
    int port;
    http_server *s = start(&port, NULL, 0, 0);
    th_response r;
    cr_assert_eq(th_http(port, "GET", "/v1/badtext", NULL, NULL, &r), 0);
    assert_error(&r, 409);
    json_t *j = body_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "error")),
                     "bad \xef\xbf\xbd byte, cut \xef\xbf\xbd");
    json_decref(j);
    th_response_free(&r);
    http_stop(s);
}

Test(http, request_log_line_is_valid_utf8)
{
    /* JSON log lines: one that is not UTF-8 cannot be written at all. */
    char path[] = "/tmp/rc-http-log-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path); /* read back through fd: nothing is left behind if an assertion fails */
    fflush(stderr);
    int saved = dup(2);
    cr_assert_geq(saved, 0);
    dup2(fd, 2);
    log_setup(RC_LOG_DEBUG, LOG_JSON);
    int port;
    http_server *s = start(&port, NULL, 0, 0);
    th_response r;
    cr_assert_eq(th_http(port, "GET", "/x%FF%0Ay", NULL, NULL, &r), 0);
    assert_error(&r, 404);
    th_response_free(&r);
    http_stop(s);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char log[8192];
    ssize_t n = pread(fd, log, sizeof log - 1, 0);
    close(fd);
    cr_assert_geq(n, 0);
    log[n] = '\0';
    cr_assert(strstr(log, "http GET /x\xef\xbf\xbd?y 404"), "log:\n%s", log);
}
