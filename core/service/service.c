/* SPDX-License-Identifier: MIT */
/* service.c - see service.h. */
#include "service/service.h"
#include "db/changes.h"
#include "base/exitcode.h"
#include "base/log.h"
#include "base/stop.h"
#include "base/util.h"
#include "engine/runlock.h"
#include "engine/history.h"
#include "engine/run.h"
#include "db/jobstate.h"
#include "engine/supervisor.h"
#include "service/api.h"
#include "service/jobctl.h"
#include "service/dbwatch.h"
#include "service/figures.h"
#include "service/http.h"
#include "service/notify.h"
#include "service/reload_state.h"
#include "service/run_state.h"
#include "service/schedule.h"
#include "service/snapshot.h"
#include "service/webhook.h"
#include "trace/exporter.h"
#include "trace/run_trace.h"
#include "trace/settings.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Backoff while the database cannot be reached: 1 s, 2 s, 4 s ... at most this. */
#define BACKOFF_MAX_MS 60000

/* How long the API's history handle waits for a writer's lock: it must answer within 1 s. */
#define API_HISTORY_BUSY_MS 500

/* A slot is on time until this long (plus the job's jitter) after it: a run later than that
 * is for a missed slot (schedule.missed decides). */
#define SLOT_GRACE_MS 2000

/*
 * Written by the signal handlers (on the main thread only: every other thread
 * starts with the signals blocked, util_thread_start) and by the API's reload
 * (an HTTP thread), read by the main loop: atomics, lock-free and so
 * async-signal-safe.
 */
static atomic_int g_wake_fd = -1; /* the signal handlers write here */
static atomic_int g_reload;

typedef struct service service;

/* One job's thread: its slots, on its own run lock and connection. */
typedef struct job_thread {
    service *s;
    jobctl *ctl;
    runlock *rl;
    db *d;
    pthread_t th;
    int started;
    int64_t backoff_ms; /* > 0: the database was lost; reconnect before the next run */
    int upkeep;         /* 1: key and prune the change records when next idle (job_upkeep) */
} job_thread;

struct service {
    snapshots snaps;        /* the pipeline in force */
    snapshot *boot;         /* the first one, held for good: its database settings
                               (bound at start) serve every connection */
    service_loader load;
    void *load_user;
    run_state rs;
    reload_state cfgs;      /* the file in force and the last reload's outcome, for the API */
    history *h;             /* the main thread's history handle */
    history *api_hist;      /* the API's own */
    history *fig_hist;      /* the figures' own: saving a snapshot never holds up the API */
    runlock *rl;
    webhook *wh;            /* the notify: deliveries' thread */
    trace_exporter *tx;     /* tracing: the runs' traces go out on its thread; NULL: off */
    dbwatch *watch;
    figures *fig;           /* the live figures' snapshot and its refresh thread */
    db *d;                  /* the run's connection */
    char *token;            /* the API's bearer token, or NULL */
    int wake_r;
    /* The jobs of the file the service started with (a reload may change their keys, not
     * which jobs there are): one control block and thread each. */
    jobctl *ctls;
    job_thread *jobs;
    size_t n_jobs;
    pthread_mutex_t next_mu; /* publish_next */
};

static void wake(void)
{
    int fd = atomic_load(&g_wake_fd);
    if (fd >= 0) {
        int saved = errno;
        (void)!write(fd, "w", 1);
        errno = saved;
    }
}

static void on_stop(int sig)
{
    (void)sig;
    stop_request();
    wake();
}

static void on_hup(int sig)
{
    (void)sig;
    atomic_store(&g_reload, 1);
    wake();
}

/* Sleep until deadline (monotonic ms) or a wake-up byte arrives; drains the pipe. */
static void wait_until(int wake_r, int64_t deadline)
{
    int64_t left = deadline - util_mono_ms();
    if (left < 0)
        left = 0;
    struct pollfd pfd = { .fd = wake_r, .events = POLLIN };
    if (poll(&pfd, 1, left > 3600000 ? 3600000 : (int)left) > 0) {
        char buf[64];
        while (read(wake_r, buf, sizeof buf) > 0)
            ;
    }
}

/*
 * Connect the run's connection, retrying with capped exponential backoff
 * while the database cannot be reached; the service (and its /healthz) stays
 * up meanwhile. A bad URL or password source is a configuration error: no
 * point retrying.
 */
static int connect_with_backoff(service *s)
{
    char err[2048];
    int64_t delay = 1000;
    for (;;) {
        int rc = run_connect(s->boot->cfg, &s->d, err, sizeof err);
        if (rc == EXIT_OK)
            return EXIT_OK;
        if (rc != EXIT_DATABASE) {
            log_error("%s", err);
            return rc;
        }
        log_error("%s; retrying in %lld s", err, (long long)(delay / 1000));
        wait_until(s->wake_r, util_mono_ms() + delay);
        if (stop_requested())
            return EXIT_OK;
        delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
    }
}

