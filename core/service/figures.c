/* SPDX-License-Identifier: MIT */
/* figures.c - see figures.h. */
#include "service/figures.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"
#include "engine/supervisor.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* A refresh runs in the background: it may take long on big tables, never a request's time. */
#define REFRESH_TIMEOUT_MS 60000
/* After a failed refresh: 1 s, 2 s, 4 s ... at most the refresh period. */
#define RETRY_FIRST_MS 1000

struct figures {
    pthread_mutex_t mu;
    pthread_cond_t wake;     /* the thread: something to do, or stop */
    pthread_cond_t done;     /* the waiters of ?fresh=1: a refresh ended */
    pthread_t th;
    int running;             /* the thread was started */
    int stopping;
    snapshots *snaps;
    history *h;

    /* The snapshot. */
    json_t *probes;
    char reference_time[24];
    int64_t as_of_ms;
    int restored;
    int stale;
    char error[1024];

    /* The refreshes: started and finished count up; a waiter wants finished >= started + 1
     * as it was when it came. */
    uint64_t started, finished, failed;
    int refreshing, waiting;
    int wanted;              /* a request or a run asks for one as soon as the budget allows */
    int sqlite;              /* the bot's database is SQLite: no refresh beside a run */
    int runs_going;          /* runs going (figures_run_begins .. figures_run_ends) */
    int startup_pending;     /* runs_going counts the startup run before it begins */
    int64_t runs_since;      /* mono ms since which a run has been going */
    int last_ok;             /* the last finished refresh succeeded */
    int fails;               /* refreshes failed in a row */
    int64_t next_due;        /* mono ms of the next scheduled refresh */
    int64_t earliest;        /* mono ms before which none starts (the 5% budget) */
    int64_t period_ms;
    int64_t last_took_ms;
};

