/* SPDX-License-Identifier: MIT */
/* http.c - see http.h. */
#include "service/http.h"
#include "base/log.h"
#include "base/text.h"
#include "base/json.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#define HTTP_MAX_BODY (64 * 1024)
/* A chunked body over the limit is discarded to its end so that the client
 * gets its 413; past this much the connection is simply dropped. */
#define HTTP_DROP_BODY (16 * HTTP_MAX_BODY)
#define JSON_TYPE "application/json"

/*
 * One TCP connection, from MHD's NOTIFY_CONNECTION STARTED to its CLOSED.
 *
 * Why we count connections ourselves: MHD's own limits refuse a new
 * connection once the caps are full, so 16 clients that trickle one header
 * byte a second (never idle long enough for the idle timeout) would lock
 * every client of their address out, /healthz included. Instead MHD's hard
 * limit is twice the cap, and at the caps a new connection makes the one that
 * has waited longest without delivering a whole request give way (an idle
 * keep-alive or a slow sender), while a reaper closes any request that is not
 * in whole within the deadline. A request to a non-open route is answered
 * 503 while its connection is over a cap; open routes are always answered.
 *
 * Why shutdown() can never hit a reused fd: MHD calls NOTIFY_CLOSED before it
 * close()s the socket (MHD_cleanup_connections, and the error path of a new
 * connection's setup, in 0.9.75), and on_connection unlinks the entry under
 * s->mu. Whoever shuts a socket down holds s->mu from finding its entry to
 * the shutdown() call, so the socket is still open and still this
 * connection's. shutdown() rather than close(): MHD owns the fd and closes it.
 */
typedef struct conn_entry {
    struct conn_entry *prev, *next; /* in arrival order */
    int fd;                         /* -1: unknown, never shut down */
    int family;                     /* AF_INET, AF_INET6 or 0 (unknown: one group) */
    unsigned char ip[16];           /* the client's address: the per-address group */
    int64_t since_ms;  /* connection start, or end of its previous request: the deadline's start */
    int delivered;     /* its request is in whole (handler running or reply queued) */
    int doomed;        /* shut down by us: no longer counted, never shut down again */
    unsigned long seq; /* its number: http_listed */
} conn_entry;

struct http_server {
    struct MHD_Daemon *d;
    const http_route *routes;
    size_t n_routes;
    void *user;
    char *token; /* NULL: no auth; wiped before it is freed */
    size_t token_len;
    struct sockaddr_storage addr;
    atomic_int starting;  /* MHD's messages go to start_err, not the log */
    char start_err[256];

    unsigned limit, per_ip; /* the documented caps */
    int64_t deadline_ms;
    int sync_ready;        /* mu and wake are initialised */
    pthread_mutex_t mu;    /* guards the connection list, every conn_entry and stopping */
    pthread_cond_t wake;   /* on CLOCK_MONOTONIC: the reaper's sleep */
    conn_entry *head, *tail;
    unsigned long accepted; /* connections listed so far: http_counts */
    int stopping;
    int reaper_started;
    pthread_t reaper;
};

/* One request's state, from its headers to its completion. */
typedef struct req_state {
    int64_t start_ms;
    const http_route *route;
    size_t tail_off; /* req->tail = path + tail_off */
    size_t body_len;
    conn_entry *conn; /* NULL if MHD had no socket context for it */
} req_state;

const char *http_query(const http_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->impl, MHD_GET_ARGUMENT_KIND, key);
}

void http_remote(const http_request *req, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->impl, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, outlen, "unknown");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outlen);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
                  (socklen_t)outlen);
}

const char *http_header(const http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->impl, MHD_HEADER_KIND, name);
}

void http_reply_json(http_response *resp, int status, json_t *json)
{
    char *text = json ? util_json_dump(json, 0) : NULL;
    json_decref(json);
    free(resp->body);
    resp->content_type = NULL;
    if (!text) {
        resp->status = 500;
        resp->body = xstrdup("{\"error\":\"could not encode the response\",\"status\":500}\n");
        return;
    }
    size_t n = strlen(text);
    resp->status = status;
    resp->body = xmalloc(n + 2);
    memcpy(resp->body, text, n);
    memcpy(resp->body + n, "\n", 2);
    free(text);
}

