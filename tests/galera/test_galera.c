/* SPDX-License-Identifier: MIT */
/*
 * test_galera.c - reconciler on a three-node MariaDB Galera cluster.
 *
 * Built into its own binary ($(BUILD)/tests/galera), run only by the galera
 * test stage inside tests/galera/cluster, which names the nodes in
 * GALERA_PORT1..3 / GALERA_PID1..3 / GALERA_USER / GALERA_PASSWORD. Each test
 * gets a database of its own, created and migrated through node 1; instances
 * and workers then connect to different nodes. galera/node_killed must run
 * last: it leaves the cluster with two nodes.
 */
#include "helpers.h"
#include "th_http.h"
#include "th_svc.h"
#include "th_race.h"
#include "db/lock.h"
#include "th_galera.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * jobs rows with ids 1..jobs (explicit: Galera's auto-increment control
 * spaces generated ids by the cluster size), processing, under a lease that
 * ended an hour ago.
 */
static void seed_expired(db *d, int jobs)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SET STATEMENT max_recursive_iterations = %d FOR "
             "INSERT INTO processing_jobs (id, job_type, status, locked_by, locked_until) "
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
             "SELECT i, 'galera', 'processing', 'dead', NOW() - INTERVAL 1 HOUR FROM n",
             jobs + 10, jobs);
    cr_assert_eq(db_exec(d, sql, NULL, 0, NULL), 0, "%s", db_errmsg(d));
}

static int text_row(void *user, const rc_value *c, size_t n)
{
    char *out = user;
    snprintf(out, 80, "%s", n >= 1 && c[0].type == RC_TEXT ? c[0].s : "");
    return 1;
}

/* A SHA of every column of processing_jobs on this node, as text. */
static void jobs_checksum(db *d, char out[80])
{
    out[0] = '\0';
    cr_assert_eq(db_query(d, "SELECT CONCAT(COUNT(*), ':', COALESCE(SHA1(GROUP_CONCAT("
                          "CONCAT_WS('|', id, status, attempts, COALESCE(locked_by, '-'), "
                          "COALESCE(locked_until, '-'), COALESCE(last_error, '-'), "
                          "COALESCE(payload, '-')) ORDER BY id SEPARATOR ',')), '')) "
                          "FROM processing_jobs", NULL, 0, text_row, out), 0, "%s",
                 db_errmsg(d));
}

/* ------------------------------------------------------------ workers */

/*
 * A worker process on node `node`: for each id in [1, jobs] with
 * id % mod == share, in a shuffled order, run sql (bound to the id) as a
 * real worker would, retrying a statement that lost a certification
 * conflict; the ids it won (rows matched = 1, committed) go to path, one a
 * line. pause_us between statements spreads it over the run; run_ms > 0
 * repeats the pass until that long has passed. Exits 0, or 1 on any other
 * error.
 */
static pid_t worker(const th_db *t, const char *sql, int jobs, int mod, int share, int pause_us,
                    int run_ms, const char *path)
{
    th_racer r = { .sql = sql, .jobs = jobs, .mod = mod, .share = share, .retries = 20,
                   .pause_us = pause_us, .run_ms = run_ms, .won = path };
    return th_racer_start(t, &r);
}

static void wait_workers(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        int st;
        cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker %d failed", i);
    }
}

/* ------------------------------------------------------------ runs */

typedef struct span_ms {
    int64_t start, end;
    int svc;
} span_ms;

/*
 * The runs that ran (not skipped) in the history stores of s[0..n-1]:
 * their wall-clock spans (one host: the clocks agree). Fails on a run
 * still recorded as running. Returns how many; *skipped counts the rest
 * but the slots skipped for the pause that stopped the instances.
 */
