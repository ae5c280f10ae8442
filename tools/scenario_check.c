/* SPDX-License-Identifier: MIT */
/*
 * reconciler-scenario-check - the manual scenario check (run it as
 * tools/scenario-check). Not to be confused with `reconciler validate`,
 * which only reads the pipeline file: this tool writes rows.
 *
 * Against a real bot database it creates one row (or a few) per scenario,
 * each recognisable by its marker (job_type 'rv-scenario', user_id and
 * order_number prefixed 'rv-scenario-'), runs the four steps once (first as
 * a dry run, then for real), checks every expected state and count, prints a
 * PASS/FAIL line per scenario, and deletes exactly the rows it created. The
 * run is a real one: it also repairs whatever else needs it, and its own
 * processing_job_logs row stays as the record of that.
 *
 * Exit codes: 0 all passed, 1 a check failed, 2 usage, 3 database error.
 */
#include "config/config.h"
#include "db/db.h"
#include "engine/history.h"
#include "base/log.h"
#include "engine/run.h"
#include "base/exitcode.h"
#include "db/connect.h"
#include "db/library.h"
#include "engine/runlock.h"
#include "base/util.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MARK "rv-scenario"

static int failures, passes;

static void check(int ok, const char *scenario, const char *detail)
{
    printf("%s  %-34s %s\n", ok ? "PASS" : "FAIL", scenario, detail);
    if (ok)
        passes++;
    else
        failures++;
}

static int exec(db *d, const char *sql, const rc_value *p, size_t n)
{
    if (db_exec(d, sql, p, n, NULL) != 0) {
        fprintf(stderr, "scenario-check: %s\n  in: %s\n", db_errmsg(d), sql);
        return -1;
    }
    return 0;
}

/* Scenario rows. Times are relative to the database clock now (t0), in its zone. */
static int create_rows(db *d, const db_clock *t0)
{
    char past[RC_TIME_TEXT_SIZE], future[RC_TIME_TEXT_SIZE], stale[RC_TIME_TEXT_SIZE],
        recent[RC_TIME_TEXT_SIZE];
    db_clock_format(t0, t0->unix_s - 3600, past, sizeof past);
    db_clock_format(t0, t0->unix_s + 3600, future, sizeof future);
    db_clock_format(t0, t0->unix_s - 400 * 86400LL, stale, sizeof stale);
    db_clock_format(t0, t0->unix_s - 86400, recent, sizeof recent);

    static const struct { const char *tag, *status; int attempts; int lease; } jobs[] = {
        { MARK "-expired", "processing", 0, -1 },     /* expired lease */
        { MARK "-orphan-few", "processing", 1, 0 },   /* no lease, few attempts */
        { MARK "-orphan-many", "processing", 5, -1 }, /* expired, too many attempts */
        { MARK "-live", "processing", 1, 1 },         /* live lease */
        { MARK "-pending-stale", "pending", 0, -1 },  /* stale lease on a pending job */
    };
    for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++) {
        rc_value p[] = { rc_text(jobs[i].tag), rc_text(jobs[i].status), rc_int(jobs[i].attempts),
                         jobs[i].lease ? rc_text("rv-worker") : rc_null(),
                         jobs[i].lease < 0 ? rc_text(past)
                                           : jobs[i].lease > 0 ? rc_text(future) : rc_null() };
        if (exec(d, "INSERT INTO processing_jobs (job_type, payload, status, attempts, locked_by, "
                 "locked_until) VALUES ('" MARK "', ?, ?, ?, ?, ?)", p, 5) != 0)
            return -1;
    }
    rc_value s1[] = { rc_text(past), rc_text(recent) };
    rc_value s2[] = { rc_text(future), rc_text(recent) };
    rc_value s3[] = { rc_text(stale) };
    if (exec(d, "INSERT INTO user_sessions (user_id, contact_status, follow_up_attempts, "
             "cooldown_until, last_activity) VALUES ('" MARK "-cooldown-ended', 'ACTIVE', 3, ?, ?)",
             s1, 2) ||
        exec(d, "INSERT INTO user_sessions (user_id, contact_status, follow_up_attempts, "
             "cooldown_until, last_activity) VALUES ('" MARK "-cooldown-future', 'ACTIVE', 2, ?, ?)",
             s2, 2) ||
        exec(d, "INSERT INTO user_sessions (user_id, contact_status, follow_up_attempts, "
             "cooldown_until, last_activity) VALUES ('" MARK "-stale', 'ACTIVE', 0, NULL, ?)", s3, 1))
        return -1;
    return exec(d, "INSERT INTO orders (order_number, processing_status, total_amount) VALUES "
                "('" MARK "-o1', 'pending', 10.00), ('" MARK "-o2', 'pending', 20.00), "
                "('" MARK "-o3', 'processing', 30.00)", NULL, 0);
}

