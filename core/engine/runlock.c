/* SPDX-License-Identifier: MIT */
/* runlock.c - see runlock.h. */
#include "engine/runlock.h"
#include "base/exitcode.h"
#include "base/log.h"
#include "base/stop.h"
#include "base/util.h"
#include "db/connect.h"
#include "db/library.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "trace/run_trace.h"

enum { STOP_NONE = 0, STOP_TAKEN = 1, STOP_DEADLINE = 2 };

struct runlock {
    /*
     * mu guards the connection and what goes with it: the heartbeat renews
     * on it, the run's thread takes and releases on it. No other thread ever
     * waits for mu (the API reads only the atomics below), and every
     * statement on the connection is bounded by its short timeouts.
     */
    pthread_mutex_t mu;
    pthread_cond_t cond;  /* wakes the heartbeat: taken, released, closing */
    pthread_t heartbeat;
    int thread_started;
    /* Its own copy of the database settings (connect_config_dup): the close
     * may be left running after runlock_close returns and the caller frees
     * its config (see runlock_close). */
    config *cfg;
    db *conn;             /* NULL until first used, or after it was lost */
    char holder[129];
    char name[65];        /* the lock row: LOCK_NAME, or the job's name */
    int64_t ttl_ms;       /* of the current hold */
    int64_t next_ttl_ms;  /* for the next take (a reload may change it) */
    _Atomic int64_t max_skew_ms; /* schedule.max_clock_skew (a reload may change it) */
    int64_t next_renew;   /* monotonic ms of the next renewal: an absolute schedule */
    int holding;          /* let go with a hold (lock_until still ahead, still ours) */
    int64_t taken_wall_ms; /* wall ms of the last take (a hold counts from it) */
    int closing;

    atomic_int held;          /* 1 from a take to its release */
    _Atomic int64_t until_ms; /* wall ms: while held, the lease's end as last renewed;
                                 after a release with a hold, the hold's end; else 0 */
    atomic_int stop;          /* STOP_*: why the run holding it must stop */
    _Atomic int64_t deadline; /* monotonic ms: past it, the lease may have ended */
    /* tracing: the holding run's trace (renewals are its events), or NULL. Under trace_mu,
     * never held across I/O: the run's thread clears it without waiting on a hung server. */
    pthread_mutex_t trace_mu;
    trace_run *trace;
};

/*
 * The run lock's statements must return well inside a renewal period:
 * ttl / 6, from 1 s (the client's smallest) to 2 s (so that a stopping
 * process is not held by a hung server). SQLite has no server to hang but
 * one writer at a time: a renewal may queue behind a step's chunk for up to
 * a third of the lease (the deadline still guards the run).
 */
static connect_timeouts timeouts_for(int64_t ttl_ms)
{
    int s = (int)(ttl_ms / 6000);
    s = s < 1 ? 1 : s > 2 ? 2 : s;
    connect_timeouts t = { s, s, s, (int)(ttl_ms / 3) };
    return t;
}

/*
 * Stop short of the lease's end by the run lock's own timeout: a chunk that
 * began just before the deadline still ends before another instance can
 * take the lock.
 */
static int64_t margin_for(int64_t ttl_ms)
{
    int64_t m = ttl_ms / 6;
    return m < 1000 ? 1000 : m;
}

/*
 * Called with rl->mu held. 0 with rl->conn, or -1 with err. A read-only
 * server (an asynchronous replica: read_only = ON) is refused here, once
 * per connection, with a message that says what to point at instead: the
 * lock row must be written where every instance reads it, and a replica's
 * rows are overwritten by its primary.
 */
static int ensure_conn(runlock *rl, char *err, size_t errlen)
{
    if (rl->conn)
        return 0;
    connect_timeouts t = timeouts_for(rl->next_ttl_ms);
    if (connect_open(rl->cfg, &t, &rl->conn, err, errlen) != EXIT_OK)
        return -1;
    int64_t ro = 0;
    if (db_get_kind(rl->conn) == DB_MYSQL &&
        db_query(rl->conn, "SELECT @@global.read_only", NULL, 0, rc__count_row, &ro) == 0 && ro) {
        snprintf(err, errlen, "the database server is read-only (read_only = ON): an "
                 "asynchronous replica cannot hold the run lock or take the repairs; point "
                 "database.url at the primary (or at any node of a Galera cluster)");
        db_close(rl->conn);
        rl->conn = NULL;
        return -1;
    }
    return 0;
}

