/* SPDX-License-Identifier: MIT */
/*
 * bench-worker - a live worker of the bot, for `make bench`: it claims the
 * oldest pending job and completes it, over and over at a fixed pace, and
 * measures how long each claim takes while something else (the reconciler,
 * or hand-written SQL) works on the same tables.
 *
 *   bench-worker SOCKET DATABASE PERIOD_MS
 *
 * A claim is the bot's own transaction:
 *   START TRANSACTION;
 *   SELECT id ... WHERE status = 'pending' ... LIMIT 1 FOR UPDATE SKIP LOCKED;
 *   UPDATE ... SET status = 'processing', a five-minute lease, attempts + 1;
 *   COMMIT
 * and its latency runs from START TRANSACTION to COMMIT's answer. A deadlock
 * or lock wait timeout rolls back and tries again, as the bot does; the retry
 * counts in the claim's latency. The job is then completed (not timed). Claims start on an absolute schedule (one per
 * PERIOD_MS), so a claim that waited does not thin out the samples after it.
 * On SIGTERM or SIGINT it prints one line to stdout:
 *   claims N p50 X p99 Y max Z deadlocks D        (milliseconds)
 * and exits 0; a database error ends it with status 1 and the message.
 */
#define _POSIX_C_SOURCE 200809L
#include <mysql.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop;
static unsigned long deadlocks;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void die(MYSQL *m, const char *what)
{
    fprintf(stderr, "bench-worker: %s: %s\n", what, mysql_error(m));
    exit(1);
}

/* Run sql: 0, or -1 after a deadlock or lock wait timeout (rolled back). */
static int run(MYSQL *m, const char *sql)
{
    if (mysql_query(m, sql) != 0) {
        unsigned e = mysql_errno(m);
        if (e != 1213 && e != 1205)
            die(m, sql);
        deadlocks++;
        if (mysql_query(m, "ROLLBACK") != 0)
            die(m, "ROLLBACK");
        return -1;
    }
    MYSQL_RES *r = mysql_store_result(m);
    if (r)
        mysql_free_result(r);
    return 0;
}

/* One claim: the claimed id, 0 when no job is pending, -1 to try again. */
static long long claim(MYSQL *m)
{
    char sql[256];
    unsigned long long id = 0;
    if (run(m, "START TRANSACTION") != 0)
        return -1;
    if (mysql_query(m, "SELECT id FROM processing_jobs WHERE status = 'pending' "
                       "AND locked_until IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED") != 0) {
        unsigned e = mysql_errno(m);
        if (e != 1213 && e != 1205)
            die(m, "claim");
        deadlocks++;
        run(m, "ROLLBACK");
        return -1;
    }
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (row && row[0])
        id = strtoull(row[0], NULL, 10);
    if (r)
        mysql_free_result(r);
    if (id) {
        /* id is a number the server just gave us, not outside input. */
        snprintf(sql, sizeof sql, "UPDATE processing_jobs SET status = 'processing', "
                 "locked_by = 'bench-worker', locked_until = NOW() + INTERVAL 5 MINUTE, "
                 "attempts = attempts + 1, started_at = NOW() WHERE id = %llu", id);
        if (run(m, sql) != 0)
            return -1;
    }
    if (run(m, "COMMIT") != 0)
        return -1;
    return (long long)id;
}

static void complete(MYSQL *m, long long id)
{
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE processing_jobs SET status = 'completed', "
             "locked_by = NULL, locked_until = NULL, finished_at = NOW() WHERE id = %lld", id);
    while (run(m, sql) != 0 && !stop)
        ;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-th quantile (0..1) of n sorted samples, nearest rank. */
static double quantile(const double *v, size_t n, double q)
{
    size_t k = (size_t)(q * (double)n + 0.999999);
    return v[k == 0 ? 0 : k - 1];
}

int main(int argc, char **argv)
{
    if (argc != 4 || atoi(argv[3]) < 1) {
        fprintf(stderr, "usage: bench-worker SOCKET DATABASE PERIOD_MS\n");
        return 2;
    }
    double period = atoi(argv[3]);
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    MYSQL *m = mysql_init(NULL);
    if (!m || !mysql_real_connect(m, NULL, "root", NULL, argv[2], 0, argv[1], 0))
        die(m, "connect");

    size_t n = 0, cap = 4096;
    double *lat = malloc(cap * sizeof *lat);
    if (!lat)
        return 1;
    double next = now_ms();
    while (!stop) {
        double t0 = now_ms();
        long long id;
        while ((id = claim(m)) < 0 && !stop)
            ;
        double t1 = now_ms();
        if (n == cap) {
            double *more = realloc(lat, 2 * cap * sizeof *lat);
            if (!more)
                return 1;
            lat = more;
            cap *= 2;
        }
        lat[n++] = t1 - t0;
        if (id > 0)
            complete(m, id);
        next += period;
        double wait = next - now_ms();
        if (wait < 0) {
            next = now_ms(); /* behind: start again from now, no burst */
            continue;
        }
        struct timespec ts = { (time_t)(wait / 1e3), (long)((wait - (double)(time_t)(wait / 1e3)
                                                             * 1e3) * 1e6) };
        nanosleep(&ts, NULL);
    }
    qsort(lat, n, sizeof *lat, by_value);
    if (n == 0)
        printf("claims 0 p50 0 p99 0 max 0 deadlocks %lu\n", deadlocks);
    else
        printf("claims %zu p50 %.1f p99 %.1f max %.1f deadlocks %lu\n", n,
               quantile(lat, n, 0.5), quantile(lat, n, 0.99), lat[n - 1], deadlocks);
    free(lat);
    mysql_close(m);
    return 0;
}