static int delete_rows(db *d)
{
    return exec(d, "DELETE FROM processing_jobs WHERE job_type = '" MARK "'", NULL, 0) ||
           exec(d, "DELETE FROM user_sessions WHERE user_id LIKE '" MARK "-%'", NULL, 0) ||
           exec(d, "DELETE FROM orders WHERE order_number LIKE '" MARK "-%'", NULL, 0);
}

/* 1 when the row selected by sql (one text parameter) exists. */
static int row_is(db *d, const char *sql, const char *tag)
{
    rc_value p[] = { rc_text(tag) };
    int64_t n = 0;
    if (db_query(d, sql, p, 1, rc__count_row, &n) != 0) {
        fprintf(stderr, "scenario-check: %s\n", db_errmsg(d));
        return 0;
    }
    return n == 1;
}

static int64_t num(const json_t *res, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(res, "results"), key));
}

static void check_states(db *d)
{
    const char *job = "SELECT COUNT(*) FROM processing_jobs WHERE job_type = '" MARK "' AND payload = ? AND ";
    char q[512];
#define JOB(cond) (snprintf(q, sizeof q, "%s%s", job, cond), q)
    check(row_is(d, JOB("status = 'retry' AND locked_by IS NULL AND locked_until IS NULL "
                        "AND attempts = 0 AND last_error IS NOT NULL"), MARK "-expired"),
          "expired lease", "lease cleared, job requeued to retry, attempts unchanged");
    check(row_is(d, JOB("status = 'retry' AND locked_by IS NULL AND attempts = 1"), MARK "-orphan-few"),
          "orphaned job, few attempts", "requeued to retry");
    check(row_is(d, JOB("status = 'failed' AND locked_until IS NULL AND attempts = 5 "
                        "AND last_error IS NOT NULL"), MARK "-orphan-many"),
          "orphaned job, many attempts", "marked failed");
    check(row_is(d, JOB("status = 'processing' AND locked_by = 'rv-worker' AND "
                        "locked_until IS NOT NULL AND last_error IS NULL"), MARK "-live"),
          "live lease", "left alone");
    check(row_is(d, JOB("status = 'pending' AND locked_until IS NULL AND last_error IS NULL"),
                 MARK "-pending-stale"),
          "stale lease on a pending job", "lease cleared, still pending");
#undef JOB
    const char *ses = "SELECT COUNT(*) FROM user_sessions WHERE user_id = ? AND ";
#define SES(cond) (snprintf(q, sizeof q, "%s%s", ses, cond), q)
    check(row_is(d, SES("cooldown_until IS NULL AND follow_up_attempts = 0"), MARK "-cooldown-ended"),
          "expired cooldown", "cleared, attempts reset to 0");
    check(row_is(d, SES("cooldown_until IS NOT NULL AND follow_up_attempts = 2"), MARK "-cooldown-future"),
          "future cooldown", "left alone");
    check(row_is(d, SES("follow_up_attempts = 0 AND cooldown_until IS NULL"), MARK "-stale"),
          "stale contact", "left alone (and not a candidate)");
#undef SES
}

static void check_counts(const json_t *dry, const json_t *real)
{
    static const struct { const char *key; int64_t min; } want[] = {
        { "leasesRepaired", 3 }, { "jobsRequeued", 2 }, { "jobsFailed", 1 },
        { "cooldownsCleared", 1 }, { "followUpCandidates", 1 }, { "pendingOrders", 3 },
    };
    char detail[160];
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int64_t v = num(real, want[i].key);
        snprintf(detail, sizeof detail, "%lld reported, at least %lld are ours",
                 (long long)v, (long long)want[i].min);
        char name[64];
        snprintf(name, sizeof name, "count %s", want[i].key);
        check(v >= want[i].min, name, detail);
    }
    int same = 1;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        same &= num(dry, want[i].key) == num(real, want[i].key);
    check(same, "dry run predicts the real run",
          same ? "same counts" : "counts differ (is something else writing right now?)");
}

