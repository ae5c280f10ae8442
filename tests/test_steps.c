/* SPDX-License-Identifier: MIT */
/* test_steps.c - the four steps on both drivers, with a fixed reference time
 * T so that every boundary is hit exactly. */
#include "helpers.h"
#include "th_race.h"

#include <stdlib.h>
#include <string.h>

#define T "2030-06-15 12:00:00"
#define T_MINUS_1S "2030-06-15 11:59:59"
#define T_MINUS_1H "2030-06-15 11:00:00"
#define T_PLUS_1H "2030-06-15 13:00:00"
#define STALE_EDGE "2029-06-15 12:00:00" /* T - 365 days (2030 is not a leap year) */
#define STALE_EDGE_MINUS_1S "2029-06-15 11:59:59"

static const char *const ALL_STEPS =
    "  - plugin: leases\n"
    "  - plugin: followups\n"
    "  - plugin: orders\n"
    "  - plugin: metrics\n";

typedef struct job_state {
    char status[16];
    int64_t attempts;
    int has_locked_by, has_locked_until;
    char last_error[128];
} job_state;

static int job_row(void *user, const rc_value *c, size_t n)
{
    job_state *j = user;
    cr_assert_eq(n, 5);
    snprintf(j->status, sizeof j->status, "%s", c[0].s);
    j->attempts = c[1].i;
    j->has_locked_by = c[2].type != RC_NULL;
    j->has_locked_until = c[3].type != RC_NULL;
    snprintf(j->last_error, sizeof j->last_error, "%s", c[4].type == RC_TEXT ? c[4].s : "");
    return 1;
}

static job_state get_job(db *d, int64_t id)
{
    job_state j = { "" };
    rc_value p[] = { rc_int(id) };
    cr_assert_eq(db_query(d, "SELECT status, attempts, locked_by, locked_until, last_error "
                          "FROM processing_jobs WHERE id = ?", p, 1, job_row, &j), 0);
    return j;
}

#define LEASE_MSG "Lease expired - worker crashed or timed out"

static void check_leases(db_kind kind, const char *step_yaml)
{
    rig r;
    rig_up(&r, kind, "plugins", step_yaml);
    db *d = r.t.conn;
    int64_t a = th_job(d, "processing", 0, "w1", T_MINUS_1H);   /* expired: retry */
    int64_t b = th_job(d, "processing", 2, "w1", T_MINUS_1S);   /* max-1: retry */
    int64_t c = th_job(d, "processing", 3, "w1", T_MINUS_1H);   /* = max: failed */
    int64_t e = th_job(d, "processing", 1, "w2", NULL);         /* no lease: orphan, retry */
    int64_t eq = th_job(d, "processing", 0, "w3", T);           /* locked_until = T: live */
    int64_t g = th_job(d, "pending", 1, "w4", T_MINUS_1S);      /* stale lease on pending */
    int64_t h = th_job(d, "completed", 1, "w5", T_MINUS_1H);    /* stale lease on completed */
    int64_t i = th_job(d, "completed", 1, NULL, NULL);          /* nothing to do */
    const char *statuses[] = { "pending", "processing", "retry", "completed", "failed" };
    int64_t live[5];
    for (int k = 0; k < 5; k++)
        live[k] = th_job(d, statuses[k], 4, "live", T_PLUS_1H);

    json_t *res;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    cr_assert_eq(th_figure(res, "leasesRepaired"), 5); /* a b c g h */
    cr_assert_eq(th_figure(res, "jobsRequeued"), 3);   /* a b e */
    cr_assert_eq(th_figure(res, "jobsFailed"), 1);     /* c */
    json_decref(res);

    job_state s = get_job(d, a);
    cr_assert_str_eq(s.status, "retry");
    cr_assert_eq(s.attempts, 0, "attempts are not changed");
    cr_assert_not(s.has_locked_by || s.has_locked_until);
    cr_assert_str_eq(s.last_error, LEASE_MSG);
    s = get_job(d, b);
    cr_assert_str_eq(s.status, "retry");
    cr_assert_eq(s.attempts, 2);
    s = get_job(d, c);
    cr_assert_str_eq(s.status, "failed");
    cr_assert_eq(s.attempts, 3);
    cr_assert_str_eq(s.last_error, LEASE_MSG);
    cr_assert_not(s.has_locked_by || s.has_locked_until);
    s = get_job(d, e);
    cr_assert_str_eq(s.status, "retry");
    cr_assert_not(s.has_locked_by, "an orphan's locked_by goes too");
    s = get_job(d, eq);
    cr_assert_str_eq(s.status, "processing", "a lease ending exactly at T is live");
    cr_assert(s.has_locked_by && s.has_locked_until);
    cr_assert_str_eq(s.last_error, "");
    s = get_job(d, g);
    cr_assert_str_eq(s.status, "pending");
    cr_assert_not(s.has_locked_by || s.has_locked_until);
    cr_assert_str_eq(s.last_error, "", "only the lease is repaired on a pending job");
    s = get_job(d, h);
    cr_assert_str_eq(s.status, "completed");
    cr_assert_not(s.has_locked_until);
    s = get_job(d, i);
    cr_assert_str_eq(s.status, "completed");
    for (int k = 0; k < 5; k++) {
        s = get_job(d, live[k]);
        cr_assert_str_eq(s.status, statuses[k], "live lease in status %s untouched", statuses[k]);
        cr_assert(s.has_locked_by && s.has_locked_until, "live lease in status %s kept", statuses[k]);
        cr_assert_eq(s.attempts, 4);
    }

    /* A second run changes nothing and reports zeros. */
    uint64_t before = th_checksum(d, "processing_jobs");
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    cr_assert_eq(th_figure(res, "leasesRepaired"), 0);
    cr_assert_eq(th_figure(res, "jobsRequeued"), 0);
    cr_assert_eq(th_figure(res, "jobsFailed"), 0);
    cr_assert_eq(th_checksum(d, "processing_jobs"), before);
    json_decref(res);
    rig_down(&r);
}