void http_reply_error(http_response *resp, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* The message may quote request text, or be cut inside a character. */
    char clean[3 * sizeof msg];
    text_clean(msg, clean, sizeof clean, 0);
    json_t *j = json_pack("{s:s, s:i}", "error", clean, "status", status);
    if (!j) /* out of memory: http_reply_json answers 500 */
        log_error("http: cannot build the error reply for status %d", status);
    http_reply_json(resp, status, j);
}

/* Request text for a log line: bounded, valid UTF-8, control characters made visible. */
static void log_safe(const char *in, char *out, size_t outlen)
{
    text_clean(in, out, outlen, TEXT_CTL_VISIBLE);
}

/* ---- connections: the caps, eviction and the request deadline (see conn_entry) ---- */

static void conn_addr(conn_entry *e, const struct sockaddr *sa)
{
    if (sa && sa->sa_family == AF_INET) {
        e->family = AF_INET;
        memcpy(e->ip, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa && sa->sa_family == AF_INET6) {
        e->family = AF_INET6;
        memcpy(e->ip, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
}

static int same_client(const conn_entry *a, const conn_entry *b)
{
    return a->family == b->family && memcmp(a->ip, b->ip, sizeof a->ip) == 0;
}

/* Live (not doomed) connections, and those of e's client address among them. Under s->mu. */
static void conn_count(const http_server *s, const conn_entry *e, unsigned *all, unsigned *same)
{
    *all = *same = 0;
    for (const conn_entry *x = s->head; x; x = x->next) {
        if (x->doomed)
            continue;
        (*all)++;
        *same += same_client(x, e);
    }
}

/*
 * The connection that has waited longest without delivering a whole request,
 * from like's address when like is set; NULL when every one is busy. Under s->mu.
 */
static conn_entry *conn_oldest_waiting(const http_server *s, const conn_entry *like)
{
    conn_entry *best = NULL;
    for (conn_entry *x = s->head; x; x = x->next)
        if (!x->doomed && !x->delivered && x->fd >= 0 && (!like || same_client(x, like))
            && (!best || x->since_ms < best->since_ms))
            best = x;
    return best;
}

/* Close e's socket; MHD then ends the connection on its own thread. Under s->mu. */
static void conn_shut(conn_entry *e, const char *why)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (e->family)
        inet_ntop(e->family, e->ip, ip, sizeof ip);
    shutdown(e->fd, SHUT_RDWR);
    e->doomed = 1;
    log_debug("http: closed a connection from %s: %s", ip, why);
}

/* A new connection e (not yet listed) is at a cap: make room by closing waiting ones. */
static void conn_make_room(http_server *s, const conn_entry *e)
{
    for (;;) {
        unsigned all, same;
        conn_count(s, e, &all, &same);
        conn_entry *victim = NULL;
        if (same >= s->per_ip)
            victim = conn_oldest_waiting(s, e);
        else if (all >= s->limit)
            victim = conn_oldest_waiting(s, NULL);
        if (!victim)
            return;
        conn_shut(victim, same >= s->per_ip ? "its address is at the connection cap"
                                            : "the server is at the connection cap");
    }
}

void http_counts(http_server *s, unsigned long *accepted, unsigned *open)
{
    conn_entry none = { .family = -1 };
    unsigned same;
    pthread_mutex_lock(&s->mu);
    *accepted = s->accepted;
    conn_count(s, &none, open, &same);
    pthread_mutex_unlock(&s->mu);
}

int http_listed(http_server *s, unsigned long seq)
{
    int found = 0;
    pthread_mutex_lock(&s->mu);
    for (const conn_entry *x = s->head; x && !found; x = x->next)
        found = x->seq == seq;
    pthread_mutex_unlock(&s->mu);
    return found;
}

/* 1 when e (listed) is over a cap: its request then goes on only to an open route. */
static int conn_over_cap(http_server *s, const conn_entry *e)
{
    if (!e)
        return 0;
    pthread_mutex_lock(&s->mu);
    unsigned all, same;
    conn_count(s, e, &all, &same);
    pthread_mutex_unlock(&s->mu);
    return same > s->per_ip || all > s->limit;
}

/*
 * e's request is in whole: the deadline no longer applies. -1 when the reaper
 * or a newcomer has already closed it, so no handler runs for nobody.
 */
static int conn_delivered(http_server *s, conn_entry *e)
{
    if (!e)
        return 0;
    pthread_mutex_lock(&s->mu);
    int doomed = e->doomed;
    e->delivered = 1;
    pthread_mutex_unlock(&s->mu);
    return doomed ? -1 : 0;
}

static conn_entry *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* MHD's NOTIFY_CONNECTION, on its listening thread: list the connection, or unlink it. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    http_server *s = cls;
    conn_entry *e = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *addr =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        e = xcalloc(1, sizeof *e);
        e->fd = fd ? fd->connect_fd : -1;
        conn_addr(e, addr ? addr->client_addr : NULL);
        pthread_mutex_lock(&s->mu);
        e->since_ms = util_mono_ms();
        conn_make_room(s, e);
        e->prev = s->tail;
        if (s->tail)
            s->tail->next = e;
        else
            s->head = e;
        s->tail = e;
        e->seq = ++s->accepted;
        pthread_mutex_unlock(&s->mu);
        *socket_context = e;
        return;
    }
    if (!e)
        return;
    /* MHD has not closed the fd yet: once e is unlinked nobody can shut it down. */
    pthread_mutex_lock(&s->mu);
    if (e->prev)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    pthread_mutex_unlock(&s->mu);
    free(e);
    *socket_context = NULL;
}

