/* SPDX-License-Identifier: MIT */
/*
 * test_cluster.c - what running beside other database nodes needs, on one
 * MariaDB: the clock-skew check the run lock makes at each take
 * (schedule.max_clock_skew), simulated with SET TIMESTAMP on a session, and
 * the refusal of a read-only server (an asynchronous replica). The cluster
 * itself is tested by tests/galera/ (make test-galera).
 */
#include "helpers.h"
#include "th_server.h"
#include "db/lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* This session's clock moved by offset_ms from the real one (frozen there). */
static void skew_session(db *d, int64_t offset_ms)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SET TIMESTAMP = UNIX_TIMESTAMP(NOW(6)) + %lld / 1000",
             (long long)offset_ms);
    cr_assert_eq(db_exec(d, "SET TIMESTAMP = DEFAULT", NULL, 0, NULL), 0, "%s", db_errmsg(d));
    cr_assert_eq(db_exec(d, sql, NULL, 0, NULL), 0, "%s", db_errmsg(d));
}

Test(cluster, clock_skew_is_measured_both_ways)
{
    th_db t;
    th_db_create(DB_MYSQL, &t);
    char err[512];
    int64_t skew, unc;
    cr_assert_eq(lock_clock_skew(t.conn, &skew, &unc, err, sizeof err), 0, "%s", err);
    cr_assert(skew > -250 && skew < 250, "one host, one clock: %lld ms", (long long)skew);
    cr_assert_geq(unc, 0);
    skew_session(t.conn, 5000);
    cr_assert_eq(lock_clock_skew(t.conn, &skew, &unc, err, sizeof err), 0, "%s", err);
    cr_assert(skew > 4750 && skew < 5250, "5 s ahead: %lld ms", (long long)skew);
    skew_session(t.conn, -5000);
    cr_assert_eq(lock_clock_skew(t.conn, &skew, &unc, err, sizeof err), 0, "%s", err);
    cr_assert(skew > -5250 && skew < -4750, "5 s behind: %lld ms", (long long)skew);
    th_db_destroy(&t);
}

/* Both sides of a 1 s bound, ahead and behind, 300 ms from it. */
Test(cluster, clock_skew_bound_both_sides)
{
    th_db t;
    th_db_create(DB_MYSQL, &t);
    static const struct { int64_t offset; int want; const char *word; } cases[] = {
        { 700, 1, NULL }, { 1300, 0, "ahead of" }, { -700, 1, NULL }, { -1300, 0, "behind" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        int64_t skew = 0;
        skew_session(t.conn, cases[i].offset);
        int rc = lock_check_skew(t.conn, 1000, &skew, err, sizeof err);
        cr_assert_eq(rc, cases[i].want, "offset %lld ms: %d (%s)", (long long)cases[i].offset,
                     rc, err);
        if (cases[i].word) {
            cr_assert(strstr(err, cases[i].word) && strstr(err, "schedule.max_clock_skew"),
                      "%s", err);
            cr_assert(strstr(err, "1.3") || strstr(err, "1.2"), "says by how much: %s", err);
        }
    }
    /* 0 turns the check off, however far the clock is. */
    char err[512];
    skew_session(t.conn, 3600 * 1000);
    cr_assert_eq(lock_check_skew(t.conn, 0, NULL, err, sizeof err), 1);
    th_db_destroy(&t);
}

/* SQLite shares this host's clock: nothing to measure. */
Test(cluster, clock_skew_sqlite_is_zero)
{
    th_db t;
    th_db_create(DB_SQLITE, &t);
    char err[512];
    int64_t skew = 1, unc = 1;
    cr_assert_eq(lock_clock_skew(t.conn, &skew, &unc, err, sizeof err), 0);
    cr_assert_eq(skew, 0);
    cr_assert_eq(unc, 0);
    cr_assert_eq(lock_check_skew(t.conn, 1, NULL, err, sizeof err), 1);
    th_db_destroy(&t);
}

static int run_on(const char *url, const char *password, char **err)
{
    char *yaml = th_path(th_tmpdir(), "ro.yaml"), *text = NULL, *out = NULL;
    char *pw = NULL;
    cr_assert_neq(asprintf(&text, "database:\n  url: \"%s\"\nhistory:\n  path: ro-history.db\n"
                           "plugin_dir: %s\nsteps:\n  - plugin: leases\n", url,
                           th_build_path("plugins")), -1);
    th_write(yaml, text);
    if (password)
        cr_assert_neq(asprintf(&pw, "RECONCILER_DB_PASSWORD=%s", password), -1);
    const char *const env[] = { pw, NULL };
    const char *const mig[] = { "migrate", "-c", yaml, NULL };
    char *e = NULL;
    cr_assert_eq(th_run_cli(mig, env, &out, &e), 0, "migrate: %s", e);
    free(out);
    free(e);
    const char *const args[] = { "run", "--once", "-c", yaml, NULL };
    int rc = th_run_cli(args, env, &out, err);
    free(out);
    free(pw);
    free(text);
    free(yaml);
    return rc;
}

/*
 * A read-only server (what an asynchronous replica is) is refused with a
 * message that says what to point at, even for a user whose privileges let
 * it write there anyway (root has READ ONLY ADMIN); a writable one runs.
 */
Test(cluster, read_only_server_is_refused, .timeout = 60)
{
    th_server srv;
    const char *const extra[] = { "--read-only", NULL };
    th_server_start(&srv, extra);
    char *url = th_server_db(&srv, "bot");
    char *err = NULL;
    int rc = run_on(url, NULL, &err);
    cr_assert_eq(rc, 3, "exit %d: %s", rc, err);
    cr_assert(strstr(err, "read-only (read_only = ON)") && strstr(err, "database.url"), "%s",
              err);
    free(err);
    free(url);
    th_server_destroy(&srv);

    th_db t;
    th_db_create(DB_MYSQL, &t);
    rc = run_on(t.url, t.password, &err);
    cr_assert_eq(rc, 0, "a writable server runs: exit %d: %s", rc, err);
    free(err);
    th_db_destroy(&t);
}
