/* SPDX-License-Identifier: MIT */
/*
 * test_sql_step.c - the `sql` plugin (SQL steps without C) and the core's
 * steps[].max_changes, on both drivers, with a fixed reference time T.
 *
 * The write form's boundaries (a row exactly at the cut-off stays), its dry
 * run, text and integer keys over several chunks, :now and :now_unix; the
 * read form's one number and label rows; a racing writer that the chunked
 * UPDATE's re-check must leave alone; every refusal check() makes without a
 * database; `validate` with and without --db; max_changes on both sides of
 * its boundary, for an SQL step and for C plugins (a chunked write and a
 * plain db_exec), and the cap check of the real pass itself.
 */
#include "helpers.h"
#include "th_race.h"
#include "config/config.h"
#include "engine/host.h"
#include "engine/plugin.h"
#include "engine/run.h"

#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define T "2030-06-15 12:00:00"
#define T_MINUS_30D "2030-05-16 12:00:00"        /* exactly T - 30 days: not stale */
#define T_MINUS_30D_1S "2030-05-16 11:59:59"     /* one second more: stale */
#define T_MINUS_1H "2030-06-15 11:00:00"

/* The dialect's spelling of the same condition. */
#define DIALECT(kind, mysql, sqlite) ((kind) == DB_MYSQL ? (mysql) : (sqlite))

static void session(db *d, const char *id, const char *status, const char *last_activity)
{
    rc_value p[] = { rc_text(id), rc_text(status), rc_text(last_activity) };
    cr_assert_eq(db_exec(d, "INSERT INTO user_sessions (user_id, contact_status, last_activity) "
                         "VALUES (?, ?, ?)", p, 3, NULL), 0, "%s", db_errmsg(d));
}

static void job(db *d, const char *status, const char *created_at, const char *locked_until)
{
    rc_value p[] = { rc_text(status), rc_text(created_at),
                     locked_until ? rc_text(locked_until) : rc_null(),
                     locked_until ? rc_text("w1") : rc_null() };
    cr_assert_eq(db_exec(d, "INSERT INTO processing_jobs (job_type, status, created_at, "
                         "locked_until, locked_by) VALUES ('t', ?, ?, ?, ?)", p, 4, NULL), 0,
                 "%s", db_errmsg(d));
}

static json_t *step_of(json_t *res, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(res, "steps"), i, s)
        if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
            return s;
    cr_assert_fail("no step %s in the result", name);
    return NULL;
}

static const char *step_error(json_t *res, const char *name)
{
    const char *e = json_string_value(json_object_get(step_of(res, name), "error"));
    return e ? e : "";
}

static char *stale_step(db_kind kind, const char *extra)
{
    char *yaml = NULL;
    cr_assert_neq(asprintf(&yaml,
                           "  - plugin: sql\n"
                           "    name: stale_contacts\n%s"
                           "    options:\n"
                           "      table: user_sessions\n"
                           "      key: user_id\n"
                           "      where: \"contact_status = 'ACTIVE' AND last_activity < %s\"\n"
                           "      set: \"contact_status = 'STALE'\"\n"
                           "      batch_size: 2\n"
                           "      result: staleContacts\n", extra,
                           DIALECT(kind, ":now - INTERVAL 30 DAY",
                                   "datetime(:now, '-30 days')")), -1);
    return yaml;
}

/* Sessions: s1..s3 stale, s4 exactly at the cut-off, s5 new, s6 stale but not ACTIVE. */
static void stale_sessions(db *d)
{
    session(d, "s1", "ACTIVE", T_MINUS_30D_1S);
    session(d, "s2", "ACTIVE", "2029-01-01 00:00:00");
    session(d, "s3", "ACTIVE", "2020-01-01 00:00:00");
    session(d, "s4", "ACTIVE", T_MINUS_30D);
    session(d, "s5", "ACTIVE", T_MINUS_1H);
    session(d, "s6", "BLOCKED", "2020-01-01 00:00:00");
}

/* ------------------------------------------------------------ write form */

