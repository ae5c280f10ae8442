/* SPDX-License-Identifier: MIT */
/* webhook.c - see webhook.h. */
#include "service/webhook.h"
#include "base/log.h"
#include "base/stop.h"
#include "base/util.h"
#include "config/options.h"
#include "config/webhook_url.h"
#include "service/prom.h"
#include "service/webhook_payload.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Retries wait at most this long, however many there are. */
#define BACKOFF_MAX_MS 60000
/* A redacted URL: scheme://host:port/ */
#define SHOWN_MAX 300

enum { R_DELIVERED, R_FAILED, R_DROPPED, R_N };
static const char *const result_names[R_N] = { "delivered", "failed", "dropped" };

/* One delivery: everything it needs, copied, so that a reload cannot pull it away. */
typedef struct job {
    struct job *next;
    int64_t run_id;
    char *target, *event, *body;
    char *url;             /* a secret, as the file's URL may be */
    char shown[SHOWN_MAX]; /* the URL as logs show it */
    char *secret;          /* the HMAC key (wiped when freed), or NULL */
    struct curl_slist *headers; /* values from the environment: secrets too */
    char *setup_error;     /* a variable is missing: failed without sending */
    int64_t timeout_ms, backoff_ms;
    int retries;
} job;

/*
 * One lane per target, each with its own queue and thread: a receiver that
 * hangs holds up only its own deliveries, never another target's.
 */
typedef struct lane {
    struct webhook *w;
    char *target;
    job *head, *tail;
    size_t queued;
    int done;               /* its thread has ended */
    pthread_t thread;
    uint64_t n[R_N];        /* reconciler_notifications_total{target,result} */
} lane;

/* skipped_too_long's memory of one job. */
#define WEBHOOK_MAX_TRACKS 64
typedef struct job_track {
    char job[65];
    int64_t last_ran_ms;    /* monotonic: when a run of the job last ran (or the start) */
    int skip_told;
} job_track;

struct webhook {
    pthread_mutex_t mu;     /* the lanes and their queues */
    pthread_cond_t cv;      /* a new job, a deadline, a lane done */
    lane **lanes;
    size_t n_lanes;
    int stopping;           /* no more jobs: each thread ends when its queue is empty */
    _Atomic int64_t deadline; /* monotonic ms; 0: none. Read by curl's progress callback */
    history *h;
    /* skipped_too_long, per job (jobs run on threads of their own): under track_mu */
    pthread_mutex_t track_mu;
    job_track tracks[WEBHOOK_MAX_TRACKS];
    size_t n_tracks;
    int64_t start_ms;       /* monotonic: a job first seen counts from here */
};

/* ------------------------------------------------------------ events */

unsigned webhook_run_events(const json_t *r, const char *prev)
{
    const char *status = json_string_value(json_object_get(r, "status"));
    if (!status || json_is_true(json_object_get(r, "dryRun")))
        return 0;
    /* Interrupted is its own event: a restart's SIGTERM is not a failure to page about. */
    if (json_is_true(json_object_get(r, "interrupted")))
        return CFG_EV_INTERRUPTED;
    if (strcmp(status, "failed") == 0)
        return CFG_EV_FAILED;
    if (strcmp(status, "partial") == 0)
        return CFG_EV_PARTIAL;
    if (strcmp(status, "success") == 0)
        return CFG_EV_SUCCESS | (prev && strcmp(prev, "success") != 0 ? CFG_EV_RECOVERED : 0);
    return 0; /* skipped */
}

unsigned webhook_pick_event(unsigned on, unsigned events)
{
    /* recovered is the more telling news of a success: it wins, and only one is sent. */
    if (events & on & CFG_EV_RECOVERED)
        return CFG_EV_RECOVERED;
    unsigned both = events & on & ~(unsigned)CFG_EV_RECOVERED;
    return both & -both; /* the lowest bit: a run has one event besides recovered */
}

/* ------------------------------------------------------------ jobs */

static void job_free(job *j)
{
    if (!j)
        return;
    free(j->target);
    free(j->event);
    free(j->body);
    util_free_secret(j->url);
    util_free_secret(j->secret);
    /* Header values came from the environment: wipe them as secrets too. */
    for (struct curl_slist *l = j->headers; l; l = l->next)
        explicit_bzero(l->data, strlen(l->data));
    curl_slist_free_all(j->headers);
    free(j->setup_error);
    free(j);
}

