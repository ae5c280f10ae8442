/*
 * api.c - the service's HTTP API: the routes and their handlers.
 *
 * The transport (libmicrohttpd, auth, 404/405) is http.c; this file only says
 * what each path answers. Live figures (queue, dashboard) come from running
 * the step plugins read-only as probes in a step worker per request
 * (engine/supervisor.c), so their SQL stays in the plugins, nothing here is
 * cached, and a plugin that crashes costs only its request.
 */
#include "service/api.h"
#include "base/json.h"
#include "base/log.h"
#include "base/text.h"
#include "base/util.h"
#include "base/version.h"
#include "engine/supervisor.h"
#include "service/console.h"
#include "service/prom.h"

#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ?limit= of /v1/reconciliation/history: default and largest. */
#define HISTORY_LIMIT_DEFAULT 20
#define HISTORY_LIMIT_MAX 1000

static json_t *generated_at(void)
{
    char ts[32];
    util_iso_time(util_wall_ms(), ts, sizeof ts);
    return jx(json_string(ts));
}

static void h_healthz(void *user, const http_request *req, http_response *resp)
{
    (void)user;
    (void)req;
    http_reply_json(resp, 200, jx(json_pack("{s:s, s:I}", "status", "ok",
                                            "uptime", (json_int_t)util_uptime_s())));
}

/*
 * The history store's health for /readyz: {"ok":true}, or {"ok":false,
 * "error":..., "since":...} while its last write failed. Readiness itself
 * does not depend on it: the bot's database is what the bot waits for, and
 * a full history disk must not hold the bot back.
 */
static json_t *history_health(void)
{
    char why[512], since[32];
    int64_t since_ms;
    if (!history_write_failing(why, sizeof why, &since_ms))
        return jx(json_pack("{s:b}", "ok", 1));
    util_iso_time(since_ms, since, sizeof since);
    return jx(json_pack("{s:b, s:o, s:s}", "ok", 0, "error", jx_text(why), "since", since));
}

/*
 * Ready: a real run succeeded at least once and the database answers now.
 * From memory (the database watch): it never waits for the database.
 */
static void h_readyz(void *user, const http_request *req, http_response *resp)
{
    const api_deps *a = user;
    dbwatch_state w;
    (void)req;

    if (!run_state_ready(a->rs)) {
        http_reply_error(resp, 503, "no reconciliation run has succeeded yet");
        return;
    }
    dbwatch_read(a->watch, &w);
    if (!w.ok)
        http_reply_error(resp, 503, "the database does not answer: %s", w.why);
    else
        http_reply_json(resp, 200, jx(json_pack("{s:s, s:s, s:o}", "status", "ready",
                                                "databaseTime", w.db_time,
                                                "history", history_health())));
}

static void h_status(void *user, const http_request *req, http_response *resp)
{
    const api_deps *a = user;
    int running;
    (void)req;
    json_t *r = run_state_last(a->rs, &running);
    if (!r) {
        http_reply_error(resp, 503, "no reconciliation run has finished yet%s",
                         running ? " (the first one is running)" : "");
        return;
    }
    json_object_set_new(r, "uptime", jx(json_integer(util_uptime_s())));
    http_reply_json(resp, 200, r);
}

int api_arg_limit(const char *arg, int64_t *limit, char *why, size_t whylen)
{
    int rc = arg ? text_int(arg, 1, HISTORY_LIMIT_MAX, limit) : TEXT_OK;
    if (!arg)
        *limit = HISTORY_LIMIT_DEFAULT;
    if (rc == TEXT_OK)
        return 0;
    snprintf(why, whylen, "limit must be %sfrom 1 to %d, got '%s'",
             rc == TEXT_SYNTAX ? "a whole number " : "", HISTORY_LIMIT_MAX, arg);
    return -1;
}

int api_arg_before(const char *arg, int64_t *before, char *why, size_t whylen)
{
    int rc = arg ? text_int(arg, 1, INT64_MAX, before) : TEXT_OK;
    if (!arg)
        *before = 0;
    if (rc == TEXT_OK)
        return 0;
    snprintf(why, whylen, "before must be a run id, %sfrom 1 to %lld, got '%s'",
             rc == TEXT_SYNTAX ? "a whole number " : "", (long long)INT64_MAX, arg);
    return -1;
}