/*
 * Close every connection whose request is not in whole deadline_ms after its
 * start (or the end of its previous request), then sleep until the next such
 * moment. A connection listed later always has a later deadline than the one
 * slept for, so nothing needs to wake the reaper except http_stop.
 */
static void *reaper_main(void *arg)
{
    http_server *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        int64_t now = util_mono_ms(), next = now + s->deadline_ms;
        for (conn_entry *x = s->head; x; x = x->next) {
            if (x->doomed || x->delivered || x->fd < 0)
                continue;
            int64_t due = x->since_ms + s->deadline_ms;
            if (due <= now)
                conn_shut(x, "its request did not arrive in time");
            else if (due < next)
                next = due;
        }
        struct timespec ts = { (time_t)(next / 1000), (long)(next % 1000) * 1000000L };
        pthread_cond_timedwait(&s->wake, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- requests ---- */

/*
 * Queue resp (its body passes to MHD) with the headers every response has,
 * plus hdrs: NULL, or name/value pairs ending with a NULL name.
 */
static enum MHD_Result send_reply(struct MHD_Connection *conn, const req_state *st,
                                  const char *method, const char *path, http_response *resp,
                                  const char *const *hdrs)
{
    char *body = resp->body;
    resp->body = NULL;
    size_t len = body ? strlen(body) : 0;
    struct MHD_Response *r =
        body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    char safe_method[24], safe[256];
    log_safe(method, safe_method, sizeof safe_method);
    log_safe(path, safe, sizeof safe);
    if (!r) {
        free(body);
        log_error("http: cannot create a response for %s %s", safe_method, safe);
        return MHD_NO;
    }
    /* nosniff: a browser never reads a JSON answer as a script or a page. */
    int ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                     resp->content_type ? resp->content_type : JSON_TYPE) == MHD_YES
          && MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
                                     resp->cache_control ? resp->cache_control
                                                         : "no-store") == MHD_YES
          && MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") == MHD_YES;
    for (size_t i = 0; ok && hdrs && hdrs[i]; i += 2)
        ok = MHD_add_response_header(r, hdrs[i], hdrs[i + 1]) == MHD_YES;
    for (size_t i = 0; ok && resp->headers && resp->headers[i]; i += 2)
        ok = MHD_add_response_header(r, resp->headers[i], resp->headers[i + 1]) == MHD_YES;
    enum MHD_Result rc = ok ? MHD_queue_response(conn, (unsigned)resp->status, r) : MHD_NO;
    MHD_destroy_response(r);
    log_debug("http %s %s %d %lld ms", safe_method, safe, resp->status,
              (long long)(util_mono_ms() - st->start_ms));
    return rc;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, const req_state *st,
                                  const char *method, const char *path, int status,
                                  const char *const *hdrs, const char *msg)
{
    http_response resp = { 0 };
    http_reply_error(&resp, status, "%s", msg);
    return send_reply(conn, st, method, path, &resp, hdrs);
}

/* 1 when r serves path; *tail_off is where req->tail starts. */
static int route_matches(const http_route *r, const char *path, size_t *tail_off)
{
    size_t n = strlen(r->path);
    if (r->prefix ? strncmp(path, r->path, n) != 0 || path[n] == '\0' : strcmp(path, r->path) != 0)
        return 0;
    *tail_off = r->prefix ? n : strlen(path);
    return 1;
}

