/* SPDX-License-Identifier: MIT */
/*
 * api.c - the service's HTTP API: the routes and their handlers.
 *
 * The transport (libmicrohttpd, auth, 404/405) is http.c; this file only says
 * what each path answers. Live figures (queue, dashboard, /metrics) come
 * from the figure snapshot (figures.c), which a background thread refreshes
 * by running the probe plugins read-only in a step worker: no request ever
 * queries the bot's database, so their cost does not grow with its tables.
 */
#include "service/api.h"
#include "trace/settings.h"
#include "db/changes.h"
#include "db/connect.h"
#include "base/exitcode.h"
#include "base/json.h"
#include "base/log.h"
#include "base/text.h"
#include "base/util.h"
#include "db/connect.h"
#include "db/jobstate.h"
#include "base/version.h"
#include "engine/dotkey.h"
#include "service/console.h"
#include "service/jobinfo.h"
#include "service/prom.h"

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

int api_arg_choice(const char *name, const char *arg, const char *choices, char *why,
                   size_t whylen)
{
    size_t n = arg ? strlen(arg) : 0;
    for (const char *c = choices; arg && *c;) {
        size_t len = strcspn(c, "|");
        if (len == n && strncmp(c, arg, n) == 0)
            return 0;
        c += len + (c[len] == '|');
    }
    if (!arg || !*arg)
        return 0;
    snprintf(why, whylen, "%s must be one of %s, got '%.64s'", name, choices, arg);
    return -1;
}

/* digits at s[i..i+n) */
static int digits(const char *s, size_t i, size_t n)
{
    for (size_t k = i; k < i + n; k++)
        if (s[k] < '0' || s[k] > '9')
            return 0;
    return 1;
}

int api_arg_time(const char *name, const char *arg, char *why, size_t whylen)
{
    /* The forms that compare as text with the store's "YYYY-MM-DDTHH:MM:SS.mmmZ". */
    static const char *const forms[] = { "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SSZ",
                                         "YYYY-MM-DDTHH:MM:SS.mmmZ" };
    if (!arg || !*arg)
        return 0;
    size_t n = strlen(arg);
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
        const char *form = forms[f];
        if (strlen(form) != n)
            continue;
        size_t i = 0;
        for (; i < n; i++) {
            int want_digit = strchr("YMDHSm", form[i]) != NULL;
            if (want_digit ? !digits(arg, i, 1) : arg[i] != form[i])
                break;
        }
        if (i == n)
            return 0;
    }
    snprintf(why, whylen, "%s must be a UTC time YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or "
             "YYYY-MM-DDTHH:MM:SS.mmmZ, got '%.64s'", name, arg);
    return -1;
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

/*
 * tracing.link: each run that has a trace (traceId) gets traceUrl, the link with {traceId}
 * replaced, for the console. The file in force decides (a reload may set or change it).
 */
static void add_trace_url(const char *link, json_t *run)
{
    const char *tid = json_string_value(json_object_get(run, "traceId"));
    char *url = tid && trace_id_valid(tid, TRACE_ID_HEX) ? trace_link(link, tid) : NULL;
    if (url)
        json_object_set_new(run, "traceUrl", jx_text(url));
    free(url);
}

/* add_trace_url on each run, with the link of the file in force (held once). */
static void add_trace_urls(const api_deps *a, json_t *runs, json_t *one)
{
    if (!a->snaps)
        return; /* an API without a pipeline (a history reader): no file, no link */
    snapshot *snap = snapshots_hold(a->snaps);
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run)
        add_trace_url(snap->cfg->tracing_link, run);
    if (one)
        add_trace_url(snap->cfg->tracing_link, one);
    snapshot_release(snap);
}

/*
 * A page of the history: ?limit=N newest first, ?before=ID the runs older
 * than ID (keyset paging: a run recorded meanwhile never shifts a page).
 * nextBefore is the argument for the next older page, null on the last. ?job=NAME: only
 * that job's runs (runs from before jobs are the job reconcile's); ?status=, ?trigger=,
 * ?since= and ?until= (UTC, started at or after since, before until) filter too; total
 * counts the runs that pass the filters.
 */