int api_arg_run_id(const char *tail, int64_t *id, char *why, size_t whylen)
{
    int rc = text_int(tail, 1, INT64_MAX, id);
    if (rc == TEXT_OK)
        return 0;
    snprintf(why, whylen, "a run id is a whole number from 1 to %lld, got '%s'%s",
             (long long)INT64_MAX, tail, rc == TEXT_SYNTAX ? "" : ", which is out of range");
    return -1;
}

int api_arg_dry_run(const char *arg, int *dry, char *why, size_t whylen)
{
    *dry = arg && strcmp(arg, "true") == 0;
    if (!arg || *dry || strcmp(arg, "false") == 0)
        return 0;
    snprintf(why, whylen, "dryRun must be true or false, got '%s'", arg);
    return -1;
}

/*
 * A page of the history: ?limit=N newest first, ?before=ID the runs older
 * than ID (keyset paging: a run recorded meanwhile never shifts a page).
 * nextBefore is the argument for the next older page, null on the last.
 */
static void h_history(void *user, const http_request *req, http_response *resp)
{
    const api_deps *a = user;
    int64_t limit, before, total = 0;
    char why[API_WHY_MAX];
    if (api_arg_limit(http_query(req, "limit"), &limit, why, sizeof why) != 0 ||
        api_arg_before(http_query(req, "before"), &before, why, sizeof why) != 0) {
        http_reply_error(resp, 400, "%s", why);
        return;
    }
    json_t *runs = history_page(a->h, limit, before, &total);
    if (!runs) {
        http_reply_error(resp, 503, "%s", history_error(a->h));
        return;
    }
    size_t n = json_array_size(runs);
    json_t *last = n ? json_object_get(json_array_get(runs, n - 1), "runId") : NULL;
    /* A full page may be followed by more; an id of 1 has nothing older. */
    int more = (int64_t)n == limit && json_integer_value(last) > 1;
    http_reply_json(resp, 200, jx(json_pack("{s:o, s:I, s:o}", "runs", runs,
                                            "total", (json_int_t)total,
                                            "nextBefore", more ? json_incref(last)
                                                               : json_null())));
}

/*
 * The run lock as other instances see it: held while a run holds it and,
 * after a scheduled run, while its hold lasts ("until": the lease's or the
 * hold's end; "phase": "run" or "hold"). Atomics only: never waits.
 */
static json_t *lock_state(runlock *rl)
{
    int64_t until_ms = 0;
    int st = rl ? runlock_state(rl, &until_ms) : RUNLOCK_FREE;
    char until[32] = "";
    if (st != RUNLOCK_FREE)
        util_iso_time(until_ms, until, sizeof until);
    return jx(json_pack("{s:b, s:s, s:o, s:o}", "held", st != RUNLOCK_FREE,
                        "instance", rl ? runlock_holder(rl) : "",
                        "phase", st == RUNLOCK_RUNNING ? jx(json_string("run"))
                                 : st == RUNLOCK_HOLDING ? jx(json_string("hold")) : json_null(),
                        "until", until[0] ? jx(json_string(until)) : json_null()));
}

/*
 * What the console shows at a glance, from memory only (like /metrics):
 * the run going on or queued, when the next scheduled one is due, whether
 * this instance holds the run lock, the database watch's last ping.
 */
static void h_state(void *user, const http_request *req, http_response *resp)
{
    const api_deps *a = user;
    dbwatch_state w;
    char checked[32] = "";
    (void)req;
    dbwatch_read(a->watch, &w);
    if (w.checked_ms)
        util_iso_time(util_wall_ms() - (util_mono_ms() - w.checked_ms), checked, sizeof checked);
    json_t *dbj = jx(json_pack("{s:b, s:o, s:o, s:o}", "ok", w.ok,
                              "latencyMs", w.checked_ms ? jx(json_real(w.latency_ms)) : json_null(),
                              "checkedAt", checked[0] ? jx(json_string(checked)) : json_null(),
                              "error", w.ok ? json_null() : jx_text(w.why)));
    json_t *body = run_state_activity(a->rs);
    json_object_set_new(body, "lastRun", run_state_last_brief(a->rs));
    json_object_set_new(body, "lock", lock_state(a->rl));
    /* The console's banner: the file on disk was refused, an older pipeline runs. */
    json_object_set_new(body, "reload", a->cfgs ? reload_state_json(a->cfgs) : json_null());
    json_object_set_new(body, "database", dbj);
    json_object_set_new(body, "uptime", jx(json_integer(util_uptime_s())));
    json_object_set_new(body, "generatedAt", generated_at());
    http_reply_json(resp, 200, body);
}