DB_TEST(leases, rules_and_boundaries)
{
    check_leases(kind, "  - plugin: leases\n");
}

DB_TEST(leases, same_result_with_tiny_chunks)
{
    check_leases(kind, "  - plugin: leases\n    options: { batch_size: 1 }\n");
    check_leases(kind, "  - plugin: leases\n    options: { batch_size: 2 }\n");
}

DB_TEST(leases, options_change_the_rules)
{
    rig r;
    rig_up(&r, kind, "plugins",
           "  - plugin: leases\n    options: { max_attempts: 1, error_message: \"gone\" }\n");
    db *d = r.t.conn;
    int64_t a = th_job(d, "processing", 0, "w", T_MINUS_1H);
    int64_t b = th_job(d, "processing", 1, "w", T_MINUS_1H);
    json_t *res;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    cr_assert_eq(th_figure(res, "jobsRequeued"), 1);
    cr_assert_eq(th_figure(res, "jobsFailed"), 1);
    json_decref(res);
    cr_assert_str_eq(get_job(d, a).status, "retry");
    cr_assert_str_eq(get_job(d, b).status, "failed");
    cr_assert_str_eq(get_job(d, b).last_error, "gone");
    rig_down(&r);
}

/*
 * The built-in steps' ranges are their check()'s: refused by `validate` (and
 * before any run) at the value's FILE:LINE:COL, on both sides of each bound.
 */