DB_TEST(sql_step, write_form_dry_run_then_chunks)
{
    rig r;
    json_t *res;
    char *yaml = stale_step(kind, "");
    rig_up(&r, kind, "plugins", yaml);
    db *d = r.t.conn;
    stale_sessions(d);
    uint64_t before = th_checksum(d, "user_sessions");

    cr_assert_eq(rig_run(&r, T, 1, &res), RUN_SUCCESS, "%s", step_error(res, "stale_contacts"));
    cr_assert_eq(th_figure(res, "staleContacts"), 3, "the dry run's COUNT(*)");
    cr_assert_eq(th_checksum(d, "user_sessions"), before, "a dry run wrote");
    json_decref(res);

    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS, "%s", step_error(res, "stale_contacts"));
    cr_assert_eq(th_figure(res, "staleContacts"), 3, "rows changed, over two chunks of 2");
    json_decref(res);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM user_sessions WHERE contact_status = 'STALE' "
                          "AND user_id IN ('s1', 's2', 's3')"), 3);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM user_sessions WHERE contact_status = 'STALE'"),
                 3, "the row at the cut-off, the new one or the blocked one changed");

    /* Converged: a second run changes nothing. */
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    cr_assert_eq(th_figure(res, "staleContacts"), 0);
    json_decref(res);
    free(yaml);
    rig_down(&r);
}

/* An integer key, :now_unix, and the stuck-pending example. */
DB_TEST(sql_step, write_form_integer_key_and_now_unix)
{
    rig r;
    json_t *res;
    char *yaml = NULL;
    cr_assert_neq(asprintf(&yaml,
                           "  - plugin: sql\n"
                           "    name: stuck_pending\n"
                           "    options:\n"
                           "      table: processing_jobs\n"
                           "      where: \"status = 'pending' AND %s < :now_unix - 86400\"\n"
                           "      set: \"status = 'failed', last_error = 'stuck in pending'\"\n"
                           "      batch_size: 1\n"
                           "      result: jobs.stuckFailed\n",
                           DIALECT(kind, "UNIX_TIMESTAMP(created_at)",
                                   "CAST(strftime('%s', created_at) AS INTEGER)")), -1);
    rig_up(&r, kind, "plugins", yaml);
    db *d = r.t.conn;
    job(d, "pending", "2030-06-14 11:59:59", NULL);   /* T - 1 day - 1 s: stuck */
    job(d, "pending", "2030-06-14 12:00:00", NULL);   /* exactly T - 1 day: not yet */
    job(d, "pending", "2030-01-01 00:00:00", NULL);   /* stuck */
    job(d, "completed", "2030-01-01 00:00:00", NULL); /* not pending */

    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS, "%s", step_error(res, "stuck_pending"));
    cr_assert_eq(th_figure(res, "jobs.stuckFailed"), 2);
    json_decref(res);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM processing_jobs WHERE status = 'failed' AND "
                          "last_error = 'stuck in pending' AND id IN (1, 3)"), 2);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM processing_jobs WHERE status = 'failed'"), 2);
    free(yaml);
    rig_down(&r);
}

/* ------------------------------------------------------------- read form */

DB_TEST(sql_step, read_form_number_and_labels)
{
    rig r;
    json_t *res;
    rig_up(&r, kind, "plugins",
           "  - plugin: sql\n"
           "    name: stuck\n"
           "    options:\n"
           "      query: \"SELECT COUNT(*) FROM processing_jobs WHERE status = 'pending' "
           "AND created_at < :now\"\n"
           "      result: jobs.stuckPending\n"
           "  - plugin: sql\n"
           "    name: by_status\n"
           "    options:\n"
           "      query: \"SELECT status, COUNT(*) FROM processing_jobs GROUP BY status\"\n"
           "      result: jobs.byStatus\n"
           "  - plugin: sql\n"
           "    name: none\n"
           "    options:\n"
           "      query: \"SELECT MAX(attempts) FROM processing_jobs WHERE status = 'retry'\"\n"
           "      result: jobs.maxRetry\n");
    db *d = r.t.conn;
    job(d, "pending", "2030-06-15 11:59:59", NULL);
    job(d, "pending", T, NULL); /* not before T */
    job(d, "failed", "2030-01-01 00:00:00", NULL);
    uint64_t before = th_checksum(d, "processing_jobs");
    for (int dry = 1; dry >= 0; dry--) {
        cr_assert_eq(rig_run(&r, T, dry, &res), RUN_SUCCESS, "%s %s", step_error(res, "stuck"),
                     step_error(res, "by_status"));
        cr_assert_eq(th_figure(res, "jobs.stuckPending"), 1);
        cr_assert_eq(th_figure(res, "jobs.byStatus.pending"), 2);
        cr_assert_eq(th_figure(res, "jobs.byStatus.failed"), 1);
        json_t *by = json_object_get(json_object_get(json_object_get(res, "results"), "jobs"),
                                     "byStatus");
        cr_assert_eq(json_object_size(by), 2, "one figure per label the query returned");
        cr_assert_eq(th_figure(res, "jobs.maxRetry"), 0, "a NULL reads as 0");
        json_decref(res);
    }
    cr_assert_eq(th_checksum(d, "processing_jobs"), before, "a read step wrote");
    rig_down(&r);
}