/*
 * tracing: the exporter for the service's runs, from the file it started with (the
 * tracing: keys over the OTEL_* variables; a reload does not move it). NULL: off.
 */
static trace_exporter *service_tracing(const config *cfg)
{
    trace_overrides o = { cfg->tracing_enabled, cfg->tracing_endpoint, cfg->tracing_headers_env,
                          cfg->tracing_service_name };
    return trace_exporter_open(&o, "service");
}

/*
 * tracing: a run's trace, or NULL when tracing is off. Each run is a trace of its own: a
 * TRACEPARENT in the service's environment is not honoured (it would make every run for
 * months a child of one span).
 */
static trace_run *begin_trace(service *s, const char *job, const char *trigger, int64_t slot,
                              int dry_run, int64_t run_id)
{
    char slot_text[40];
    if (!s->tx)
        return NULL;
    if (slot)
        run_slot_text(slot, slot_text, sizeof slot_text);
    trace_run_info ti = { job, trigger, slot ? slot_text : NULL, dry_run, run_id };
    return trace_run_begin(NULL, &ti, trace_now_ns());
}

/* The run's spans to the exporter (queued only: never waits on the receiver; a full queue
 * drops them, counted), and tr freed. Accepts NULL. */
static void export_trace(service *s, trace_run *tr)
{
    trace_batch b = { 0 };
    if (!tr)
        return;
    trace_run_take(tr, &b);
    trace_exporter_enqueue(s->tx, &b);
    trace_run_free(tr);
}

static void run_started(void *user, int64_t run_id)
{
    run_state_running(user, run_id);
}

/* What one run of a job is: its trigger and slot, and whose lock and connection. */
typedef struct job_run {
    const char *trigger;
    int dry_run;
    int64_t run_id;  /* recorded ahead (a queued manual run), or 0 */
    int64_t wait_ms;
    int64_t hold_ms; /* keep the lock this long after the run's start (0: let go) */
    int64_t slot;    /* Unix s; 0: none */
    const char *claim;
    runlock *rl;
    db **d;
    jobctl *ctl;     /* a job thread's run (NULL: the main thread's, in run_state) */
} job_run;

static void job_started(void *user, int64_t run_id)
{
    jobctl_set_running(user, 1, run_id);
}

/*
 * One run of job (by name) with the pipeline in force (held by reference for the run: a
 * reload meanwhile takes effect from the next one). Returns run_execute's exit code.
 */
/*
 * The change records' upkeep, in a job's thread once it is idle after a
 * real run (and once when the thread starts, for the startup runs): not in
 * the run, whose end (READY, /v1/service/state) it would hold up. Write
 * the key rows of the sets not keyed yet (any run's, a killed run's or
 * `run --once`'s; at most 5000 sets, about 2.5M records), then delete
 * change records older than history.changes_keep, in chunks of about 1000
 * records (whole sets; short transactions beside the bot's own), at most
 * 20 chunks a run; the next run goes on where this one stopped.
 */
#define KEY_SETS_AFTER_RUN 5000
static void changes_after_run(db *d, int64_t keep_s)
{
    int64_t n = 1;
    if (db_table_exists(d, "reconciler_change_sets") != 1)
        return; /* not migrated to 009 yet: the run said so */
    /* 100 sets at a time, so that a stop waits for one batch at most. */
    for (int64_t done = 0, k = 1; done < KEY_SETS_AFTER_RUN && k > 0 && !stop_requested();
         done += k) {
        if ((k = changes_key_sets(d, 100)) < 0)
            log_warn("service: keying change records: %s", db_errmsg(d));
        else if (k < 100)
            break;
    }
    for (int i = 0; i < 20 && n > 0; i++) {
        if ((n = changes_prune(d, keep_s, CHANGES_PRUNE_CHUNK)) < 0)
            log_warn("service: pruning change records: %s", db_errmsg(d));
    }
}

/* The upkeep if it is due and the thread has its connection: 1 when it ran (snap released). */
static int job_upkeep(job_thread *jt, snapshot *snap)
{
    char err[1024];
    if (!jt->upkeep)
        return 0;
    jt->upkeep = 0; /* (a database out of reach: the next run's upkeep tries again) */
    if (!jt->d && run_connect(jt->s->boot->cfg, &jt->d, err, sizeof err) != EXIT_OK)
        return 0;
    int64_t keep_s = snap->cfg->history_changes_keep_ms / 1000;
    snapshot_release(snap);
    changes_after_run(jt->d, keep_s);
    return 1;
}

