/* SPDX-License-Identifier: MIT */
/* exporter.c - see exporter.h. */
#include "trace/exporter.h"
#include "base/log.h"
#include "base/util.h"
#include "trace/otlp_json.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The longest one wait inside a transfer: how late a passed deadline may be noticed. */
#define POLL_MS 50

struct trace_exporter {
    pthread_mutex_t mu;      /* everything below but the settings' copy and multi */
    pthread_cond_t cv;       /* spans queued, stopping, the thread done */
    trace_batch queue;
    int stopping;            /* no more spans: send what is queued, then end */
    int64_t deadline;        /* monotonic ms, 0: none; set by stop */
    int done;                /* the thread has ended */
    int abandoned;           /* stop gave up waiting: the thread frees e */
    trace_export_stats st;
    pthread_t thread;

    /* The thread's own (read-only once started). */
    trace_settings s;        /* a copy: header values are secrets */
    struct curl_slist *headers;
    CURLM *multi;            /* curl_multi_wakeup from stop cuts a transfer off */
};

/* ------------------------------------------------------------ set-up */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;

static void init_curl(void)
{
    curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static struct curl_slist *append(struct curl_slist *l, const char *line)
{
    struct curl_slist *n = curl_slist_append(l, line);
    if (!n) {
        fprintf(stderr, "reconciler: out of memory\n");
        abort();
    }
    return n;
}

static void copy_settings(trace_settings *to, const trace_settings *from)
{
    *to = *from;
    to->endpoint = xstrdup(from->endpoint);
    to->headers = xcalloc(from->n_headers ? from->n_headers : 1, sizeof *to->headers);
    for (size_t i = 0; i < from->n_headers; i++) {
        to->headers[i].name = xstrdup(from->headers[i].name);
        to->headers[i].value = xstrdup(from->headers[i].value);
    }
    to->resource = (trace_attrs){ 0 };
    for (size_t i = 0; i < from->resource.n; i++)
        trace_attrs_str(&to->resource, from->resource.a[i].key, from->resource.a[i].s);
}

static void exporter_free(trace_exporter *e)
{
    trace_batch_clear(&e->queue);
    for (struct curl_slist *l = e->headers; l; l = l->next)
        explicit_bzero(l->data, strlen(l->data)); /* they hold the header values */
    curl_slist_free_all(e->headers);
    if (e->multi)
        curl_multi_cleanup(e->multi);
    trace_settings_free(&e->s);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

/* ------------------------------------------------------------ one attempt */

typedef struct answer {
    int64_t retry_after_ms; /* -1: none given */
} answer;

static size_t discard(char *p, size_t size, size_t n, void *user)
{
    (void)p;
    (void)user;
    return size * n;
}

/* Retry-After: seconds, or an HTTP date (curl_getdate reads it). */
static size_t header_line(char *p, size_t size, size_t n, void *user)
{
    answer *a = user;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof name - 1 && len < 128 && strncasecmp(p, name, sizeof name - 1) == 0) {
        char v[128];
        snprintf(v, sizeof v, "%.*s", (int)(len - (sizeof name - 1)), p + sizeof name - 1);
        char *s = v + strspn(v, " \t"), *end;
        s[strcspn(s, "\r\n")] = '\0';
        long secs = strtol(s, &end, 10);
        if (end != s && !*end && secs >= 0) {
            a->retry_after_ms = secs > TRACE_RETRY_AFTER_MAX_MS / 1000 ? TRACE_RETRY_AFTER_MAX_MS
                                                                       : secs * 1000;
        } else {
            time_t when = curl_getdate(s, NULL);
            if (when > 0) {
                int64_t ms = ((int64_t)when * 1000) - util_wall_ms();
                a->retry_after_ms = ms < 0 ? 0 : ms > TRACE_RETRY_AFTER_MAX_MS
                                                     ? TRACE_RETRY_AFTER_MAX_MS : ms;
            }
        }
    }
    return len;
}

static int64_t deadline_of(trace_exporter *e)
{
    pthread_mutex_lock(&e->mu);
    int64_t d = e->deadline;
    pthread_mutex_unlock(&e->mu);
    return d;
}

/*
 * One POST of body within timeout_ms, cut off when the stop deadline
 * passes. The HTTP status (0: none came, with why in err: curl's general
 * text only, which never quotes the URL).
 */
static long attempt(trace_exporter *e, const char *body, int64_t timeout_ms, answer *a,
                    char *err, size_t errlen)
{
    long http = 0;
    int running = 1, cut = 0;
    CURLcode rc = CURLE_OK;
    CURL *c = curl_easy_init();
    a->retry_after_ms = -1;
    if (!c) {
        snprintf(err, errlen, "cannot start a transfer");
        return 0;
    }
    curl_easy_setopt(c, CURLOPT_URL, e->s.endpoint);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM in a threaded process */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, e->headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "reconciler");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_line);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