Test(steps, option_ranges_are_checked_before_any_run)
{
    static const struct { const char *opts; int ok; const char *want; } cases[] = {
        { "leases\n    options: { batch_size: 1 }", 1, NULL },
        { "leases\n    options: { batch_size: 0 }", 0,
          ":5:28: step 'leases': option 'batch_size' must be from 1 to 1000000, got 0" },
        { "leases\n    options: { batch_size: 1000000 }", 1, NULL },
        { "leases\n    options: { batch_size: 1000001 }", 0, "got 1000001" },
        { "leases\n    options: { max_attempts: 0 }", 0,
          "option 'max_attempts' must be at least 1, got 0" },
        { "followups\n    options: { stale_after_days: 36500 }", 1, NULL },
        { "followups\n    options: { stale_after_days: 36501 }", 0,
          "option 'stale_after_days' must be from 0 to 36500, got 36501" },
        { "followups\n    options: { stale_after_days: -1 }", 0, "got -1" },
        { "followups\n    options: { max_attempts: -1 }", 0, "must be 0 or more" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = NULL, *yaml = th_path(th_tmpdir(), "ranges.yaml"), *err = NULL;
        cr_assert_neq(asprintf(&text, "database: { url: \"sqlite:x.db\" }\nplugin_dir: %s\n"
                               "steps:\n  - plugin: %s\n", th_build_path("plugins"),
                               cases[i].opts), -1);
        th_write(yaml, text);
        const char *args[] = { "validate", "-c", yaml, NULL };
        int rc = th_run_cli(args, NULL, NULL, &err);
        cr_expect_eq(rc, cases[i].ok ? 0 : 2, "%s: %s", cases[i].opts, err);
        if (cases[i].want)
            cr_expect(strstr(err, cases[i].want) && strstr(err, yaml), "%s: %s", cases[i].opts,
                      err);
        free(err);
        free(text);
        free(yaml);
    }
}

static void session(db *d, const char *id, const char *status, int attempts,
                    const char *cooldown, const char *last_activity)
{
    rc_value p[] = { rc_text(id), rc_text(status), rc_int(attempts),
                     cooldown ? rc_text(cooldown) : rc_null(), rc_text(last_activity) };
    cr_assert_eq(db_exec(d, "INSERT INTO user_sessions (user_id, contact_status, "
                         "follow_up_attempts, cooldown_until, last_activity) VALUES (?, ?, ?, ?, ?)",
                         p, 5, NULL), 0, "%s", db_errmsg(d));
}

static int64_t session_int(db *d, const char *id, const char *sql)
{
    rc_value p[] = { rc_text(id) };
    int64_t v = -1;
    cr_assert_eq(db_query(d, sql, p, 1, rc__count_row, &v), 0, "%s", db_errmsg(d));
    return v;
}

DB_TEST(followups, rules_and_boundaries)
{
    rig r;
    rig_up(&r, kind, "plugins", "  - plugin: followups\n    options: { batch_size: 2 }\n");
    db *d = r.t.conn;
    session(d, "s1", "ACTIVE", 3, T_MINUS_1H, T_MINUS_1H);   /* cooldown ended: reset, candidate */
    session(d, "s2", "ACTIVE", 0, T, T_MINUS_1H);            /* ends exactly at T: still cooling */
    session(d, "s3", "ACTIVE", 0, T_PLUS_1H, T_MINUS_1H);    /* future cooldown */
    session(d, "s4", "ACTIVE", 2, NULL, T_MINUS_1H);         /* attempts = max-1: candidate */
    session(d, "s5", "ACTIVE", 3, NULL, T_MINUS_1H);         /* attempts = max: not */
    session(d, "s6", "ACTIVE", 0, NULL, STALE_EDGE);         /* exactly at the stale edge: candidate */
    session(d, "s7", "ACTIVE", 0, NULL, STALE_EDGE_MINUS_1S); /* just past it: not */
    session(d, "s8", "INACTIVE", 2, T_MINUS_1S, T_MINUS_1H); /* reset whatever its status; not a candidate */

    uint64_t before = th_checksum(d, "user_sessions");
    json_t *res;
    cr_assert_eq(rig_run(&r, T, 1, &res), RUN_SUCCESS);
    cr_assert_eq(th_figure(res, "cooldownsCleared"), 2);
    cr_assert_eq(th_figure(res, "followUpCandidates"), 3);
    json_decref(res);
    cr_assert_eq(th_checksum(d, "user_sessions"), before, "a dry run changes nothing");

    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    cr_assert_eq(th_figure(res, "cooldownsCleared"), 2);
    cr_assert_eq(th_figure(res, "followUpCandidates"), 3);
    json_decref(res);
    const char *q_att = "SELECT follow_up_attempts FROM user_sessions WHERE user_id = ?";
    const char *q_cool = "SELECT COUNT(*) FROM user_sessions WHERE user_id = ? AND cooldown_until IS NULL";
    cr_assert_eq(session_int(d, "s1", q_att), 0);
    cr_assert_eq(session_int(d, "s1", q_cool), 1);
    cr_assert_eq(session_int(d, "s8", q_att), 0);
    cr_assert_eq(session_int(d, "s2", q_cool), 0);
    cr_assert_eq(session_int(d, "s3", q_cool), 0);
    cr_assert_eq(session_int(d, "s5", q_att), 3);

    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    cr_assert_eq(th_figure(res, "cooldownsCleared"), 0, "idempotent");
    cr_assert_eq(th_figure(res, "followUpCandidates"), 3);
    json_decref(res);
    rig_down(&r);
}

static void order(db *d, const char *status, const char *amount)
{
    static int seq;
    char num[32];
    snprintf(num, sizeof num, "ORD-%d", ++seq);
    rc_value p[] = { rc_text(num), rc_text(status), rc_text(amount) };
    cr_assert_eq(db_exec(d, "INSERT INTO orders (order_number, processing_status, total_amount) "
                         "VALUES (?, ?, ?)", p, 3, NULL), 0, "%s", db_errmsg(d));
}

DB_TEST(orders_metrics, counts_revenue_and_durations)
{
    rig r;
    rig_up(&r, kind, "plugins", "  - plugin: orders\n  - plugin: metrics\n");
    db *d = r.t.conn;
    order(d, "pending", "10.00");
    order(d, "pending", "11.00");
    order(d, "processing", "12.00");
    order(d, "completed", "0.10");
    order(d, "completed", "0.20");
    order(d, "completed", "1234.56");
    order(d, "failed", "99.99");
    order(d, "cancelled", "5.00");
    th_job(d, "pending", 0, NULL, NULL);
    th_job(d, "retry", 1, NULL, NULL);
    th_job(d, "failed", 3, NULL, NULL);
    cr_assert_eq(db_exec(d, "INSERT INTO processing_jobs (job_type, status, started_at, finished_at) "
                         "VALUES ('t', 'completed', '2030-01-01 00:00:00', '2030-01-01 00:00:10'), "
                         "('t', 'completed', '2030-01-01 00:00:00', '2030-01-01 00:00:20'), "
                         "('t', 'completed', NULL, '2030-01-01 00:00:20')", NULL, 0, NULL), 0,
                 "%s", db_errmsg(d));

    json_t *res;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    cr_assert_eq(th_figure(res, "pendingOrders"), 3);
    cr_assert_eq(th_figure(res, "orders.pendingByStatus.pending"), 2);
    cr_assert_eq(th_figure(res, "orders.pendingByStatus.processing"), 1);
    cr_assert_eq(th_figure(res, "orders.total"), 8);
    cr_assert_eq(th_figure(res, "orders.byStatus.completed"), 3);
    cr_assert_eq(th_figure(res, "orders.byStatus.cancelled"), 1);
    json_t *rev = json_object_get(json_object_get(json_object_get(res, "results"), "orders"), "revenue");
    cr_assert(json_is_real(rev));
    cr_assert_float_eq(json_real_value(rev), 1234.86, 1e-9);
    char *text = json_dumps(rev, JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    cr_assert_str_eq(text, "1234.86");
    free(text);
    cr_assert_eq(th_figure(res, "jobs.byStatus.completed"), 3);
    cr_assert_eq(th_figure(res, "jobs.byStatus.pending"), 1);
    cr_assert_eq(th_figure(res, "jobs.byStatus.processing"), 0, "zero statuses are reported");
    cr_assert_eq(th_figure(res, "jobs.avgDurationMs"), 15000);
    json_t *dbok = json_object_get(json_object_get(json_object_get(res, "results"), "database"), "ok");
    cr_assert(json_is_true(dbok));
    cr_assert(json_is_number(json_object_get(json_object_get(json_object_get(res, "results"),
                                                             "database"), "latencyMs")));
    json_decref(res);
    rig_down(&r);
}

static int log_row(void *user, const rc_value *c, size_t n)
{
    json_t **out = user;
    cr_assert_eq(n, 5);
    *out = json_pack("{s:I, s:s, s:s, s:s, s:s}", "job_id", (json_int_t)c[0].i, "level", c[1].s,
                     "category", c[2].s, "message", c[3].s, "details", c[4].s);
    return 1;
}

DB_TEST(pipeline, job_log_row_dry_run_and_failing_step)
{
    rig r;
    rig_up(&r, kind, "plugins", ALL_STEPS);
    db *d = r.t.conn;
    th_job(d, "processing", 0, "w", T_MINUS_1H);
    session(d, "u1", "ACTIVE", 3, T_MINUS_1H, T_MINUS_1H);
    order(d, "pending", "1.00");

    /* Dry run: counts a real run would report; nothing written, no log row. */
    const char *tables[] = { "processing_jobs", "user_sessions", "orders", "processing_job_logs" };
    uint64_t sums[4];
    for (int i = 0; i < 4; i++)
        sums[i] = th_checksum(d, tables[i]);
    json_t *dry;
    cr_assert_eq(rig_run(&r, T, 1, &dry), RUN_SUCCESS);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(th_checksum(d, tables[i]), sums[i], "dry run changed %s", tables[i]);
    cr_assert(json_is_true(json_object_get(dry, "dryRun")));

    json_t *res;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    const char *keys[] = { "leasesRepaired", "jobsRequeued", "jobsFailed", "cooldownsCleared",
                           "followUpCandidates", "pendingOrders" };
    for (int i = 0; i < 6; i++)
        cr_assert_eq(th_figure(dry, keys[i]), th_figure(res, keys[i]), "%s", keys[i]);
    cr_assert_eq(th_figure(res, "leasesRepaired"), 1);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM processing_job_logs"), 1);
    json_t *row = NULL;
    cr_assert_eq(db_query(d, "SELECT job_id, level, category, message, details "
                          "FROM processing_job_logs", NULL, 0, log_row, &row), 0);
    cr_assert_eq(json_integer_value(json_object_get(row, "job_id")), 0);
    cr_assert_str_eq(json_string_value(json_object_get(row, "level")), "info");
    cr_assert_str_eq(json_string_value(json_object_get(row, "category")), "startup_reconciliation");
    cr_assert(strstr(json_string_value(json_object_get(row, "message")), "success"));
    json_t *details = json_loads(json_string_value(json_object_get(row, "details")), 0, NULL);
    cr_assert_not_null(details);
    cr_assert_eq(json_integer_value(json_object_get(details, "runId")),
                 json_integer_value(json_object_get(res, "runId")));
    cr_assert(json_equal(json_object_get(details, "results"), json_object_get(res, "results")));
    json_decref(details);
    json_decref(row);
    json_decref(res);
    json_decref(dry);

    /* A missing table fails its step; the others still run; level warning. */
    cr_assert_eq(db_exec(d, "DROP TABLE user_sessions", NULL, 0, NULL), 0);
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_PARTIAL);
    json_t *steps = json_object_get(res, "steps");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(steps, 1), "status")), "failed");
    for (int i = 0; i < 4; i++)
        if (i != 1)
            cr_assert_str_eq(json_string_value(json_object_get(json_array_get(steps, i), "status")), "ok");
    cr_assert(strstr(json_string_value(json_array_get(json_object_get(res, "errors"), 0)),
                     "followups: database: "));
    json_decref(res);
    row = NULL;
    cr_assert_eq(db_query(d, "SELECT job_id, level, category, message, details FROM "
                          "processing_job_logs ORDER BY id DESC", NULL, 0, log_row, &row), 0);
    cr_assert_str_eq(json_string_value(json_object_get(row, "level")), "warning");
    json_decref(row);
    rig_down(&r);
}