static int do_job_run(service *s, const char *job, const job_run *jr)
{
    json_t *r = NULL;
    snapshot *snap = snapshots_hold(&s->snaps);
    const cfg_job *j = cfg_job_find(snap->cfg, job);
    /* The snapshot's config: its steps' file text, with the bound database settings. */
    run_env env = { snap->cfg, snap->p, s->h, jr->rl, jr->d };
    run_spec spec = { .trigger = jr->trigger, .dry_run = jr->dry_run, .run_id = jr->run_id,
                      .wait_ms = jr->wait_ms, .hold_ms = jr->hold_ms, .job = j,
                      .slot = jr->slot, .claim = jr->claim };
    if (jr->ctl) {
        spec.started = job_started;
        spec.user = jr->ctl;
        jobctl_set_running(jr->ctl, 1, jr->run_id);
    } else {
        /* Running from when its id is known (started), so that a 409 always names it; a
         * queued run counts as running since it was taken, under its id. */
        spec.started = run_started;
        spec.user = &s->rs;
    }
    spec.trace = begin_trace(s, job, jr->trigger, jr->slot, jr->dry_run, jr->run_id);
    figures_run_begins(s->fig);
    int rc = run_execute(&env, &spec, &r);
    export_trace(s, spec.trace);
    /* Queued only: the delivery thread sends, so no receiver can hold up the schedule. */
    webhook_after_run(s->wh, snap->cfg, r, snap->cfg->http_listen);
    snapshot_release(snap);
    if (jr->ctl) {
        jobctl_set_running(jr->ctl, 0, 0);
        run_state_record(&s->rs, r);
    } else {
        run_state_finish(&s->rs, r);
    }
    /* The run changed the tables: the figures follow at once (within their budget). */
    figures_run_ends(s->fig);
    return rc;
}

/* A bound key the reloaded file changed (config_keep_bound puts the running value back). */
static void bound_changed(void *user, const char *key)
{
    (void)user;
    log_warn("reload: %s changed; it takes effect when reconciler restarts", key);
}

/*
 * Build a pipeline and its probes; a probe plugin that is missing only
 * disables its endpoint. The plugins are loaded and checked in a worker:
 * one that crashes there (a reload adding it) is refused, the service stays.
 */
static int build(config *cfg, pipeline **out, char *err, size_t errlen)
{
    int crashed;
    return supervise_inspect(cfg, 1, 0, out, &crashed, err, errlen) == EXIT_OK ? 0 : -1;
}

/* The API's POST /v1/service/reload: the same as a SIGHUP. */
static void request_reload(void)
{
    atomic_store(&g_reload, 1);
    wake();
}

/*
 * SIGHUP: re-read the pipeline file; a bad one is refused, logged (in the
 * log's format) and kept for the API, and the running one kept.
 */
static void reload(service *s)
{
    config *nc = NULL;
    pipeline *np = NULL;
    char err[2048] = "";

    log_info("reload: reading %s", s->boot->cfg->path);
    if (s->load(s->load_user, &nc, err, sizeof err) != 0 || build(nc, &np, err, sizeof err) != 0) {
        log_error("reload: refused: %s; keeping the running pipeline", err);
        reload_state_refused(&s->cfgs, s->boot->cfg->path, err);
        config_free(nc);
        return;
    }
    /* The whole file is accepted: from here on it changes what it says. Until here nothing
     * of it was applied, its log settings neither (a refused file left them as they were). */
    config_log_apply(nc);
    config_keep_bound(nc, s->boot->cfg, bound_changed, NULL);
    for (size_t i = 0; i < s->n_jobs; i++) {
        const cfg_job *j = cfg_job_find(nc, s->ctls[i].name);
        if (!j) {
            log_warn("reload: job %s is gone from %s; it stops running now and its thread "
                     "goes when reconciler restarts", s->ctls[i].name, nc->path);
            continue;
        }
        runlock_set_ttl(s->jobs[i].rl, j->lock_ttl_ms);
        runlock_set_max_skew(s->jobs[i].rl, nc->schedule_max_clock_skew_ms);
    }
    for (size_t i = 0; i < nc->n_jobs; i++)
        if (!jobctl_find(s->ctls, s->n_jobs, nc->jobs[i].name))
            log_warn("reload: job %s is new; it runs once reconciler restarts",
                     nc->jobs[i].name);
    log_info("reload: %s: %zu step%s in force", nc->path, np->n, np->n == 1 ? "" : "s");
    reload_state_loaded(&s->cfgs, nc, 1);
    snapshots_swap(&s->snaps, nc, np);
    /* Its probes or their options may differ: the figures follow the pipeline in force. */
    figures_kick(s->fig);
}

static void install_signals(void)
{
    struct sigaction stop = { .sa_handler = on_stop }, hup = { .sa_handler = on_hup },
                     ign = { .sa_handler = SIG_IGN };
    /* No SA_RESTART: poll() returns at once and the loop looks at the flags. */
    sigemptyset(&stop.sa_mask);
    sigemptyset(&hup.sa_mask);
    sigemptyset(&ign.sa_mask);
    sigaction(SIGTERM, &stop, NULL);
    sigaction(SIGINT, &stop, NULL);
    sigaction(SIGHUP, &hup, NULL);
    sigaction(SIGPIPE, &ign, NULL);
    /* A stop cuts every wait on a database that does not answer (frozen). */
    db_cut_waits_on_stop(DB_STOP_GRACE_MS);
}