static size_t runs_of(svc *s, int n, span_ms *out, size_t cap, size_t *skipped, size_t *ok)
{
    size_t k = 0;
    *skipped = *ok = 0;
    for (int i = 0; i < n; i++) {
        json_t *runs = history_of(&s[i]), *run;
        size_t j;
        json_array_foreach(runs, j, run) {
            const char *status = json_string_value(json_object_get(run, "status"));
            cr_assert_not_null(status);
            cr_assert_str_neq(status, "running", "instance %d left a run open", i + 1);
            if (strcmp(status, "skipped") == 0) {
                /* The pause that stops the instances (stop_between_runs) skips no tick. */
                json_t *errors = json_object_get(run, "errors");
                const char *why = json_string_value(json_array_get(errors, 0));
                *skipped += !why || !strstr(why, "the job is paused");
                continue;
            }
            if (strcmp(status, "success") == 0)
                (*ok)++;
            cr_assert_lt(k, cap);
            out[k].start = iso_ms(json_string_value(json_object_get(run, "startedAt")));
            out[k].end = out[k].start + json_integer_value(json_object_get(run, "durationMs"));
            out[k].svc = i;
            k++;
        }
        json_decref(runs);
    }
    return k;
}

static void assert_no_overlap(const span_ms *r, size_t n)
{
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++)
            cr_assert(r[a].end <= r[b].start || r[b].end <= r[a].start,
                      "runs overlap: instance %d [%lld, %lld] and instance %d [%lld, %lld]",
                      r[a].svc + 1, (long long)r[a].start, (long long)r[a].end, r[b].svc + 1,
                      (long long)r[b].start, (long long)r[b].end);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Stop instances s[0..n-1] (one job, reconcile, on every one) between runs,
 * so that the stop cuts no run short (an interrupted run is never a
 * success): pause the job through instance 1 (a row every instance reads at
 * its next slot), wait until each instance has logged a slot skipped for the
 * pause (its job thread then runs nothing more, and a run that was going on
 * when the pause came has finished), then SIGTERM each and wait for exit 0.
 * The paused slots are in the histories as skipped runs.
 */
static void stop_between_runs(svc *s, int n)
{
    th_response r;
    cr_assert_eq(th_http(s[0].port, "POST", "/v1/jobs/reconcile/pause?reason=test-stop", NULL,
                         NULL, &r), 0, "pause: no answer");
    cr_assert_eq(r.status, 200, "pause: %d %s", r.status, r.body ? r.body : "");
    th_response_free(&r);
    for (int i = 0; i < n; i++)
        th_wait_log(s[i].errlog, "skipped: the job is paused", 1, 60000);
    for (int i = 0; i < n; i++)
        kill(s[i].pid, SIGTERM);
    for (int i = 0; i < n; i++)
        cr_assert_eq(svc_wait_exit(&s[i], 5000), 0, "instance %d: its log:\n%s", i + 1,
                     th_read(s[i].errlog));
}

/* Has one of s[0..n-1] finished a run (not skipped) that started at wall time t or later? */
static int ran_since(svc *s, int n, int64_t t)
{
    int found = 0;
    for (int i = 0; i < n && !found; i++) {
        json_t *runs = history_of(&s[i]), *run;
        size_t j;
        json_array_foreach(runs, j, run) {
            const char *status = json_string_value(json_object_get(run, "status"));
            const char *at = json_string_value(json_object_get(run, "startedAt"));
            if (status && at && strcmp(status, "skipped") != 0 &&
                strcmp(status, "running") != 0 && iso_ms(at) >= t)
                found = 1;
        }
        json_decref(runs);
    }
    return found;
}

/*
 * Three instances, each on its own node, 1 s interval, 22 s: no two runs
 * overlap (the history stores' start and finish, on one host's clock), about
 * one run per interval in all, and every node holds the same log rows.
 */