static void h_run_get(void *user, const http_request *req, http_response *resp)
{
    const api_deps *a = user;
    int64_t id;
    char why[API_WHY_MAX];
    if (api_arg_run_id(req->tail, &id, why, sizeof why) != 0) {
        http_reply_error(resp, 400, "%s", why);
        return;
    }
    json_t *r = NULL;
    int found = history_get(a->h, id, &r);
    if (found > 0)
        http_reply_json(resp, 200, r);
    else if (found == 0)
        http_reply_error(resp, 404, "no finished run %lld in the history", (long long)id);
    else /* the store failed: not a 404, which would say the run does not exist */
        http_reply_error(resp, 500, "cannot read run %lld from the history: %s", (long long)id,
                         history_error(a->h));
}

/* Queue a manual run for the main thread (run_state_post says how it answers). */
static void h_run_post(void *user, const http_request *req, http_response *resp)
{
    const api_deps *a = user;
    int dry;
    char why[API_WHY_MAX];
    run_post post;

    if (api_arg_dry_run(http_query(req, "dryRun"), &dry, why, sizeof why) != 0) {
        http_reply_error(resp, 400, "%s", why);
        return;
    }
    run_state_post(a->rs, dry, &post);
    if (post.status == 503) {
        http_reply_error(resp, 503, "%s", post.error);
        return;
    }
    if (post.status == 409) {
        http_reply_json(resp, 409, jx(json_pack("{s:s, s:i, s:o}", "error", "a reconciliation "
                                                "run is already running or queued", "status", 409,
                                                "runId", post.run_id ? jx(json_integer(post.run_id))
                                                                     : json_null())));
        return;
    }
    log_info("manual run %lld queued%s", (long long)post.run_id, dry ? " (dry run)" : "");
    json_t *body = jx(json_pack("{s:I, s:s, s:s, s:b}", "runId", (json_int_t)post.run_id,
                                "status", "queued", "trigger", "manual", "dryRun", dry));
    /* Queued all the same; the client learns its start is not in history (yet). */
    if (post.error[0])
        json_object_set_new(body, "historyError", jx_text(post.error));
    http_reply_json(resp, 202, body);
}

/*
 * Probes run in step workers (engine/supervisor.c), like every plugin: a
 * probe that crashes or hangs costs its request a 503, never the API. At
 * most PROBES_MAX run at once on one server (api_deps.probes: two servers
 * in one process each have their own); a request beyond that waits up to
 * PROBE_QUEUE_MS for a slot, then gets 503.
 */
#define PROBES_MAX 4
#define PROBE_QUEUE_MS 1000
#define PROBE_TIMEOUT_MS 10000

static int probe_slot(api_probes *p)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += PROBE_QUEUE_MS / 1000;
    pthread_mutex_lock(&p->mu);
    while (p->running >= PROBES_MAX)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) != 0)
            break;
    int got = p->running < PROBES_MAX;
    p->running += got;
    pthread_mutex_unlock(&p->mu);
    return got;
}