/* /v1/service/state's nextRunAt: the soonest of the jobs' next runs. */
static void publish_next(service *s)
{
    int64_t soonest = 0;
    pthread_mutex_lock(&s->next_mu);
    for (size_t i = 0; i < s->n_jobs; i++) {
        jobctl_view v;
        jobctl_get(&s->ctls[i], &v);
        if (v.next_ms > 0 && (!soonest || v.next_ms < soonest))
            soonest = v.next_ms;
    }
    run_state_next(&s->rs, soonest);
    pthread_mutex_unlock(&s->next_mu);
}

static int64_t pick_job_jitter(const cfg_job *j)
{
    return j->jitter_ms > 0 ? (int64_t)(util_random_u64() % (uint64_t)(j->jitter_ms + 1)) : 0;
}

/*
 * A slot that is due: skipped when another instance has it already or the job is paused
 * (recorded once, by the instance whose row it is), else run with its claim.
 */
/*
 * A run in a job's thread. A run that lost the database (or could not reach
 * it) leaves the thread without a connection: the thread then reconnects with
 * capped exponential backoff (job_reconnect) before its next run, as the
 * service does at start, rather than fail a run per slot against a database
 * that is down.
 */
static int thread_run(job_thread *jt, const char *job, const job_run *jr)
{
    int rc = do_job_run(jt->s, job, jr);
    if (!jr->dry_run)
        jt->upkeep = 1;
    if (!jt->d && !jt->backoff_ms)
        jt->backoff_ms = 1000;
    return rc;
}

/*
 * 1 while the database is still out of reach (logged with the next try's
 * delay; the thread waited for it), 0 once connected, or when the error is
 * not the database's (the next run reports it).
 */
static int job_reconnect(job_thread *jt)
{
    char err[2048];
    snapshot *snap = snapshots_hold(&jt->s->snaps);
    int rc = run_connect(snap->cfg, &jt->d, err, sizeof err);
    snapshot_release(snap);
    if (rc != EXIT_DATABASE) {
        jt->backoff_ms = 0;
        return 0;
    }
    log_error("job %s: %s; retrying in %lld s", jt->ctl->name, err,
              (long long)(jt->backoff_ms / 1000));
    jobctl_wait(jt->ctl, util_wall_ms() + jt->backoff_ms);
    jt->backoff_ms = jt->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : jt->backoff_ms * 2;
    return 1;
}

static int run_slot(job_thread *jt, const cfg_job *j, int64_t slot_ms, const char *trigger)
{
    service *s = jt->s;
    char err[1024], by[JOBSTATE_CLAIM_MAX + 1], slot_text[40];
    int64_t slot = slot_ms / 1000;
    const char *claim = runlock_holder(jt->rl);
    job_pause pause;

    /* The legacy job's instances each have a grid of their own, as before jobs: the lock
     * and its hold keep them apart, and their slots are not claimed. */
    if (j->legacy)
        claim = NULL;
    run_slot_text(slot, slot_text, sizeof slot_text);
    if (run_connect(s->boot->cfg, &jt->d, err, sizeof err) == EXIT_OK) {
        int taken = claim ? jobslot_taken(jt->d, j->name, slot, by, sizeof by, err, sizeof err)
                          : 0;
        if (taken == 1) {
            log_debug("job %s: slot %s is %s's", j->name, slot_text, by);
            return 0;
        }
        if (jobpause_get(jt->d, j->name, &pause, err, sizeof err) == 1) {
            if (claim && jobslot_claim(jt->d, j->name, slot, claim, trigger, "skipped", "paused",
                                       NULL, 0, err, sizeof err) != 1)
                return 1; /* another instance recorded it */
            char *why = xasprintf("skipped: the job is paused (by %s at %s UTC%s%s)", pause.by,
                                  pause.at, *pause.reason ? ": " : "", pause.reason);
            snapshot *snap = snapshots_hold(&s->snaps);
            run_env env = { snap->cfg, snap->p, s->h, jt->rl, &jt->d };
            run_spec spec = { .trigger = trigger, .job = j, .slot = slot };
            json_t *r = NULL;
            /* A paused slot is a run that did not happen: a trace of one span says so. */
            spec.trace = begin_trace(s, j->name, trigger, slot, 0, 0);
            run_record_skipped(&env, &spec, why, &r);
            export_trace(s, spec.trace);
            snapshot_release(snap);
            run_state_record(&s->rs, r);
            free(why);
            return 1;
        }
    }
    /* The legacy job keeps its lock for about an interval after a run, as it always did:
     * its instances' grids differ, so their slots do not meet in the table. */
    job_run jr = { .trigger = trigger, .slot = slot, .claim = claim, .rl = jt->rl, .d = &jt->d,
                   .ctl = jt->ctl, .hold_ms = j->legacy ? j->every_ms : 0 };
    thread_run(jt, j->name, &jr);
    /* Retention: the newest rows judge what was missed; older than missed_within (at least
     * a day) they judge nothing. */
    int64_t keep_s = (j->missed_within_ms > 86400000 ? j->missed_within_ms : 86400000) / 1000;
    if (claim && jt->d && jobslot_prune(jt->d, j->name, slot - keep_s, err, sizeof err) != 0)
        log_warn("job %s: %s", j->name, err);
    return 0;
}