Test(galera, three_instances_three_nodes, .timeout = 90)
{
    th_db n[NODES];
    svc s[NODES];
    galera_db("g_instances", n);
    seed_expired(n[0].conn, 200);
    const char *steps = "  - plugin: leases\n  - plugin: fixture\n    options:\n      pause: 150ms\n"
                        "  - plugin: metrics\n";
    for (int i = 0; i < NODES; i++)
        svc_setup(&s[i], &n[i], i + 1, "schedule:\n  interval: 1s\n  jitter: 100ms\n", "",
                  steps);
    for (int i = 0; i < NODES; i++)
        svc_start(&s[i], NULL);
    int64_t t0 = mono_ms();
    sleep_ms(22000); /* the scenario: 22 s of ticks */
    double secs = (double)(mono_ms() - t0) / 1000.0;
    stop_between_runs(s, NODES);

    span_ms r[200];
    size_t skipped, ok, ran = runs_of(s, NODES, r, 200, &skipped, &ok);
    assert_no_overlap(r, ran);
    cr_assert_eq(ok, ran, "every run that ran succeeded (%zu of %zu)", ok, ran);
    /* Three startup runs one after another, then about one per interval. */
    double per_s = (double)(ran - NODES) / secs;
    cr_assert(per_s > 0.6 && per_s < 1.4, "%zu runs in %.1f s", ran, secs);
    cr_assert_gt(skipped, 0, "the other instances' ticks were skipped");
    int runs_by[NODES] = { 0 };
    for (size_t k = 0; k < ran; k++)
        runs_by[r[k].svc]++;
    for (int i = 0; i < NODES; i++)
        cr_assert_gt(runs_by[i], 0, "instance %d (node %d) ran", i + 1, i + 1);
    /* One log row per run, replicated to every node. */
    for (int i = 0; i < NODES; i++)
        cr_assert_eq(th_count(n[i].conn, "SELECT COUNT(*) FROM processing_job_logs "
                              "WHERE job_id = 0 AND category LIKE '%_reconciliation'"),
                     (int64_t)ran, "node %d", i + 1);
    cr_assert_eq(th_count(n[2].conn, "SELECT COUNT(*) FROM processing_jobs "
                          "WHERE locked_until < NOW()"), 0, "the leases were repaired");
    char err[512];
    lock_info li;
    cr_assert_eq(lock_peek(n[1].conn, LOCK_NAME, &li, err, sizeof err), 0, "held by %s",
                 li.holder);
    /* What each instance's take measured: every node's clock against this host's. */
    for (int i = 0; i < NODES; i++) {
        int64_t skew, unc;
        cr_assert_eq(lock_clock_skew(n[i].conn, &skew, &unc, err, sizeof err), 0, "%s", err);
        cr_assert(skew > -500 && skew < 500, "node %d: %lld ms", i + 1, (long long)skew);
        cr_log_info("galera: node %d's clock is %lld ms (+/- %lld) off this host's", i + 1,
                    (long long)skew, (long long)unc);
    }
    cr_log_info("galera: %zu runs and %zu skipped ticks in %.1f s on 3 nodes", ran, skipped,
                secs);
    for (int i = 0; i < NODES; i++)
        svc_free(&s[i]);
    galera_db_free(n);
}

/* Every id listed in path matches sql on d (one row); how many ids. */
static int64_t check_won(db *d, const char *path, const char *sql, const char *what)
{
    FILE *f = fopen(path, "r");
    int id;
    int64_t k = 0;
    cr_assert_not_null(f, "%s", path);
    while (fscanf(f, "%d", &id) == 1) {
        rc_value p[] = { rc_int(id) };
        int64_t v = -1;
        cr_assert_eq(db_query(d, sql, p, 1, rc__count_row, &v), 0, "%s", db_errmsg(d));
        cr_assert_eq(v, 1, "job %d: %s", id, what);
        k++;
    }
    fclose(f);
    return k;
}

/*
 * Workers on every node claim (renew) and finish jobs whose leases expired
 * while three instances, one per node, repair leases every second: no lease
 * a worker renewed is cleared, no job a worker finished is touched, and the
 * jobs no worker took are repaired.
 */
