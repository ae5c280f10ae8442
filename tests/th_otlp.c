/* SPDX-License-Identifier: MIT */
/* th_otlp.c - see th_otlp.h. */
#include "th_otlp.h"
#include "helpers.h"
#include "th_wait.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
    th_otlp *rx;
    int fd;
} conn;

/* One request (headers, then Content-Length bytes) within 5 s; 0 or -1. */
static int read_request(int fd, char **head, char **body)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1), *end = NULL;
    long want = -1;
    while (buf) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 5000) <= 0)
            break;
        if (len == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb)
                break;
            buf = nb;
            if (end)
                end = strstr(buf, "\r\n\r\n");
        }
        ssize_t got = read(fd, buf + len, cap - len);
        if (got <= 0)
            break;
        len += (size_t)got;
        buf[len] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            want = cl ? strtol(cl + 17, NULL, 10) : 0;
        }
        if (end && (long)(len - (size_t)(end + 4 - buf)) >= want) {
            *head = strndup(buf, (size_t)(end - buf));
            *body = strndup(end + 4, (size_t)want);
            free(buf);
            return 0;
        }
    }
    free(buf);
    return -1;
}

static void *serve(void *arg)
{
    conn *c = arg;
    th_otlp *rx = c->rx;
    char *head = NULL, *body = NULL;
    if (read_request(c->fd, &head, &body) == 0) {
        pthread_mutex_lock(&rx->mu);
        int i = rx->n, status = rx->status;
        if (i < TH_OTLP_MAX) {
            rx->heads[i] = head;
            rx->bodies[i] = body;
            rx->at_ms[i] = mono_ms();
            rx->n++;
            head = body = NULL;
        }
        if (i < 16 && rx->script[i] && (i == 0 || rx->script[i - 1]))
            status = rx->script[i];
        pthread_mutex_unlock(&rx->mu);
        free(head);
        free(body);
        if (rx->hang_ms) {
            for (int waited = 0; waited < rx->hang_ms && !rx->stop; waited += 20)
                usleep(20000);
        } else {
            char resp[256], extra[96] = "";
            if (rx->retry_after && (status == 429 || status == 503))
                snprintf(extra, sizeof extra, "Retry-After: %s\r\n", rx->retry_after);
            int n = snprintf(resp, sizeof resp, "HTTP/1.1 %d X\r\nContent-Type: application/json"
                             "\r\n%sContent-Length: 2\r\nConnection: close\r\n\r\n{}", status,
                             extra);
            (void)!write(c->fd, resp, (size_t)n);
        }
    }
    close(c->fd);
    free(c);
    return NULL;
}

static void *accept_loop(void *arg)
{
    th_otlp *rx = arg;
    while (!rx->stop) {
        struct pollfd p = { .fd = rx->fd, .events = POLLIN };
        if (poll(&p, 1, 20) <= 0)
            continue;
        int fd = accept(rx->fd, NULL, NULL);
        if (fd < 0)
            continue;
        conn *c = malloc(sizeof *c);
        c->rx = rx;
        c->fd = fd;
        if (rx->n_conns < TH_OTLP_MAX &&
            pthread_create(&rx->conns[rx->n_conns], NULL, serve, c) == 0) {
            rx->n_conns++;
        } else {
            close(fd);
            free(c);
        }
    }
    return NULL;
}

void th_otlp_start(th_otlp *rx, int status, int hang_ms)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    socklen_t alen = sizeof a;
    int one = 1;
    /* The script and retry_after may have been set before: keep them. */
    int script[16];
    const char *retry_after = rx->retry_after;
    memcpy(script, rx->script, sizeof script);
    memset(rx, 0, sizeof *rx);
    memcpy(rx->script, script, sizeof script);
    rx->retry_after = retry_after;
    rx->status = status;
    rx->hang_ms = hang_ms;
    pthread_mutex_init(&rx->mu, NULL);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rx->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(rx->fd, 0);
    setsockopt(rx->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    cr_assert_eq(bind(rx->fd, (struct sockaddr *)&a, sizeof a), 0, "%s", strerror(errno));
    cr_assert_eq(listen(rx->fd, 16), 0);
    cr_assert_eq(getsockname(rx->fd, (struct sockaddr *)&a, &alen), 0);
    rx->port = ntohs(a.sin_port);
    cr_assert_eq(pthread_create(&rx->th, NULL, accept_loop, rx), 0);
}