/*
 * While the job's last slot was skipped for a pause: is it resumed? Then, with missed:
 * run_once and that slot within missed_within, it is run after all (trigger catch_up), by
 * the one instance whose claim takes it over. 1 when the pause is over (handled), else 0.
 */
#define PAUSE_POLL_MS 2000
static int after_pause(job_thread *jt, const cfg_job *j, int64_t paused_slot_ms)
{
    char err[1024], slot_text[40];
    job_pause pause;
    if (run_connect(jt->s->boot->cfg, &jt->d, err, sizeof err) != EXIT_OK ||
        jobpause_get(jt->d, j->name, &pause, err, sizeof err) != 0)
        return 0;
    const char *claim = runlock_holder(jt->rl);
    int64_t slot = paused_slot_ms / 1000;
    run_slot_text(slot, slot_text, sizeof slot_text);
    if (j->legacy || j->missed != CFG_MISSED_RUN_ONCE ||
        util_wall_ms() - paused_slot_ms > j->missed_within_ms)
        return 1;
    int got = jobslot_reclaim_paused(jt->d, j->name, slot, claim, "catch_up", err, sizeof err);
    if (got < 0)
        log_warn("job %s: %s", j->name, err);
    if (got != 1)
        return 1;
    log_info("job %s: resumed; catching up the paused slot %s (schedule.missed: run_once)",
             j->name, slot_text);
    /* The slot is ours already (claimed outside the lock): wait for the lock, as a manual
     * run does, rather than lose the slot to another instance's run of a later one. */
    job_run jr = { .trigger = "catch_up", .wait_ms = j->lock_wait_ms, .slot = slot,
                   .claim = claim, .rl = jt->rl, .d = &jt->d, .ctl = jt->ctl };
    thread_run(jt, j->name, &jr);
    return 1;
}

/*
 * Where a job's thread starts looking for slots: now; or, with missed: run_once, at the job's newest row in the slot table
 * (within missed_within), so that the slots that passed unrun since (the service was
 * down) are seen as missed by the loop, which catches up the latest of them. Judged from
 * the table, not from memory: it holds across restarts, deploys and other instances.
 */
static int64_t first_cursor(job_thread *jt, const cfg_job *j)
{
    char err[1024];
    int64_t now = util_wall_ms(), cursor = now, newest = 0;
    if (j->missed != CFG_MISSED_RUN_ONCE)
        return cursor;
    if (run_connect(jt->s->boot->cfg, &jt->d, err, sizeof err) != EXIT_OK) {
        log_warn("job %s: missed slots cannot be looked for: %s", j->name, err);
        return cursor;
    }
    int got = jobslot_latest(jt->d, j->name, &newest, err, sizeof err);
    if (got < 0)
        log_warn("job %s: missed slots cannot be looked for: %s", j->name, err);
    if (got != 1)
        return cursor; /* a new job has missed nothing */
    int64_t from = newest * 1000;
    if (from < now - j->missed_within_ms)
        from = now - j->missed_within_ms;
    return from < cursor ? from : cursor;
}

/* Log the slots a run covered under schedule.missed: skip, as the legacy schedule did. */
static void log_covered(const cfg_job *j, int64_t took_ms, int64_t covered)
{
    char every[32];
    duration_format(j->every_ms, every, sizeof every);
    if (j->legacy)
        log_warn("the run took %lld ms, longer than schedule.interval (%lld ms); skipping "
                 "%lld tick%s", (long long)took_ms, (long long)j->every_ms, (long long)covered,
                 covered == 1 ? "" : "s");
    else
        log_warn("job %s: the run took %lld ms and covered %lld slot%s; skipped "
                 "(schedule.missed: skip)", j->name, (long long)took_ms, (long long)covered,
                 covered == 1 ? "" : "s");
}

