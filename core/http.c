/* http.c - see http.h. */
#include "http.h"
#include "log.h"
#include "util.h"

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
#include <sys/socket.h>

#define HTTP_MAX_BODY (64 * 1024)
/* A chunked body over the limit is discarded to its end so that the client
 * gets its 413; past this much the connection is simply dropped. */
#define HTTP_DROP_BODY (16 * HTTP_MAX_BODY)
#define JSON_TYPE "application/json"

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
};

/* One request's state, from its headers to its completion. */
typedef struct req_state {
    int64_t start_ms;
    const http_route *route;
    size_t tail_off; /* req->tail = path + tail_off */
    size_t body_len;
} req_state;

/*
 * Length of the well-formed UTF-8 character at p (1 to 4 bytes), or 0 when p
 * is the terminating NUL or does not start one: a stray continuation byte, an
 * overlong form, a surrogate, a code point past U+10FFFF, a cut sequence.
 * Those are what jansson refuses (its constructors then return NULL).
 */
static size_t utf8_char_len(const char *p)
{
    const unsigned char *s = (const unsigned char *)p;
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n;
    if (s[0] < 0x80)
        return s[0] ? 1 : 0;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        lo = s[0] == 0xe0 ? 0xa0 : lo; /* overlong */
        hi = s[0] == 0xed ? 0x9f : hi; /* surrogates */
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        lo = s[0] == 0xf0 ? 0x90 : lo; /* overlong */
        hi = s[0] == 0xf4 ? 0x8f : hi; /* past U+10FFFF */
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) /* stops at a NUL: it is no continuation byte */
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

static int utf8_valid(const char *s)
{
    for (size_t n; *s; s += n)
        if (!(n = utf8_char_len(s)))
            return 0;
    return 1;
}

/*
 * Request text made fit for a JSON reply or a log line: in copied to out
 * (outlen > 0, always terminated) as valid UTF-8, each byte that does not
 * start a well-formed character replaced by U+FFFD. With ctl set, control
 * characters (C0, DEL, C1) become '?', so that a decoded %0A cannot forge a
 * log line. Stops before a character that does not fit whole.
 */
static void text_clean(const char *in, char *out, size_t outlen, int ctl)
{
    size_t o = 0;
    while (*in) {
        size_t n = utf8_char_len(in);
        const unsigned char *u = (const unsigned char *)in;
        const char *src = n ? in : "\xef\xbf\xbd";
        size_t w = n ? n : 3;
        int control = (n == 1 && (u[0] < 0x20 || u[0] == 0x7f))
                   || (n == 2 && u[0] == 0xc2 && u[1] < 0xa0);
        if (ctl && control) {
            src = "?";
            w = 1;
        }
        if (o + w >= outlen)
            break;
        memcpy(out + o, src, w);
        o += w;
        in += n ? n : 1;
    }
    out[o] = '\0';
}

const char *http_query(const http_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->impl, MHD_GET_ARGUMENT_KIND, key);
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
    text_clean(in, out, outlen, 1);
}

/*
 * Queue resp (its body passes to MHD) with the headers every response has,
 * plus one extra header when hname is set.
 */
static enum MHD_Result send_reply(struct MHD_Connection *conn, const req_state *st,
                                  const char *method, const char *path, http_response *resp,
                                  const char *hname, const char *hval)
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
    int ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                     resp->content_type ? resp->content_type : JSON_TYPE) == MHD_YES
          && MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES
          && (!hname || MHD_add_response_header(r, hname, hval) == MHD_YES);
    enum MHD_Result rc = ok ? MHD_queue_response(conn, (unsigned)resp->status, r) : MHD_NO;
    MHD_destroy_response(r);
    log_debug("http %s %s %d %lld ms", safe_method, safe, resp->status,
              (long long)(util_mono_ms() - st->start_ms));
    return rc;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, const req_state *st,
                                  const char *method, const char *path, int status,
                                  const char *hname, const char *hval, const char *msg)
{
    http_response resp = { 0, NULL, NULL };
    http_reply_error(&resp, status, "%s", msg);
    return send_reply(conn, st, method, path, &resp, hname, hval);
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
    if (utf8_valid(key) && (!value || utf8_valid(value)))
        return MHD_YES;
    *(const char **)cls = key;
    return MHD_NO;
}

/*
 * The headers are in: route, authenticate, check the announced body size and
 * that the path and query are UTF-8 (handlers only ever see text that JSON
 * can carry). The request goes on when st->route is set; else *rc is the
 * result of queueing the refusal.
 */