Test(galera, workers_race_runs_on_three_nodes, .timeout = 120)
{
    enum { JOBS = 3000, MOD = 7 };
    th_db n[NODES];
    svc s[NODES];
    galera_db("g_race", n);
    seed_expired(n[0].conn, JOBS);
    for (int i = 0; i < NODES; i++)
        svc_setup(&s[i], &n[i], i + 1, "schedule:\n  interval: 1s\n  jitter: 100ms\n", "",
                  "  - plugin: leases\n    options: { batch_size: 25 }\n");
    for (int i = 0; i < NODES; i++)
        svc_start(&s[i], NULL);
    /* Some repairs before the workers start (checked at the end). */
    TH_WAIT(th_count(n[0].conn, "SELECT COUNT(*) FROM processing_jobs WHERE id % 7 < 6 "
                     "AND status = 'retry'") > 0, 60000,
            "no run repaired a job; log 1:\n%s", th_read(s[0].errlog));

    /* ids % 7: 0..2 renewed on nodes 1..3, 3..5 finished on nodes 1..3, 6 left alone. */
    char *renewed[NODES], *finished[NODES];
    pid_t pids[2 * NODES];
    int64_t w0 = wall_ms();
    for (int i = 0; i < NODES; i++) {
        char name[32];
        snprintf(name, sizeof name, "renewed%d", i);
        renewed[i] = th_path(th_tmpdir(), name);
        snprintf(name, sizeof name, "finished%d", i);
        finished[i] = th_path(th_tmpdir(), name);
        pids[i] = worker(&n[i], "UPDATE processing_jobs SET locked_by = 'worker', "
                         "locked_until = NOW() + INTERVAL 1 HOUR, attempts = attempts + 1 "
                         "WHERE id = ? AND status IN ('processing', 'retry')",
                         JOBS, MOD, i, 8000, 0, renewed[i]);
        pids[NODES + i] = worker(&n[i], "UPDATE processing_jobs SET status = 'completed', "
                                 "locked_by = NULL, locked_until = NULL, last_error = NULL, "
                                 "finished_at = NOW() "
                                 "WHERE id = ? AND status IN ('processing', 'retry')",
                                 JOBS, MOD, 3 + i, 8000, 0, finished[i]);
    }
    wait_workers(pids, 2 * NODES);
    int64_t w1 = wall_ms();
    /* One more run after the workers: the jobs nobody took. */
    TH_WAIT(ran_since(s, NODES, w1), 60000, "no run after the workers; log 1:\n%s",
            th_read(s[0].errlog));
    stop_between_runs(s, NODES);

    span_ms r[200];
    size_t skipped, ok, ran = runs_of(s, NODES, r, 200, &skipped, &ok);
    assert_no_overlap(r, ran);
    cr_assert_eq(ok, ran, "every run succeeded (%zu of %zu)", ok, ran);
    size_t during = 0;
    for (size_t k = 0; k < ran; k++)
        during += r[k].start < w1 && r[k].end > w0;
    cr_assert_geq(during, 2, "runs raced the workers (%zu did)", during);

    int64_t won_renew = 0, won_finish = 0;
    for (int i = 0; i < NODES; i++) {
        /* Checked on another node than the worker's: what the cluster agreed on. */
        db *d = n[(i + 1) % NODES].conn;
        won_renew += check_won(d, renewed[i], "SELECT COUNT(*) FROM processing_jobs WHERE "
                               "id = ? AND locked_by = 'worker' AND locked_until > NOW()",
                               "a lease a worker renewed was cleared");
        won_finish += check_won(d, finished[i], "SELECT COUNT(*) FROM processing_jobs WHERE "
                                "id = ? AND status = 'completed' AND last_error IS NULL",
                                "a job a worker finished was touched");
        free(renewed[i]);
        free(finished[i]);
    }
    cr_assert_gt(won_renew, 0);
    cr_assert_gt(won_finish, 0);
    cr_assert_eq(th_count(n[0].conn, "SELECT COUNT(*) FROM processing_jobs WHERE id % 7 = 6 "
                          "AND (locked_until IS NOT NULL OR status <> 'retry')"), 0,
                 "the jobs no worker took were repaired");
    /* The workers came after some repairs: runs really changed rows beside them. */
    cr_assert_gt(th_count(n[0].conn, "SELECT COUNT(*) FROM processing_jobs WHERE id % 7 < 6 "
                          "AND status = 'retry'"), 0, "no run repaired a job before a worker");
    cr_log_info("galera race: %zu runs (%zu beside the workers), %lld renewals and %lld "
                "completions won by workers", ran, during, (long long)won_renew,
                (long long)won_finish);
    for (int i = 0; i < NODES; i++)
        svc_free(&s[i]);
    galera_db_free(n);
}