/* After an error: a dead connection is dropped, to be reopened next time. */
static void check_lost(runlock *rl)
{
    if (rl->conn && db_lost(rl->conn)) {
        db_close(rl->conn);
        rl->conn = NULL;
    }
}

/*
 * Right after a take (rl->mu held): is the database clock close enough to
 * this host's? Leases are written on one node's clock and judged on
 * another's; see lock_check_skew and README "Running on a cluster". 1 yes,
 * 0 no (the lock is let go at once; err says why).
 */
static int clock_ok(runlock *rl, char *err, size_t errlen)
{
    int64_t max = atomic_load(&rl->max_skew_ms), skew = 0;
    char why[512];
    int ok = lock_check_skew(rl->conn, max, &skew, why, sizeof why);
    if (ok < 0) {
        /* The run's own statements will meet a broken connection; a clock
         * that cannot be read is no reason to refuse on its own. */
        log_warn("run lock: %s", why);
        return 1;
    }
    if (ok == 0) {
        snprintf(err, errlen, "%s", why);
        if (lock_release(rl->conn, rl->name, rl->holder, 0, NULL, 0) < 0)
            check_lost(rl);
        return 0;
    }
    if (max > 0 && (skew > max / 2 || -skew > max / 2))
        log_warn("run lock: the database clock is %lld ms %s this host's, more than half "
                 "of schedule.max_clock_skew (%lld ms)", (long long)(skew < 0 ? -skew : skew),
                 skew > 0 ? "ahead of" : "behind", (long long)max);
    else
        log_debug("run lock: the database clock is %lld ms off this host's", (long long)skew);
    return 1;
}

/* One lock statement: which, and its arguments. */
typedef enum lock_op { OP_TRY, OP_EXTEND, OP_RELEASE } lock_op;

/*
 * Run op on the run lock's connection (called with rl->mu held). A connection
 * the server closed since its last use (a restart: 2006/2013 at once) is
 * reopened and the statement tried once more, so the first run after a
 * database restart does not fail on a stale session. A statement that timed
 * out on a hung server is not tried again: that would only double the wait.
 */
#define QUICK_FAILURE_MS 500

static int run_op(runlock *rl, lock_op op, int64_t ms, lock_info *other, char *err, size_t errlen)
{
    int rc = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        int64_t t0 = util_mono_ms();
        if (ensure_conn(rl, err, errlen) != 0)
            return -1;
        switch (op) {
        case OP_TRY:
            rc = lock_try(rl->conn, rl->name, rl->holder, ms, other, err, errlen);
            break;
        case OP_EXTEND:
            rc = lock_extend(rl->conn, rl->name, rl->holder, ms, err, errlen);
            break;
        case OP_RELEASE:
            rc = lock_release(rl->conn, rl->name, rl->holder, ms, err, errlen);
            break;
        }
        if (rc >= 0 || !db_lost(rl->conn))
            break;
        int quick = util_mono_ms() - t0 < QUICK_FAILURE_MS;
        check_lost(rl);
        if (!quick)
            break;
        log_info("run lock: the connection was lost (%s); reconnecting", err);
    }
    return rc;
}

/*
 * SQLite, after a renewal found the file busy: the run's own chunks may have
 * been holding it, and each of them renews the lease (lock_fence). Read the
 * row (a read gets in between two writes): when it is still ours, live, and
 * ends later than the margin, the lease was renewed by the run's writes.
 * SQLite shares this host's clock, so its lock_until is comparable with
 * util_wall_ms(). 1 renewed that way, 0 not. With rl->mu held.
 */