void th_otlp_stop(th_otlp *rx)
{
    if (rx->fd < 0) /* stopped already */
        return;
    rx->stop = 1;
    pthread_join(rx->th, NULL);
    for (int i = 0; i < rx->n_conns; i++)
        pthread_join(rx->conns[i], NULL);
    close(rx->fd);
    for (int i = 0; i < rx->n; i++) {
        free(rx->heads[i]);
        free(rx->bodies[i]);
    }
    rx->n = 0;
    rx->fd = -1;
    pthread_mutex_destroy(&rx->mu);
}

const char *th_otlp_url(const th_otlp *rx)
{
    static char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/traces", rx->port);
    return url;
}

int th_otlp_count(th_otlp *rx)
{
    pthread_mutex_lock(&rx->mu);
    int n = rx->n;
    pthread_mutex_unlock(&rx->mu);
    return n;
}

int th_otlp_wait(th_otlp *rx, int n, int ms)
{
    long long end = mono_ms() + ms;
    while (th_otlp_count(rx) < n && mono_ms() < end)
        usleep(10000);
    return th_otlp_count(rx);
}

char *th_otlp_header(th_otlp *rx, int i, const char *name)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\r\n%s:", name);
    pthread_mutex_lock(&rx->mu);
    const char *p = i < rx->n ? strcasestr(rx->heads[i], pat) : NULL;
    char *v = NULL;
    if (p) {
        p += strlen(pat);
        p += strspn(p, " ");
        v = strndup(p, strcspn(p, "\r\n"));
    }
    pthread_mutex_unlock(&rx->mu);
    return v;
}

json_t *th_otlp_body(th_otlp *rx, int i)
{
    json_error_t e;
    pthread_mutex_lock(&rx->mu);
    cr_assert_lt(i, rx->n);
    json_t *j = json_loads(rx->bodies[i], 0, &e);
    pthread_mutex_unlock(&rx->mu);
    cr_assert_not_null(j, "body %d is not JSON: %s", i, e.text);
    return j;
}

int th_otlp_saw(th_otlp *rx, const char *needle)
{
    int found = 0;
    pthread_mutex_lock(&rx->mu);
    for (int i = 0; i < rx->n && !found; i++)
        found = strstr(rx->heads[i], needle) || strstr(rx->bodies[i], needle);
    pthread_mutex_unlock(&rx->mu);
    return found;
}

/* s is len lowercase hex digits, not all zeros. */
static int hex_id(const char *s, size_t len)
{
    int nonzero = 0;
    if (!s || strlen(s) != len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
        nonzero |= s[i] != '0';
    }
    return nonzero;
}

/* A non-empty decimal string of digits (what proto3 JSON makes of a 64-bit integer). */
static int decimal_text(const char *s)
{
    return s && *s && s[strspn(s, "0123456789")] == '\0' && strlen(s) <= 20;
}

static int decimal(const json_t *v)
{
    return decimal_text(json_string_value(v));
}

static void check_attrs(const json_t *attrs, const char *where)
{
    size_t i;
    json_t *a;
    cr_assert(json_is_array(attrs), "%s: attributes is not an array", where);
    json_array_foreach(attrs, i, a) {
        const char *key = json_string_value(json_object_get(a, "key"));
        json_t *v = json_object_get(a, "value");
        cr_assert(key && *key, "%s: attribute %zu has no key", where, i);
        cr_assert_eq(json_object_size(v), 1, "%s: %s: value must be one typed AnyValue", where,
                     key);
        json_t *iv = json_object_get(v, "intValue");
        const char *it = json_string_value(iv);
        cr_assert(!iv || decimal_text(it && *it == '-' ? it + 1 : it),
                  "%s: %s: intValue must be a decimal string", where, key);
        cr_assert(json_object_get(v, "stringValue") ? json_is_string(json_object_get(v, "stringValue"))
                  : json_object_get(v, "boolValue") ? json_is_boolean(json_object_get(v, "boolValue"))
                  : json_object_get(v, "doubleValue") ? json_is_number(json_object_get(v, "doubleValue"))
                  : iv != NULL, "%s: %s: not a typed AnyValue", where, key);
    }
}