/*
 * The window a certification conflict needs, made wide and visible: on the
 * node where it fires (triggers do not fire for replicated rows), clearing
 * the lease of job 50 sleeps 500 ms inside the chunk's transaction, holding
 * the row. A write to job 50 committed on another node meanwhile wins
 * certification, and the chunk gets 1213 (Galera aborts it, or its COMMIT
 * fails certification).
 */
#define HOT_JOB 50

static void conflict_rig(th_db n[NODES], svc *s, const char *name)
{
    galera_db(name, n);
    seed_expired(n[0].conn, 200);
    cr_assert_eq(db_exec(n[0].conn, "CREATE TRIGGER slow_lease_clear BEFORE UPDATE ON "
                         "processing_jobs FOR EACH ROW SET @slept = IF(NEW.id = 50 AND "
                         "OLD.locked_until IS NOT NULL AND NEW.locked_until IS NULL, "
                         "SLEEP(0.5), 0)", NULL, 0, NULL), 0, "%s", db_errmsg(n[0].conn));
    svc_setup(s, &n[0], 1, "", "", "  - plugin: leases\n    options: { batch_size: 100 }\n");
}

/* Is a chunk on node 1 inside its sleep (holding job 50)? */
static int chunk_sleeping(db *node1, const char *dbname)
{
    rc_value p[] = { rc_text(dbname) };
    int64_t v = 0;
    cr_assert_eq(db_query(node1, "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                          "WHERE STATE = 'User sleep' AND DB = ?", p, 1, rc__count_row, &v), 0,
                 "%s", db_errmsg(node1));
    return v > 0;
}

/*
 * Make `conflicts` of the run's tries on job 50's chunk lose: each time the
 * chunk sleeps on node 1, commit a write to job 50 on node 2, then wait for
 * that try to end.
 */
static void conflict_writer(th_db n[NODES], const char *dbname, int conflicts, pid_t run)
{
    for (int k = 0; k < conflicts; k++) {
        int64_t end = mono_ms() + 20000;
        while (!chunk_sleeping(n[0].conn, dbname)) {
            cr_assert_lt(mono_ms(), end, "try %d: the chunk never reached job %d", k + 1,
                         HOT_JOB);
            cr_assert_eq(waitpid(run, NULL, WNOHANG), 0, "the run ended early");
            sleep_ms(10);
        }
        rc_value p[] = { rc_int(HOT_JOB) };
        int64_t matched = 0;
        cr_assert_eq(db_exec(n[1].conn, "UPDATE processing_jobs SET payload = "
                             "CONCAT('touched ', UUID()) WHERE id = ?", p, 1, &matched), 0,
                     "node 2: %s", db_errmsg(n[1].conn));
        cr_assert_eq(matched, 1);
        while (chunk_sleeping(n[0].conn, dbname)) {
            cr_assert_lt(mono_ms(), end, "try %d: the chunk was not aborted", k + 1);
            sleep_ms(10);
        }
    }
}

static json_t *once_result(svc *s, const char *out_path, int *rc)
{
    *rc = svc_wait_exit(s, 30000);
    char *text = th_read(out_path);
    json_t *res = json_loads(text ? text : "", 0, NULL);
    cr_assert_not_null(res, "exit %d, no result: %s", *rc, th_read(s->errlog));
    free(text);
    return res;
}

/*
 * A write on node 2 to a row of the chunk a run on node 1 is applying: the
 * chunk loses certification once, is retried, and the step is ok with
 * retries = 1, every lease repaired once, and node 2's write kept.
 */
Test(galera, certification_conflict_is_retried_and_counted, .timeout = 90)
{
    th_db n[NODES];
    svc s;
    conflict_rig(n, &s, "g_conflict1");
    char *out = th_path(th_tmpdir(), "conflict1.json");
    s.pid = spawn(&s, NULL, out);
    conflict_writer(n, "g_conflict1", 1, s.pid);
    int rc;
    json_t *res = once_result(&s, out, &rc);
    char *log = th_read(s.errlog);
    cr_assert_eq(rc, 0, "run --once exited %d: %s", rc, log);
    cr_assert_str_eq(json_string_value(json_object_get(res, "status")), "success");
    cr_assert_eq(json_array_size(json_object_get(res, "errors")), 0);
    json_t *step = json_array_get(json_object_get(res, "steps"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(step, "status")), "ok");
    cr_assert_eq(json_integer_value(json_object_get(step, "retries")), 1,
                 "one conflict, one retry: %s", log);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(step, "results"),
                                                    "leasesRepaired")), 200,
                 "every lease repaired, and counted once despite the retry");
    cr_assert(strstr(log, "1 chunk(s) retried after a deadlock or certification conflict"),
              "the retry is logged: %s", log);
    cr_assert_eq(th_count(n[2].conn, "SELECT COUNT(*) FROM processing_jobs WHERE "
                          "locked_until IS NOT NULL OR status <> 'retry'"), 0);
    cr_assert_eq(th_count(n[2].conn, "SELECT COUNT(*) FROM processing_jobs WHERE id = 50 "
                          "AND payload LIKE 'touched %'"), 1, "node 2's write was kept");
    json_decref(res);
    free(log);
    free(out);
    svc_free(&s);
    galera_db_free(n);
}