static void h_history(void *user, const http_request *req, http_response *resp)
{
    const api_deps *a = user;
    int64_t limit, before, total = 0;
    char why[API_WHY_MAX];
    /* An empty value (a form's unset field) filters nothing. */
    history_filter f = { nonempty(http_query(req, "job")), nonempty(http_query(req, "status")),
                         nonempty(http_query(req, "trigger")),
                         nonempty(http_query(req, "since")), nonempty(http_query(req, "until")) };
    if (api_arg_limit(http_query(req, "limit"), &limit, why, sizeof why) != 0 ||
        api_arg_before(http_query(req, "before"), &before, why, sizeof why) != 0 ||
        api_arg_choice("status", f.status, API_RUN_STATUSES, why, sizeof why) != 0 ||
        api_arg_choice("trigger", f.trigger, API_RUN_TRIGGERS, why, sizeof why) != 0 ||
        api_arg_time("since", f.since, why, sizeof why) != 0 ||
        api_arg_time("until", f.until, why, sizeof why) != 0) {
        http_reply_error(resp, 400, "%s", why);
        return;
    }
    json_t *runs = history_page_filter(a->h, &f, limit, before, &total);
    if (!runs) {
        http_reply_error(resp, 503, "%s", history_error(a->h));
        return;
    }
    size_t n = json_array_size(runs);
    add_trace_urls(a, runs, NULL);
    json_t *last = n ? json_object_get(json_array_get(runs, n - 1), "runId") : NULL;
    /* A full page may be followed by more; an id of 1 has nothing older. */
    int more = (int64_t)n == limit && json_integer_value(last) > 1;
    http_reply_json(resp, 200, jx(json_pack("{s:o, s:I, s:o}", "runs", runs,
                                            "total", (json_int_t)total,
                                            "nextBefore", more ? json_incref(last)
                                                               : json_null())));
}

/*
 * GET /v1/changes?run=&table=&key=&step=&job=&before=&limit=: the change
 * records, newest first, paged by keyset (nextBefore: the last id of a full
 * page). The bot's database is asked on a connection of the request's own,
 * so that a slow answer holds up no other request.
 */
static void h_changes(void *user, const http_request *req, http_response *resp)
{
    const api_deps *a = user;
    changes_filter f = { 0 };
    char why[API_WHY_MAX], err[1024];
    const char *run = http_query(req, "run");
    if (api_arg_limit(http_query(req, "limit"), &f.limit, why, sizeof why) != 0 ||
        api_arg_before(http_query(req, "before"), &f.before, why, sizeof why) != 0 ||
        (run && api_arg_run_id(run, &f.run_id, why, sizeof why) != 0)) {
        http_reply_error(resp, 400, "%s", why);
        return;
    }
    f.table = http_query(req, "table");
    f.key = http_query(req, "key");
    f.step = http_query(req, "step");
    f.job = http_query(req, "job");
    if (f.key && !f.table) {
        http_reply_error(resp, 400, "key needs table: a key names a row of one table");
        return;
    }
    db *d = NULL;
    if (connect_open(a->boot, NULL, &d, err, sizeof err) != 0) {
        http_reply_error(resp, 503, "%s", err);
        return;
    }
    json_t *list = changes_list(d, &f);
    if (!list) {
        http_reply_error(resp, 503, "the change records: %s", db_errmsg(d));
        db_close(d);
        return;
    }
    db_close(d);
    size_t n = json_array_size(list);
    json_t *last = n ? json_object_get(json_array_get(list, n - 1), "id") : NULL;
    int more = (int64_t)n == f.limit && json_integer_value(last) > 1;
    http_reply_json(resp, 200, jx(json_pack("{s:o, s:o}", "changes", list, "nextBefore",
                                            more ? json_incref(last) : json_null())));
}