static int renewed_by_writes(runlock *rl)
{
    lock_info li;
    struct tm tm;
    int ms = 0;
    if (!rl->conn || db_get_kind(rl->conn) != DB_SQLITE || !db_retryable(rl->conn) ||
        lock_peek(rl->conn, LOCK_NAME, &li, NULL, 0) != 1 || strcmp(li.holder, rl->holder) != 0)
        return 0;
    memset(&tm, 0, sizeof tm);
    if (sscanf(li.until, "%d-%d-%d %d:%d:%d.%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    int64_t until = (int64_t)timegm(&tm) * 1000 + ms, now = util_wall_ms();
    int64_t left = until - now, margin = margin_for(rl->ttl_ms);
    if (left <= margin)
        return 0;
    if (atomic_load(&rl->stop) == STOP_NONE)
        atomic_store(&rl->deadline, util_mono_ms() + left - margin);
    atomic_store(&rl->until_ms, until);
    log_debug("run lock: renewed by the run's own writes until %s", li.until);
    return 1;
}

/* tracing: a renewal as an event of the holding run's root span (with rl->mu held). */
static void renew_event(runlock *rl, const char *outcome, int64_t took_ms)
{
    pthread_mutex_lock(&rl->trace_mu);
    if (rl->trace) {
        trace_attrs a = { 0 };
        trace_attrs_str(&a, "reconciler.lock.outcome", outcome);
        trace_attrs_int(&a, "reconciler.lock.took_ms", took_ms);
        trace_attrs_int(&a, "reconciler.lock.until_ms", atomic_load(&rl->until_ms));
        trace_run_event(rl->trace, "run lock renewed", trace_now_ns(), &a);
    }
    pthread_mutex_unlock(&rl->trace_mu);
}

/*
 * A renewal, with rl->mu held. sent: when it was sent (the lease counts from
 * then at the latest).
 */
static void renew(runlock *rl)
{
    char err[1024];
    int64_t sent = util_mono_ms();
    int rc = run_op(rl, OP_EXTEND, rl->ttl_ms, NULL, err, sizeof err);
    int64_t took = util_mono_ms() - sent;
    if (rc == 1) {
        if (atomic_load(&rl->stop) == STOP_NONE)
            atomic_store(&rl->deadline, sent + rl->ttl_ms - margin_for(rl->ttl_ms));
        atomic_store(&rl->until_ms, util_wall_ms() - (util_mono_ms() - sent) + rl->ttl_ms);
        renew_event(rl, "renewed", took);
        return;
    }
    if (rc == 0) {
        atomic_store(&rl->stop, STOP_TAKEN);
        atomic_store(&rl->held, 0);
        atomic_store(&rl->until_ms, 0);
        log_error("the run lock was taken by another instance while this run went on; "
                  "stopping the run at its next chunk");
        renew_event(rl, "lost to another instance", took);
        return;
    }
    if (renewed_by_writes(rl)) {
        renew_event(rl, "renewed by the run's writes", took);
        return;
    }
    check_lost(rl);
    renew_event(rl, "failed", took);
    log_warn("cannot renew the run lock: %s (the run stops if no renewal succeeds in time)",
             err);
}

static void *heartbeat_main(void *arg)
{
    runlock *rl = arg;
    pthread_mutex_lock(&rl->mu);
    while (!rl->closing) {
        if (!atomic_load(&rl->held)) {
            pthread_cond_wait(&rl->cond, &rl->mu);
            continue;
        }
        int64_t wait = rl->next_renew - util_mono_ms();
        if (wait > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t ns = (int64_t)ts.tv_nsec + wait * 1000000;
            ts.tv_sec += (time_t)(ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&rl->cond, &rl->mu, &ts);
            continue;
        }
        renew(rl);
        /* The next slot on the grid of the take, never "now + period": a slow
         * renewal must not push every later one back. */
        int64_t period = rl->ttl_ms / 3, now = util_mono_ms();
        rl->next_renew += period;
        if (rl->next_renew <= now)
            rl->next_renew += ((now - rl->next_renew) / period + 1) * period;
    }
    pthread_mutex_unlock(&rl->mu);
    return NULL;
}

runlock *runlock_open(const config *cfg)
{
    return runlock_open_named(cfg, LOCK_NAME, cfg->schedule_lock_ttl_ms);
}

runlock *runlock_open_job(const config *cfg, const cfg_job *job)
{
    /* The legacy job keeps the row instances before jobs take: a mixed fleet shares it. */
    return runlock_open_named(cfg, job->legacy ? LOCK_NAME : job->name, job->lock_ttl_ms);
}

runlock *runlock_open_named(const config *cfg, const char *name, int64_t ttl_ms)
{
    runlock *rl = xcalloc(1, sizeof *rl);
    pthread_condattr_t ca;

    pthread_mutex_init(&rl->mu, NULL);
    pthread_mutex_init(&rl->trace_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rl->cond, &ca);
    pthread_condattr_destroy(&ca);
    rl->cfg = connect_config_dup(cfg);
    snprintf(rl->name, sizeof rl->name, "%s", name);
    rl->ttl_ms = rl->next_ttl_ms = ttl_ms;
    atomic_store(&rl->max_skew_ms, cfg->schedule_max_clock_skew_ms);
    lock_holder_id(rl->holder, sizeof rl->holder);
    if (util_thread_start(&rl->heartbeat, NULL, heartbeat_main, rl) != 0) {
        /* Without a heartbeat a lease would run out under a long run. */
        log_error("cannot start the run lock's heartbeat thread");
        abort();
    }
    rl->thread_started = 1;
    return rl;
}

/* "YYYY-MM-DD HH:MM:SS.mmm" (UTC, the lock row's text) as Unix ms, or 0. */
static int64_t lock_text_ms(const char *t)
{
    struct tm tm = { 0 };
    int ms = 0;
    if (sscanf(t, "%d-%d-%d %d:%d:%d.%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) < 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/*
 * After a release with a hold (rl->mu held): the hold's end as the row says
 * (the database's clock decides it: locked_at + hold), so that the state
 * and /metrics report the lock held until then. Estimated from this host's
 * clock when the row cannot be read.
 */
static void note_hold(runlock *rl, int64_t hold_ms, int64_t estimate_ms)
{
    lock_info li = { "", "" };
    char err[256];
    int64_t until = 0;
    if (rl->conn && lock_peek(rl->conn, LOCK_NAME, &li, err, sizeof err) == 1 &&
        strcmp(li.holder, rl->holder) == 0)
        until = lock_text_ms(li.until);
    atomic_store(&rl->until_ms, hold_ms > 0 ? (until ? until : estimate_ms) : 0);
}

/* quiet: at close, a hold another instance has taken over since is no news. */
static void release(runlock *rl, int64_t hold_ms, int quiet)
{
    char err[1024];
    pthread_mutex_lock(&rl->trace_mu);
    if (rl->trace) {
        trace_attrs a = { 0 };
        trace_attrs_int(&a, "reconciler.lock.hold_ms", hold_ms);
        trace_run_event(rl->trace, "run lock released", trace_now_ns(), &a);
    }
    rl->trace = NULL; /* the run's trace may be freed once its lock is let go */
    pthread_mutex_unlock(&rl->trace_mu);
    pthread_mutex_lock(&rl->mu);
    if (atomic_exchange(&rl->held, 0) || rl->holding) {
        rl->holding = hold_ms > 0;
        int rc = run_op(rl, OP_RELEASE, hold_ms, NULL, err, sizeof err);
        if (rc < 0) {
            check_lost(rl);
            log_warn("cannot release the run lock (%s); it frees itself when its lease ends", err);
        } else if (rc == 0 && !quiet) {
            log_warn("the run lock was no longer ours when the run ended");
        }
        int64_t now = util_wall_ms(), est = rl->taken_wall_ms + hold_ms;
        if (rc == 1 && hold_ms > 0)
            note_hold(rl, hold_ms, est > now ? est : now);
        else
            atomic_store(&rl->until_ms, 0);
    }
    pthread_mutex_unlock(&rl->mu);
}

static void close_now(runlock *rl);

static void *close_main(void *arg)
{
    close_now(arg);
    db_library_release(); /* taken for us by runlock_close */
    return NULL;
}

/*
 * A stopping process must exit within seconds even beside a hung server:
 * the close (a release, the heartbeat's last renewal) runs in a thread of
 * its own, and is left to finish alone if it takes longer than
 * RUNLOCK_CLOSE_MS (the lease then frees itself).
 *
 * Such a thread outlives its caller, who frees its config next: it uses
 * only what rl owns (its copy of the database settings, its connection, its
 * heartbeat), frees rl when done, and holds the client library until then
 * (db/library.h: db_library_end skips the tear-down while it runs).
 */
#define RUNLOCK_CLOSE_MS 1000

void runlock_close(runlock *rl)
{
    pthread_t t;
    if (!rl)
        return;
    db_library_hold();
    if (util_thread_start(&t, NULL, close_main, rl) != 0) {
        db_library_release();
        close_now(rl);
        return;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += RUNLOCK_CLOSE_MS / 1000;
    if (pthread_timedjoin_np(t, NULL, &until) != 0) {
        log_warn("the run lock's connection does not answer: not waiting for it (the lease "
                 "frees itself)");
        pthread_detach(t);
    }
}

static void close_now(runlock *rl)
{
    /* A stopping instance keeps no one waiting: a hold after a scheduled run
     * ends too (lock_release changes nothing if another took it since). */
    if (atomic_load(&rl->held) || rl->holding)
        release(rl, 0, !atomic_load(&rl->held));
    pthread_mutex_lock(&rl->mu);
    rl->closing = 1;
    pthread_cond_signal(&rl->cond);
    pthread_mutex_unlock(&rl->mu);
    if (rl->thread_started)
        pthread_join(rl->heartbeat, NULL);
    db_close(rl->conn);
    config_free(rl->cfg);
    pthread_cond_destroy(&rl->cond);
    pthread_mutex_destroy(&rl->mu);
    pthread_mutex_destroy(&rl->trace_mu);
    free(rl);
}

void runlock_set_ttl(runlock *rl, int64_t ttl_ms)
{
    pthread_mutex_lock(&rl->mu);
    rl->next_ttl_ms = ttl_ms;
    pthread_mutex_unlock(&rl->mu);
}

void runlock_set_max_skew(runlock *rl, int64_t max_ms)
{
    atomic_store(&rl->max_skew_ms, max_ms);
}

/* A deadlock or lock wait on the lock row (Galera reports write conflicts as
 * 1213) is another instance taking it at the same moment: try again. */
#define RETRYABLE_TRIES 5

static void pause_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int runlock_acquire(runlock *rl, int64_t wait_ms, lock_info *other, char *err, size_t errlen)
{
    int64_t give_up = util_mono_ms() + wait_ms;
    int retryable = 0;
    for (;;) {
        pthread_mutex_lock(&rl->mu);
        int64_t sent = util_mono_ms();
        rl->ttl_ms = rl->next_ttl_ms;
        int rc = run_op(rl, OP_TRY, rl->ttl_ms, other, err, errlen);
        if (rc == 1 && !clock_ok(rl, err, errlen)) {
            pthread_mutex_unlock(&rl->mu);
            return RUNLOCK_ERROR;
        }
        if (rc == 1) {
            atomic_store(&rl->stop, STOP_NONE);
            atomic_store(&rl->deadline, sent + rl->ttl_ms - margin_for(rl->ttl_ms));
            atomic_store(&rl->held, 1);
            rl->taken_wall_ms = util_wall_ms();
            atomic_store(&rl->until_ms, rl->taken_wall_ms + rl->ttl_ms);
            rl->holding = 0;
            rl->next_renew = sent + rl->ttl_ms / 3;
            pthread_cond_signal(&rl->cond); /* the heartbeat counts from now */
        } else if (rc < 0) {
            if (rl->conn && db_retryable(rl->conn) && ++retryable < RETRYABLE_TRIES)
                rc = -2;
            else
                check_lost(rl);
        }
        pthread_mutex_unlock(&rl->mu);
        if (rc == 1)
            return RUNLOCK_TAKEN;
        if (rc == -1)
            return RUNLOCK_ERROR;
        if (rc == -2) {
            log_debug("run lock: %s; trying again", err);
            pause_ms(50);
            continue;
        }
        if (util_mono_ms() >= give_up)
            return RUNLOCK_BUSY;
        for (int i = 0; i < 5; i++) {
            if (stop_requested())
                return RUNLOCK_STOPPED;
            pause_ms(50);
        }
    }
}

void runlock_set_trace(runlock *rl, trace_run *tr)
{
    pthread_mutex_lock(&rl->trace_mu);
    rl->trace = tr;
    pthread_mutex_unlock(&rl->trace_mu);
}

void runlock_release(runlock *rl, int64_t hold_ms)
{
    release(rl, hold_ms, 0);
}

int runlock_held(const runlock *rl)
{
    return atomic_load(&rl->held);
}

int runlock_state(const runlock *rl, int64_t *until_ms)
{
    int held = atomic_load(&rl->held);
    int64_t until = atomic_load(&rl->until_ms);
    int state = held ? RUNLOCK_RUNNING : until > util_wall_ms() ? RUNLOCK_HOLDING : RUNLOCK_FREE;
    if (until_ms)
        *until_ms = state == RUNLOCK_FREE ? 0 : until;
    return state;
}

int runlock_must_stop(runlock *rl)
{
    int why = atomic_load(&rl->stop);
    if (why != STOP_NONE)
        return 1;
    if (atomic_load(&rl->held) && util_mono_ms() >= atomic_load(&rl->deadline)) {
        /* Remembered, so that the run's result and later checks agree. */
        int none = STOP_NONE;
        if (atomic_compare_exchange_strong(&rl->stop, &none, STOP_DEADLINE))
            log_error("the run lock could not be renewed in time (the lease may end soon); "
                      "stopping the run at its next chunk");
        return 1;
    }
    return 0;
}

const char *runlock_stop_reason(const runlock *rl)
{
    return atomic_load(&rl->stop) == STOP_TAKEN
               ? "interrupted: the run lock was lost to another instance"
               : "interrupted: the run lock could not be renewed before its lease could end";
}

int64_t runlock_ttl(const runlock *rl)
{
    return rl->ttl_ms; /* written by acquire, on the caller's thread */
}

const char *runlock_name(const runlock *rl)
{
    return rl->name;
}

const char *runlock_holder(const runlock *rl)
{
    return rl->holder;
}