#if LIBCURL_VERSION_NUM >= 0x075700
    /* Cleanup of a cut-off transfer does not wait for a name lookup to end. */
    curl_easy_setopt(c, CURLOPT_QUICK_EXIT, 1L);
#endif
    curl_multi_add_handle(e->multi, c);
    for (;;) {
        curl_multi_perform(e->multi, &running);
        if (!running)
            break;
        int64_t deadline = deadline_of(e), now = util_mono_ms();
        if (deadline && now >= deadline) {
            cut = 1;
            break;
        }
        int wait = POLL_MS;
        if (deadline && deadline - now < wait)
            wait = (int)(deadline - now);
        curl_multi_poll(e->multi, NULL, 0, wait, NULL);
    }
    if (!cut) {
        int left;
        CURLMsg *m;
        while ((m = curl_multi_info_read(e->multi, &left)))
            if (m->msg == CURLMSG_DONE && m->easy_handle == c)
                rc = m->data.result;
        if (rc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
        else
            snprintf(err, errlen, "%s", curl_easy_strerror(rc));
    } else {
        snprintf(err, errlen, "cut off: out of time to send");
    }
    curl_multi_remove_handle(e->multi, c);
    curl_easy_cleanup(c);
    return http;
}

/* What OTLP/HTTP says a client may retry. Nothing else is: not 500, not a lost connection. */
static int retryable(long http)
{
    return http == 429 || http == 502 || http == 503 || http == 504;
}

/* Wait until mono ms `until` (early when the stop deadline comes first). */
static void nap(trace_exporter *e, int64_t until)
{
    pthread_mutex_lock(&e->mu);
    for (;;) {
        int64_t now = util_mono_ms(), end = until;
        if (e->deadline && e->deadline < end)
            end = e->deadline;
        if (now >= end)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + (end - now) * 1000000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&e->cv, &e->mu, &ts);
    }
    pthread_mutex_unlock(&e->mu);
}

enum { SENT, FAILED, DROPPED };

/* Every attempt for one request of n spans. */
static int deliver(trace_exporter *e, const trace_batch *b)
{
    char *body = trace_otlp_json(&e->s.resource, b->spans, b->n);
    char err[256] = "";
    long http = 0;
    int tries = 0, result;
    int64_t backoff = e->s.backoff_ms;
    answer a;
    for (;;) {
        int64_t deadline = deadline_of(e), timeout = e->s.timeout_ms;
        int64_t left = deadline ? deadline - util_mono_ms() : INT64_MAX;
        if (left <= 0) {
            result = tries ? FAILED : DROPPED;
            snprintf(err, sizeof err, "out of time to send");
            break;
        }
        if (timeout > left)
            timeout = left;
        err[0] = '\0';
        http = attempt(e, body, timeout, &a, err, sizeof err);
        tries++;
        pthread_mutex_lock(&e->mu);
        e->st.requests++;
        e->st.retries += tries > 1;
        pthread_mutex_unlock(&e->mu);
        if (http >= 200 && http < 300) {
            result = SENT;
            break;
        }
        if (http)
            snprintf(err, sizeof err, "answered HTTP %ld", http);
        if (!retryable(http) || tries >= e->s.max_attempts) {
            result = FAILED;
            break;
        }
        int64_t wait = a.retry_after_ms >= 0 ? a.retry_after_ms : backoff;
        log_debug("tracing: %s: attempt %d: %s; retrying in %lld ms", e->s.shown, tries, err,
                  (long long)wait);
        nap(e, util_mono_ms() + wait);
        backoff *= 2;
    }
    free(body);
    if (result != SENT)
        log_warn("tracing: %zu span%s not sent to %s: %s (%d attempt%s)", b->n,
                 b->n == 1 ? "" : "s", e->s.shown, err, tries, tries == 1 ? "" : "s");
    return result;
}

/* ------------------------------------------------------------ the thread */

/* Move the queue's first (at most) max spans into out, with e->mu held. */
static void take(trace_exporter *e, trace_batch *out, size_t max)
{
    size_t k = e->queue.n < max ? e->queue.n : max;
    out->spans = xmalloc((k ? k : 1) * sizeof *out->spans);
    memcpy(out->spans, e->queue.spans, k * sizeof *out->spans);
    out->n = out->cap = k;
    memmove(e->queue.spans, e->queue.spans + k, (e->queue.n - k) * sizeof *e->queue.spans);
    e->queue.n -= k;
}