static void add_header(job *j, const char *line)
{
    struct curl_slist *l = curl_slist_append(j->headers, line);
    if (!l) {
        fprintf(stderr, "reconciler: out of memory\n");
        abort();
    }
    j->headers = l;
}

/* The target's variables, read now; a missing one fails the delivery, never sends without. */
static void job_env(job *j, const cfg_notify *t)
{
    if (t->secret_env) {
        const char *v = getenv(t->secret_env);
        if (!v || !*v)
            j->setup_error = xasprintf("secret_env names %s, which is not set; nothing sent "
                                       "unsigned", t->secret_env);
        else
            j->secret = xstrdup(v);
    }
    for (size_t i = 0; i < t->n_headers && !j->setup_error; i++) {
        const char *v = getenv(t->headers[i].env);
        if (!v)
            j->setup_error = xasprintf("header %s: %s is not set", t->headers[i].name,
                                       t->headers[i].env);
        else if (strpbrk(v, "\r\n"))
            j->setup_error = xasprintf("header %s: %s holds a line break", t->headers[i].name,
                                       t->headers[i].env);
        if (j->setup_error)
            break;
        char *line = xasprintf("%s: %s", t->headers[i].name, v);
        add_header(j, line);
        util_free_secret(line);
    }
}

/*
 * The run's link: its page in the console when http.public_url says where
 * people reach it, else its JSON on http.listen (service only), else none.
 */
static job *job_new(const cfg_notify *t, const json_t *r, unsigned ev, const char *listen,
                    const char *public_url, const char *note)
{
    job *j = xcalloc(1, sizeof *j);
    char *link = NULL;
    json_int_t id = json_integer_value(json_object_get(r, "runId"));
    if (public_url && id) {
        size_t n = strlen(public_url);
        while (n && public_url[n - 1] == '/')
            n--;
        link = xasprintf("%.*s/#/runs/%lld", (int)n, public_url, (long long)id);
    } else if (listen && id) {
        link = xasprintf("http://%s/v1/reconciliation/runs/%lld", listen, (long long)id);
    }
    j->run_id = id;
    j->target = xstrdup(t->name);
    j->event = xstrdup(cfg_event_name(ev));
    j->body = webhook_payload(r, j->event, t->format, link, note);
    j->url = xstrdup(t->url);
    webhook_url_redact(t->url, j->shown, sizeof j->shown);
    j->timeout_ms = t->timeout_ms;
    j->backoff_ms = t->backoff_ms;
    j->retries = (int)t->retries;
    add_header(j, "Content-Type: application/json");
    add_header(j, "Expect:"); /* no 100-continue round trip */
    char *line = xasprintf("X-Reconciler-Event: %s", j->event);
    add_header(j, line);
    free(line);
    job_env(j, t);
    free(link);
    return j;
}

/* ------------------------------------------------------------ outcomes */

/* Log, record and count one delivery's outcome. */
static void outcome(lane *l, const job *j, int result, long http, int attempts,
                    const char *error)
{
    webhook *w = l->w;
    char code[32] = "no answer";
    if (http)
        snprintf(code, sizeof code, "HTTP %ld", http);
    log_msg(result == R_DELIVERED ? RC_LOG_INFO : RC_LOG_WARN, NULL,
            "notify: target %s (%s): run %lld %s: %s (%s, %d attempt%s)%s%s", j->target,
            j->shown, (long long)j->run_id, j->event, result_names[result], code, attempts,
            attempts == 1 ? "" : "s", error ? ": " : "", error ? error : "");
    history_notification n = { j->target, j->event, result_names[result], (int)http, attempts,
                               error };
    if (w->h && j->run_id && history_notified(w->h, j->run_id, &n) != 0)
        log_error("%s", history_error(w->h));
    pthread_mutex_lock(&w->mu);
    l->n[result]++;
    pthread_mutex_unlock(&w->mu);
}

/* ------------------------------------------------------------ one attempt */

/* "t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>" into out. 0, or -1. */
static int sign(const job *j, char *out, size_t outlen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    long long t = (long long)(util_wall_ms() / 1000);
    char *msg = xasprintf("%lld.%s", t, j->body);
    int n = snprintf(out, outlen, "X-Reconciler-Signature: t=%lld,v1=", t);
    int rc = -1;
    if (HMAC(EVP_sha256(), j->secret, (int)strlen(j->secret), (const unsigned char *)msg,
             strlen(msg), mac, &len) && n > 0 && (size_t)n + 2 * len < outlen) {
        for (unsigned int i = 0; i < len; i++)
            snprintf(out + n + 2 * i, 3, "%02x", mac[i]);
        rc = 0;
    }
    free(msg);
    return rc;
}

