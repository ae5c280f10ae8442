/* SPDX-License-Identifier: MIT */
/*
 * test_http_edge.c - the service's HTTP edges: HEAD on every GET route (the
 * same status and headers, no body), and requests whose length is ambiguous
 * (two different Content-Length headers, or Content-Length with
 * Transfer-Encoding: the way to smuggle a request past a proxy) refused 400.
 */
#include "helpers.h"
#include "service/api.h"
#include "th_svc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A service with one finished run (so that every route has something to show). */
static int64_t up(db_kind kind, th_db *t, svc *s)
{
    migrated(kind, t);
    svc_setup(s, t, 1, "schedule:\n  on_startup: false\n  interval: 1h\n", "",
              "  - plugin: fixture\n");
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    int64_t id = post_run(s, "", 202);
    json_decref(wait_run(s, id, 10000));
    return id;
}

static void down(th_db *t, svc *s)
{
    svc_term(s);
    svc_free(s);
    th_db_destroy(t);
}

/*
 * The header lines of r without those that may differ from one answer to the
 * next: Date, and Content-Length where the body is live (an uptime, a
 * duration), keep_length 0.
 */
static char *stable_headers(const th_response *r, int keep_length)
{
    char *out = calloc(1, strlen(r->headers) + 1), *copy = strdup(r->headers), *save = NULL;
    for (char *line = strtok_r(copy, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        if (strncasecmp(line, "Date:", 5) == 0
            || (!keep_length && strncasecmp(line, "Content-Length:", 15) == 0))
            continue;
        strcat(out, line);
        strcat(out, "\n");
    }
    free(copy);
    return out;
}

/*
 * HEAD on each GET route of the API answers as GET does, headers and all
 * (Content-Length included where GET's body is fixed), without a body. The
 * prefix routes get the run's id as their tail (/ui/1 is no file: a 404).
 */
DB_TEST(http_edge, head_on_every_get_route, .timeout = 40)
{
    th_db t;
    svc s;
    int64_t id = up(kind, &t, &s);
    size_t n;
    const http_route *routes = api_routes(&n);
    size_t gets = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(routes[i].method, "GET") != 0)
            continue;
        gets++;
        char path[256];
        if (routes[i].prefix)
            snprintf(path, sizeof path, "%s%lld", routes[i].path, (long long)id);
        else
            snprintf(path, sizeof path, "%s", routes[i].path);
        th_response g, h;
        cr_assert_eq(th_http(s.port, "GET", path, NULL, NULL, &g), 0, "GET %s", path);
        cr_assert_eq(th_http(s.port, "HEAD", path, NULL, NULL, &h), 0, "HEAD %s", path);
        cr_assert_eq(h.status, g.status, "HEAD %s: %d, GET: %d", path, h.status, g.status);
        cr_assert_str_eq(h.body, "", "HEAD %s sent a body: %s", path, h.body);
        /* The console's files are fixed: their length must match too. */
        int fixed = strcmp(path, "/") == 0 || strncmp(path, "/ui/", 4) == 0;
        char *gh = stable_headers(&g, fixed), *hh = stable_headers(&h, fixed);
        cr_assert_str_eq(hh, gh, "HEAD %s: other headers than GET's", path);
        free(gh);
        free(hh);
        th_response_free(&g);
        th_response_free(&h);
    }
    cr_assert_geq(gets, 5, "only %zu GET routes", gets);
    /* A route that only POSTs does not take HEAD, and says what it takes. */
    th_response r;
    cr_assert_eq(th_http(s.port, "HEAD", "/v1/reconciliation/run", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 405);
    char *allow = th_header(&r, "Allow");
    cr_assert_str_eq(allow, "POST");
    free(allow);
    th_response_free(&r);
    cr_assert_eq(th_http(s.port, "DELETE", "/healthz", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 405);
    allow = th_header(&r, "Allow");
    cr_assert_str_eq(allow, "GET, HEAD");
    free(allow);
    th_response_free(&r);
    down(&t, &s);
}

/* One raw request on a connection of its own; its status (-1: no answer). */
static int raw_status(int port, const char *req)
{
    th_response r;
    if (th_http_raw(port, req, strlen(req), &r) != 0)
        return -1;
    int st = r.status;
    th_response_free(&r);
    return st;
}

/*
 * Ambiguous lengths are refused before any handler runs; the unambiguous
 * forms of the same requests still pass (both sides of the boundary).
 */
Test(http_edge, ambiguous_length_is_400, .timeout = 40)
{
    th_db t;
    svc s;
    up(DB_SQLITE, &t, &s);
    static const struct { const char *req; int status; } cases[] = {
        { "POST /v1/reconciliation/run?dryRun=true HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
          "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400 },
        { "POST /v1/reconciliation/run?dryRun=true HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
          "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400 },
        { "POST /v1/reconciliation/run?dryRun=true HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
          "Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400 },
        { "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
          "Content-Length: 0\r\nContent-Length: 1\r\n\r\nx", 400 },
        /* The same length twice is no ambiguity. */
        { "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
          "Content-Length: 0\r\nContent-Length: 0\r\n\r\n", 200 },
        { "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
          200 },
        { "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
          "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 200 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = raw_status(s.port, cases[i].req);
        cr_expect_eq(st, cases[i].status, "case %zu: %d, want %d", i, st, cases[i].status);
    }
    /* Nothing was run by the refused POSTs: the one run of up() is all. */
    json_t *runs = history_of(&s);
    cr_assert_eq(json_array_size(runs), 1);
    json_decref(runs);
    down(&t, &s);
}