static void *job_main(void *arg)
{
    job_thread *jt = arg;
    service *s = jt->s;
    /* The legacy job's grid starts with the service, one interval on, as it always did (its
     * lock held for an interval after a run keeps other instances off); the others' grid
     * is the epoch's, the same on every instance, so that their slots are claimed once. */
    int64_t started = util_wall_ms(), phase = 0;
    int64_t cursor = 0, next = -2, due = 0, ran_from = 0, ran_until = 0;
    int64_t paused_slot = 0, pause_polled = 0;
    int first = 1;

    while (!stop_requested()) {
        if (jt->backoff_ms && !jt->d && job_reconnect(jt))
            continue;
        snapshot *snap = snapshots_hold(&s->snaps);
        const cfg_job *j = cfg_job_find(snap->cfg, jt->ctl->name);
        int64_t manual_id;
        int manual_dry;
        if (jobctl_take_manual(jt->ctl, &manual_id, &manual_dry)) {
            /* POST /v1/reconciliation/run, queued in run_state (which counts it running). */
            job_run jr = { .trigger = "manual", .dry_run = manual_dry, .run_id = manual_id,
                           .wait_ms = j ? j->lock_wait_ms : snap->cfg->schedule_lock_wait_ms,
                           .rl = jt->rl, .d = &jt->d };
            snapshot_release(snap);
            thread_run(jt, jt->ctl->name, &jr);
            continue;
        }
        int request_dry = 0;
        if (j && j->enabled && jobctl_take_request(jt->ctl, &request_dry)) {
            /* POST /v1/jobs/{job}/run[?dryRun=true]: the API refused it while paused. */
            job_run jr = { .trigger = "manual", .dry_run = request_dry,
                           .wait_ms = j->lock_wait_ms, .rl = jt->rl, .d = &jt->d,
                           .ctl = jt->ctl };
            char name[65];
            snprintf(name, sizeof name, "%s", j->name);
            snapshot_release(snap);
            thread_run(jt, name, &jr);
            continue;
        }
        if (!j || !j->enabled || !cfg_job_scheduled(j)) {
            if (job_upkeep(jt, snap))
                continue;
            snapshot_release(snap);
            jobctl_set_next(jt->ctl, 0);
            jobctl_wait(jt->ctl, util_wall_ms() + 1000);
            continue;
        }
        /* A pause is looked at again every PAUSE_POLL_MS, and before the next slot runs. */
        if (paused_slot && (util_mono_ms() - pause_polled >= PAUSE_POLL_MS ||
                            (next >= 0 && util_wall_ms() >= due))) {
            pause_polled = util_mono_ms();
            if (after_pause(jt, j, paused_slot)) {
                paused_slot = 0;
                jobctl_set_paused(jt->ctl, 0);
            }
        }
        if (first) {
            phase = j->legacy && j->every_ms ? started % j->every_ms : 0;
            jobctl_set_phase(jt->ctl, phase);
            cursor = j->legacy ? started : first_cursor(jt, j);
            first = 0;
        }
        int64_t n = schedule_next_slot(j, phase, cursor);
        if (n != next) {
            next = n;
            due = next + pick_job_jitter(j);
            jobctl_set_next(jt->ctl, next >= 0 ? due : 0);
            publish_next(s);
        }
        int64_t now = util_wall_ms();
        if (next < 0 || now < due) {
            if (job_upkeep(jt, snap))
                continue; /* (it took time: the clock is read again) */
            snapshot_release(snap);
            jobctl_wait(jt->ctl, next < 0 ? now + 1000 : due);
            continue;
        }
        /*
         * Due: the latest slot that has come is the one to run (none runs twice, the ones
         * between are gone). When slots passed unrun before it (a restart, a long run),
         * when it came while the job's last run went on, or when it is this late, it is a
         * missed one: schedule.missed decides (skip: a slot that came after the run and is
         * on time still runs as scheduled).
         */
        int64_t last = schedule_last_slot(j, phase, next, now);
        int late = now - last > SLOT_GRACE_MS + j->jitter_ms, passed = last > next;
        int covered = last <= ran_until;
        const char *trigger = "scheduled";
        if (late || passed || covered) {
            char slot_text[40];
            run_slot_text(last / 1000, slot_text, sizeof slot_text);
            if (j->missed == CFG_MISSED_RUN_ONCE && now - last <= j->missed_within_ms) {
                trigger = "catch_up";
                log_info("job %s: slots were missed; catching up with slot %s "
                         "(schedule.missed: run_once)", j->name, slot_text);
            } else if (covered) {
                int64_t k = 0;
                for (int64_t t = next; t >= 0 && t <= ran_until; t = schedule_next_slot(j, phase, t))
                    k++;
                log_covered(j, ran_until - ran_from, k);
                cursor = ran_until;
                snapshot_release(snap);
                continue;
            } else if (late) {
                log_info("job %s: slot %s was missed; not caught up (%s)", j->name, slot_text,
                         j->missed == CFG_MISSED_SKIP ? "schedule.missed: skip"
                                                      : "older than schedule.missed_within");
                cursor = last;
                snapshot_release(snap);
                continue;
            }
        }
        /* While this slot runs, the job's next run (the API, /metrics) is the slot after it,
         * not one that has passed: an alert on an overdue next run must not fire for a long
         * run. The loop sets it again, with its jitter, once the run is over. */
        int64_t after = schedule_next_slot(j, phase, last);
        jobctl_set_next(jt->ctl, after >= 0 ? after : 0);
        publish_next(s);
        ran_from = util_wall_ms();
        if (run_slot(jt, j, last, trigger)) {
            paused_slot = last;
            pause_polled = util_mono_ms();
            jobctl_set_paused(jt->ctl, 1);
        } else {
            paused_slot = 0;
            ran_until = util_wall_ms();
        }
        cursor = last;
        snapshot_release(snap);
    }
    jobctl_set_next(jt->ctl, 0);
    return NULL;
}