static size_t discard(char *p, size_t size, size_t n, void *user)
{
    (void)p;
    (void)user;
    return size * n;
}

/* curl asks about once a second and on every transfer: a passed deadline cuts the attempt off. */
static int progress(void *user, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    webhook *w = user;
    (void)a; (void)b; (void)c; (void)d;
    int64_t deadline = atomic_load(&w->deadline);
    return deadline && util_mono_ms() >= deadline;
}

/*
 * One POST within timeout_ms. Returns the HTTP status (0: none came) and,
 * when none came, the reason in err.
 */
static long attempt(webhook *w, const job *j, int64_t timeout_ms, char *err, size_t errlen)
{
    char sig[160];
    struct curl_slist *headers = j->headers, *signed_headers = NULL;
    long http = 0;
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "cannot start a transfer");
        return 0;
    }
    if (j->secret) {
        /* The signature's time is each attempt's own: a late retry still verifies. */
        if (sign(j, sig, sizeof sig) != 0 || !(signed_headers = curl_slist_append(NULL, sig))) {
            /* Never sent unsigned. */
            snprintf(err, errlen, "cannot sign the body");
            curl_easy_cleanup(c);
            return 0;
        }
        signed_headers->next = headers; /* spliced on for this attempt, cut off below */
        headers = signed_headers;
    }
    curl_easy_setopt(c, CURLOPT_URL, j->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM in a threaded process */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(j->body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "reconciler");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, w);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
    else
        /* curl's general text only: its detailed buffer could quote parts of the URL. */
        snprintf(err, errlen, "%s", rc == CURLE_ABORTED_BY_CALLBACK
                                        ? "cut off: out of time to deliver"
                                        : curl_easy_strerror(rc));
    curl_easy_cleanup(c);
    if (signed_headers) {
        signed_headers->next = NULL;
        curl_slist_free_all(signed_headers);
    }
    return http;
}

/* Worth another try: no answer, the server's own trouble, or "slow down". */
static int retryable(long http)
{
    return http == 0 || http >= 500 || http == 408 || http == 429;
}