/*
 * "Bearer <token>" against the configured token. The loop always runs over
 * the whole token and folds a length difference into the result, so the
 * time never tells how many leading bytes were right.
 */
static int token_ok(const http_server *s, const char *authz)
{
    if (!authz || strncasecmp(authz, "Bearer ", 7) != 0)
        return 0;
    const char *got = authz + 7;
    while (*got == ' ')
        got++;
    size_t glen = strlen(got);
    volatile unsigned char diff = glen != s->token_len;
    for (size_t i = 0; i < s->token_len; i++)
        diff |= (unsigned char)s->token[i] ^ (unsigned char)(i < glen ? got[i] : 0);
    return diff == 0;
}

/* MHD_KeyValueIterator over the query: stops at the first key or value that is not UTF-8. */
static enum MHD_Result arg_utf8(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    (void)kind;
    if (text_valid(key, strlen(key)) && (!value || text_valid(value, strlen(value))))
        return MHD_YES;
    *(const char **)cls = key;
    return MHD_NO;
}

/* What the length headers of a request say: MHD_KeyValueIterator state. */
typedef struct length_headers {
    const char *content_length; /* the first Content-Length */
    int lengths_differ;         /* another Content-Length says otherwise */
    int transfer_encoding;      /* a Transfer-Encoding header came too */
} length_headers;

static enum MHD_Result length_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    length_headers *lh = cls;
    (void)kind;
    if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        lh->transfer_encoding = 1;
    else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        if (!lh->content_length)
            lh->content_length = value ? value : "";
        else if (strcmp(lh->content_length, value ? value : "") != 0)
            lh->lengths_differ = 1;
    }
    return MHD_YES;
}

/*
 * NULL when the request's length is unambiguous, else why not. Two
 * different Content-Length headers, or Content-Length with
 * Transfer-Encoding (RFC 9112 6.3), let a proxy and this server see
 * different requests in the same bytes (request smuggling); libmicrohttpd
 * 0.9.75 takes the first Content-Length, or lets chunked win, silently.
 */
static const char *length_ambiguous(struct MHD_Connection *conn)
{
    length_headers lh = { NULL, 0, 0 };
    MHD_get_connection_values(conn, MHD_HEADER_KIND, length_header, &lh);
    if (lh.lengths_differ)
        return "two Content-Length headers that differ";
    if (lh.content_length && lh.transfer_encoding)
        return "both Content-Length and Transfer-Encoding";
    return NULL;
}

/*
 * Route r serves method: its own, and HEAD where it is GET (RFC 9110 9.3.2:
 * the GET's headers without its body; libmicrohttpd leaves the body out).
 */
static int serves(const http_route *r, const char *method)
{
    return strcmp(r->method, method) == 0
        || (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
}

void http_route_find(const http_route *routes, size_t n_routes, const char *method,
                     const char *path, http_match *m)
{
    size_t off;
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < n_routes; i++) {
        const http_route *r = &routes[i];
        if (!route_matches(r, path, &off))
            continue;
        m->path_known = 1;
        m->open |= r->open;
        if (!m->hit && serves(r, method)) {
            m->hit = r;
            m->tail_off = off;
        }
        int seen = 0; /* "GET, POST": each method once */
        size_t unused;
        for (size_t j = 0; j < i && !seen; j++)
            seen = route_matches(&routes[j], path, &unused)
                && strcmp(routes[j].method, r->method) == 0;
        if (!seen) {
            size_t n = strlen(m->allow);
            snprintf(m->allow + n, sizeof m->allow - n, "%s%s%s", n ? ", " : "", r->method,
                     strcmp(r->method, "GET") == 0 ? ", HEAD" : "");
        }
    }
    /* A 405 for a path that has an open route tells nothing secret. */
    if (m->hit)
        m->open = m->hit->open;
}

/*
 * The headers are in: route, authenticate, check the announced body size,
 * that the path and query are UTF-8 (handlers only ever see text that JSON
 * can carry), and the caps. The request goes on when st->route is set; else
 * *rc is the result of queueing the refusal.
 */
