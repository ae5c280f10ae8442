/* SPDX-License-Identifier: MIT */
/* settings.c - see settings.h. */
#include "trace/settings.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/text.h"
#include "base/util.h"
#include "config/webhook_url.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TIMEOUT_DEFAULT_MS 10000
#define TIMEOUT_MAX_MS 600000

/* A variable's value, NULL when unset or empty (the specification treats both alike). */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* The signal's own variable, else the general one; *which names the one used. */
static const char *env2(const char *traces, const char *general, const char **which)
{
    const char *v = env(traces);
    *which = v ? traces : general;
    return v ? v : env(general);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * s[0..len) URL-decoded (%XX; a '%' without two hex digits stays as it is),
 * malloc'd; *outlen its length, which a decoded %00 makes longer than strlen.
 */
static char *url_decode(const char *s, size_t len, size_t *outlen)
{
    char *out = xmalloc(len + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hex_digit(s[i + 1])) >= 0 &&
            (lo = hex_digit(s[i + 2])) >= 0) {
            *o++ = (char)(hi << 4 | lo);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    *outlen = (size_t)(o - out);
    return out;
}

/* RFC 9110 token characters: what a header name may hold. */
static int is_token(const char *s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              (*s && strchr(extra, *s))))
            return 0;
    return 1;
}

