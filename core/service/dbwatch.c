/* SPDX-License-Identifier: MIT */
/* dbwatch.c - see dbwatch.h. */
#include "service/dbwatch.h"
#include "base/exitcode.h"
#include "base/log.h"
#include "base/util.h"
#include "db/connect.h"
#include "db/library.h"
#include "db/lock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PERIOD_MS 1000

struct dbwatch {
    config *cfg;          /* its own copy (connect_config_dup): dbwatch_stop may leave the
                             thread mid-ping, and the service frees its config next */
    pthread_t thread;
    pthread_mutex_t mu;   /* guards st, pinging and closing; never held across I/O */
    pthread_cond_t cond;
    int closing;
    int orphaned;         /* dbwatch_stop left it mid-ping: the thread frees w */
    int64_t ping_started; /* monotonic ms a ping has been going on since, 0: none */
    dbwatch_state st;
};

static void set_state(dbwatch *w, int ok, double latency, const char *why, const char *db_time,
                      const lock_info *li)
{
    pthread_mutex_lock(&w->mu);
    w->ping_started = 0;
    w->st.ok = ok;
    w->st.checked_ms = util_mono_ms();
    if (ok) {
        w->st.latency_ms = latency;
        w->st.why[0] = '\0';
        snprintf(w->st.db_time, sizeof w->st.db_time, "%s", db_time);
        snprintf(w->st.lock_holder, sizeof w->st.lock_holder, "%s", li ? li->holder : "");
        snprintf(w->st.lock_until, sizeof w->st.lock_until, "%s", li ? li->until : "");
    } else {
        snprintf(w->st.why, sizeof w->st.why, "%.500s", why);
    }
    pthread_mutex_unlock(&w->mu);
}

/* One ping on *d (opened when NULL, dropped when it fails); none once closing. */
static void ping_once(dbwatch *w, db **d)
{
    static const connect_timeouts quick = { 2, 2, 2 };
    char err[1024];
    db_clock clock;

    pthread_mutex_lock(&w->mu);
    int closing = w->closing;
    if (!closing)
        w->ping_started = util_mono_ms();
    pthread_mutex_unlock(&w->mu);
    if (closing)
        return;
    if (!*d && connect_open(w->cfg, &quick, d, err, sizeof err) != EXIT_OK) {
        set_state(w, 0, 0, err, "", NULL);
        return;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (db_now(*d, &clock) != 0) {
        set_state(w, 0, 0, db_errmsg(*d), "", NULL);
        db_close(*d);
        *d = NULL;
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    /* Who holds the run lock, for the state (`reconciler status` names the holder). A row
     * that cannot be read (no migrate yet, a busy SQLite file) only leaves it unknown. */
    lock_info li = { "", "" };
    if (lock_peek(*d, LOCK_NAME, &li, err, sizeof err) != 1)
        li.holder[0] = li.until[0] = '\0';
    /* An open SQLite file keeps answering after the file is moved away: check
     * it afresh every time, as the bot would find it. A server connection is
     * kept (a ping tells a dead one). */
    if (db_get_kind(*d) == DB_SQLITE) {
        db_close(*d);
        *d = NULL;
    }
    double ms = (double)(b.tv_sec - a.tv_sec) * 1000.0 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    set_state(w, 1, ms, NULL, clock.text, &li);
}

static void watch_free(dbwatch *w)
{
    config_free(w->cfg);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static void *watch_main(void *arg)
{
    dbwatch *w = arg;
    db *d = NULL;
    int orphaned;
    for (;;) {
        ping_once(w, &d);
        pthread_mutex_lock(&w->mu);
        if (!w->closing) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += PERIOD_MS / 1000;
            pthread_cond_timedwait(&w->cond, &w->mu, &ts);
        }
        int closing = w->closing;
        orphaned = w->orphaned;
        pthread_mutex_unlock(&w->mu);
        if (closing)
            break;
    }
    db_close(d);
    if (orphaned)
        watch_free(w);
    db_library_release(); /* taken for us by dbwatch_start */
    return NULL;
}

dbwatch *dbwatch_start(const config *cfg)
{
    dbwatch *w = xcalloc(1, sizeof *w);
    pthread_condattr_t ca;
    w->cfg = connect_config_dup(cfg);
    snprintf(w->st.why, sizeof w->st.why, "not checked yet");
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    db_library_hold(); /* the thread may be left mid-ping by dbwatch_stop */
    if (util_thread_start(&w->thread, NULL, watch_main, w) != 0) {
        log_error("cannot start the database watch thread");
        abort();
    }
    return w;
}

void dbwatch_stop(dbwatch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->closing = 1;
    pthread_cond_signal(&w->cond);
    /*
     * A ping stuck on a hung server may take its whole timeout: a stopping
     * process does not wait for it. The thread frees w when it returns (or
     * dies with the process).
     */
    int in_flight = w->ping_started != 0;
    if (in_flight) {
        w->orphaned = 1;
        pthread_detach(w->thread);
    }
    pthread_mutex_unlock(&w->mu);
    if (in_flight)
        return;
    pthread_join(w->thread, NULL);
    watch_free(w);
}

void dbwatch_read(dbwatch *w, dbwatch_state *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->st;
    int64_t started = w->ping_started;
    pthread_mutex_unlock(&w->mu);
    int64_t late = started ? util_mono_ms() - started : 0;
    if (late >= DBWATCH_LATE_MS) {
        out->ok = 0;
        snprintf(out->why, sizeof out->why, "the database has not answered for %lld ms",
                 (long long)late);
    }
}