/* A query of three columns, or one column of two rows, fails the step and says why. */
DB_TEST(sql_step, read_form_wrong_shape_fails)
{
    rig r;
    json_t *res;
    rig_up(&r, kind, "plugins",
           "  - plugin: sql\n"
           "    name: three\n"
           "    options: { query: \"SELECT 1, 2, 3\", result: x }\n"
           "  - plugin: sql\n"
           "    name: rows\n"
           "    options: { query: \"SELECT id FROM processing_jobs\", result: y }\n");
    job(r.t.conn, "pending", T, NULL);
    job(r.t.conn, "pending", T, NULL);
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_FAILED);
    cr_assert(strstr(step_error(res, "three"), "returned 3 columns"), "%s",
              step_error(res, "three"));
    cr_assert(strstr(step_error(res, "rows"), "more than one row"), "%s",
              step_error(res, "rows"));
    json_decref(res);
    rig_down(&r);
}

/* ------------------------------------------------------------------ race */

#define RACE_ROWS 400

/*
 * The step fails processing jobs whose lease expired, in chunks of 3, while a
 * worker completes half of them. A job the worker completed between the
 * step's find and its chunk's UPDATE must stay completed: the UPDATE
 * re-checks `where`. Repeated until a round where each side won some of the
 * worker's share (the two really ran at once).
 */
DB_TEST(sql_step, racing_writer_is_left_alone, .timeout = 60)
{
    rig r;
    json_t *res;
    rig_up(&r, kind, "plugins",
           "  - plugin: sql\n"
           "    name: expire\n"
           "    options:\n"
           "      table: processing_jobs\n"
           "      where: \"status = 'processing' AND locked_until < :now\"\n"
           "      set: \"status = 'failed', last_error = 'expired'\"\n"
           "      batch_size: 3\n"
           "      result: expired\n");
    db *d = r.t.conn;
    cr_assert_eq(db_begin(d), 0);
    for (int i = 0; i < RACE_ROWS; i++)
        job(d, "pending", "2030-01-01 00:00:00", NULL);
    cr_assert_eq(db_commit(d), 0);
    char *won = th_path(th_tmpdir(), "won");
    int64_t worker_total = 0, step_total = 0, rounds = 0;
    while (rounds < 8 && worker_total == 0) {
        rounds++;
        cr_assert_eq(db_exec(d, "UPDATE processing_jobs SET status = 'processing', "
                             "locked_until = '2030-06-15 11:00:00', last_error = NULL", NULL, 0,
                             NULL), 0, "%s", db_errmsg(d));
        /* A worker: completes every job of its share (the odd ids), shuffled, one
         * statement each, at a worker's pace (SQLite lets one writer in at a time). */
        th_racer racer = { .sql = "UPDATE processing_jobs SET status = 'completed', "
                                  "locked_until = NULL WHERE id = ? AND status = 'processing'",
                           .jobs = RACE_ROWS, .mod = 2, .share = 1, .busy_ms = 5000,
                           .pause_us = 1000, .won = won };
        pid_t pid = th_racer_start(&r.t, &racer);
        /* The step runs while the worker works (it starts at once; the run needs a worker too). */
        cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS, "%s", step_error(res, "expire"));
        int64_t changed = th_figure(res, "expired");
        json_decref(res);
        th_racer_wait(pid, "the racing worker");

        FILE *f = fopen(won, "r");
        int id, n = 0;
        cr_assert_not_null(f);
        while (fscanf(f, "%d", &id) == 1) {
            rc_value p[] = { rc_int(id) };
            int64_t ok = -1;
            n++;
            cr_assert_eq(db_query(d, "SELECT COUNT(*) FROM processing_jobs WHERE id = ? AND "
                                  "status = 'completed' AND last_error IS NULL", p, 1,
                                  rc__count_row, &ok), 0, "%s", db_errmsg(d));
            cr_assert_eq(ok, 1, "round %lld: job %d, completed by the worker, was overwritten",
                         (long long)rounds, id);
        }
        fclose(f);
        /* Every job went one way or the other, never both. */
        cr_assert_eq(changed + n, RACE_ROWS, "round %lld: step %lld + worker %d",
                     (long long)rounds, (long long)changed, n);
        /* The race was real when each side won some of the worker's share. */
        if (n > 0 && n < RACE_ROWS / 2) {
            worker_total += n;
            step_total += changed;
        }
    }
    cr_assert(worker_total > 0, "in no round did the step and the worker race for the same rows");
    cr_log_info("sql race (%s): %lld rounds; worker won %lld, step %lld", DIALECT(kind, "mysql",
                "sqlite"), (long long)rounds, (long long)worker_total, (long long)step_total);
    free(won);
    rig_down(&r);
}