static void deadline_in(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/*
 * One refresh: every probe of the pipeline in force, read-only, in one
 * worker. 0 with *out ({"PLUGIN": results}) and T, or -1 with err.
 */
static int refresh_once(figures *f, json_t **out, char *now, int64_t *interval_ms, char *err,
                        size_t errlen)
{
    snapshot *snap = snapshots_hold(f->snaps);
    const pipeline *p = snap->p;
    const char *names[PIPELINE_MAX_PROBES + 1];
    json_t *results[PIPELINE_MAX_PROBES];
    size_t n = p->n_probes;
    int rc = 0;

    *interval_ms = snap->cfg->http_figures_refresh_ms;
    *out = jx(json_object());
    for (size_t i = 0; i < n; i++)
        names[i] = p->probes[i].plugin->name;
    names[n] = NULL;
    now[0] = '\0';
    if (n > 0) {
        char t[RC_TIME_TEXT_SIZE] = "";
        rc = supervise_probes(snap->cfg, names, results, t, REFRESH_TIMEOUT_MS, err, errlen);
        snprintf(now, 24, "%s", t);
        for (size_t i = 0; rc == 0 && i < n; i++)
            json_object_set_new(*out, names[i], results[i]);
    }
    snapshot_release(snap);
    if (rc != 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static void *refresher(void *arg)
{
    figures *f = arg;
    pthread_mutex_lock(&f->mu);
    while (!f->stopping) {
        int64_t now = util_mono_ms();
        /*
         * No refresh beside this service's run: its scans would take the
         * cores and the locks the repair needs, and figures taken half-way
         * through a repair describe neither the state before nor after it
         * (the run's end asks for a refresh). On SQLite (one writer; a long
         * read holds it off) that holds however long the run; elsewhere for
         * at most two periods, as long as figures count as fresh, so that a
         * long run leaves them no older than that (their age says so).
         */
        if (f->runs_going > 0) {
            int64_t until = f->runs_since + 2 * f->period_ms;
            if (f->sqlite) {
                pthread_cond_wait(&f->wake, &f->mu);
                continue;
            }
            if (now < until) {
                struct timespec ts;
                deadline_in(&ts, until - now);
                pthread_cond_timedwait(&f->wake, &f->mu, &ts);
                continue;
            }
        }
        int64_t due = f->wanted ? max64(f->earliest, 0) : max64(f->next_due, f->earliest);
        if (now < due) {
            struct timespec ts;
            deadline_in(&ts, due - now);
            pthread_cond_timedwait(&f->wake, &f->mu, &ts);
            continue;
        }
        f->wanted = 0;
        f->started++;
        f->refreshing = 1;
        pthread_mutex_unlock(&f->mu);

        json_t *probes = NULL;
        char ref[24], err[1024];
        int64_t interval, wall = util_wall_ms(), t0 = util_mono_ms();
        int rc = refresh_once(f, &probes, ref, &interval, err, sizeof err);
        int64_t took = util_mono_ms() - t0;
        /* Kept for the next start; a store that cannot be written only loses that. */
        if (rc == 0 && f->h && history_figures_save(f->h, wall, ref, probes) != 0)
            log_warn("figures: %s", history_error(f->h));

        pthread_mutex_lock(&f->mu);
        int64_t end = util_mono_ms();
        /* The budget: the next start waits at least 19 times this one's duration. */
        f->period_ms = max64(interval, took * FIGURES_BUDGET_DIVISOR);
        f->earliest = end + took * (FIGURES_BUDGET_DIVISOR - 1);
        f->last_took_ms = took;
        f->finished++;
        f->refreshing = 0;
        f->last_ok = rc == 0;
        if (rc == 0) {
            json_decref(f->probes);
            f->probes = probes;
            snprintf(f->reference_time, sizeof f->reference_time, "%s", ref);
            f->as_of_ms = wall;
            f->restored = 0;
            f->stale = 0;
            f->error[0] = '\0';
            f->fails = 0;
            f->next_due = t0 + f->period_ms;
        } else {
            f->failed++;
            f->stale = 1;
            snprintf(f->error, sizeof f->error, "%s", err);
            int64_t retry = RETRY_FIRST_MS << (f->fails < 16 ? f->fails : 16);
            f->fails++;
            f->next_due = end + (retry < f->period_ms ? retry : f->period_ms);
            log_warn("figures: the refresh failed (%s); the figures of %s stay, marked stale; "
                     "trying again in %lld ms", err, f->as_of_ms ? "the last good one" : "none",
                     (long long)(max64(f->next_due, f->earliest) - end));
        }
        pthread_cond_broadcast(&f->done);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

figures *figures_start(snapshots *snaps, history *h, int run_first)
{
    figures *f = xcalloc(1, sizeof *f);
    pthread_condattr_t ca;
    pthread_mutex_init(&f->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->wake, &ca);
    pthread_cond_init(&f->done, &ca);
    pthread_condattr_destroy(&ca);
    f->snaps = snaps;
    f->h = h;
    f->last_took_ms = -1;
    snapshot *snap = snapshots_hold(snaps);
    f->period_ms = snap->cfg->http_figures_refresh_ms;
    /* database.url is bound at start: a reload cannot change the driver. */
    f->sqlite = snap->cfg->db_url && strncasecmp(snap->cfg->db_url, "sqlite:", 7) == 0;
    f->runs_going = f->startup_pending = run_first ? 1 : 0;
    f->runs_since = util_mono_ms();
    snapshot_release(snap);
    if (h) {
        f->probes = history_figures_load(h, &f->as_of_ms, f->reference_time,
                                         sizeof f->reference_time);
        f->restored = f->probes != NULL;
        if (!f->probes)
            f->as_of_ms = 0;
    }
    f->next_due = util_mono_ms(); /* at once */
    if (util_thread_start(&f->th, NULL, refresher, f) == 0) {
        f->running = 1;
    } else {
        f->stale = 1;
        snprintf(f->error, sizeof f->error, "no thread to refresh the figures: %s",
                 strerror(errno));
        log_error("figures: %s", f->error);
    }
    return f;
}

void figures_halt(figures *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stopping = 1;
    pthread_cond_broadcast(&f->wake);
    pthread_cond_broadcast(&f->done);
    pthread_mutex_unlock(&f->mu);
}

void figures_stop(figures *f)
{
    if (!f)
        return;
    figures_halt(f);
    if (f->running)
        pthread_join(f->th, NULL);
    json_decref(f->probes);
    pthread_cond_destroy(&f->wake);
    pthread_cond_destroy(&f->done);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

void figures_run_begins(figures *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    if (f->startup_pending)
        f->startup_pending = 0; /* counted since figures_start */
    else if (f->runs_going++ == 0)
        f->runs_since = util_mono_ms();
    pthread_mutex_unlock(&f->mu);
}

/* Ask for a refresh as soon as the budget allows (a run ended; the pipeline changed). */
static void want_refresh(figures *f, int run_ended)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    if (run_ended && f->runs_going > 0)
        f->runs_going--;
    f->wanted = 1;
    pthread_cond_signal(&f->wake);
    pthread_mutex_unlock(&f->mu);
}

void figures_run_ends(figures *f)
{
    want_refresh(f, 1);
}

void figures_kick(figures *f)
{
    want_refresh(f, 0);
}

void figures_read(figures *f, int64_t wait_ms, figures_view *v)
{
    memset(v, 0, sizeof *v);
    pthread_mutex_lock(&f->mu);
    int waited_ok = 0;
    if (wait_ms > 0 && f->running) {
        /* Single flight: every waiter that came before a refresh's start shares it. */
        uint64_t want = f->started + 1;
        struct timespec ts;
        deadline_in(&ts, wait_ms);
        f->wanted = 1;
        f->waiting++;
        pthread_cond_signal(&f->wake);
        while (f->finished < want && !f->stopping)
            if (pthread_cond_timedwait(&f->done, &f->mu, &ts) == ETIMEDOUT)
                break;
        f->waiting--;
        waited_ok = f->finished >= want && f->last_ok;
    }
    int64_t now = util_wall_ms();
    v->probes = f->probes ? jx(json_deep_copy(f->probes)) : NULL;
    snprintf(v->reference_time, sizeof v->reference_time, "%s", f->reference_time);
    v->as_of_ms = f->as_of_ms;
    v->age_ms = f->as_of_ms ? max64(now - f->as_of_ms, 0) : 0;
    v->stale = f->stale;
    v->restored = f->restored;
    v->period_ms = f->period_ms;
    snprintf(v->error, sizeof v->error, "%s", f->error);
    v->fresh = wait_ms > 0 ? waited_ok
                           : f->probes && !f->stale && !f->restored &&
                             v->age_ms <= 2 * f->period_ms;
    pthread_mutex_unlock(&f->mu);
}

void figures_view_free(figures_view *v)
{
    json_decref(v->probes);
    v->probes = NULL;
}

void figures_view_meta(const figures_view *v, json_t *obj)
{
    char ts[32];
    json_t *as_of = json_null();
    if (v->as_of_ms) {
        util_iso_time(v->as_of_ms, ts, sizeof ts);
        as_of = jx(json_string(ts));
    }
    json_object_set_new(obj, "asOf", as_of);
    json_object_set_new(obj, "ageMs", v->as_of_ms ? jx(json_integer(v->age_ms)) : json_null());
    json_object_set_new(obj, "fresh", jx(json_boolean(v->fresh)));
    json_object_set_new(obj, "stale", jx(json_boolean(v->stale)));
    json_object_set_new(obj, "lastError", v->error[0] ? jx_text(v->error) : json_null());
}

void figures_counts_read(figures *f, figures_counts *c)
{
    pthread_mutex_lock(&f->mu);
    c->started = f->started;
    c->failed = f->failed;
    c->refreshing = f->refreshing;
    c->waiting = f->waiting;
    c->last_took_ms = f->last_took_ms;
    pthread_mutex_unlock(&f->mu);
}
