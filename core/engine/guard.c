/* guard.c - see guard.h. */
#include "engine/guard.h"
#include "base/exitcode.h"
#include "base/log.h"
#include "base/stop.h"
#include "base/util.h"
#include "db/connect.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { STOP_NONE = 0, STOP_TAKEN = 1, STOP_DEADLINE = 2 };

struct guard {
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
    const config *cfg;
    db *conn;             /* NULL until first used, or after it was lost */
    char holder[129];
    int64_t ttl_ms;       /* of the current hold */
    int64_t next_ttl_ms;  /* for the next take (a reload may change it) */
    _Atomic int64_t max_skew_ms; /* schedule.max_clock_skew (a reload may change it) */
    int64_t next_renew;   /* monotonic ms of the next renewal: an absolute schedule */
    int holding;          /* let go with a hold (lock_until still ahead, still ours) */
    int closing;

    atomic_int held;          /* 1 from a take to its release */
    atomic_int stop;          /* STOP_*: why the run holding it must stop */
    _Atomic int64_t deadline; /* monotonic ms: past it, the lease may have ended */
};

/*
 * The guard's statements must return well inside a renewal period:
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
 * Stop short of the lease's end by the guard's own timeout: a chunk that
 * began just before the deadline still ends before another instance can
 * take the lock.
 */
static int64_t margin_for(int64_t ttl_ms)
{
    int64_t m = ttl_ms / 6;
    return m < 1000 ? 1000 : m;
}

static int int_row(void *user, const rc_value *c, size_t n)
{
    *(int64_t *)user = n >= 1 && c[0].type == RC_INT ? c[0].i : 0;
    return 1;
}

/*
 * Called with g->mu held. 0 with g->conn, or -1 with err. A read-only
 * server (an asynchronous replica: read_only = ON) is refused here, once
 * per connection, with a message that says what to point at instead: the
 * lock row must be written where every instance reads it, and a replica's
 * rows are overwritten by its primary.
 */
static int ensure_conn(guard *g, char *err, size_t errlen)
{
    if (g->conn)
        return 0;
    connect_timeouts t = timeouts_for(g->next_ttl_ms);
    if (connect_open(g->cfg, &t, &g->conn, err, errlen) != EXIT_OK)
        return -1;
    int64_t ro = 0;
    if (db_get_kind(g->conn) == DB_MYSQL &&
        db_query(g->conn, "SELECT @@global.read_only", NULL, 0, int_row, &ro) == 0 && ro) {
        snprintf(err, errlen, "the database server is read-only (read_only = ON): an "
                 "asynchronous replica cannot hold the run lock or take the repairs; point "
                 "database.url at the primary (or at any node of a Galera cluster)");
        db_close(g->conn);
        g->conn = NULL;
        return -1;
    }
    return 0;
}

/* After an error: a dead connection is dropped, to be reopened next time. */
static void check_lost(guard *g)
{
    if (g->conn && db_lost(g->conn)) {
        db_close(g->conn);
        g->conn = NULL;
    }
}

/*
 * Right after a take (g->mu held): is the database clock close enough to
 * this host's? Leases are written on one node's clock and judged on
 * another's; see lock_check_skew and README "Running on a cluster". 1 yes,
 * 0 no (the lock is let go at once; err says why).
 */