static void *exporter_main(void *arg)
{
    trace_exporter *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (!e->queue.n && !e->stopping)
            pthread_cond_wait(&e->cv, &e->mu);
        if (!e->queue.n)
            break;
        if (e->deadline && util_mono_ms() >= e->deadline) {
            e->st.dropped += e->queue.n; /* out of time: what is left is not sent */
            trace_batch_clear(&e->queue);
            break;
        }
        trace_batch b = { 0 };
        take(e, &b, e->s.batch_max_spans);
        pthread_mutex_unlock(&e->mu);
        int r = deliver(e, &b);
        pthread_mutex_lock(&e->mu);
        if (r == SENT)
            e->st.sent += b.n;
        else if (r == FAILED)
            e->st.failed += b.n;
        else
            e->st.dropped += b.n;
        trace_batch_clear(&b);
    }
    e->done = 1;
    int abandoned = e->abandoned;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    if (abandoned)
        exporter_free(e); /* stop gave up on us: e is ours */
    return NULL;
}

/* ------------------------------------------------------------ the public side */

trace_exporter *trace_exporter_start(const trace_settings *s)
{
    pthread_condattr_t ca;
    if (!s || !s->enabled)
        return NULL;
    pthread_once(&curl_once, init_curl);
    if (!curl_ok) {
        log_error("tracing: cannot set up libcurl; no trace will be sent");
        return NULL;
    }
    trace_exporter *e = xcalloc(1, sizeof *e);
    pthread_mutex_init(&e->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* backoffs ignore clock changes */
    pthread_cond_init(&e->cv, &ca);
    pthread_condattr_destroy(&ca);
    copy_settings(&e->s, s);
    if (e->s.max_attempts < 1)
        e->s.max_attempts = 1;
    if (e->s.batch_max_spans < 1)
        e->s.batch_max_spans = 1;
    e->headers = append(NULL, "Content-Type: application/json");
    e->headers = append(e->headers, "Expect:"); /* no 100-continue round trip */
    for (size_t i = 0; i < e->s.n_headers; i++) {
        char *line = xasprintf("%s: %s", e->s.headers[i].name, e->s.headers[i].value);
        e->headers = append(e->headers, line);
        util_free_secret(line);
    }
    e->multi = curl_multi_init();
    int rc = e->multi ? util_thread_start(&e->thread, NULL, exporter_main, e) : -1;
    if (rc != 0) {
        log_error("tracing: cannot start the exporter thread: %s; no trace will be sent",
                  rc > 0 ? strerror(rc) : "libcurl");
        exporter_free(e);
        return NULL;
    }
    return e;
}

int trace_exporter_enqueue(trace_exporter *e, trace_batch *b)
{
    size_t n = b->n;
    if (!e) {
        trace_batch_clear(b);
        return -1;
    }
    pthread_mutex_lock(&e->mu);
    int full = e->stopping || e->queue.n + n > e->s.queue_max_spans;
    if (full) {
        e->st.dropped += n;
    } else {
        trace_batch_move(&e->queue, b);
        pthread_cond_broadcast(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
    if (full) {
        trace_batch_clear(b);
        log_warn("tracing: %zu span%s dropped: the export queue is full (%zu spans)", n,
                 n == 1 ? "" : "s", e->s.queue_max_spans);
    }
    return full ? -1 : 0;
}

void trace_exporter_stats(trace_exporter *e, trace_export_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    *out = e->st;
    out->queued = e->queue.n;
    pthread_mutex_unlock(&e->mu);
}

void trace_exporter_stop(trace_exporter *e, int64_t deadline_ms, trace_export_stats *final)
{
    if (final)
        memset(final, 0, sizeof *final);
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    e->stopping = 1;
    e->deadline = deadline_ms > 0 ? deadline_ms : 1;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    curl_multi_wakeup(e->multi); /* a transfer in flight looks at the deadline now */

    struct timespec until;
    int64_t limit = deadline_ms + TRACE_STOP_GRACE_MS, now = util_mono_ms();
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t ns = until.tv_nsec + (limit > now ? limit - now : 0) * 1000000;
    until.tv_sec += (time_t)(ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&e->mu);
    while (!e->done)
        if (pthread_cond_timedwait(&e->cv, &e->mu, &until) == ETIMEDOUT)
            break;
    int done = e->done;
    if (final) {
        *final = e->st;
        final->queued = e->queue.n;
    }
    if (!done)
        e->abandoned = 1;
    pthread_mutex_unlock(&e->mu);
    if (!done) {
        log_warn("tracing: the exporter did not stop in time; left behind");
        pthread_detach(e->thread);
        return;
    }
    pthread_join(e->thread, NULL);
    exporter_free(e);
}

trace_exporter *trace_exporter_open(const trace_overrides *o, const char *who)
{
    trace_settings s;
    trace_settings_load(o, &s);
    trace_exporter *e = trace_exporter_start(&s);
    if (e && who)
        log_info("%s: tracing: each run's trace is sent to %s", who, s.shown);
    trace_settings_free(&s);
    return e;
}