/* -------------------------------------------------------------- refusals */

typedef struct refusal {
    const char *options; /* the YAML lines under options: (6 spaces in) */
    const char *says;    /* in the message */
    const char *at;      /* ":LINE:COL: step 'x': option 'O'" or NULL */
} refusal;

/* Line 6 of the file below holds the first option, so its value stands at 6:14 for "where". */
static const refusal refusals[] = {
    { "      table: \"user sessions\"\n      where: x = 1\n      set: y = 1\n      result: r\n",
      "must be a plain identifier", ":6:14: step 'x': option 'table'" },
    { "      table: t\n      key: \"id; DROP\"\n      where: x = 1\n      set: y = 1\n"
      "      result: r\n", "must be a plain identifier", ":7:12: step 'x': option 'key'" },
    { "      table: 1t\n      where: x = 1\n      set: y = 1\n      result: r\n",
      "must be a plain identifier", ":6:14: step 'x': option 'table'" },
    { "      table: t\n      where: \"x = 1; DELETE FROM t\"\n      set: y = 1\n      result: r\n",
      "has a ';'", ":7:14: step 'x': option 'where'" },
    { "      table: t\n      where: x = 1\n      set: \"y = ';'\"\n      result: r\n",
      "has a ';'", ":8:12: step 'x': option 'set'" },
    { "      query: \"SELECT 1; SELECT 2\"\n      result: r\n", "has a ';'",
      ":6:14: step 'x': option 'query'" },
    { "      table: t\n      where: \"\"\n      set: y = 1\n      result: r\n", "is empty",
      ":7:14: step 'x': option 'where'" },
    { "      table: t\n      set: y = 1\n      result: r\n", "is empty", NULL },
    { "      table: t\n      where: \"1\"\n      set: y = 1\n      result: r\n", "always true",
      ":7:14" },
    { "      table: t\n      where: \"TRUE\"\n      set: y = 1\n      result: r\n", "always true",
      NULL },
    { "      table: t\n      where: \"1=1\"\n      set: y = 1\n      result: r\n", "always true",
      NULL },
    { "      table: t\n      where: \"'a' = 'a'\"\n      set: y = 1\n      result: r\n",
      "always true", NULL },
    { "      table: t\n      where: \"x = x\"\n      set: y = 1\n      result: r\n",
      "always true", NULL },
    { "      table: t\n      where: \"NOT 0\"\n      set: y = 1\n      result: r\n",
      "always true", NULL },
    { "      table: t\n      where: \"1 OR status = 'x'\"\n      set: y = 1\n      result: r\n",
      "always true", NULL },
    { "      table: t\n      where: \"status = 'x' OR (2 > 1 AND 1)\"\n      set: y = 1\n"
      "      result: r\n", "always true", NULL },
    { "      table: t\n      where: \"x < :then\"\n      set: y = 1\n      result: r\n",
      "placeholder ':then'", ":7:14: step 'x': option 'where'" },
    { "      table: t\n      where: \"x < ?\"\n      set: y = 1\n      result: r\n", "has a '?'",
      NULL },
    { "      table: t\n      where: \"x < 1 -- AND y\"\n      set: y = 1\n      result: r\n",
      "comment", NULL },
    { "      table: t\n      where: \"x < 1) OR (1\"\n      set: y = 1\n      result: r\n",
      "parenthesis it never opened", NULL },
    { "      table: t\n      where: \"x = 'it''s\"\n      set: y = 1\n      result: r\n",
      "never closed", NULL },
    { "      table: t\n      where: \"NOT NOT 1\"\n      set: y = 1\n      result: r\n",
      "always true", NULL },
    { "      table: t\n      where: \"((((((((((((((((((((((((((((((((((((((((((((((((((("
      "((((((((((((((((((((((((((((((((((((((((((((((((((x = 1"
      "))))))))))))))))))))))))))))))))))))))))))))))))))"
      ")))))))))))))))))))))))))))))))))))))))))))))))))))\"\n"
      "      set: y = 1\n      result: r\n", "more than 100 deep", NULL },
    { "      query: \"DELETE FROM t\"\n      result: r\n", "must start with SELECT", NULL },
    { "      query: \"WITH a AS (SELECT 1) DELETE FROM t\"\n      result: r\n", "holds DELETE",
      NULL },
    { "      query: \"SELECT id FROM t FOR UPDATE\"\n      result: r\n", "holds UPDATE", NULL },
    { "      query: \"SELECT 1\"\n      table: t\n      result: r\n", "belongs to the write form",
      ":7:14: step 'x': option 'table'" },
    { "      result: r\n", "give either query", ":3:5: step 'x'" },
    { "      table: t\n      where: x = 1\n      result: r\n", "is required",
      "option 'set'" },
    { "      query: \"SELECT 1\"\n      result: \"a..b\"\n", "must be a result key", NULL },
    { "      table: t\n      where: x = 1\n      set: y = 1\n      batch_size: 0\n"
      "      result: r\n", "must be from 1 to", "option 'batch_size'" },
};