static int clock_ok(guard *g, char *err, size_t errlen)
{
    int64_t max = atomic_load(&g->max_skew_ms), skew = 0;
    char why[512];
    int ok = lock_check_skew(g->conn, max, &skew, why, sizeof why);
    if (ok < 0) {
        /* The run's own statements will meet a broken connection; a clock
         * that cannot be read is no reason to refuse on its own. */
        log_warn("run lock: %s", why);
        return 1;
    }
    if (ok == 0) {
        snprintf(err, errlen, "%s", why);
        if (lock_release(g->conn, LOCK_NAME, g->holder, 0, NULL, 0) < 0)
            check_lost(g);
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
 * Run op on the guard's connection (called with g->mu held). A connection
 * the server closed since its last use (a restart: 2006/2013 at once) is
 * reopened and the statement tried once more, so the first run after a
 * database restart does not fail on a stale session. A statement that timed
 * out on a hung server is not tried again: that would only double the wait.
 */
#define QUICK_FAILURE_MS 500

static int run_op(guard *g, lock_op op, int64_t ms, lock_info *other, char *err, size_t errlen)
{
    int rc = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        int64_t t0 = util_mono_ms();
        if (ensure_conn(g, err, errlen) != 0)
            return -1;
        switch (op) {
        case OP_TRY:
            rc = lock_try(g->conn, LOCK_NAME, g->holder, ms, other, err, errlen);
            break;
        case OP_EXTEND:
            rc = lock_extend(g->conn, LOCK_NAME, g->holder, ms, err, errlen);
            break;
        case OP_RELEASE:
            rc = lock_release(g->conn, LOCK_NAME, g->holder, ms, err, errlen);
            break;
        }
        if (rc >= 0 || !db_lost(g->conn))
            break;
        int quick = util_mono_ms() - t0 < QUICK_FAILURE_MS;
        check_lost(g);
        if (!quick)
            break;
        log_info("run lock: the connection was lost (%s); reconnecting", err);
    }
    return rc;
}

/* A renewal, with g->mu held. sent: when it was sent (the lease counts from then at the latest). */
static void renew(guard *g)
{
    char err[1024];
    int64_t sent = util_mono_ms();
    int rc = run_op(g, OP_EXTEND, g->ttl_ms, NULL, err, sizeof err);
    if (rc == 1) {
        if (atomic_load(&g->stop) == STOP_NONE)
            atomic_store(&g->deadline, sent + g->ttl_ms - margin_for(g->ttl_ms));
        return;
    }
    if (rc == 0) {
        atomic_store(&g->stop, STOP_TAKEN);
        atomic_store(&g->held, 0);
        log_error("the run lock was taken by another instance while this run went on; "
                  "stopping the run at its next chunk");
        return;
    }
    check_lost(g);
    log_warn("cannot renew the run lock: %s (the run stops if no renewal succeeds in time)",
             err);
}

static void *heartbeat_main(void *arg)
{
    guard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->closing) {
        if (!atomic_load(&g->held)) {
            pthread_cond_wait(&g->cond, &g->mu);
            continue;
        }
        int64_t wait = g->next_renew - util_mono_ms();
        if (wait > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t ns = (int64_t)ts.tv_nsec + wait * 1000000;
            ts.tv_sec += (time_t)(ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&g->cond, &g->mu, &ts);
            continue;
        }
        renew(g);
        /* The next slot on the grid of the take, never "now + period": a slow
         * renewal must not push every later one back. */
        int64_t period = g->ttl_ms / 3, now = util_mono_ms();
        g->next_renew += period;
        if (g->next_renew <= now)
            g->next_renew += ((now - g->next_renew) / period + 1) * period;
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

guard *guard_open(const config *cfg)
{
    guard *g = xcalloc(1, sizeof *g);
    pthread_condattr_t ca;

    pthread_mutex_init(&g->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cond, &ca);
    pthread_condattr_destroy(&ca);
    g->cfg = cfg;
    g->ttl_ms = g->next_ttl_ms = cfg->schedule_lock_ttl_ms;
    atomic_store(&g->max_skew_ms, cfg->schedule_max_clock_skew_ms);
    lock_holder_id(g->holder, sizeof g->holder);
    if (pthread_create(&g->heartbeat, NULL, heartbeat_main, g) != 0) {
        /* Without a heartbeat a lease would run out under a long run. */
        fprintf(stderr, "reconciler: cannot start the run lock's heartbeat thread\n");
        abort();
    }
    g->thread_started = 1;
    return g;
}

/* quiet: at close, a hold another instance has taken over since is no news. */
static void release(guard *g, int64_t hold_ms, int quiet)
{
    char err[1024];
    pthread_mutex_lock(&g->mu);
    if (atomic_exchange(&g->held, 0) || g->holding) {
        g->holding = hold_ms > 0;
        int rc = run_op(g, OP_RELEASE, hold_ms, NULL, err, sizeof err);
        if (rc < 0) {
            check_lost(g);
            log_warn("cannot release the run lock (%s); it frees itself when its lease ends", err);
        } else if (rc == 0 && !quiet) {
            log_warn("the run lock was no longer ours when the run ended");
        }
    }
    pthread_mutex_unlock(&g->mu);
}

static void close_now(guard *g);

static void *close_main(void *arg)
{
    close_now(arg);
    return NULL;
}

/*
 * A stopping process must exit within seconds even beside a hung server:
 * the close (a release, the heartbeat's last renewal) runs in a thread of
 * its own, and is left to finish alone if it takes longer than
 * GUARD_CLOSE_MS (the lease then frees itself).
 */
#define GUARD_CLOSE_MS 1000

void guard_close(guard *g)
{
    pthread_t t;
    if (!g)
        return;
    if (pthread_create(&t, NULL, close_main, g) != 0) {
        close_now(g);
        return;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += GUARD_CLOSE_MS / 1000;
    if (pthread_timedjoin_np(t, NULL, &until) != 0) {
        log_warn("the run lock's connection does not answer: not waiting for it (the lease "
                 "frees itself)");
        pthread_detach(t);
    }
}

static void close_now(guard *g)
{
    /* A stopping instance keeps no one waiting: a hold after a scheduled run
     * ends too (lock_release changes nothing if another took it since). */
    if (atomic_load(&g->held) || g->holding)
        release(g, 0, !atomic_load(&g->held));
    pthread_mutex_lock(&g->mu);
    g->closing = 1;
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->mu);
    if (g->thread_started)
        pthread_join(g->heartbeat, NULL);
    db_close(g->conn);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

void guard_set_ttl(guard *g, int64_t ttl_ms)
{
    pthread_mutex_lock(&g->mu);
    g->next_ttl_ms = ttl_ms;
    pthread_mutex_unlock(&g->mu);
}

void guard_set_max_skew(guard *g, int64_t max_ms)
{
    atomic_store(&g->max_skew_ms, max_ms);
}

/* A deadlock or lock wait on the lock row (Galera reports write conflicts as
 * 1213) is another instance taking it at the same moment: try again. */
#define RETRYABLE_TRIES 5

static void pause_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int guard_acquire(guard *g, int64_t wait_ms, lock_info *other, char *err, size_t errlen)
{
    int64_t give_up = util_mono_ms() + wait_ms;
    int retryable = 0;
    for (;;) {
        pthread_mutex_lock(&g->mu);
        int64_t sent = util_mono_ms();
        g->ttl_ms = g->next_ttl_ms;
        int rc = run_op(g, OP_TRY, g->ttl_ms, other, err, errlen);
        if (rc == 1 && !clock_ok(g, err, errlen)) {
            pthread_mutex_unlock(&g->mu);
            return GUARD_ERROR;
        }
        if (rc == 1) {
            atomic_store(&g->stop, STOP_NONE);
            atomic_store(&g->deadline, sent + g->ttl_ms - margin_for(g->ttl_ms));
            atomic_store(&g->held, 1);
            g->holding = 0;
            g->next_renew = sent + g->ttl_ms / 3;
            pthread_cond_signal(&g->cond); /* the heartbeat counts from now */
        } else if (rc < 0) {
            if (g->conn && db_retryable(g->conn) && ++retryable < RETRYABLE_TRIES)
                rc = -2;
            else
                check_lost(g);
        }
        pthread_mutex_unlock(&g->mu);
        if (rc == 1)
            return GUARD_TAKEN;
        if (rc == -1)
            return GUARD_ERROR;
        if (rc == -2) {
            log_debug("run lock: %s; trying again", err);
            pause_ms(50);
            continue;
        }
        if (util_mono_ms() >= give_up)
            return GUARD_BUSY;
        for (int i = 0; i < 5; i++) {
            if (stop_requested())
                return GUARD_STOPPED;
            pause_ms(50);
        }
    }
}

void guard_release(guard *g, int64_t hold_ms)
{
    release(g, hold_ms, 0);
}

int guard_held(const guard *g)
{
    return atomic_load(&g->held);
}

int guard_must_stop(guard *g)
{
    int why = atomic_load(&g->stop);
    if (why != STOP_NONE)
        return 1;
    if (atomic_load(&g->held) && util_mono_ms() >= atomic_load(&g->deadline)) {
        /* Remembered, so that the run's result and later checks agree. */
        int none = STOP_NONE;
        if (atomic_compare_exchange_strong(&g->stop, &none, STOP_DEADLINE))
            log_error("the run lock could not be renewed in time (the lease may end soon); "
                      "stopping the run at its next chunk");
        return 1;
    }
    return 0;
}

const char *guard_stop_reason(const guard *g)
{
    return atomic_load(&g->stop) == STOP_TAKEN
               ? "interrupted: the run lock was lost to another instance"
               : "interrupted: the run lock could not be renewed before its lease could end";
}

const char *guard_holder(const guard *g)
{
    return g->holder;
}