/*
 * The retry is bounded: a chunk that loses all 5 tries fails the step with
 * the 1213 error (retries = 4), and leaves its rows as they were; the other
 * chunk is applied.
 */
Test(galera, certification_conflicts_retry_is_bounded, .timeout = 90)
{
    th_db n[NODES];
    svc s;
    conflict_rig(n, &s, "g_conflict5");
    char *out = th_path(th_tmpdir(), "conflict5.json");
    s.pid = spawn(&s, NULL, out);
    conflict_writer(n, "g_conflict5", 5, s.pid);
    int rc;
    json_t *res = once_result(&s, out, &rc);
    char *log = th_read(s.errlog);
    cr_assert_eq(rc, 1, "run --once exited %d: %s", rc, log);
    json_t *step = json_array_get(json_object_get(res, "steps"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(step, "status")), "failed");
    cr_assert(strstr(json_string_value(json_object_get(step, "error")), "1213"), "%s",
              json_string_value(json_object_get(step, "error")));
    cr_assert_eq(json_integer_value(json_object_get(step, "retries")), 4, "%s", log);
    cr_assert_eq(th_count(n[2].conn, "SELECT COUNT(*) FROM processing_jobs WHERE id <= 100 "
                          "AND locked_by = 'dead'"), 100, "the lost chunk left its rows alone");
    json_decref(res);
    free(log);
    free(out);
    svc_free(&s);
    galera_db_free(n);
}

/* A running `run --once` process's pid holds the lock (the holder id names it). */
static int held_by(db *d, pid_t pid)
{
    char err[512], needle[32];
    lock_info li;
    if (lock_peek(d, LOCK_NAME, &li, err, sizeof err) != 1)
        return 0;
    snprintf(needle, sizeof needle, ":%ld:", (long)pid);
    return strstr(li.holder, needle) != NULL;
}

/*
 * Node 3 is killed (SIGKILL) while a run on it is under way: that run ends
 * (failed or interrupted, never success) without waiting for a node that is
 * gone; the instance on node 1 takes over once the lease ends, and the final
 * state is the same on the surviving nodes, with every lease repaired.
 * Leaves the cluster with two nodes: run it last.
 */