static void admit(http_server *s, struct MHD_Connection *conn, req_state *st, const char *method,
                 const char *path, enum MHD_Result *rc)
{
    http_match m;
    char msg[256];
    const char *ambiguous = length_ambiguous(conn);
    if (ambiguous) {
        /* The body's end is unknown: the connection cannot carry another request. */
        const char *const close_hdr[] = { MHD_HTTP_HEADER_CONNECTION, "close", NULL };
        snprintf(msg, sizeof msg, "the request's length is ambiguous: %s", ambiguous);
        *rc = send_error(conn, st, method, path, 400, close_hdr, msg);
        return;
    }
    http_route_find(s->routes, s->n_routes, method, path, &m);
    if (s->token && !m.open
        && !token_ok(s, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_AUTHORIZATION))) {
        const char *const www[] = { MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer", NULL };
        *rc = send_error(conn, st, method, path, 401, www, "missing or wrong bearer token");
        return;
    }
    if (!m.hit) {
        const char *const allow_hdr[] = { MHD_HTTP_HEADER_ALLOW, m.allow, NULL };
        if (m.path_known)
            snprintf(msg, sizeof msg, "method %.16s not allowed here; allowed: %s", method,
                     m.allow);
        else
            snprintf(msg, sizeof msg, "no such resource: %.200s", path);
        *rc = send_error(conn, st, method, path, m.path_known ? 405 : 404,
                         m.path_known ? allow_hdr : NULL, msg);
        return;
    }
    /* Refused before the body is read: MHD then closes the connection. */
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > HTTP_MAX_BODY) {
        snprintf(msg, sizeof msg, "request body over %d bytes", HTTP_MAX_BODY);
        *rc = send_error(conn, st, method, path, 413, NULL, msg);
        return;
    }
    /* Route paths are text: only a prefix route's tail can hold other bytes. */
    const char *bad_arg = NULL;
    if (!text_valid(path, strlen(path))) {
        *rc = send_error(conn, st, method, path, 400, NULL, "the path is not valid UTF-8");
        return;
    }
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, arg_utf8, &bad_arg);
    if (bad_arg) {
        snprintf(msg, sizeof msg, "query argument '%.64s' is not valid UTF-8", bad_arg);
        *rc = send_error(conn, st, method, path, 400, NULL, msg);
        return;
    }
    if (!m.hit->open && conn_over_cap(s, st->conn)) {
        const char *const busy[] = { MHD_HTTP_HEADER_RETRY_AFTER, "1",
                                     MHD_HTTP_HEADER_CONNECTION, "close", NULL };
        snprintf(msg, sizeof msg, "too many connections (at most %u, %u per client address)",
                 s->limit, s->per_ip);
        *rc = send_error(conn, st, method, path, 503, busy, msg);
        return;
    }
    st->route = m.hit;
    st->tail_off = m.tail_off;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    http_server *s = cls;
    req_state *st = *con_cls;
    enum MHD_Result rc = MHD_YES;
    (void)version;
    (void)upload_data;

    if (!st) {
        st = *con_cls = xcalloc(1, sizeof *st);
        st->start_ms = util_mono_ms();
        st->conn = conn_of(conn);
        admit(s, conn, st, method, url, &rc);
        return rc;
    }
    if (!st->route) /* refused: MHD discards the rest */
        return MHD_YES;
    if (*upload_data_size) {
        st->body_len += *upload_data_size;
        *upload_data_size = 0;
        return st->body_len > HTTP_DROP_BODY ? MHD_NO : MHD_YES;
    }
    if (conn_delivered(s, st->conn) != 0)
        return MHD_NO;
    if (st->body_len > HTTP_MAX_BODY) {
        char msg[64];
        snprintf(msg, sizeof msg, "request body over %d bytes", HTTP_MAX_BODY);
        return send_error(conn, st, method, url, 413, NULL, msg);
    }

    http_request req = { method, url, url + st->tail_off, conn };
    http_response resp = { .status = 200 };
    st->route->fn(s->user, &req, &resp);
    if (resp.status < 100 || resp.status > 599) {
        log_error("http: handler for %s %s set status %d", method, st->route->path, resp.status);
        free(resp.body);
        return send_error(conn, st, method, url, 500, NULL, "internal error");
    }
    if (!resp.content_type && resp.body && *resp.body && resp.body[strlen(resp.body) - 1] != '\n') {
        size_t n = strlen(resp.body);
        char *b = xmalloc(n + 2);
        memcpy(b, resp.body, n);
        memcpy(b + n, "\n", 2);
        free(resp.body);
        resp.body = b;
    }
    return send_reply(conn, st, method, url, &resp, NULL);
}