static void probe_done(api_probes *p)
{
    pthread_mutex_lock(&p->mu);
    p->running--;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/*
 * Run probes (NULL-terminated names) in one worker; results[i] get their
 * figures. 0, or -1 with why in err (a 503 for the caller to send). The
 * pipeline in force is held by reference for the duration, with no lock
 * held: a slow database here never holds up a reload or a run.
 */
static int probe_run(api_deps *a, const char *const *names, json_t **results,
                     char now[static RC_TIME_TEXT_SIZE], char *err, size_t errlen)
{
    if (!probe_slot(&a->probes)) {
        snprintf(err, errlen, "too many live queries at once (%d); try again", PROBES_MAX);
        return -1;
    }
    snapshot *snap = snapshots_hold(a->snaps);
    int rc = supervise_probes(snap->cfg, names, results, now, PROBE_TIMEOUT_MS, err, errlen);
    snapshot_release(snap);
    probe_done(&a->probes);
    return rc;
}

/* As probe_run, answering 503 with why when it fails. */
static int probe(api_deps *a, const char *const *names, json_t **results,
                 char now[static RC_TIME_TEXT_SIZE], http_response *resp)
{
    char err[2048];
    int rc = probe_run(a, names, results, now, err, sizeof err);
    if (rc != 0)
        http_reply_error(resp, 503, "%s", err);
    return rc;
}

/* A probe_run on a thread of its own, so that two workers query at once. */
typedef struct probe_job {
    api_deps *a;
    const char *const *names;
    json_t **results;
    char now[RC_TIME_TEXT_SIZE];
    char err[2048];
    int rc;
} probe_job;

static void *probe_thread(void *arg)
{
    probe_job *j = arg;
    j->rc = probe_run(j->a, j->names, j->results, j->now, j->err, sizeof j->err);
    return NULL;
}

static void h_queue(void *user, const http_request *req, http_response *resp)
{
    static const char *const names[] = { "queue", NULL };
    json_t *res[1] = { NULL };
    char now[RC_TIME_TEXT_SIZE];
    (void)req;
    if (probe(user, names, res, now, resp) != 0)
        return;
    json_t *found = json_object_get(res[0], "queue");
    json_t *q = jx(found ? json_deep_copy(found) : json_object());
    json_decref(res[0]);
    json_object_set_new(q, "referenceTime", jx_text(now));
    json_object_set_new(q, "generatedAt", generated_at());
    http_reply_json(resp, 200, q);
}

static json_t *copy_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v ? jx(json_deep_copy(v)) : json_null();
}

/*
 * The dashboard's three probes read different tables: metrics (jobs and
 * orders, the larger part) runs in one worker while followups and orders run
 * in another, each on its own connection, so the answer takes about the
 * longest part rather than the sum (at 1M jobs, 0.26 s in one worker). Each
 * worker takes a probe slot.
 */
static void h_dashboard(void *user, const http_request *req, http_response *resp)
{
    static const char *const first[] = { "metrics", NULL };
    static const char *const second[] = { "followups", "orders", NULL };
    json_t *res[3] = { NULL, NULL, NULL };
    char now[RC_TIME_TEXT_SIZE];
    pthread_t th;
    probe_job other = { .a = user, .names = second, .results = res + 1, .rc = -1 };
    (void)req;
    int threaded = pthread_create(&th, NULL, probe_thread, &other) == 0;
    if (!threaded) /* no thread to spare: one after the other */
        probe_thread(&other);
    char err[2048];
    int rc = probe_run(user, first, res, now, err, sizeof err);
    if (threaded)
        pthread_join(th, NULL);
    if (rc != 0 || other.rc != 0) {
        http_reply_error(resp, 503, "%s", rc != 0 ? err : other.err);
        for (int i = 0; i < 3; i++)
            json_decref(res[i]);
        return;
    }
    json_t *orders = copy_of(res[0], "orders"), *jobs = copy_of(res[0], "jobs");
    if (json_is_object(orders))
        json_object_set(orders, "pending", json_object_get(res[2], "pendingOrders"));
    json_t *body = json_pack("{s:o, s:o, s:{s:O}, s:o, s:o, s:s, s:o}",
                             "orders", orders, "jobs", jobs,
                             "followUps", "candidates", json_object_get(res[1], "followUpCandidates"),
                             "database", copy_of(res[0], "database"),
                             "lastRun", run_state_last_brief(((const api_deps *)user)->rs),
                             "referenceTime", now,
                             "generatedAt", generated_at());
    for (int i = 0; i < 3; i++)
        json_decref(res[i]);
    if (body)
        http_reply_json(resp, 200, body);
    else
        http_reply_error(resp, 500, "a probe plugin reported unexpected figures");
}

