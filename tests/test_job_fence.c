/* SPDX-License-Identifier: MIT */
/*
 * test_job_fence.c - a named job's writes are fenced by its own lock row.
 *
 * A job's run lock is the row named as the job (the one-job file's is
 * LOCK_NAME). The step worker was told LOCK_NAME whatever the job, so the
 * fence found no lease of the run's on that row and refused every write of a
 * named job: "lease lost", the step failed, nothing written. Both drivers.
 */
#include "helpers.h"
#include "th_fixture.h"
#include "th_svc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

DB_TEST(job_fence, a_named_jobs_writes_go_through_its_own_lock, .timeout = 60, SVC_FIXTURE)
{
    char *plugins = abs_build("plugins"), *text = NULL, *out = NULL, *err = NULL;
    th_db *t = fx_db(kind);
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "u%d", i);
        rc_value p[] = { rc_text(id) };
        cr_assert_eq(db_exec(t->conn, "INSERT INTO user_sessions (user_id, contact_status, "
                             "last_activity) VALUES (?, 'ACTIVE', '2020-01-01 00:00:00')", p, 1,
                             NULL), 0, "%s", db_errmsg(t->conn));
    }
    svc *s = fx_svc("", "", "  - plugin: fixture\n");
    cr_assert_neq(asprintf(&text, "database:\n  url: \"%s\"\nhistory:\n  path: %s\n"
                           "plugin_dir: %s\njobs:\n  cleanup:\n    lock_ttl: 3s\n    steps:\n"
                           "      - plugin: sql\n        name: stale\n        options:\n"
                           "          table: user_sessions\n          key: user_id\n"
                           "          where: \"contact_status = 'ACTIVE'\"\n"
                           "          set: \"contact_status = 'STALE'\"\n"
                           "          batch_size: 2\n          result: staleContacts\n",
                           t->url, s->hist, plugins), -1);
    th_write(s->yaml, text);
    char *pw = password_env(s);
    const char *const env[] = { pw, NULL };
    const char *const args[] = { "run", "--once", "--json", "--job", "cleanup", "-c", s->yaml,
                                 NULL };
    int rc = th_run_cli(args, env, &out, &err);
    cr_assert_eq(rc, 0, "exit %d\n%s\n%s", rc, out, err);
    json_t *r = json_loads(out, 0, NULL);
    cr_assert_not_null(r, "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "success", "%s", out);
    cr_assert_eq(json_integer_value(json_object_get(r, "rowsChanged")), 3, "%s", out);
    cr_assert_null(strstr(err, "lease lost"), "%s", err);
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM user_sessions WHERE contact_status = "
                          "'STALE'"), 3);
    /* The lease the run held (and its writes fenced by) is the job's row. */
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM reconciler_locks WHERE name = "
                          "'cleanup'"), 1);
    json_decref(r);
    free(pw);
    free(out);
    free(err);
    free(text);
    free(plugins);
}