/* A request is over (answered or not): the connection's next request gets a fresh deadline. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    (void)toe;
    conn_entry *e = conn_of(conn);
    if (e) {
        pthread_mutex_lock(&s->mu);
        e->since_ms = util_mono_ms();
        e->delivered = 0;
        pthread_mutex_unlock(&s->mu);
    }
    free(*con_cls);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fm, va_list ap)
{
    http_server *s = cls;
    char raw[512], msg[512];
    vsnprintf(raw, sizeof raw, fm, ap);
    size_t n = strlen(raw);
    while (n && (raw[n - 1] == '\n' || raw[n - 1] == ' '))
        raw[--n] = '\0';
    log_safe(raw, msg, sizeof msg); /* it may quote what a client sent */
    /* While starting, the first message is why the start fails: http_start reports it. */
    if (atomic_load(&s->starting)) {
        if (!s->start_err[0])
            snprintf(s->start_err, sizeof s->start_err, "%.255s", msg);
        return;
    }
    /*
     * Once running, libmicrohttpd speaks about single connections ("closed by
     * remote side with incomplete request" for every slow client we cut off):
     * under a flood of them a warning per connection would drown the log.
     */
    log_debug("http: %s", msg);
}

/*
 * "HOST:PORT" or "[V6]:PORT" into s->addr; 0, or -1 with why (static text or
 * a getaddrinfo message).
 */