/* Build the pipeline as `validate` does (no database): the message of its refusal, or NULL. */
static char *refused_with(const char *options)
{
    char err[2048], *text = NULL;
    config *cfg = NULL;
    pipeline *p = NULL;
    char *path = th_path(th_tmpdir(), "refuse.yaml");
    cr_assert_neq(asprintf(&text, "plugin_dir: %s\nsteps:\n  - plugin: sql\n    name: x\n"
                           "    options:\n%s", th_build_path("plugins"), options), -1);
    th_write(path, text);
    cr_assert_eq(config_load(path, &cfg, err, sizeof err), 0, "%s", err);
    int rc = run_prepare(cfg, 0, &p, err, sizeof err);
    pipeline_free(p);
    config_free(cfg);
    free(path);
    free(text);
    return rc == 0 ? NULL : strdup(err);
}

Test(sql_step, check_refuses_without_a_database)
{
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        char *err = refused_with(refusals[i].options);
        cr_assert_not_null(err, "accepted:\n%s", refusals[i].options);
        cr_expect(strstr(err, refusals[i].says), "case %zu: '%s' not in: %s", i,
                  refusals[i].says, err);
        cr_expect(!refusals[i].at || strstr(err, refusals[i].at), "case %zu: '%s' not in: %s",
                  i, refusals[i].at, err);
        free(err);
    }
}

/* The other side of each refusal: what is close to it but fine passes. */
Test(sql_step, check_accepts_what_is_close)
{
    static const char *const fine[] = {
        "      table: t\n      where: \"\"\n      allow_all: true\n      set: y = 1\n"
        "      result: r\n",
        "      table: t\n      where: \"1 = 1\"\n      allow_all: true\n      set: y = 1\n"
        "      result: r\n",
        "      table: t\n      where: \"x = 1\"\n      set: y = 1\n      result: r\n",
        "      table: t\n      where: \"x IS NOT NULL OR x IS NULL\"\n      set: y = 1\n"
        "      result: r\n",
        "      table: t\n      where: \"NOT (x = x)\"\n      set: y = 1\n      result: r\n",
        "      table: t\n      where: \"x BETWEEN 1 AND 2\"\n      set: y = 1\n      result: r\n",
        "      table: t\n      where: \"1 < 0 OR x = 1\"\n      set: y = 1\n      result: r\n",
        "      table: t\n      where: \"x = 'a:now;'\"\n      set: y = 1\n      result: r\n",
        "      table: T_1\n      key: user_id\n      where: \"x < :now AND y < :now_unix\"\n"
        "      set: \"z = :now\"\n      result: a.b-c.d_e\n",
        "      query: \"WITH a AS (SELECT 1 AS n) SELECT n FROM a\"\n      result: r\n",
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        char *err = refused_with(fine[i]);
        /* ';' inside quotes is refused too: case 7 must say so, the others pass. */
        if (i == 7) {
            cr_expect(err && strstr(err, "has a ';'"), "';' in quotes: %s", err ? err : "ok");
        } else {
            cr_expect_null(err, "case %zu refused: %s", i, err);
        }
        free(err);
    }
}

/* ------------------------------------------------------------- validate */