static void trim(const char **s, size_t *len)
{
    while (*len && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

void trace_parse_pairs(const char *text, const char *what, int headers,
                       void (*add)(void *user, const char *key, const char *value), void *user)
{
    int pos = 0;
    for (const char *p = text; p && *p;) {
        size_t len = strcspn(p, ",");
        const char *entry = p;
        p += len + (p[len] == ',');
        pos++;
        trim(&entry, &len);
        if (!len)
            continue; /* "a=1,,b=2" or a trailing comma: nothing there */
        const char *eq = memchr(entry, '=', len);
        const char *k = entry, *v = eq ? eq + 1 : NULL;
        size_t klen = eq ? (size_t)(eq - entry) : len, vlen = eq ? len - klen - 1 : 0, dlen = 0;
        trim(&k, &klen);
        trim(&v, &vlen);
        char *key = xstrndup(k, klen);
        char *value = v ? url_decode(v, vlen, &dlen) : NULL;
        if (!eq || !klen)
            log_warn("tracing: %s: entry %d is not key=value; skipped", what, pos);
        else if (headers && !is_token(key))
            log_warn("tracing: %s: entry %d: the key is not an HTTP header name; skipped",
                     what, pos);
        else if (strlen(value) != dlen)
            log_warn("tracing: %s: entry %d: its value holds a NUL byte; skipped", what, pos);
        else if (headers && strpbrk(value, "\r\n") != NULL)
            log_warn("tracing: %s: header %s: its value holds a line break; skipped", what, key);
        else if (!headers && !text_valid(key, strlen(key)))
            log_warn("tracing: %s: entry %d: the key is not UTF-8; skipped", what, pos);
        else
            add(user, key, value);
        free(key);
        util_free_secret(value);
    }
}

static void add_header(void *user, const char *key, const char *value)
{
    trace_settings *s = user;
    s->headers = xrealloc(s->headers, (s->n_headers + 1) * sizeof *s->headers);
    s->headers[s->n_headers].name = xstrdup(key);
    s->headers[s->n_headers++].value = xstrdup(value);
}

static void add_resource(void *user, const char *key, const char *value)
{
    trace_attrs_str(user, key, value);
}

/* The endpoint, or NULL when none is set anywhere. */
static char *endpoint_of(const trace_overrides *o, const char **source)
{
    const char *v;
    if (o->endpoint) {
        *source = "tracing.endpoint";
        return xstrdup(o->endpoint);
    }
    if ((v = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))) {
        *source = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
        return xstrdup(v);
    }
    if ((v = env("OTEL_EXPORTER_OTLP_ENDPOINT"))) {
        /* The base URL: the signal's path goes after it, with one '/'. */
        size_t len = strlen(v);
        *source = "OTEL_EXPORTER_OTLP_ENDPOINT";
        return xasprintf("%.*s/v1/traces", (int)(len && v[len - 1] == '/' ? len - 1 : len), v);
    }
    return NULL;
}

/* Whether the variables turn tracing off (when no key says otherwise). */
static int env_disabled(void)
{
    const char *v = env("OTEL_SDK_DISABLED");
    if (v && strcasecmp(v, "true") == 0)
        return 1;
    if (v && strcasecmp(v, "false") != 0)
        log_warn("tracing: OTEL_SDK_DISABLED must be true or false; read as false");
    v = env("OTEL_TRACES_EXPORTER");
    if (!v)
        return 0;
    int otlp = 0, none = 0;
    for (const char *p = v; *p;) {
        size_t len = strcspn(p, ",");
        const char *t = p;
        p += len + (p[len] == ',');
        trim(&t, &len);
        if (len == 4 && strncmp(t, "otlp", 4) == 0)
            otlp = 1;
        else if (len == 4 && strncmp(t, "none", 4) == 0)
            none = 1;
        else if (len)
            log_warn("tracing: OTEL_TRACES_EXPORTER: only otlp is supported; '%.*s' ignored",
                     (int)(len > 32 ? 32 : len), t);
    }
    return none || !otlp;
}

/* 0 when the protocol can be spoken (http/json, or http/protobuf sent as it), else -1. */
static int protocol_ok(void)
{
    const char *which;
    const char *v = env2("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL",
                         &which);
    if (!v || strcmp(v, "http/json") == 0)
        return 0;
    if (strcmp(v, "http/protobuf") == 0) {
        log_warn("tracing: %s=http/protobuf: reconciler sends OTLP/HTTP as http/json, which "
                 "OTLP/HTTP receivers (the OpenTelemetry Collector, Jaeger) accept on the same "
                 "endpoint", which);
        return 0;
    }
    if (strcmp(v, "grpc") == 0)
        log_warn("tracing: %s=grpc is not supported (reconciler speaks OTLP/HTTP, http/json, "
                 "usually on port 4318); tracing is off", which);
    else
        log_warn("tracing: %s must be http/json (or http/protobuf, sent as http/json); "
                 "tracing is off", which);
    return -1;
}

static int64_t timeout_of(void)
{
    const char *which;
    const char *v = env2("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT",
                         &which);
    int64_t ms;
    if (!v)
        return TIMEOUT_DEFAULT_MS;
    if (text_int(v, 1, TIMEOUT_MAX_MS, &ms) != TEXT_OK) {
        log_warn("tracing: %s must be milliseconds from 1 to %d; using %d", which,
                 TIMEOUT_MAX_MS, TIMEOUT_DEFAULT_MS);
        return TIMEOUT_DEFAULT_MS;
    }
    return ms;
}

static void headers_of(const trace_overrides *o, trace_settings *s)
{
    const char *which, *v;
    if (o->headers_env) {
        if (!(v = getenv(o->headers_env))) {
            log_warn("tracing: tracing.headers_env names %s, which is not set; no headers "
                     "sent", o->headers_env);
            return;
        }
        trace_parse_pairs(v, o->headers_env, 1, add_header, s);
        return;
    }
    v = env2("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS", &which);
    if (v)
        trace_parse_pairs(v, which, 1, add_header, s);
}

/* service.name first, then the other resource attributes. */
static void resource_of(const trace_overrides *o, trace_settings *s)
{
    trace_attrs given = { 0 };
    const char *v = env("OTEL_RESOURCE_ATTRIBUTES");
    if (v)
        trace_parse_pairs(v, "OTEL_RESOURCE_ATTRIBUTES", 0, add_resource, &given);
    const trace_attr *named = trace_attrs_get(&given, "service.name");
    const char *service = o->service_name ? o->service_name
                          : env("OTEL_SERVICE_NAME") ? env("OTEL_SERVICE_NAME")
                          : named && named->s && *named->s ? named->s
                                                           : "reconciler";
    trace_attrs_str(&s->resource, "service.name", service);
    for (size_t i = 0; i < given.n; i++)
        if (strcmp(given.a[i].key, "service.name") != 0)
            trace_attrs_str(&s->resource, given.a[i].key, given.a[i].s);
    trace_attrs_free(&given);
}

void trace_settings_load(const trace_overrides *o, trace_settings *s)
{
    static const trace_overrides none = TRACE_OVERRIDES_NONE;
    const char *source = NULL;
    char why[256];
    if (!o)
        o = &none;
    memset(s, 0, sizeof *s);
    s->timeout_ms = TIMEOUT_DEFAULT_MS;
    s->backoff_ms = 1000;
    s->max_attempts = 5;
    s->queue_max_spans = 8192;
    s->batch_max_spans = 512;

    s->endpoint = endpoint_of(o, &source);
    if (o->enabled >= 0)
        s->enabled = o->enabled;
    else
        s->enabled = s->endpoint && !env_disabled();
    if (!s->enabled)
        return;
    if (!s->endpoint) {
        s->endpoint = xstrdup(TRACE_DEFAULT_ENDPOINT);
        source = "the default endpoint";
    }
    const char *bad = webhook_url_check(s->endpoint, why, sizeof why);
    if (bad) {
        /* The URL itself is never quoted: it may carry a token. */
        log_warn("tracing: %s %s; tracing is off", source, bad);
        s->enabled = 0;
        return;
    }
    if (protocol_ok() != 0) {
        s->enabled = 0;
        return;
    }
    webhook_url_redact(s->endpoint, s->shown, sizeof s->shown);
    s->timeout_ms = timeout_of();
    headers_of(o, s);
    resource_of(o, s);
}

void trace_settings_free(trace_settings *s)
{
    util_free_secret(s->endpoint);
    for (size_t i = 0; i < s->n_headers; i++) {
        free(s->headers[i].name);
        util_free_secret(s->headers[i].value);
    }
    free(s->headers);
    trace_attrs_free(&s->resource);
    memset(s, 0, sizeof *s);
}

char *trace_link(const char *tmpl, const char *trace_id)
{
    static const char mark[] = "{traceId}";
    strbuf b = STRBUF_INIT;
    if (!tmpl)
        return NULL;
    for (const char *p = tmpl;;) {
        const char *at = strstr(p, mark);
        if (!at) {
            sb_printf(&b, "%s", p);
            break;
        }
        sb_printf(&b, "%.*s%s", (int)(at - p), p, trace_id);
        p = at + sizeof mark - 1;
    }
    return sb_take(&b);
}