/* The main thread from READY on: reloads, and the manual runs of POST /v1/reconciliation/run. */
static int main_loop(service *s)
{
    while (!stop_requested()) {
        int64_t id;
        int dry;
        if (atomic_exchange(&g_reload, 0)) {
            reload(s);
            continue;
        }
        if (run_state_take_queued(&s->rs, &id, &dry)) {
            /* The first job's thread runs it on the job's own lock: a run of the job never
             * waits for its own instance's hold of that lock. */
            jobctl_hand_manual(&s->ctls[0], id, dry);
            continue;
        }
        wait_until(s->wake_r, util_mono_ms() + 3600000);
    }
    return EXIT_OK;
}

/* Every job's startup run, in file order, on the main thread (before READY). */
static int startup_runs(service *s, const config *cfg)
{
    for (size_t i = 0; i < cfg->n_jobs && !stop_requested(); i++) {
        const cfg_job *j = &cfg->jobs[i];
        if (!j->on_startup || !j->enabled)
            continue;
        job_run jr = { .trigger = "startup", .wait_ms = j->lock_wait_ms, .rl = s->jobs[i].rl,
                       .d = &s->d };
        if (do_job_run(s, j->name, &jr) == EXIT_LOCKED) {
            log_error("the startup run of job %s waited %lld ms for its run lock and gave up",
                      j->name, (long long)j->lock_wait_ms);
            return EXIT_LOCKED;
        }
    }
    return EXIT_OK;
}

static void start_jobs(service *s)
{
    for (size_t i = 0; i < s->n_jobs; i++) {
        job_thread *jt = &s->jobs[i];
        jt->upkeep = 1; /* the startup runs' records, and those before */
        if (util_thread_start(&jt->th, NULL, job_main, jt) != 0)
            log_error("job %s: cannot start its thread: it does not run", jt->ctl->name);
        else
            jt->started = 1;
    }
}

static void stop_jobs(service *s)
{
    for (size_t i = 0; i < s->n_jobs; i++)
        jobctl_stop(&s->ctls[i]);
    for (size_t i = 0; i < s->n_jobs; i++) {
        job_thread *jt = &s->jobs[i];
        if (jt->started)
            pthread_join(jt->th, NULL);
        runlock_close(jt->rl);
        db_close(jt->d);
        jobctl_destroy(&s->ctls[i]);
    }
    free(s->jobs);
    free(s->ctls);
    s->jobs = NULL;
    s->ctls = NULL;
    s->n_jobs = 0;
}

/* The bearer token from http.token_env, and a warning for an open API beyond loopback. */
static void read_token(service *s, const config *cfg)
{
    if (cfg->http_token_env) {
        const char *t = getenv(cfg->http_token_env);
        if (t && *t)
            s->token = xstrdup(t);
        else
            log_warn("http.token_env names %s, which is not set: the API asks for no token",
                     cfg->http_token_env);
    }
    if (!s->token && strncmp(cfg->http_listen, "127.", 4) != 0 &&
        strncmp(cfg->http_listen, "[::1]:", 6) != 0 &&
        strncmp(cfg->http_listen, "localhost:", 10) != 0)
        log_warn("http.listen %s is not a loopback address and no token is required "
                 "(http.token_env): anyone who can reach it can read the dashboard and "
                 "start runs", cfg->http_listen);
}