DB_TEST(sql_step, validate_with_and_without_db)
{
    rig r;
    char *out = NULL, *err = NULL;
    rig_up(&r, kind, "plugins", "  - plugin: orders\n");
    char *path = th_path(th_tmpdir(), "v.yaml");
    char *text = NULL;
    cr_assert_neq(asprintf(&text, "database:\n  url: \"%s\"\nplugin_dir: %s\nsteps:\n"
                           "  - plugin: sql\n    name: bad\n    options:\n"
                           "      table: processing_jobs\n"
                           "      where: \"no_such_column < :now\"\n"
                           "      set: \"status = 'failed'\"\n      result: r\n",
                           r.t.url, th_build_path("plugins")), -1);
    th_write(path, text);
#define RUN(...) ((const char *const[]){ __VA_ARGS__, NULL })
    /* Without --db: nothing connects, the column cannot be known. */
    cr_assert_eq(th_run_cli(RUN("validate", "-c", path), NULL, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "ok, 1 step"), "%s", out);
    free(out);
    free(err);
    /* With --db: the database compiles the statements and names the option. */
    cr_assert_eq(th_run_cli(RUN("validate", "-c", path, "--db", r.t.url), NULL, &out, &err), 2,
                 "%s%s", out, err);
    cr_assert(strstr(err, ":9:14: step 'bad': option 'where' does not compile"), "%s", err);
    cr_assert(strstr(err, "no_such_column"), "%s", err);
    free(out);
    free(err);
    /* A run fails that step with the same message, before writing anything. */
    json_t *res;
    config *cfg = NULL;
    pipeline *p = NULL;
    char msg[2048];
    cr_assert_eq(config_load(path, &cfg, msg, sizeof msg), 0, "%s", msg);
    cr_assert_eq(run_prepare(cfg, 0, &p, msg, sizeof msg), 0, "%s", msg);
    pipeline *keep = r.p;
    config *keep_cfg = r.cfg;
    r.p = p;
    r.cfg = cfg;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_FAILED);
    cr_assert(strstr(step_error(res, "bad"), ":9:14: step 'bad': option 'where' does not "
                     "compile"), "%s", step_error(res, "bad"));
    json_decref(res);
    r.p = keep;
    r.cfg = keep_cfg;
    pipeline_free(p);
    config_free(cfg);

    /* Fixed, it prepares. */
    free(text);
    cr_assert_neq(asprintf(&text, "database:\n  url: \"%s\"\nplugin_dir: %s\nsteps:\n"
                           "  - plugin: sql\n    name: good\n    options:\n"
                           "      table: processing_jobs\n"
                           "      where: \"locked_until < :now\"\n"
                           "      set: \"status = 'failed'\"\n      result: r\n",
                           r.t.url, th_build_path("plugins")), -1);
    th_write(path, text);
    cr_assert_eq(th_run_cli(RUN("validate", "-c", path, "--db", r.t.url), NULL, &out, &err), 0,
                 "%s", err);
    cr_assert(strstr(out, "(statements prepared)"), "%s", out);
    free(out);
    free(err);
    free(text);
    free(path);
    rig_down(&r);
}

/* ---------------------------------------------------------- max_changes */

DB_TEST(sql_step, max_changes_sql_boundary)
{
    json_t *res;
    for (int cap = 3; cap >= 2; cap--) {
        rig r;
        char extra[64];
        snprintf(extra, sizeof extra, "    max_changes: %d\n", cap);
        char *yaml = stale_step(kind, extra);
        rig_up(&r, kind, "plugins", yaml);
        db *d = r.t.conn;
        stale_sessions(d);
        uint64_t before = th_checksum(d, "user_sessions");
        /* A dry run is never capped: it writes nothing anyway. */
        cr_assert_eq(rig_run(&r, T, 1, &res), RUN_SUCCESS);
        cr_assert_eq(th_figure(res, "staleContacts"), 3);
        json_decref(res);
        run_status st = rig_run(&r, T, 0, &res);
        if (cap == 3) {
            cr_assert_eq(st, RUN_SUCCESS, "3 rows within max_changes 3: %s",
                         step_error(res, "stale_contacts"));
            cr_assert_eq(th_figure(res, "staleContacts"), 3, "counted once, not per pass");
            cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM user_sessions WHERE "
                                  "contact_status = 'STALE'"), 3);
        } else {
            cr_assert_eq(st, RUN_FAILED, "3 rows passed max_changes 2");
            const char *e = step_error(res, "stale_contacts");
            cr_assert(strstr(e, "more than 2 rows") && strstr(e, "at least 3") &&
                      strstr(e, "nothing was written"), "%s", e);
            cr_assert_eq(th_checksum(d, "user_sessions"), before, "a capped step wrote");
        }
        json_decref(res);
        free(yaml);
        rig_down(&r);
    }
}