/* Sleep until mono ms `until` on the delivery thread; early when a deadline comes first. */
static void nap(webhook *w, int64_t until)
{
    pthread_mutex_lock(&w->mu);
    for (;;) {
        int64_t deadline = atomic_load(&w->deadline), now = util_mono_ms();
        if (now >= until || (deadline && now >= deadline))
            break;
        int64_t end = deadline && deadline < until ? deadline : until;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + (end - now) * 1000000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
}

/* Every attempt of one delivery, then its outcome. */
static void deliver(lane *l, const job *j)
{
    webhook *w = l->w;
    char err[256] = "";
    long http = 0;
    int tries = 0;
    int64_t backoff = j->backoff_ms;

    if (j->setup_error) {
        outcome(l, j, R_FAILED, 0, 0, j->setup_error);
        return;
    }
    for (;;) {
        int64_t deadline = atomic_load(&w->deadline), timeout = j->timeout_ms;
        int64_t left = deadline ? deadline - util_mono_ms() : INT64_MAX;
        if (left <= 0) {
            if (!tries)
                outcome(l, j, R_DROPPED, 0, 0, "out of time to deliver");
            else
                outcome(l, j, R_FAILED, http, tries, "gave up: out of time to deliver");
            return;
        }
        if (timeout > left)
            timeout = left;
        err[0] = '\0';
        http = attempt(w, j, timeout, err, sizeof err);
        tries++;
        if (http >= 200 && http < 300) {
            outcome(l, j, R_DELIVERED, http, tries, NULL);
            return;
        }
        if (http && !*err)
            snprintf(err, sizeof err, "answered %ld", http);
        if (!retryable(http) || tries > j->retries) {
            outcome(l, j, R_FAILED, http, tries, err);
            return;
        }
        log_debug("notify: target %s (%s): attempt %d: %s; retrying in %lld ms", j->target,
                  j->shown, tries, err, (long long)backoff);
        nap(w, util_mono_ms() + backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
}

static void *lane_thread(void *arg)
{
    lane *l = arg;
    webhook *w = l->w;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!l->head && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        job *j = l->head;
        if (!j)
            break;
        l->head = j->next;
        if (!l->head)
            l->tail = NULL;
        l->queued--;
        pthread_mutex_unlock(&w->mu);
        deliver(l, j);
        job_free(j);
        pthread_mutex_lock(&w->mu);
    }
    l->done = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* The lane of target (under w->mu), started on first use; NULL when its thread cannot start. */
static lane *lane_for(webhook *w, const char *target)
{
    for (size_t i = 0; i < w->n_lanes; i++)
        if (strcmp(w->lanes[i]->target, target) == 0)
            return w->lanes[i];
    lane *l = xcalloc(1, sizeof *l);
    l->w = w;
    l->target = xstrdup(target);
    int rc = util_thread_start(&l->thread, NULL, lane_thread, l);
    if (rc != 0) {
        log_error("notify: cannot start a delivery thread for target %s: %s", target,
                  strerror(rc));
        free(l->target);
        free(l);
        return NULL;
    }
    w->lanes = xrealloc(w->lanes, (w->n_lanes + 1) * sizeof *w->lanes);
    w->lanes[w->n_lanes++] = l;
    return l;
}

/* ------------------------------------------------------------ the public side */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;

static void init_curl(void)
{
    curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

webhook *webhook_start(history *h)
{
    pthread_condattr_t ca;
    /* Before any other thread uses curl: the first call sets the library up. */
    pthread_once(&curl_once, init_curl);
    if (!curl_ok) {
        log_error("notify: cannot set up libcurl; no webhook will be sent");
        return NULL;
    }
    webhook *w = xcalloc(1, sizeof *w);
    w->h = h;
    w->start_ms = util_mono_ms();
    pthread_mutex_init(&w->track_mu, NULL);
    atomic_init(&w->deadline, 0);
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* backoffs ignore clock changes */
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    return w;
}

/* Queue j on its target's lane, or drop it (recorded) when that queue is full. */
static void enqueue(webhook *w, job *j)
{
    pthread_mutex_lock(&w->mu);
    lane *l = lane_for(w, j->target); /* the target's series exists from its first event */
    int full = !l || l->queued >= WEBHOOK_QUEUE_MAX || w->stopping;
    if (!full) {
        if (l->tail)
            l->tail->next = j;
        else
            l->head = j;
        l->tail = j;
        l->queued++;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (full && l) {
        outcome(l, j, R_DROPPED, 0, 0, "the delivery queue is full");
    } else if (full) {
        log_error("notify: target %s: run %lld %s: dropped", j->target, (long long)j->run_id,
                  j->event);
    }
    if (full)
        job_free(j);
}

/* The job's memory (called with track_mu held; a job past the table's end shares the last). */
static job_track *track_of(webhook *w, const char *jname)
{
    for (size_t i = 0; i < w->n_tracks; i++)
        if (strcmp(w->tracks[i].job, jname) == 0)
            return &w->tracks[i];
    if (w->n_tracks == WEBHOOK_MAX_TRACKS)
        return &w->tracks[WEBHOOK_MAX_TRACKS - 1];
    job_track *t = &w->tracks[w->n_tracks++];
    snprintf(t->job, sizeof t->job, "%s", jname);
    t->last_ran_ms = w->start_ms;
    t->skip_told = 0;
    return t;
}

/* How long a job may go without running before skipped_too_long: 3 of its periods. */
static int64_t job_period(const config *cfg, const cfg_job *j)
{
    if (!j || j->legacy)
        return cfg->schedule_interval_ms;
    /* A cron job's period varies: its missed_within is how late a run may be. */
    return j->every_ms ? j->every_ms : j->missed_within_ms;
}

/* skipped_too_long: the note for a skipped scheduled run, or NULL when it is not time. */
static char *skipped_note(const config *cfg, const cfg_job *j, job_track *t, const json_t *r)
{
    const char *trigger = json_string_value(json_object_get(r, "trigger"));
    int64_t period = job_period(cfg, j);
    int64_t now = util_mono_ms(), limit = WEBHOOK_SKIPPED_INTERVALS * period;
    char since[32], interval[32];
    if (!trigger || strcmp(trigger, "scheduled") != 0 || t->skip_told ||
        now - t->last_ran_ms < limit)
        return NULL;
    t->skip_told = 1;
    duration_format(now - t->last_ran_ms, since, sizeof since);
    duration_format(period, interval, sizeof interval);
    return xasprintf("no run %s%s%shas run on this instance for %s (%d x %s %s); the "
                     "last scheduled one: %s", j && !j->legacy ? "of job " : "",
                     j && !j->legacy ? j->name : "", j && !j->legacy ? " " : "", since,
                     WEBHOOK_SKIPPED_INTERVALS,
                     !j || j->legacy ? "schedule.interval" : j->every_ms ? "schedule.every"
                                                                         : "missed_within",
                     interval,
                     json_string_value(json_array_get(json_object_get(r, "errors"), 0))
                         ? json_string_value(json_array_get(json_object_get(r, "errors"), 0))
                         : "skipped");
}

void webhook_after_run(webhook *w, const config *cfg, const json_t *r, const char *listen)
{
    char prev[HISTORY_STATUS_MAX];
    char *note = NULL;
    unsigned events;
    const char *status = json_string_value(json_object_get(r, "status"));
    const char *jname = json_string_value(json_object_get(r, "job"));
    const cfg_job *j = cfg_job_find(cfg, jname);
    if (!w || !status)
        return;
    if (strcmp(status, "skipped") == 0) {
        if (json_is_true(json_object_get(r, "dryRun")))
            return;
        pthread_mutex_lock(&w->track_mu);
        note = skipped_note(cfg, j, track_of(w, jname ? jname : CFG_LEGACY_JOB), r);
        pthread_mutex_unlock(&w->track_mu);
        if (!note)
            return;
        events = CFG_EV_SKIPPED_TOO_LONG;
    } else {
        if (!json_is_true(json_object_get(r, "dryRun"))) {
            pthread_mutex_lock(&w->track_mu);
            job_track *t = track_of(w, jname ? jname : CFG_LEGACY_JOB);
            t->last_ran_ms = util_mono_ms();
            t->skip_told = 0;
            pthread_mutex_unlock(&w->track_mu);
        }
        int64_t id = json_integer_value(json_object_get(r, "runId"));
        /* The job's run before this one, from the history: `run --once` has no other memory. */
        int found = w->h ? history_last_status_job(w->h, jname, id, prev) : 0;
        if (found < 0)
            log_error("%s (recovered cannot be told)", history_error(w->h));
        events = webhook_run_events(r, found > 0 ? prev : NULL);
    }
    for (size_t i = 0; i < cfg->n_notify; i++) {
        unsigned ev = j && !cfg_job_notifies(j, i) ? 0 : webhook_pick_event(cfg->notify[i].on,
                                                                              events);
        if (ev)
            enqueue(w, job_new(&cfg->notify[i], r, ev, listen, cfg->http_public_url, note));
    }
    free(note);
}

static int all_done(const webhook *w)
{
    for (size_t i = 0; i < w->n_lanes; i++)
        if (!w->lanes[i]->done)
            return 0;
    return 1;
}

void webhook_finish(webhook *w, int64_t deadline_ms, int watch_stop)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    atomic_store(&w->deadline, deadline_ms);
    pthread_cond_broadcast(&w->cv);
    while (!all_done(w)) {
        /* Wake every 100 ms to look for a SIGTERM (its handler cannot signal a cond var). */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        if (watch_stop && stop_requested() && atomic_load(&w->deadline) > util_mono_ms()) {
            atomic_store(&w->deadline, util_mono_ms());
            pthread_cond_broadcast(&w->cv);
        }
    }
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < w->n_lanes; i++) {
        pthread_join(w->lanes[i]->thread, NULL);
        free(w->lanes[i]->target);
        free(w->lanes[i]);
    }
    free(w->lanes);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->track_mu);
    free(w);
}

void webhook_metrics(webhook *w, strbuf *b)
{
    prom_family(b, "reconciler_notifications_total", "counter",
                "Webhook deliveries by target (its name) and result: delivered, failed "
                "(after its retries), dropped (queue full, or out of time when stopping).");
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->n_lanes; i++)
        for (int k = 0; k < R_N; k++)
            prom_sample(b, "reconciler_notifications_total", (double)w->lanes[i]->n[k],
                        "target", w->lanes[i]->target, "result", result_names[k], NULL);
    pthread_mutex_unlock(&w->mu);
}