Test(galera, node_killed_mid_run, .timeout = 120)
{
    enum { JOBS = 20000 };
    th_db n[NODES];
    svc a, b;
    galera_db("g_kill", n);
    seed_expired(n[0].conn, JOBS);
    svc_setup(&a, &n[2], 1, "schedule:\n  lock_ttl: 3s\n", "",
              "  - plugin: leases\n    options: { batch_size: 10 }\n");
    /* No startup run: it would wait for the lock; scheduled ticks skip instead. */
    svc_setup(&b, &n[0], 2, "schedule:\n  on_startup: false\n  interval: 1s\n  jitter: 0s\n"
              "  lock_ttl: 3s\n", "",
              "  - plugin: leases\n    options: { batch_size: 500 }\n");
    char *a_out = th_path(th_tmpdir(), "a.json");
    a.pid = spawn(&a, NULL, a_out);
    int64_t end = mono_ms() + 20000;
    while (!held_by(n[0].conn, a.pid)) {
        cr_assert_lt(mono_ms(), end, "the run on node 3 never took the lock: %s",
                     th_read(a.errlog));
        sleep_ms(50);
    }
    svc_start(&b, NULL);
    /* Under way: some chunks applied, most not. */
    while (th_count(n[0].conn, "SELECT COUNT(*) FROM processing_jobs WHERE locked_until IS NULL")
           < 200) {
        cr_assert_lt(mono_ms(), end, "the run on node 3 made no progress");
        sleep_ms(50);
    }
    int64_t killed_at = wall_ms();
    cr_assert_eq(kill(galera_node_pid(2), SIGKILL), 0);
    int64_t left = th_count(n[0].conn, "SELECT COUNT(*) FROM processing_jobs "
                            "WHERE locked_until IS NOT NULL");
    cr_assert_gt(left, 0, "the run ended before the kill: make it longer");

    int rc = svc_wait_exit(&a, 30000);
    cr_assert(rc == 1 || rc == 3, "the run on the killed node exited %d, not 1 or 3: %s", rc,
              th_read(a.errlog));
    char *text = th_read(a_out);
    json_t *res = json_loads(text ? text : "", 0, NULL);
    if (res) /* exit 3 before a result; else the result says it did not succeed */
        cr_assert_str_neq(json_string_value(json_object_get(res, "status")), "success");
    json_decref(res);
    free(text);

    /* Node 1's instance takes over and finishes. */
    end = mono_ms() + 40000;
    while (th_count(n[0].conn, "SELECT COUNT(*) FROM processing_jobs "
                    "WHERE locked_until IS NOT NULL") > 0) {
        cr_assert_lt(mono_ms(), end, "no instance finished the work after the kill: %s",
                     th_read(b.errlog));
        sleep_ms(200);
    }
    stop_between_runs(&b, 1);

    span_ms r[2][200];
    size_t skipped[2], ok[2], ran[2];
    ran[0] = runs_of(&a, 1, r[0], 200, &skipped[0], &ok[0]);
    ran[1] = runs_of(&b, 1, r[1], 200, &skipped[1], &ok[1]);
    cr_assert_eq(ran[0], 1, "the instance on node 3 recorded its one run");
    cr_assert_eq(ok[0], 0, "the run cut off by the kill is no success");
    cr_assert_gt(ok[1], 0, "node 1's instance ran successfully after the kill");
    cr_assert_gt(skipped[1], 0, "node 1's instance waited while the lease was live");
    for (size_t k = 0; k < ran[1]; k++)
        cr_assert_geq(r[1][k].start, killed_at, "node 1's instance ran while node 3's held "
                      "the lock");
    /* The lease of the dead run ended on its own: nobody could release it. */
    int64_t first = r[1][0].start;
    for (size_t k = 1; k < ran[1]; k++)
        if (r[1][k].start < first)
            first = r[1][k].start;
    /* Renewed every second with a 3 s lease, it had at least about 2 s left. */
    cr_assert_geq(first - killed_at, 1500, "node 1's instance ran %lld ms after the kill, "
                  "before the dead run's lease could end", (long long)(first - killed_at));
    char c0[80], c1[80];
    jobs_checksum(n[0].conn, c0);
    jobs_checksum(n[1].conn, c1);
    cr_assert_str_eq(c0, c1, "the surviving nodes agree");
    cr_assert_eq(th_count(n[1].conn, "SELECT COUNT(*) FROM processing_jobs WHERE "
                          "status <> 'retry' OR locked_by IS NOT NULL"), 0, "converged");
    cr_log_info("galera kill: %lld jobs left at the kill; node 1's instance took over %lld ms "
                "after it", (long long)left, (long long)(first - killed_at));
    free(a_out);
    svc_free(&a);
    svc_free(&b);
    n[2].conn = (db_close(n[2].conn), NULL);
    galera_db_free(n);
}
