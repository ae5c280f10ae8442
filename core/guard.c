/* guard.c - see guard.h. */
#include "guard.h"
#include "cli.h"
#include "log.h"
#include "runner.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct guard {
    pthread_mutex_t mu;  /* guards everything below; the connection is used by two threads */
    pthread_cond_t cond; /* wakes the heartbeat: taken, released, closing */
    pthread_t heartbeat;
    int thread_started;
    const config *cfg;
    db *conn;            /* NULL after it was lost; reopened on next use */
    char holder[129];
    int64_t ttl_ms;
    int held;
    int holding;          /* let go with a hold (lock_until still ahead, still ours) */
    int64_t renewed_mono; /* last time the lease was taken or renewed */
    int closing;
};

/* Called with g->mu held. 0 with g->conn, or -1 with err. */
static int ensure_conn(guard *g, char *err, size_t errlen)
{
    if (g->conn)
        return 0;
    return cli_open_db(g->cfg, &g->conn, err, errlen) == EXIT_OK ? 0 : -1;
}

/* After an error: a dead connection is dropped, to be reopened next time. */
static void check_lost(guard *g)
{
    if (g->conn && db_lost(g->conn)) {
        db_close(g->conn);
        g->conn = NULL;
    }
}

/* One lock statement: which, and its arguments. */
typedef enum lock_op { OP_TRY, OP_EXTEND, OP_RELEASE } lock_op;

/*
 * Run op on the guard's connection (called with g->mu held). A connection
 * the server closed since its last use (a restart: 2006/2013) is reopened
 * and the statement tried once more, so the first run after a database
 * restart does not fail on a stale session.
 */
static int run_op(guard *g, lock_op op, int64_t ms, lock_info *other, char *err, size_t errlen)
{
    int rc = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
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
        log_info("run lock: the connection was lost (%s); reconnecting", err);
        check_lost(g);
    }
    return rc;
}

static void renew(guard *g)
{
    char err[1024];
    int rc = run_op(g, OP_EXTEND, g->ttl_ms, NULL, err, sizeof err);
    if (rc == 1) {
        g->renewed_mono = util_mono_ms();
        return;
    }
    if (rc == 0) {
        g->held = 0;
        log_error("the run lock was taken by another instance while this run went on; "
                  "stopping the run at its next chunk");
        runner_abort_run();
        return;
    }
    check_lost(g);
    /* The lease may run out before the next beat: stop rather than overlap. */
    if (util_mono_ms() - g->renewed_mono >= g->ttl_ms - g->ttl_ms / 3) {
        g->held = 0;
        log_error("cannot renew the run lock (%s) and its lease is about to end; "
                  "stopping the run at its next chunk", err);
        runner_abort_run();
    } else {
        log_warn("cannot renew the run lock: %s (will retry)", err);
    }
}

static void release(guard *g, int64_t hold_ms, int quiet);

static void *heartbeat_main(void *arg)
{
    guard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->closing) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (g->ttl_ms / 3) * 1000000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        int rc = pthread_cond_timedwait(&g->cond, &g->mu, &ts);
        if (rc == ETIMEDOUT && g->held && !g->closing)
            renew(g);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

int guard_open(const config *cfg, guard **out, char *err, size_t errlen)
{
    guard *g = xcalloc(1, sizeof *g);
    pthread_condattr_t ca;
    int rc;
    *out = NULL;

    pthread_mutex_init(&g->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cond, &ca);
    pthread_condattr_destroy(&ca);
    g->cfg = cfg;
    g->ttl_ms = cfg->schedule_lock_ttl_ms;
    lock_holder_id(g->holder, sizeof g->holder);
    if ((rc = cli_open_db(cfg, &g->conn, err, errlen)) != EXIT_OK)
        goto fail;
    if (pthread_create(&g->heartbeat, NULL, heartbeat_main, g) != 0) {
        snprintf(err, errlen, "cannot start the run lock's heartbeat thread");
        rc = EXIT_DATABASE;
        goto fail;
    }
    g->thread_started = 1;
    *out = g;
    return EXIT_OK;
fail:
    guard_close(g);
    return rc;
}

void guard_close(guard *g)
{
    if (!g)
        return;
    /* A stopping instance keeps no one waiting: a hold after a scheduled run
     * ends too (lock_release changes nothing if another took it since). */
    if (g->held || g->holding) {
        int quiet = !g->held;
        g->held = 1;
        release(g, 0, quiet);
    }
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

void guard_set_config(guard *g, const config *cfg)
{
    pthread_mutex_lock(&g->mu);
    g->cfg = cfg;
    g->ttl_ms = cfg->schedule_lock_ttl_ms;
    pthread_mutex_unlock(&g->mu);
}

/* A deadlock or lock wait on the lock row (Galera reports write conflicts as
 * 1213) is another instance taking it at the same moment: try again. */
#define RETRYABLE_TRIES 5

int guard_acquire(guard *g, int64_t wait_ms, lock_info *other, char *err, size_t errlen)
{
    int64_t give_up = util_mono_ms() + wait_ms;
    int retryable = 0;
    for (;;) {
        pthread_mutex_lock(&g->mu);
        int rc = run_op(g, OP_TRY, g->ttl_ms, other, err, errlen);
        if (rc == 1) {
            g->held = 1;
            g->renewed_mono = util_mono_ms();
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
            struct timespec ts = { 0, 50 * 1000000L };
            nanosleep(&ts, NULL);
            continue;
        }
        if (util_mono_ms() >= give_up)
            return GUARD_BUSY;
        for (int i = 0; i < 5; i++) {
            if (runner_shutting_down())
                return GUARD_STOPPED;
            struct timespec ts = { 0, 50 * 1000000L };
            nanosleep(&ts, NULL);
        }
    }
}

/* quiet: at close, a hold another instance has taken over since is no news. */
static void release(guard *g, int64_t hold_ms, int quiet)
{
    char err[1024];
    pthread_mutex_lock(&g->mu);
    if (g->held) {
        g->held = 0;
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

void guard_release(guard *g, int64_t hold_ms)
{
    release(g, hold_ms, 0);
}

int guard_held(guard *g)
{
    pthread_mutex_lock(&g->mu);
    int held = g->held;
    pthread_mutex_unlock(&g->mu);
    return held;
}

const char *guard_holder(const guard *g)
{
    return g->holder;
}