static void check_span(json_t *s)
{
    const char *name = json_string_value(json_object_get(s, "name"));
    const char *tid = json_string_value(json_object_get(s, "traceId"));
    const char *sid = json_string_value(json_object_get(s, "spanId"));
    json_t *parent = json_object_get(s, "parentSpanId");
    cr_assert(name && *name, "a span without a name");
    cr_assert(hex_id(tid, 32), "%s: traceId '%s' is not 32 lowercase hex digits", name, tid);
    cr_assert(hex_id(sid, 16), "%s: spanId '%s' is not 16 lowercase hex digits", name, sid);
    cr_assert(!parent || hex_id(json_string_value(parent), 16), "%s: parentSpanId is not 16 hex",
              name);
    json_t *st = json_object_get(s, "startTimeUnixNano"), *en = json_object_get(s, "endTimeUnixNano");
    cr_assert(decimal(st) && decimal(en), "%s: times must be decimal strings", name);
    long long a = atoll(json_string_value(st)), b = atoll(json_string_value(en));
    /* Nanoseconds since 1970: after 2020, and not milliseconds. */
    cr_assert_gt(a, 1577836800000000000LL, "%s: start %lld is not Unix nanoseconds", name, a);
    cr_assert_geq(b, a, "%s: ends before it starts", name);
    cr_assert(json_is_integer(json_object_get(s, "kind")), "%s: kind must be an integer", name);
    cr_assert(json_is_integer(json_object_get(json_object_get(s, "status"), "code")),
              "%s: status.code must be an integer", name);
    check_attrs(json_object_get(s, "attributes"), name);
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(s, "events"), i, ev) {
        cr_assert(decimal(json_object_get(ev, "timeUnixNano")), "%s: event time", name);
        check_attrs(json_object_get(ev, "attributes"), name);
    }
}

json_t *th_otlp_spans(th_otlp *rx, json_t **resource_out)
{
    json_t *all = json_array();
    int n = th_otlp_count(rx);
    if (resource_out)
        *resource_out = NULL;
    for (int r = 0; r < n; r++) {
        json_t *body = th_otlp_body(rx, r), *rs, *ss, *s;
        size_t i, j, k;
        json_t *list = json_object_get(body, "resourceSpans");
        cr_assert(json_is_array(list) && json_array_size(list) > 0, "request %d: no resourceSpans", r);
        json_array_foreach(list, i, rs) {
            json_t *attrs = json_object_get(json_object_get(rs, "resource"), "attributes");
            check_attrs(attrs, "resource");
            if (resource_out && !*resource_out)
                *resource_out = json_incref(attrs);
            json_array_foreach(json_object_get(rs, "scopeSpans"), j, ss) {
                cr_assert(json_is_string(json_object_get(json_object_get(ss, "scope"), "name")),
                          "scopeSpans[].scope.name");
                json_array_foreach(json_object_get(ss, "spans"), k, s) {
                    check_span(s);
                    json_array_append(all, s);
                }
            }
        }
        json_decref(body);
    }
    return all;
}

json_t *th_otlp_find(json_t *spans, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(spans, i, s) {
        const char *n = json_string_value(json_object_get(s, "name"));
        if (n && strcmp(n, name) == 0)
            return s;
    }
    return NULL;
}

json_t *th_otlp_attr(json_t *s, const char *key)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(s, "attributes"), i, a) {
        const char *k = json_string_value(json_object_get(a, "key"));
        if (k && strcmp(k, key) == 0)
            return json_object_get(a, "value");
    }
    return NULL;
}

void th_otlp_check_tree(json_t *spans, const char *trace_id, const char *outside_parent)
{
    size_t i, j;
    json_t *s, *t;
    json_array_foreach(spans, i, s) {
        const char *name = json_string_value(json_object_get(s, "name"));
        const char *parent = json_string_value(json_object_get(s, "parentSpanId"));
        cr_assert_str_eq(json_string_value(json_object_get(s, "traceId")), trace_id,
                         "%s: another trace", name);
        if (!parent) {
            cr_assert_null(outside_parent, "%s: a root, where its parent should be %s", name,
                           outside_parent);
            continue;
        }
        int found = outside_parent && strcmp(parent, outside_parent) == 0;
        json_array_foreach(spans, j, t)
            found |= strcmp(json_string_value(json_object_get(t, "spanId")), parent) == 0;
        cr_assert(found, "%s: its parent %s is in no span of the batch", name, parent);
    }
}