/* reconciler_result{step,key}: every number (and bool, as 0/1) a step reported. */
static void result_gauges(strbuf *b, const char *step, const char *prefix, json_t *obj)
{
    const char *k;
    json_t *v;
    char key[512];
    json_object_foreach(obj, k, v) {
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", k);
        if (json_is_object(v))
            result_gauges(b, step, key, v);
        else if (json_is_number(v) || json_is_boolean(v))
            prom_sample(b, "reconciler_result",
                        json_is_boolean(v) ? (json_is_true(v) ? 1.0 : 0.0) : json_number_value(v),
                        "step", step, "key", key, NULL);
    }
}

static void h_metrics(void *user, const http_request *req, http_response *resp)
{
    static const double bounds[RS_N_BUCKETS] = RS_DURATION_BUCKETS;
    const api_deps *a = user;
    strbuf b = STRBUF_INIT;
    size_t i;
    json_t *step, *r;
    run_stats st;
    (void)req;

    /* Memory and an atomic only: /metrics never waits for a run or the heartbeat. */
    run_state_stats(a->rs, &st, &r);
    int64_t lock_until_ms = 0;
    int held = a->rl ? runlock_state(a->rl, &lock_until_ms) != RUNLOCK_FREE : 0;

    prom_family(&b, "reconciler_runs_total", "counter",
                "Reconciliation runs by outcome (skipped: another instance held the run lock).");
    for (int k = 0; k < RS_N_STATUS; k++)
        prom_sample(&b, "reconciler_runs_total", (double)st.runs[k], "status", rs_status_names[k],
                    NULL);
    prom_family(&b, "reconciler_run_duration_seconds", "histogram",
                "Duration of the runs that ran.");
    prom_histogram(&b, "reconciler_run_duration_seconds", bounds, st.duration, RS_N_BUCKETS,
                   st.duration_sum, NULL);
    prom_family(&b, "reconciler_chunk_retries_total", "counter",
                "Chunks rolled back by a deadlock, lock wait timeout or Galera certification "
                "conflict and run again.");
    prom_sample(&b, "reconciler_chunk_retries_total", (double)st.chunk_retries, NULL);
    prom_family(&b, "reconciler_last_run_timestamp_seconds", "gauge",
                "When the last run that ran finished (Unix time); 0: none yet.");
    prom_sample(&b, "reconciler_last_run_timestamp_seconds", st.last_run_s, NULL);
    prom_family(&b, "reconciler_last_success_timestamp_seconds", "gauge",
                "When the last successful run finished (Unix time); 0: none yet.");
    prom_sample(&b, "reconciler_last_success_timestamp_seconds", st.last_success_s, NULL);
    prom_family(&b, "reconciler_step_duration_seconds", "gauge",
                "Each step's duration in the last run that ran.");
    json_array_foreach(json_object_get(r, "steps"), i, step)
        prom_sample(&b, "reconciler_step_duration_seconds",
                    (double)json_integer_value(json_object_get(step, "durationMs")) / 1000.0,
                    "step", json_string_value(json_object_get(step, "name")), NULL);
    prom_family(&b, "reconciler_result", "gauge",
                "The figures each step reported in the last run that ran.");
    json_array_foreach(json_object_get(r, "steps"), i, step)
        result_gauges(&b, json_string_value(json_object_get(step, "name")), "",
                      json_object_get(step, "results"));
    prom_family(&b, "reconciler_history_write_errors_total", "counter",
                "Writes to the local history store that failed (full disk, read-only, locked).");
    prom_sample(&b, "reconciler_history_write_errors_total", (double)history_write_errors(),
                NULL);
    prom_family(&b, "reconciler_lock_held", "gauge",
                "1 while this instance holds the cross-instance run lock (during a run, and "
                "its hold after a scheduled run).");
    prom_sample(&b, "reconciler_lock_held", held ? 1.0 : 0.0, NULL);
    prom_family(&b, "reconciler_lock_held_until_timestamp_seconds", "gauge",
                "When this instance's hold of the run lock ends (Unix time); 0: not held.");
    prom_sample(&b, "reconciler_lock_held_until_timestamp_seconds",
                held ? (double)lock_until_ms / 1000.0 : 0.0, NULL);
    webhook_metrics(a->wh, &b);
    if (a->cfgs)
        reload_state_metrics(a->cfgs, &b);
    char abi[16];
    snprintf(abi, sizeof abi, "%d.%d", RC_ABI_MAJOR, RC_ABI_MINOR);
    prom_family(&b, "reconciler_build_info", "gauge",
                "Always 1: the version of this binary and the plugin ABI it offers.");
    prom_sample(&b, "reconciler_build_info", 1.0, "version", rc_version(), "abi", abi, NULL);
    json_decref(r);

    resp->status = 200;
    resp->body = sb_take(&b);
    resp->content_type = PROM_CONTENT_TYPE;
}