static int write_pipeline(const char *dir, const char *url, const char *plugin_dir, char *path,
                          size_t len)
{
    snprintf(path, len, "%s/pipeline.yaml", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "database:\n  url: \"%s\"\nhistory:\n  path: history.db\nplugin_dir: \"%s\"\n"
               "steps:\n  - plugin: leases\n  - plugin: followups\n  - plugin: orders\n"
               "  - plugin: metrics\n", url, plugin_dir);
    return fclose(f);
}

static const char usage[] =
    "Usage: tools/scenario-check --db URL [--plugin-dir DIR]\n"
    "Create each reconciliation scenario in rows marked 'rv-scenario', run the\n"
    "pipeline once (dry run, then real), check every state and count, and delete\n"
    "exactly the rows it created. The password comes from RECONCILER_DB_PASSWORD.\n"
    "Exit codes: 0 all passed, 1 a check failed, 2 usage, 3 database error.\n";

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "db", required_argument, NULL, 'd' },
        { "plugin-dir", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *url = NULL, *plugin_dir = "build/plugins";
    char err[2048], dir[] = "/tmp/rv-scenario-XXXXXX", path[PATH_MAX] = "", plugabs[PATH_MAX];
    config *cfg = NULL;
    pipeline *p = NULL;
    history *h = NULL;
    db *d = NULL;
    runlock *rl = NULL;
    json_t *dry = NULL, *real = NULL;
    int ch, rc = 3, created = 0;

    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd': url = optarg; break;
        case 'p': plugin_dir = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!url) {
        fputs(usage, stderr);
        return 2;
    }
    if (!realpath(plugin_dir, plugabs)) {
        fprintf(stderr, "scenario-check: plugin folder %s: %m (build first: make)\n", plugin_dir);
        return 2;
    }
    db_library_init();
    log_setup(RC_LOG_WARN, LOG_TEXT);
    if (!mkdtemp(dir) || write_pipeline(dir, url, plugabs, path, sizeof path) != 0) {
        fprintf(stderr, "scenario-check: cannot write a pipeline file in %s: %m\n", dir);
        rc = 2;
        goto out;
    }
    if (config_load(path, &cfg, err, sizeof err) != 0 ||
        run_prepare(cfg, 0, &p, err, sizeof err) != EXIT_OK ||
        history_open(cfg->history_path, 10, HISTORY_BUSY_DEFAULT_MS, &h, err, sizeof err) != 0) {
        fprintf(stderr, "scenario-check: %s\n", err);
        rc = 2;
        goto out;
    }
    int orc = connect_open(cfg, NULL, &d, err, sizeof err);
    if (orc != EXIT_OK) {
        fprintf(stderr, "scenario-check: %s\n", err);
        rc = orc == EXIT_USAGE ? 2 : 3;
        goto out;
    }
    db_clock t0;
    if (db_now(d, &t0) != 0 || delete_rows(d) != 0) {
        fprintf(stderr, "scenario-check: %s (run `reconciler migrate` first?)\n", db_errmsg(d));
        goto out;
    }
    created = 1;
    if (create_rows(d, &t0) != 0)
        goto out;
    printf("scenario-check: scenarios created at %s %s (database clock); running the pipeline\n",
           t0.text, t0.zone);

    /* The real run takes the run lock like any other: never beside another instance's. */
    rl = runlock_open(cfg);
    run_env env = { cfg, p, h, rl, &d };
    run_spec dry_spec = { .trigger = "startup", .dry_run = 1 };
    run_spec real_spec = { .trigger = "startup", .wait_ms = cfg->schedule_lock_wait_ms };
    run_execute(&env, &dry_spec, &dry);
    check(json_is_true(json_object_get(dry, "success")), "dry run", "every step ok");
    run_execute(&env, &real_spec, &real);
    check(json_is_true(json_object_get(real, "success")), "run", "every step ok");
    check_states(d);
    check_counts(dry, real);
    rc = failures ? 1 : 0;
out:
    if (created && d && delete_rows(d) == 0)
        printf("scenario-check: removed the rows it created\n");
    if (rc <= 1)
        printf("scenario-check: %d passed, %d failed\n", passes, failures);
    json_decref(dry);
    json_decref(real);
    runlock_close(rl);
    db_close(d);
    history_close(h);
    pipeline_free(p);
    config_free(cfg);
    if (path[0] == '/') {
        unlink(path);
        char hp[PATH_MAX + 16];
        const char *const suffix[] = { "", "-wal", "-shm" };
        for (int i = 0; i < 3; i++) {
            snprintf(hp, sizeof hp, "%s/history.db%s", dir, suffix[i]);
            unlink(hp);
        }
        rmdir(dir);
    }
    db_library_end();
    return rc;
}