/* A C plugin that knows nothing of the cap: leases' chunked writes, fixture's db_exec. */
DB_TEST(sql_step, max_changes_c_plugins_boundary)
{
    json_t *res;
    for (int cap = 3; cap >= 2; cap--) {
        rig r;
        char *yaml = NULL;
        cr_assert_neq(asprintf(&yaml, "  - plugin: leases\n    max_changes: %d\n"
                               "    options: { batch_size: 2 }\n", cap), -1);
        rig_up(&r, kind, "plugins", yaml);
        db *d = r.t.conn;
        /* Three pending jobs with expired leases: one row each for the lease statement. */
        for (int i = 0; i < 3; i++)
            job(d, "pending", "2030-01-01 00:00:00", T_MINUS_1H);
        uint64_t before = th_checksum(d, "processing_jobs");
        run_status st = rig_run(&r, T, 0, &res);
        if (cap == 3) {
            cr_assert_eq(st, RUN_SUCCESS, "%s", step_error(res, "leases"));
            cr_assert_eq(th_figure(res, "leasesRepaired"), 3);
            cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM processing_jobs WHERE "
                                  "locked_until IS NULL"), 3);
        } else {
            cr_assert_eq(st, RUN_FAILED);
            cr_assert(strstr(step_error(res, "leases"), "more than 2 rows"), "%s",
                      step_error(res, "leases"));
            cr_assert_eq(th_checksum(d, "processing_jobs"), before, "a capped step wrote");
        }
        json_decref(res);
        free(yaml);
        rig_down(&r);
    }
    for (int cap = 1; cap >= 0; cap--) {
        rig r;
        char *yaml = NULL;
        cr_assert_neq(asprintf(&yaml, "  - plugin: fixture\n    max_changes: %d\n"
                               "    options: { write: true }\n", cap), -1);
        rig_up(&r, kind, "tests/plugins", yaml);
        db *d = r.t.conn;
        run_status st = rig_run(&r, T, 0, &res);
        int64_t rows = th_count(d, "SELECT COUNT(*) FROM processing_job_logs WHERE "
                                   "category = 'fixture'");
        if (cap == 1) {
            cr_assert_eq(st, RUN_SUCCESS, "%s", step_error(res, "fixture"));
            cr_assert_eq(rows, 1, "the rehearsal's insert was kept, or the real one lost");
        } else {
            cr_assert_eq(st, RUN_FAILED);
            cr_assert(strstr(step_error(res, "fixture"), "more than 0 rows"), "%s",
                      step_error(res, "fixture"));
            cr_assert_eq(rows, 0, "a capped db_exec wrote");
        }
        json_decref(res);
        free(yaml);
        rig_down(&r);
    }
}

/*
 * The real pass's own cap check (rows that appear between the rehearsal and the
 * run): chunks commit up to the cap; the chunk that would pass it is rolled
 * back, later writes are refused, and db_error() says why.
 */
DB_TEST(sql_step, max_changes_real_pass_stops_at_the_cap)
{
    rig r;
    rig_up(&r, kind, "plugins", "  - plugin: leases\n    max_changes: 2\n");
    db *d = r.t.conn;
    for (int i = 0; i < 3; i++)
        job(d, "pending", "2030-01-01 00:00:00", T_MINUS_1H);
    step_run sr = { .ps = &r.p->steps[0], .d = d, .file = r.yaml, .cap = 2,
                    .results = json_object() };
    cr_assert_eq(db_clock_from_text(T, 0, &sr.clock), 0);
    rc_ctx ctx;
    host_ctx_init(&ctx, &sr);
    rc_value t[] = { rc_text(T) };
    rc_chunk_stmt clear = { "UPDATE processing_jobs SET locked_until = NULL WHERE "
                            "locked_until < ? AND id > ? AND id <= ?", t, 1, 0 };
    int rc = ctx.api->db_chunked(&ctx, "SELECT id FROM processing_jobs WHERE locked_until < ? "
                                 "AND id > ? ORDER BY id LIMIT ?", t, 1, rc_int(0), 1, &clear, 1);
    cr_assert_eq(rc, RC_ERROR, "the third row passed the cap");
    cr_assert_eq(clear.affected, 2);
    cr_assert(sr.over_cap && sr.found == 3);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM processing_jobs WHERE locked_until IS NULL"),
                 2, "whole chunks up to the cap stay, the one past it was rolled back");
    int64_t n = -1;
    cr_assert_eq(ctx.api->db_exec(&ctx, "UPDATE processing_jobs SET attempts = 9", NULL, 0, &n),
                 RC_ERROR);
    cr_assert(strstr(ctx.api->db_error(&ctx), "max_changes"), "%s", ctx.api->db_error(&ctx));
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM processing_jobs WHERE attempts = 9"), 0);

    /* With writes counted, a transaction inside the plugin's own is refused: MySQL would
     * commit the first. */
    step_run sr2 = { .ps = &r.p->steps[0], .d = d, .file = r.yaml, .cap = 5, .rehearsal = 1,
                     .clock = sr.clock, .results = json_object() };
    host_ctx_init(&ctx, &sr2);
    cr_assert_eq(ctx.api->db_begin(&ctx), RC_OK);
    cr_assert_eq(ctx.api->db_exec(&ctx, "UPDATE processing_jobs SET attempts = 7 WHERE id = 1",
                                  NULL, 0, &n), RC_OK);
    cr_assert_eq(n, 1);
    clear.affected = 0;
    cr_assert_eq(ctx.api->db_chunked(&ctx, "SELECT id FROM processing_jobs WHERE id > ? "
                                     "ORDER BY id LIMIT ?", NULL, 0, rc_int(0), 1, &clear, 1),
                 RC_ERROR);
    cr_assert(strstr(ctx.api->db_error(&ctx), "already open"), "%s", ctx.api->db_error(&ctx));
    cr_assert_eq(ctx.api->db_commit(&ctx), RC_OK, "a rehearsal's commit rolls back");
    cr_assert_eq(sr2.changes, 1);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM processing_jobs WHERE attempts = 7"), 0,
                 "the rehearsal kept a write");
    free(sr2.error);
    json_decref(sr2.results);
    free(sr.error);
    json_decref(sr.results);
    rig_down(&r);
}

