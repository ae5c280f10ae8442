/* SPDX-License-Identifier: MIT */
/* test_scenario_check.c - tools/scenario-check on both drivers: every scenario
 * passes, and it removes exactly the rows it created. */
#include "helpers.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

DB_TEST(scenario_check, passes_and_cleans_up)
{
    th_db t;
    th_db_create(kind, &t);
    th_db_migrate(&t);
    db *d = t.conn;
    /* Rows of the bot's own that no step changes: they must survive as they are. */
    cr_assert_eq(db_exec(d, "INSERT INTO processing_jobs (job_type, status) VALUES "
                         "('send', 'completed'), ('send', 'pending')", NULL, 0, NULL), 0);
    cr_assert_eq(db_exec(d, "INSERT INTO user_sessions (user_id, last_activity) VALUES "
                         "('u1', '2020-01-01 00:00:00')", NULL, 0, NULL), 0);
    cr_assert_eq(db_exec(d, "INSERT INTO orders (order_number, processing_status, total_amount) "
                         "VALUES ('A-1', 'completed', 5.5)", NULL, 0, NULL), 0);
    const char *tables[] = { "processing_jobs", "user_sessions", "orders" };
    uint64_t sums[3];
    for (int i = 0; i < 3; i++)
        sums[i] = th_checksum(d, tables[i]);

    char bin[PATH_MAX], plugins[PATH_MAX], *env1 = NULL;
    snprintf(bin, sizeof bin, "%s/reconciler-scenario-check", th_build());
    snprintf(plugins, sizeof plugins, "%s/plugins", th_build());
    cr_assert_neq(asprintf(&env1, "RECONCILER_DB_PASSWORD=%s", t.password ? t.password : ""), -1);
    const char *const env[] = { env1, NULL };
    char *out, *err;
    int rc = th_run_prog(bin, (const char *const[]){ "--db", t.url, "--plugin-dir", plugins, NULL },
                         env, &out, &err);
    cr_assert_eq(rc, 0, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert(strstr(out, "PASS  expired lease"), "%s", out);
    cr_assert(strstr(out, "PASS  live lease"), "%s", out);
    cr_assert(strstr(out, "PASS  dry run predicts the real run"), "%s", out);
    cr_assert_null(strstr(out, "FAIL"), "%s", out);
    cr_assert(strstr(out, "17 passed, 0 failed"), "%s", out);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(th_checksum(d, tables[i]), sums[i], "%s changed", tables[i]);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM processing_jobs WHERE job_type = 'rv-scenario'"), 0);
    /* The real run's own log row stays as the record of it. */
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM processing_job_logs"), 1);
    free(out); free(err); free(env1);
    th_db_destroy(&t);
}

Test(scenario_check, usage_without_db)
{
    char bin[PATH_MAX], *out, *err;
    snprintf(bin, sizeof bin, "%s/reconciler-scenario-check", th_build());
    cr_assert_eq(th_run_prog(bin, (const char *const[]){ NULL }, NULL, &out, &err), 2);
    cr_assert(strstr(err, "Usage: tools/scenario-check"), "%s", err);
    free(out); free(err);
}