static void admit(http_server *s, struct MHD_Connection *conn, req_state *st, const char *method,
                 const char *path, enum MHD_Result *rc)
{
    const http_route *hit = NULL;
    int path_known = 0, path_open = 0;
    char allow[128] = "";
    size_t tail_off = 0, off;
    for (size_t i = 0; i < s->n_routes; i++) {
        const http_route *r = &s->routes[i];
        if (!route_matches(r, path, &off))
            continue;
        path_known = 1;
        path_open |= r->open;
        if (!hit && strcmp(r->method, method) == 0) {
            hit = r;
            tail_off = off;
        }
        int seen = 0; /* "GET, POST": each method once */
        size_t unused;
        for (size_t j = 0; j < i && !seen; j++)
            seen = route_matches(&s->routes[j], path, &unused)
                && strcmp(s->routes[j].method, r->method) == 0;
        if (!seen) {
            size_t n = strlen(allow);
            snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "", r->method);
        }
    }
    /* A 405 for a path that has an open route tells nothing secret. */
    int open = hit ? hit->open : path_open;
    if (s->token && !open
        && !token_ok(s, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_AUTHORIZATION))) {
        *rc = send_error(conn, st, method, path, 401, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer",
                         "missing or wrong bearer token");
        return;
    }
    char msg[256];
    if (!hit) {
        if (path_known)
            snprintf(msg, sizeof msg, "method %.16s not allowed here; allowed: %s", method, allow);
        else
            snprintf(msg, sizeof msg, "no such resource: %.200s", path);
        *rc = path_known
                  ? send_error(conn, st, method, path, 405, MHD_HTTP_HEADER_ALLOW, allow, msg)
                  : send_error(conn, st, method, path, 404, NULL, NULL, msg);
        return;
    }
    /* Refused before the body is read: MHD then closes the connection. */
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > HTTP_MAX_BODY) {
        snprintf(msg, sizeof msg, "request body over %d bytes", HTTP_MAX_BODY);
        *rc = send_error(conn, st, method, path, 413, NULL, NULL, msg);
        return;
    }
    /* Route paths are text: only a prefix route's tail can hold other bytes. */
    const char *bad_arg = NULL;
    if (!utf8_valid(path)) {
        *rc = send_error(conn, st, method, path, 400, NULL, NULL, "the path is not valid UTF-8");
        return;
    }
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, arg_utf8, &bad_arg);
    if (bad_arg) {
        snprintf(msg, sizeof msg, "query argument '%.64s' is not valid UTF-8", bad_arg);
        *rc = send_error(conn, st, method, path, 400, NULL, NULL, msg);
        return;
    }
    st->route = hit;
    st->tail_off = tail_off;
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
    if (st->body_len > HTTP_MAX_BODY) {
        char msg[64];
        snprintf(msg, sizeof msg, "request body over %d bytes", HTTP_MAX_BODY);
        return send_error(conn, st, method, url, 413, NULL, NULL, msg);
    }

    http_request req = { method, url, url + st->tail_off, conn };
    http_response resp = { 200, NULL, NULL };
    st->route->fn(s->user, &req, &resp);
    if (resp.status < 100 || resp.status > 599) {
        log_error("http: handler for %s %s set status %d", method, st->route->path, resp.status);
        free(resp.body);
        return send_error(conn, st, method, url, 500, NULL, NULL, "internal error");
    }
    if (!resp.content_type && resp.body && *resp.body && resp.body[strlen(resp.body) - 1] != '\n') {
        size_t n = strlen(resp.body);
        char *b = xmalloc(n + 2);
        memcpy(b, resp.body, n);
        memcpy(b + n, "\n", 2);
        free(resp.body);
        resp.body = b;
    }
    return send_reply(conn, st, method, url, &resp, NULL, NULL);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
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
    log_warn("http: %s", msg);
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
    if (resolve(s, listen, &why) != 0)
        goto err;

    unsigned limit = cfg->connection_limit ? cfg->connection_limit : 32;
    unsigned per_ip = limit / 2 > 8 ? limit / 2 : (limit < 8 ? limit : 8);
    unsigned timeout = cfg->timeout_s ? cfg->timeout_s : 10;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION
                   | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    uint16_t port;
    if (s->addr.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
        port = ntohs(((struct sockaddr_in6 *)&s->addr)->sin6_port);
    } else {
        port = ntohs(((struct sockaddr_in *)&s->addr)->sin_port);
    }

    /* MHD's threads inherit this mask: the process's signals stay with the caller's threads. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    atomic_store(&s->starting, 1);
    /* The logger comes first, or MHD prints the messages of earlier options itself. */
    s->d = MHD_start_daemon(flags, port, NULL, NULL, on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                            MHD_OPTION_CONNECTION_LIMIT, limit,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
                            MHD_OPTION_CONNECTION_TIMEOUT, timeout,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&s->addr,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_END);
    atomic_store(&s->starting, 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!s->d) {
        why = s->start_err[0] ? s->start_err : "the HTTP server did not start";
        /* "Failed to bind to port 3006: Address already in use": the port is in our prefix. */
        const char *reason = strrchr(why, ':');
        if (strncmp(why, "Failed to bind", 14) == 0 && reason)
            why = reason + 2;
        goto err;
    }
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
    if (s->d)
        MHD_stop_daemon(s->d);
    if (s->token) {
        explicit_bzero(s->token, s->token_len);
        free(s->token);
    }
    free(s);
}