/* The pipeline in force (secrets redacted), its file's hash and mtime, the last reload. */
static void h_config(void *user, const http_request *req, http_response *resp)
{
    const api_deps *a = user;
    (void)req;
    if (!a->cfgs) {
        http_reply_error(resp, 503, "no pipeline state in this process");
        return;
    }
    http_reply_json(resp, 200, reload_state_config_json(a->cfgs, a->boot ? a->boot->path : ""));
}

/*
 * Ask the main thread to re-read the pipeline file, as SIGHUP does. The
 * outcome comes later: GET /v1/service/config's reload.generation grows by
 * one when it is known (`reconciler reload` waits for it).
 */
static void h_reload(void *user, const http_request *req, http_response *resp)
{
    const api_deps *a = user;
    (void)req;
    if (!a->reload || !a->cfgs) {
        http_reply_error(resp, 503, "this process cannot reload");
        return;
    }
    json_t *r = reload_state_json(a->cfgs);
    json_int_t gen = json_integer_value(json_object_get(r, "generation"));
    json_decref(r);
    log_info("reload asked for through the API");
    a->reload();
    http_reply_json(resp, 202, jx(json_pack("{s:s, s:I}", "status", "queued", "after",
                                            gen)));
}

/* The console's files are open: the page holds no data, the API it calls is not. */
static const http_route routes[] = {
    { "GET", "/", 0, 1, console_page },
    { "GET", "/ui/", 0, 1, console_page },
    { "GET", "/ui/", 1, 1, console_asset },
    { "GET", "/healthz", 0, 1, h_healthz },
    { "GET", "/readyz", 0, 1, h_readyz },
    { "GET", "/v1/reconciliation/status", 0, 0, h_status },
    { "GET", "/v1/reconciliation/history", 0, 0, h_history },
    { "GET", "/v1/service/state", 0, 0, h_state },
    { "GET", "/v1/service/config", 0, 0, h_config },
    { "POST", "/v1/service/reload", 0, 0, h_reload },
    { "GET", "/v1/reconciliation/runs/", 1, 0, h_run_get },
    { "POST", "/v1/reconciliation/run", 0, 0, h_run_post },
    { "GET", "/v1/processing/queue", 0, 0, h_queue },
    { "GET", "/api/admin/dashboard", 0, 0, h_dashboard },
    { "GET", "/metrics", 0, 0, h_metrics },
};

const http_route *api_routes(size_t *n)
{
    *n = sizeof routes / sizeof routes[0];
    return routes;
}

int api_start(api_deps *deps, http_server **out, char *err, size_t errlen)
{
    http_config hc = {
        .listen = deps->listen,
        .token = deps->token,
        .user = deps,
    };
    pthread_mutex_init(&deps->probes.mu, NULL);
    pthread_cond_init(&deps->probes.cv, NULL);
    deps->probes.running = 0;
    hc.routes = api_routes(&hc.n_routes);
    if (http_start(&hc, out, err, errlen) == 0)
        return 0;
    pthread_cond_destroy(&deps->probes.cv);
    pthread_mutex_destroy(&deps->probes.mu);
    return -1;
}

void api_stop(api_deps *deps, http_server *server)
{
    if (!server)
        return;
    http_stop(server); /* waits for the handlers: no probe runs after it */
    pthread_cond_destroy(&deps->probes.cv);
    pthread_mutex_destroy(&deps->probes.mu);
}