static int resolve(http_server *s, const char *listen, const char **why)
{
    char host[256];
    const char *port;
    int bracket = listen[0] == '[';
    if (bracket) {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':') {
            *why = "expected [IPv6]:PORT";
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(close - listen - 1), listen + 1);
        port = close + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon) {
            *why = "expected HOST:PORT";
            return -1;
        }
        if (strchr(listen, ':') != colon) {
            *why = "an IPv6 address needs brackets: [ADDR]:PORT";
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
        port = colon + 1;
    }
    if (!host[0]) {
        *why = "no host (0.0.0.0 or [::] listens on every address)";
        return -1;
    }
    size_t plen = strspn(port, "0123456789");
    if (plen == 0 || plen > 5 || port[plen] || atoi(port) < 1 || atoi(port) > 65535) {
        *why = "the port must be a number from 1 to 65535";
        return -1;
    }
    struct addrinfo hints = { 0 }, *ai = NULL;
    hints.ai_family = bracket ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (bracket ? AI_NUMERICHOST : 0);
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        *why = gai_strerror(gai);
        return -1;
    }
    memcpy(&s->addr, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

const char *http_start_reason(const char *msg)
{
    /* "Failed to bind to port 3006: Address already in use": the port is in our prefix. */
    const char *colon = strrchr(msg, ':');
    if (strncmp(msg, "Failed to bind", 14) != 0 || !colon)
        return msg;
    const char *reason = colon + 1;
    reason += strspn(reason, " ");
    /* Nothing after the colon ("...port 3006:"): the whole message says more. */
    return *reason ? reason : msg;
}

/* Descriptors besides the connections': the listening socket, MHD's ITC, the
 * databases' connections, the history files, the workers' pipes, the log. */
#define HTTP_FD_RESERVE 64

/*
 * Up to conns connections may be open (MHD's hard limit), a descriptor each:
 * a soft RLIMIT_NOFILE below that and the reserve is raised as far as the
 * hard limit allows (raising one's own soft limit needs no privilege), and
 * what is still short is said, since past it accept() fails and clients wait
 * or are refused without a word in the log.
 */
static void fd_budget(unsigned limit, unsigned conns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return;
    rlim_t need = (rlim_t)conns + HTTP_FD_RESERVE, was = rl.rlim_cur;
    if (rl.rlim_cur >= need)
        return;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    if (want > rl.rlim_cur) {
        struct rlimit up = { want, rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
            rl.rlim_cur = want;
            log_info("http: open files limit raised from %llu to %llu for %u connections",
                     (unsigned long long)was, (unsigned long long)want, limit);
        }
    }
    if (rl.rlim_cur < need)
        log_warn("http: %u connections (http.max_connections) may need %llu file descriptors "
                 "(up to %u connections open, and %d for the rest), but the open files limit "
                 "is %llu (hard limit %llu: ulimit -n, systemd LimitNOFILE=); past it new "
                 "connections wait or are refused. Raise the limit or lower "
                 "http.max_connections", limit, (unsigned long long)need, conns,
                 HTTP_FD_RESERVE, (unsigned long long)rl.rlim_cur,
                 (unsigned long long)rl.rlim_max);
}

int http_start(const http_config *cfg, http_server **out, char *err, size_t errlen)
{
    const char *listen = cfg->listen ? cfg->listen : "";
    const char *why = NULL;
    http_server *s = xcalloc(1, sizeof *s);
    s->routes = cfg->routes;
    s->n_routes = cfg->n_routes;
    s->user = cfg->user;
    if (cfg->token && cfg->token[0]) {
        s->token = xstrdup(cfg->token);
        s->token_len = strlen(s->token);
    }
    pthread_condattr_t ca;
    int sync_rc = pthread_condattr_init(&ca);
    if (sync_rc == 0) {
        sync_rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        if (sync_rc == 0 && (sync_rc = pthread_mutex_init(&s->mu, NULL)) == 0
            && (sync_rc = pthread_cond_init(&s->wake, &ca)) != 0)
            pthread_mutex_destroy(&s->mu);
        pthread_condattr_destroy(&ca);
    }
    if (sync_rc != 0) {
        why = strerror(sync_rc);
        goto err;
    }
    s->sync_ready = 1;
    if (resolve(s, listen, &why) != 0)
        goto err;

    s->limit = cfg->connection_limit ? cfg->connection_limit : 32;
    s->per_ip = s->limit / 2 > 8 ? s->limit / 2 : (s->limit < 8 ? s->limit : 8);
    s->deadline_ms = (int64_t)(cfg->request_deadline_s ? cfg->request_deadline_s : 10) * 1000;
    /* MHD's own limit only bounds threads: room past the caps for the open
     * routes and for closed connections that MHD has not reaped yet. No
     * per-IP limit in MHD: conn_make_room does it without locking anyone out. */
    unsigned hard = s->limit > UINT_MAX / 2 ? UINT_MAX : 2 * s->limit;
    fd_budget(s->limit, hard);
    unsigned timeout = cfg->timeout_s ? cfg->timeout_s : 10;
    /* MHD_USE_ITC: a finished connection is reaped (NOTIFY_CLOSED) at once,
     * not at the next accept, so that it stops counting against the caps. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION
                   | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    uint16_t port;
    if (s->addr.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
        port = ntohs(((struct sockaddr_in6 *)&s->addr)->sin6_port);
    } else {
        port = ntohs(((struct sockaddr_in *)&s->addr)->sin_port);
    }

    /* MHD's threads and the reaper inherit this mask: the process's signals stay with
     * the caller's threads. */
    sigset_t old;
    util_block_signals(&old);
    atomic_store(&s->starting, 1);
    /* The logger comes first, or MHD prints the messages of earlier options itself. */
    s->d = MHD_start_daemon(flags, port, NULL, NULL, on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                            MHD_OPTION_CONNECTION_LIMIT, hard,
                            MHD_OPTION_CONNECTION_TIMEOUT, timeout,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&s->addr,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_END);
    atomic_store(&s->starting, 0);
    int thread_rc = s->d ? pthread_create(&s->reaper, NULL, reaper_main, s) : 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!s->d) {
        why = s->start_err[0] ? s->start_err : "the HTTP server did not start";
        why = http_start_reason(why);
        goto err;
    }
    if (thread_rc != 0) {
        why = "cannot start the thread that closes late requests";
        goto err;
    }
    s->reaper_started = 1;
    *out = s;
    return 0;

err:
    snprintf(err, errlen, "http.listen %s: %s", listen, why);
    http_stop(s);
    return -1;
}

void http_stop(http_server *s)
{
    if (!s)
        return;
    /* Its NOTIFY_CLOSED calls unlink and free every conn_entry. */
    if (s->d)
        MHD_stop_daemon(s->d);
    if (s->reaper_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = 1;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->reaper, NULL);
    }
    while (s->head) { /* none unless MHD skipped a notification */
        conn_entry *e = s->head;
        s->head = e->next;
        free(e);
    }
    if (s->sync_ready) {
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->mu);
    }
    if (s->token) {
        explicit_bzero(s->token, s->token_len);
        free(s->token);
    }
    free(s);
}
