/* SPDX-License-Identifier: MIT */
/*
 * http.h - a small HTTP/1.1 server on libmicrohttpd: a static route table,
 * bearer-token auth, JSON replies. Every connection gets a thread of its own,
 * so a handler that waits on the database never stalls /healthz.
 */
#ifndef RC_HTTP_H
#define RC_HTTP_H

#include <jansson.h>
#include <stddef.h>

typedef struct http_server http_server;

typedef struct http_request {
    const char *method;  /* "GET", "POST", ... */
    const char *path;    /* URL path without the query string, e.g. "/v1/reconciliation/runs/12" */
    const char *tail;    /* for a prefix route: the part of path after the prefix ("12"); else "" */
    void *impl;          /* the MHD connection; use http_query() */
} http_request;

/*
 * A query-string argument ("limit" in ?limit=5), URL-decoded (valid UTF-8:
 * see http_start), or NULL when absent (or given without '='). Valid until
 * the handler returns.
 */
const char *http_query(const http_request *req, const char *key);
/* The client's address as text ("127.0.0.1", "::1"; "unknown"), for who did what. */
void http_remote(const http_request *req, char *out, size_t outlen);
/* A request header's value ("If-None-Match"; case-insensitive name), or NULL. */
const char *http_header(const http_request *req, const char *name);

typedef struct http_response {
    int status;                /* default 200 */
    char *body;                /* malloc'd; the server frees it. NULL = empty body */
    const char *content_type;  /* static string; NULL = "application/json" */
    const char *cache_control; /* static string; NULL = "no-store" */
    const char *const *headers; /* name/value pairs ending with a NULL name, or NULL; they must
                                   outlive the handler's return (static or thread-local: the
                                   reply is sent on the handler's thread) */
} http_response;

/*
 * Set resp to status with body = json (stolen reference; dumped with
 * util_json_dump, compact, plus a newline). Frees a body already set.
 */
void http_reply_json(http_response *resp, int status, json_t *json);
/*
 * Set resp to status with body {"error": "<message>", "status": <status>}.
 * Bytes of the message that are not valid UTF-8 become U+FFFD, so quoting
 * request text never turns the reply into a 500.
 */
void http_reply_error(http_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * A handler fills resp (status is 200, body, content_type, cache_control and
 * headers NULL on entry).
 * It runs on the connection's thread: several handlers may run at once.
 */
typedef void (*http_handler)(void *user, const http_request *req, http_response *resp);

typedef struct http_route {
    const char *method;  /* "GET" or "POST" */
    const char *path;    /* exact path, or a prefix when it ends with '/' and prefix is set */
    int prefix;          /* 1: path is a prefix; the rest goes to req->tail (must be non-empty) */
    int open;            /* 1: no token needed (/healthz, /readyz) */
    http_handler fn;
} http_route;

/* What the route table says about one method and path, before any I/O. */
typedef struct http_match {
    const http_route *hit; /* the route serving method on path, or NULL */
    size_t tail_off;       /* with hit: where req->tail starts in path */
    int path_known;        /* some route serves path, with some method (else 404) */
    int open;              /* no token needed: hit's flag, or (no hit) any route of path's */
    char allow[128];       /* the methods that serve path, "GET, HEAD, POST" (405's Allow:) */
} http_match;

/*
 * Route method and path against routes (a pure function: what the server
 * does first with every request, kept apart from libmicrohttpd so that it
 * can be tested and fuzzed alone). The first route that matches both wins;
 * a prefix route matches only with a non-empty tail. A GET route serves
 * HEAD too (and Allow lists HEAD after GET).
 */
void http_route_find(const http_route *routes, size_t n_routes, const char *method,
                     const char *path, http_match *m);

typedef struct http_config {
    const char *listen;        /* "HOST:PORT", "[IPv6]:PORT"; HOST may be a name (getaddrinfo) */
    const char *token;         /* NULL or "": no auth; else every non-open route needs
                                  "Authorization: Bearer <token>" */
    const http_route *routes;  /* not copied: must outlive the server */
    size_t n_routes;
    void *user;                /* passed to every handler */
    unsigned connection_limit; /* 0 = 32; the service passes http.max_connections (256) */
    unsigned timeout_s;        /* per-connection idle timeout; 0 = 10 */
    unsigned request_deadline_s; /* a request's headers and body must all be in this long
                                    after the connection's start, or after the end of its
                                    previous request (keep-alive), or it is closed; 0 = 10 */
} http_config;

/*
 * Start listening (threads of its own). Returns 0 and *out, or -1 with err
 * naming the address and why (e.g. "http.listen 127.0.0.1:3006: Address
 * already in use"). The token is copied.
 *
 * A HOST name binds the first address getaddrinfo returns. At most limit
 * connections are served, and at most max(limit / 2, min(limit, 8)) from one
 * client address, so one busy client cannot take every slot of a large
 * limit. A new connection past a cap makes room: the connection (of that
 * address, for the per-address cap) that has waited longest without
 * delivering a whole request, idle or sending slowly, is closed. If every
 * one is busy, the new connection is taken all the same, but its request to
 * a route that is not open gets 503 (with Retry-After: 1, and the connection
 * closed) while it is over a cap; open routes are always answered, so
 * /healthz stays reachable when slow clients hold every slot.
 *
 * Up to twice limit connections may be open (room for the open routes and
 * for connections not reaped yet), a descriptor each: a soft RLIMIT_NOFILE
 * below that plus 64 is raised as far as the hard limit allows, and a
 * warning says what is still short.
 *
 * A request body is read and discarded; one over 64 KiB gets 413. A path
 * (a prefix route's tail) or a query argument that is not valid UTF-8 gets
 * 400 (an unknown path 404) before any handler runs: handlers only see text.
 * SIGINT, SIGTERM, SIGHUP and SIGPIPE are blocked in the server's threads
 * (and the reaper's): the process's signal handling stays on the caller's
 * threads.
 */
int http_start(const http_config *cfg, http_server **out, char *err, size_t errlen);

/*
 * The part of libmicrohttpd's start-up message worth showing after our own
 * "http.listen ADDR: " prefix: for "Failed to bind to port N: WHY", WHY;
 * else (or when nothing follows the colon) msg itself. Points into msg.
 */
const char *http_start_reason(const char *msg);
/*
 * Stop accepting, wait for running handlers, drop idle connections, free.
 * Accepts NULL.
 */
void http_stop(http_server *s);

/*
 * Connections are numbered 1, 2, ... in the order s lists them. The last
 * number given so far and how many connections are open that count towards
 * the caps; and whether connection seq is still listed. Tests wait on these
 * facts (the server has taken a connection, has let it go) instead of
 * sleeping.
 */
void http_counts(http_server *s, unsigned long *accepted, unsigned *open);
int http_listed(http_server *s, unsigned long seq);

#endif