int service_run(config *cfg, service_loader load, void *load_user)
{
    service s = { .load = load, .load_user = load_user, .wake_r = -1,
                  .next_mu = PTHREAD_MUTEX_INITIALIZER };
    http_server *http = NULL;
    pipeline *p = NULL;
    int wake_fds[2] = { -1, -1 }, rc;
    char err[2048];

    reload_state_init(&s.cfgs);
    if (build(cfg, &p, err, sizeof err) != 0) {
        log_error("%s", err);
        reload_state_destroy(&s.cfgs);
        config_free(cfg);
        return EXIT_USAGE;
    }
    reload_state_loaded(&s.cfgs, cfg, 0);
    snapshots_init(&s.snaps, cfg, p);
    s.boot = snapshots_hold(&s.snaps);
    run_state_init(&s.rs, NULL, -1);
    if (pipe2(wake_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        log_error("cannot create a pipe: %s", strerror(errno));
        rc = EXIT_LOCAL;
        goto out;
    }
    s.wake_r = wake_fds[0];
    s.rs.wake_fd = wake_fds[1];
    atomic_store(&g_wake_fd, wake_fds[1]);
    install_signals();

    if (history_open(cfg->history_path, cfg->history_keep_runs, HISTORY_BUSY_DEFAULT_MS, &s.h,
                     err, sizeof err) != 0 ||
        history_open(cfg->history_path, cfg->history_keep_runs, API_HISTORY_BUSY_MS,
                     &s.api_hist, err, sizeof err) != 0 ||
        history_open(cfg->history_path, cfg->history_keep_runs, API_HISTORY_BUSY_MS,
                     &s.fig_hist, err, sizeof err) != 0) {
        log_error("%s", err);
        rc = EXIT_LOCAL;
        goto out;
    }
    /* One file, one run-id floor (history_fallback_id), whichever handle hands out an id. */
    history_share_ids(s.api_hist, s.h);
    history_share_ids(s.fig_hist, s.h);
    int64_t closed;
    if (history_abandon(s.h, &closed) != 0)
        log_error("%s", history_error(s.h));
    s.rs.h = s.api_hist;
    s.wh = webhook_start(s.h);
    s.tx = service_tracing(cfg);
    /* Each job's own lock for its thread; the API's lock metric shows the first job's. */
    s.n_jobs = cfg->n_jobs;
    s.ctls = xcalloc(s.n_jobs, sizeof *s.ctls);
    s.jobs = xcalloc(s.n_jobs, sizeof *s.jobs);
    for (size_t i = 0; i < s.n_jobs; i++) {
        jobctl_init(&s.ctls[i], cfg->jobs[i].name);
        s.jobs[i] = (job_thread){ .s = &s, .ctl = &s.ctls[i],
                                  .rl = runlock_open_job(cfg, &cfg->jobs[i]) };
        run_state_know_job(&s.rs, cfg->jobs[i].name);
    }
    s.rl = s.jobs[0].rl;
    s.watch = dbwatch_start(cfg);
    read_token(&s, cfg);
    s.fig = figures_start(&s.snaps, s.fig_hist, cfg->schedule_on_startup);
    api_deps deps = { .rs = &s.rs, .snaps = &s.snaps, .h = s.api_hist, .rl = s.rl,
                      .watch = s.watch, .boot = cfg, .listen = cfg->http_listen,
                      .token = s.token, .wh = s.wh, .cfgs = &s.cfgs,
                      .reload = request_reload, .fig = s.fig, .jobs = s.ctls,
                      .n_jobs = s.n_jobs, .tx = s.tx };
    if (api_start(&deps, &http, err, sizeof err) != 0) {
        log_error("%s", err);
        rc = EXIT_USAGE;
        goto out;
    }
    log_info("service: %s, %zu job%s, %zu step%s, API on %s%s", cfg->path, cfg->n_jobs,
             cfg->n_jobs == 1 ? "" : "s", p->n, p->n == 1 ? "" : "s", cfg->http_listen,
             s.token ? " (bearer token required)" : "");
    for (size_t i = 0; i < cfg->n_jobs; i++) {
        const cfg_job *j = &cfg->jobs[i];
        char every[32];
        duration_format(j->every_ms, every, sizeof every);
        log_info("service: job %s: %s%s%s%s%s%s", j->name, j->every_ms ? "every " : "",
                 j->every_ms ? every : "", j->cron ? "cron " : "", j->cron ? j->cron : "",
                 j->cron ? " in " : "", j->cron ? j->time_zone : !j->every_ms ? "no schedule" : "");
    }

    if ((rc = connect_with_backoff(&s)) != EXIT_OK || stop_requested())
        goto out;
    log_info("service: run lock holder id %s", runlock_holder(s.rl));
    if ((rc = startup_runs(&s, cfg)) != EXIT_OK)
        goto out;
    notify_send("READY=1\nSTATUS=startup reconciliation done; running on schedule");
    start_jobs(&s);
    rc = main_loop(&s);

out:
    notify_send("STOPPING=1");
    run_state_stop(&s.rs);
    /* The jobs stop before the API goes: its handlers may still ask a job for a run. */
    for (size_t i = 0; i < s.n_jobs; i++)
        jobctl_stop(&s.ctls[i]);
    figures_halt(s.fig); /* before http_stop: no handler may wait for a refresh then */
    http_stop(http);
    stop_jobs(&s); /* before figures_stop: a job's run tells the figures when it ends */
    figures_stop(s.fig);
    /* What is still queued (the last run's alert, its trace) gets a bounded moment, within
     * SIGTERM's 5 s: one deadline for both, as the exporter sends on its own thread meanwhile. */
    int64_t last_words = util_mono_ms() + WEBHOOK_STOP_BUDGET_MS;
    webhook_finish(s.wh, last_words, 0);
    trace_exporter_stop(s.tx, last_words, NULL);
    dbwatch_stop(s.watch);
    db_close(s.d);
    run_state_destroy(&s.rs);
    reload_state_destroy(&s.cfgs);
    history_close(s.h);
    history_close(s.api_hist);
    history_close(s.fig_hist);
    snapshot_release(s.boot);
    snapshots_destroy(&s.snaps);
    atomic_store(&g_wake_fd, -1);
    if (wake_fds[0] >= 0) {
        close(wake_fds[0]);
        close(wake_fds[1]);
    }
    util_free_secret(s.token);
    log_info("service: stopped");
    return rc;
}