/* The figure snapshot's age and its refreshes, for /v1/service/state. */
static json_t *figures_state(figures *f)
{
    figures_view v;
    figures_counts c;
    figures_read(f, 0, &v);
    figures_counts_read(f, &c);
    json_t *o = jx(json_object());
    figures_view_meta(&v, o);
    json_object_set_new(o, "refreshing", jx(json_boolean(c.refreshing)));
    json_object_set_new(o, "waiting", jx(json_integer(c.waiting)));
    json_object_set_new(o, "refreshes", jx(json_integer((json_int_t)c.started)));
    json_object_set_new(o, "failedRefreshes", jx(json_integer((json_int_t)c.failed)));
    json_object_set_new(o, "lastRefreshMs", c.last_took_ms >= 0
                                                 ? jx(json_integer(c.last_took_ms)) : json_null());
    json_object_set_new(o, "periodMs", jx(json_integer(v.period_ms)));
    figures_view_free(&v);
    return o;
}

/*
 * The run lock as other instances see it: held while a run holds it and,
 * after a scheduled run, while its hold lasts ("until": the lease's or the
 * hold's end; "phase": "run" or "hold"). Atomics only: never waits.
 */
static json_t *lock_state(runlock *rl, const dbwatch_state *w)
{
    int64_t until_ms = 0;
    int st = rl ? runlock_state(rl, &until_ms) : RUNLOCK_FREE;
    char until[32] = "";
    if (st != RUNLOCK_FREE)
        util_iso_time(until_ms, until, sizeof until);
    /* Whoever holds it, as the database watch last read the row (another instance too). */
    json_t *holder = w->ok && w->lock_holder[0]
                         ? jx(json_pack("{s:o, s:o}", "id", jx_text(w->lock_holder),
                                        "until", jx_text(w->lock_until)))
                         : json_null();
    return jx(json_pack("{s:b, s:s, s:o, s:o, s:o}", "held", st != RUNLOCK_FREE,
                        "instance", rl ? runlock_holder(rl) : "",
                        "phase", st == RUNLOCK_RUNNING ? jx(json_string("run"))
                                 : st == RUNLOCK_HOLDING ? jx(json_string("hold")) : json_null(),
                        "until", until[0] ? jx(json_string(until)) : json_null(),
                        "holder", holder));
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
    json_object_set_new(body, "lock", lock_state(a->rl, &w));
    /* The console's banner: the file on disk was refused, an older pipeline runs. */
    json_object_set_new(body, "reload", a->cfgs ? reload_state_json(a->cfgs) : json_null());
    json_object_set_new(body, "database", dbj);
    json_object_set_new(body, "figures", figures_state(a->fig));
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
    if (found > 0) {
        add_trace_urls(a, NULL, r);
        http_reply_json(resp, 200, r);
    }
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
 * ?fresh=1 (or true): wait, at most http.figures_wait, for a refresh that
 * starts after the request. 0 with *wait_ms (0: no waiting), or -1 after a 400.
 */
static int fresh_wait(const api_deps *a, const http_request *req, http_response *resp,
                      int64_t *wait_ms)
{
    const char *arg = http_query(req, "fresh");
    *wait_ms = 0;
    if (!arg || strcmp(arg, "0") == 0 || strcmp(arg, "false") == 0)
        return 0;
    if (strcmp(arg, "1") != 0 && strcmp(arg, "true") != 0) {
        http_reply_error(resp, 400, "fresh must be 1, true, 0 or false, got '%s'", arg);
        return -1;
    }
    snapshot *snap = snapshots_hold(a->snaps);
    *wait_ms = snap->cfg->http_figures_wait_ms;
    snapshot_release(snap);
    /* 0 s configured still asks for a refresh, and waits for nothing. */
    if (*wait_ms == 0)
        *wait_ms = 1;
    return 0;
}

/*
 * The snapshot a figure endpoint answers from: 0 with v filled, or -1 after
 * a 503 (no snapshot was ever made: the last refresh's error says why).
 */
static int figures_for(const api_deps *a, const http_request *req, http_response *resp,
                       figures_view *v)
{
    int64_t wait_ms;
    if (fresh_wait(a, req, resp, &wait_ms) != 0)
        return -1;
    figures_read(a->fig, wait_ms, v);
    if (v->probes)
        return 0;
    http_reply_error(resp, 503, "no figures yet: %s",
                     v->error[0] ? v->error : "the first refresh has not finished");
    return -1;
}

/* The body's common tail: T of the snapshot, when it was sent, and how old it is. */
static void figures_tail(json_t *body, const figures_view *v)
{
    json_object_set_new(body, "referenceTime", jx_text(v->reference_time));
    json_object_set_new(body, "generatedAt", generated_at());
    figures_view_meta(v, body);
}

/*
 * An endpoint's JSON from the declared figures, as map says (member ->
 * figure): the figures are looked up by name among the probes' plugins,
 * never by a result key known here. NULL after a 503 naming a figure that
 * no plugin loaded declares, or that its plugin did not report.
 */
static json_t *mapped_body(const api_deps *a, const char *key, const figures_view *v,
                           http_response *resp)
{
    snapshot *snap = snapshots_hold(a->snaps);
    const cfg_figure_map *map = strcmp(key, "http.queue_figures") == 0
                                    ? &snap->cfg->http_queue_figures
                                    : &snap->cfg->http_dashboard_figures;
    json_t *body = jx(json_object());
    char why[512];
    for (size_t i = 0; i < map->n && body; i++) {
        const cfg_figure_ref *r = &map->items[i];
        const plugin *by = NULL;
        const rc_figure *f = pipeline_figure(snap->p, r->figure, &by);
        json_t *val = f ? dotkey_get(json_object_get(v->probes, by->name), f->key) : NULL;
        if (!val) {
            http_reply_error(resp, 503, "%s: member '%s': %s '%s'%s%s", key, r->path,
                             f ? "no value yet for figure" : "no loaded plugin declares figure",
                             r->figure, f ? " of plugin " : "", f ? by->name : "");
        } else if (dotkey_set(body, r->path, jx(json_deep_copy(val)), why, sizeof why) != 0) {
            http_reply_error(resp, 500, "%s: member '%s': %s", key, r->path, why);
        } else {
            continue;
        }
        json_decref(body);
        body = NULL;
    }
    snapshot_release(snap);
    return body;
}

static void h_queue(void *user, const http_request *req, http_response *resp)
{
    figures_view v;
    if (figures_for(user, req, resp, &v) != 0)
        return;
    json_t *q = mapped_body(user, "http.queue_figures", &v, resp);
    if (q) {
        figures_tail(q, &v);
        http_reply_json(resp, 200, q);
    }
    figures_view_free(&v);
}

static void h_dashboard(void *user, const http_request *req, http_response *resp)
{
    figures_view v;
    if (figures_for(user, req, resp, &v) != 0)
        return;
    json_t *body = mapped_body(user, "http.dashboard_figures", &v, resp);
    if (body) {
        json_object_set_new(body, "lastRun",
                            run_state_last_brief(((const api_deps *)user)->rs));
        figures_tail(body, &v);
        http_reply_json(resp, 200, body);
    }
    figures_view_free(&v);
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

/* A figure's value as a sample: numbers as they are, booleans as 1/0; else nothing. */
static int figure_number(json_t *v, double *out)
{
    if (json_is_number(v))
        *out = json_number_value(v);
    else if (json_is_boolean(v))
        *out = json_is_true(v) ? 1.0 : 0.0;
    else
        return 0;
    return 1;
}

/*
 * Every figure the probes' plugins declare (ABI 1.5), under its declared
 * name and help, from the snapshot (probes: {"PLUGIN": results}, may be
 * NULL: families without samples).
 */
static void declared_figures(strbuf *b, const pipeline *p, json_t *probes)
{
    for (size_t i = 0; i < p->n_probes; i++) {
        json_t *res = json_object_get(probes, p->probes[i].plugin->name);
        for (const rc_figure *f = plugin_figures(p->probes[i].plugin); f && f->name; f++) {
            json_t *v = res ? dotkey_get(res, f->key) : NULL;
            const char *k;
            json_t *m;
            double x;
            prom_family(b, f->name, f->type == RC_FIGURE_COUNTER ? "counter" : "gauge", f->help);
            if (f->label) {
                json_object_foreach(json_is_object(v) ? v : NULL, k, m)
                    if (figure_number(m, &x))
                        prom_sample(b, f->name, x, f->label, k, NULL);
            } else if (figure_number(v, &x)) {
                prom_sample(b, f->name, x, NULL);
            }
        }
    }
}

/* reconciler_step_runs_total{job,step,status,dry_run}: every step of every run counted. */
static void step_runs(strbuf *b, run_state *rs)
{
    size_t n;
    run_step_stats *ss = run_state_step_stats(rs, &n);
    prom_family(b, "reconciler_step_runs_total", "counter",
                "Steps run, by job, step, the step's status and dry run (a series appears "
                "with the step's first run).");
    for (size_t i = 0; i < n; i++)
        for (int dry = 0; dry < 2; dry++)
            for (int k = 0; k < RS_N_STEP_STATUS; k++)
                prom_sample(b, "reconciler_step_runs_total", (double)ss[i].runs[dry][k], "job",
                            ss[i].job, "step", ss[i].step, "status", rs_step_status_names[k],
                            "dry_run", dry ? "true" : "false", NULL);
    free(ss);
}

/*
 * reconciler_job_next_run_timestamp_seconds{job}: when each job's thread will run its next
 * slot (jitter included). A job with no next slot (no schedule, disabled, not known yet)
 * and a job this instance knows paused have no sample: a NaN or 0 would read as a time to
 * an alert on "time() > next run".
 */
static void next_runs(strbuf *b, const api_deps *a)
{
    prom_family(b, "reconciler_job_next_run_timestamp_seconds", "gauge",
                "When the job's next scheduled run is due (Unix time); absent for a job "
                "without a schedule, disabled or paused.");
    for (size_t i = 0; a->jobs && i < a->n_jobs; i++) {
        jobctl_view v;
        jobctl_get(&a->jobs[i], &v);
        if (v.next_ms > 0 && !v.paused)
            prom_sample(b, "reconciler_job_next_run_timestamp_seconds",
                        (double)v.next_ms / 1000.0, "job", a->jobs[i].name, NULL);
    }
}

/* tracing: the exporter's counts (a mutex held for a copy: never waits on a receiver). */
static void trace_metrics(trace_exporter *tx, strbuf *b)
{
    trace_export_stats st;
    trace_exporter_stats(tx, &st);
    prom_family(b, "reconciler_trace_spans_total", "counter",
                "Spans of the runs' traces by result: exported (a receiver took them), failed "
                "(refused, or given up after retries), dropped (the queue was full, or out of "
                "time when stopping). All 0 while tracing is off.");
    prom_sample(b, "reconciler_trace_spans_total", (double)st.sent, "result", "exported", NULL);
    prom_sample(b, "reconciler_trace_spans_total", (double)st.failed, "result", "failed", NULL);
    prom_sample(b, "reconciler_trace_spans_total", (double)st.dropped, "result", "dropped",
                NULL);
    prom_family(b, "reconciler_trace_export_requests_total", "counter",
                "OTLP export requests made, retries included.");
    prom_sample(b, "reconciler_trace_export_requests_total", (double)st.requests, NULL);
    prom_family(b, "reconciler_trace_spans_queued", "gauge",
                "Spans waiting in the exporter's queue.");
    prom_sample(b, "reconciler_trace_spans_queued", (double)st.queued, NULL);
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

    /* Every run metric per job (job="..."): jobs run apart, and fail apart. */
    run_job_stats *js = xcalloc(RS_MAX_JOBS, sizeof *js);
    size_t nj = run_state_job_stats(a->rs, js, RS_MAX_JOBS);
    prom_family(&b, "reconciler_runs_total", "counter",
                "Reconciliation runs by job, outcome and dry run (skipped: another instance "
                "held the job's run lock, or the job is paused).");
    for (size_t j = 0; j < nj; j++)
        for (int dry = 0; dry < 2; dry++)
            for (int k = 0; k < RS_N_STATUS; k++)
                prom_sample(&b, "reconciler_runs_total", (double)js[j].stats.runs[dry][k],
                            "job", js[j].job, "status", rs_status_names[k], "dry_run",
                            dry ? "true" : "false", NULL);
    prom_family(&b, "reconciler_run_duration_seconds", "histogram",
                "Duration of the runs that ran, by job.");
    for (size_t j = 0; j < nj; j++)
        prom_histogram(&b, "reconciler_run_duration_seconds", bounds, js[j].stats.duration,
                       RS_N_BUCKETS, js[j].stats.duration_sum, "job", js[j].job, NULL);
    prom_family(&b, "reconciler_chunk_retries_total", "counter",
                "Chunks rolled back by a deadlock, lock wait timeout or Galera certification "
                "conflict and run again, by job.");
    for (size_t j = 0; j < nj; j++)
        prom_sample(&b, "reconciler_chunk_retries_total", (double)js[j].stats.chunk_retries,
                    "job", js[j].job, NULL);
    prom_family(&b, "reconciler_last_run_timestamp_seconds", "gauge",
                "When the job's last run that ran finished (Unix time); 0: none yet.");
    for (size_t j = 0; j < nj; j++)
        prom_sample(&b, "reconciler_last_run_timestamp_seconds", js[j].stats.last_run_s, "job",
                    js[j].job, NULL);
    prom_family(&b, "reconciler_last_success_timestamp_seconds", "gauge",
                "When the job's last successful run finished (Unix time); 0: none yet.");
    for (size_t j = 0; j < nj; j++)
        prom_sample(&b, "reconciler_last_success_timestamp_seconds",
                    js[j].stats.last_success_s, "job", js[j].job, NULL);
    prom_family(&b, "reconciler_step_duration_seconds", "gauge",
                "Each step's duration in its job's last run that ran.");
    for (size_t j = 0; j < nj; j++)
        json_array_foreach(json_object_get(js[j].last_result, "steps"), i, step)
            prom_sample(&b, "reconciler_step_duration_seconds",
                        (double)json_integer_value(json_object_get(step, "durationMs")) / 1000.0,
                        "job", js[j].job, "step", json_string_value(json_object_get(step, "name")),
                        NULL);
    for (size_t j = 0; j < nj; j++)
        json_decref(js[j].last_result);
    free(js);
    step_runs(&b, a->rs);
    next_runs(&b, a);
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
    trace_metrics(a->tx, &b);
    if (a->cfgs)
        reload_state_metrics(a->cfgs, &b);
    char abi[16];
    snprintf(abi, sizeof abi, "%d.%d", RC_ABI_MAJOR, RC_ABI_MINOR);
    prom_family(&b, "reconciler_build_info", "gauge",
                "Always 1: the version of this binary and the plugin ABI it offers.");
    prom_sample(&b, "reconciler_build_info", 1.0, "version", rc_version(), "abi", abi, NULL);
    json_decref(r);

    figures_view v;
    figures_read(a->fig, 0, &v);
    prom_family(&b, "reconciler_figures_age_seconds", "gauge",
                "Age of the live figures the API serves (since their refresh started); absent "
                "before the first.");
    if (v.as_of_ms)
        prom_sample(&b, "reconciler_figures_age_seconds", (double)v.age_ms / 1000.0, NULL);
    prom_family(&b, "reconciler_figures_stale", "gauge",
                "1 while the last refresh of the live figures failed (the previous ones are "
                "served).");
    prom_sample(&b, "reconciler_figures_stale", v.stale ? 1.0 : 0.0, NULL);
    snapshot *snap = snapshots_hold(a->snaps);
    declared_figures(&b, snap->p, v.probes);
    snapshot_release(snap);
    figures_view_free(&v);

    resp->status = 200;
    resp->body = sb_take(&b);
    resp->content_type = PROM_CONTENT_TYPE;
}


/* ------------------------------------------------------------------ jobs */

/*
 * The bot's database for a jobs request: a connection of the request's own with short
 * timeouts (the pause state and lock rows are small), never the run's. NULL with err.
 */
static db *jobs_connect(const api_deps *a, char *err, size_t errlen)
{
    static const connect_timeouts t = { 2, 2, 2, 500 };
    db *d = NULL;
    if (connect_open(a->boot, &t, &d, err, errlen) != EXIT_OK)
        return NULL;
    return d;
}

/* jobinfo_describe, with what this instance knows: running, runningId, nextRunAt. */
static json_t *job_json(const api_deps *a, const config *cfg, const cfg_job *j, db *d)
{
    jobctl *c = jobctl_find(a->jobs, a->n_jobs, j->name);
    jobctl_view v = { 0 };
    char ts[32];
    if (c)
        jobctl_get(c, &v);
    json_t *o = jobinfo_describe(cfg, j, a->h, d, v.phase_ms, util_wall_ms());
    if (v.next_ms > 0)
        util_iso_time(v.next_ms, ts, sizeof ts);
    json_object_set_new(o, "running", jx(json_boolean(v.running)));
    json_object_set_new(o, "runningId", v.running && v.running_id ? jx(json_integer(v.running_id))
                                                                  : json_null());
    json_object_set_new(o, "nextRunAt", v.next_ms > 0 ? jx_text(ts) : json_null());
    return o;
}

static void h_jobs(void *user, const http_request *req, http_response *resp)
{
    const api_deps *a = user;
    char err[1024];
    (void)req;
    snapshot *snap = snapshots_hold(a->snaps);
    db *d = jobs_connect(a, err, sizeof err);
    json_t *list = jx(json_array());
    for (size_t i = 0; i < snap->cfg->n_jobs; i++)
        json_array_append_new(list, job_json(a, snap->cfg, &snap->cfg->jobs[i], d));
    json_t *body = jx(json_pack("{s:o, s:o}", "jobs", list, "generatedAt", generated_at()));
    if (!d)
        json_object_set_new(body, "databaseError", jx_text(err));
    db_close(d);
    snapshot_release(snap);
    http_reply_json(resp, 200, body);
}

/* GET /v1/jobs/{job} */
static void h_job_get(void *user, const http_request *req, http_response *resp)
{
    const api_deps *a = user;
    char err[1024];
    snapshot *snap = snapshots_hold(a->snaps);
    const cfg_job *j = cfg_job_find(snap->cfg, req->tail);
    if (!j) {
        http_reply_error(resp, 404, "no job '%.64s'", req->tail);
    } else {
        db *d = jobs_connect(a, err, sizeof err);
        json_t *o = job_json(a, snap->cfg, j, d);
        if (!d)
            json_object_set_new(o, "databaseError", jx_text(err));
        db_close(d);
        http_reply_json(resp, 200, o);
    }
    snapshot_release(snap);
}

/* "api ADDRESS token" or "api ADDRESS no token": who paused, for the pause row. */
static void api_actor(const api_deps *a, const http_request *req, char *out, size_t outlen)
{
    char addr[64];
    http_remote(req, addr, sizeof addr);
    /* One token: its name is the variable that holds it, never the value. */
    snprintf(out, outlen, "api %s %s%s", addr, a->token ? "token " : "no token",
             a->token && a->boot->http_token_env ? a->boot->http_token_env : "");
}

/* POST /v1/jobs/{job}/pause|resume|run */
static void h_job_post(void *user, const http_request *req, http_response *resp)
{
    const api_deps *a = user;
    char name[65], err[1024], actor[256];
    const char *slash = strchr(req->tail, '/');
    const char *action = slash ? slash + 1 : "";
    snprintf(name, sizeof name, "%.*s", slash ? (int)(slash - req->tail) : 0, req->tail);
    if (!slash || (strcmp(action, "pause") != 0 && strcmp(action, "resume") != 0 &&
                   strcmp(action, "run") != 0)) {
        http_reply_error(resp, 404, "POST /v1/jobs/JOB/pause, /resume or /run");
        return;
    }
    snapshot *snap = snapshots_hold(a->snaps);
    const cfg_job *j = cfg_job_find(snap->cfg, name);
    int enabled = j && j->enabled;
    snapshot_release(snap);
    if (!j) {
        http_reply_error(resp, 404, "no job '%.64s'", name);
        return;
    }
    db *d = jobs_connect(a, err, sizeof err);
    if (!d) {
        http_reply_error(resp, 503, "the database cannot be reached: %s", err);
        return;
    }
    job_pause p;
    int dry = 0;
    char why[API_WHY_MAX];
    if (strcmp(action, "run") == 0 &&
        api_arg_dry_run(http_query(req, "dryRun"), &dry, why, sizeof why) != 0) {
        http_reply_error(resp, 400, "%s", why);
        db_close(d);
        return;
    }
    if (strcmp(action, "run") != 0) {
        int pause = strcmp(action, "pause") == 0;
        const char *reason = pause ? http_query(req, "reason") : NULL;
        api_actor(a, req, actor, sizeof actor);
        if (jobpause_set(d, name, pause, actor, reason, err, sizeof err) != 0) {
            http_reply_error(resp, 503, "%s", err);
        } else {
            jobctl *c = jobctl_find(a->jobs, a->n_jobs, name);
            if (c)
                jobctl_set_paused(c, pause);
            log_info("job %s %s by %s%s%s", name, pause ? "paused" : "resumed", actor,
                     reason ? ": " : "", reason ? reason : "");
            http_reply_json(resp, 200, jx(json_pack("{s:s, s:b, s:s, s:o}", "job", name,
                                                    "paused", pause, "by", actor, "reason",
                                                    reason ? jx_text(reason) : json_null())));
        }
    } else {
        int paused = jobpause_get(d, name, &p, err, sizeof err);
        jobctl *c = jobctl_find(a->jobs, a->n_jobs, name);
        int64_t running_id = 0;
        int got;
        if (paused >= 0 && c)
            jobctl_set_paused(c, paused);
        if (paused < 0)
            http_reply_error(resp, 503, "%s", err);
        else if (paused)
            http_reply_json(resp, 409, jx(json_pack(
                "{s:s, s:i, s:s, s:s, s:s, s:o}", "error", "the job is paused: resume it first "
                "(POST /v1/jobs/JOB/resume or reconciler resume JOB)", "status", 409, "job", name,
                "pausedBy", p.by, "pausedAt", p.at, "reason", p.reason[0] ? jx_text(p.reason)
                                                                           : json_null())));
        else if (!enabled || !c)
            http_reply_error(resp, 409, "job '%s' is disabled (enabled: false), or new since "
                             "the service started", name);
        else if ((got = jobctl_request(c, dry, &running_id)) < 0)
            http_reply_error(resp, 503, "reconciler is stopping");
        else if (got == 0)
            http_reply_json(resp, 409, jx(json_pack("{s:s, s:i, s:s, s:o}", "error",
                                                    "a run of the job is already running or "
                                                    "queued", "status", 409, "job", name,
                                                    "runId", running_id
                                                        ? jx(json_integer(running_id))
                                                        : json_null())));
        else {
            log_info("job %s: manual run queued%s", name, dry ? " (dry run)" : "");
            http_reply_json(resp, 202, jx(json_pack("{s:s, s:s, s:s, s:b}", "job", name,
                                                    "status", "queued", "trigger", "manual",
                                                    "dryRun", dry)));
        }
    }
    db_close(d);
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
    { "GET", "/v1/changes", 0, 0, h_changes },
    { "GET", "/v1/service/state", 0, 0, h_state },
    { "GET", "/v1/service/config", 0, 0, h_config },
    { "POST", "/v1/service/reload", 0, 0, h_reload },
    { "GET", "/v1/reconciliation/runs/", 1, 0, h_run_get },
    { "POST", "/v1/reconciliation/run", 0, 0, h_run_post },
    { "GET", "/v1/processing/queue", 0, 0, h_queue },
    { "GET", "/api/admin/dashboard", 0, 0, h_dashboard },
    { "GET", "/metrics", 0, 0, h_metrics },
    { "GET", "/v1/jobs", 0, 0, h_jobs },
    { "GET", "/v1/jobs/", 1, 0, h_job_get },
    { "POST", "/v1/jobs/", 1, 0, h_job_post },
};

const http_route *api_routes(size_t *n)
{
    *n = sizeof routes / sizeof routes[0];
    return routes;
}

int api_start(const api_deps *deps, http_server **out, char *err, size_t errlen)
{
    http_config hc = {
        .listen = deps->listen,
        .token = deps->token,
        .user = (void *)deps,
        /* http.max_connections (the key table's bounds); the HTTP layer's own default without a file. */
        .connection_limit = deps->boot ? (unsigned)deps->boot->http_max_connections : 0,
    };
    hc.routes = api_routes(&hc.n_routes);
    return http_start(&hc, out, err, errlen);
}