Test(sql_step, max_changes_key_range)
{
    char err[2048];
    config *cfg = NULL;
    char *path = th_path(th_tmpdir(), "mc.yaml");
    th_write(path, "steps:\n  - plugin: leases\n  - plugin: orders\n    max_changes: 0\n");
    cr_assert_eq(config_load(path, &cfg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(cfg->steps[0].max_changes, CFG_NO_MAX_CHANGES, "unset is no cap");
    cr_assert_eq(cfg->steps[1].max_changes, 0);
    config_free(cfg);
    th_write(path, "steps:\n  - plugin: leases\n    max_changes: -1\n");
    cr_assert_neq(config_load(path, &cfg, err, sizeof err), 0);
    cr_assert(strstr(err, ":3:18: 'max_changes' must be at most 1000000000000"), "%s", err);
    th_write(path, "steps:\n  - plugin: leases\n    max_changes: 1000000000001\n");
    cr_assert_neq(config_load(path, &cfg, err, sizeof err), 0);
    th_write(path, "steps:\n  - plugin: leases\n    max_changes: 1000000000000\n");
    cr_assert_eq(config_load(path, &cfg, err, sizeof err), 0, "%s", err);
    config_free(cfg);
    free(path);
}

/*
 * ABI 1.3 appended db_chunked_by, and runs db_chunked through it: a 1.2
 * plugin's chunked write loads, prepares and runs as before, under a cap too.
 */
DB_TEST(sql_step, abi_1_2_plugin_chunks_as_before)
{
    rig r;
    json_t *res;
    rig_up(&r, kind, "tests/plugins", "  - plugin: old12\n    max_changes: 5\n");
    db *d = r.t.conn;
    for (int i = 0; i < 5; i++)
        job(d, "pending", T_MINUS_1H, i == 2 ? NULL : "2030-01-01 00:00:00");
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS, "%s", step_error(res, "old12"));
    cr_assert_eq(th_figure(res, "old12.cleared"), 4);
    json_decref(res);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM processing_jobs WHERE locked_until IS NULL "
                             "AND locked_by IS NULL"), 5);
    rig_down(&r);
}

/* ABI 1.2 appended prepare(): a 1.1 plugin has none, and still loads, checks and runs. */
Test(sql_step, abi_1_1_plugin_has_no_prepare)
{
    char err[1024];
    plugin *pl = NULL;
    char *path = NULL;
    cr_assert_neq(asprintf(&path, "%s/old11.so", th_build_path("tests/plugins")), -1);
    cr_assert_eq(plugin_load_file(path, "old11", &pl, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(plugin_check_fn(pl));
    cr_assert_null(plugin_prepare_fn(pl), "read past a 1.1 descriptor");
    plugin_free(pl);
    free(path);
    cr_assert_neq(asprintf(&path, "%s/sql.so", th_build_path("plugins")), -1);
    cr_assert_eq(plugin_load_file(path, "sql", &pl, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(plugin_prepare_fn(pl));
    plugin_free(pl);
    free(path);

    rig r;
    json_t *res;
    rig_up(&r, DB_SQLITE, "tests/plugins", "  - plugin: old11\n    max_changes: 0\n");
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS, "%s", step_error(res, "old11"));
    cr_assert_eq(th_figure(res, "old11.ran"), 1);
    json_decref(res);
    rig_down(&r);
}