static int64_t results_int(json_t *res, const char *step, const char *dotted)
{
    json_t *steps = json_object_get(res, "steps"), *s;
    size_t i;
    json_array_foreach(steps, i, s) {
        if (strcmp(json_string_value(json_object_get(s, "name")), step) != 0)
            continue;
        json_t *v = json_object_get(s, "results");
        char *copy = strdup(dotted), *save = NULL;
        for (char *part = strtok_r(copy, ".", &save); part && v; part = strtok_r(NULL, ".", &save))
            v = json_object_get(v, part);
        free(copy);
        cr_assert(json_is_integer(v), "%s.%s missing", step, dotted);
        return json_integer_value(v);
    }
    cr_assert_fail("no step %s", step);
    return -1;
}

/*
 * SQLite compares datetimes as text: a value in another form than
 * "YYYY-MM-DD HH:MM:SS[.fff]" is misjudged (an ISO "T" sorts after every
 * space form; an integer sorts before all text, so a live lease stored as an
 * epoch looked expired and was requeued). Such rows are left alone and
 * counted; canonical ones, with or without a fraction, are repaired.
 */
Test(steps_sqlite, noncanonical_times_are_left_alone)
{
    rig r;
    rig_up(&r, DB_SQLITE, "plugins", "  - plugin: leases\n  - plugin: followups\n");
    db *d = r.t.conn;
    int64_t t_unix;
    cr_assert_eq(db_parse_time(T, &t_unix), 0);
    int64_t canonical = th_job(d, "processing", 1, "w", T_MINUS_1H);
    int64_t fraction = th_job(d, "processing", 1, "w", "2030-06-15 11:00:00.250");
    int64_t iso = th_job(d, "processing", 1, "w", "2030-06-15T11:00:00Z");
    int64_t iso_live = th_job(d, "processing", 1, "w", "2030-06-15T13:00:00");
    rc_value p[] = { rc_int(t_unix + 3600) }; /* a live lease, as an epoch */
    cr_assert_eq(db_exec(d, "INSERT INTO processing_jobs (job_type, status, attempts, locked_by, "
                         "locked_until) VALUES ('epoch', 'processing', 1, 'w-epoch', ?)", p, 1,
                         NULL), 0, "%s", db_errmsg(d));
    int64_t epoch = th_count(d, "SELECT MAX(id) FROM processing_jobs");
    cr_assert_eq(db_exec(d, "INSERT INTO user_sessions (user_id, follow_up_attempts, "
                         "cooldown_until, last_activity) VALUES "
                         "('ok', 2, '" T_MINUS_1H "', '" T "'), "
                         "('iso', 2, '2030-06-15T11:00:00', '" T "'), "
                         "('num', 2, 1, '2030-06-15T12:00:00')", NULL, 0, NULL), 0, "%s",
                 db_errmsg(d));

    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    cr_assert_eq(results_int(res, "leases", "leasesRepaired"), 2, "canonical and fraction");
    cr_assert_eq(results_int(res, "leases", "jobsRequeued"), 2);
    cr_assert_eq(results_int(res, "leases", "skippedTimes.processing_jobs.locked_until"), 3);
    cr_assert_str_eq(get_job(d, canonical).status, "retry");
    cr_assert_str_eq(get_job(d, fraction).status, "retry");
    for (int64_t id = iso; id <= epoch; id++) {
        job_state j = get_job(d, id);
        cr_assert_str_eq(j.status, "processing", "job %lld was judged", (long long)id);
        cr_assert(j.has_locked_by && j.has_locked_until, "job %lld lost its lease", (long long)id);
    }
    (void)iso_live;
    cr_assert_eq(results_int(res, "followups", "cooldownsCleared"), 1, "only the canonical one");
    cr_assert_eq(results_int(res, "followups", "skippedTimes.user_sessions.cooldown_until"), 2);
    cr_assert_eq(results_int(res, "followups", "skippedTimes.user_sessions.last_activity"), 1);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM user_sessions WHERE cooldown_until IS NULL"), 1);
    /* A dry run reports the same skipped counts. */
    json_decref(res);
    cr_assert_eq(rig_run(&r, T, 1, &res), RUN_SUCCESS);
    cr_assert_eq(results_int(res, "leases", "skippedTimes.processing_jobs.locked_until"), 3);
    json_decref(res);
    rig_down(&r);
}

/* MySQL's DATETIME columns cannot hold another form: nothing is reported there. */
Test(steps_mysql, no_skipped_times_on_mysql)
{
    rig r;
    rig_up(&r, DB_MYSQL, "plugins", "  - plugin: leases\n");
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    json_t *s0 = json_array_get(json_object_get(res, "steps"), 0);
    cr_assert_null(json_object_get(json_object_get(s0, "results"), "skippedTimes"));
    json_decref(res);
    rig_down(&r);
}
