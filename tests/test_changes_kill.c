/* SPDX-License-Identifier: MIT */
/*
 * test_changes_kill.c - change records survive a SIGKILL as the changes do:
 * `run --once` killed while its chunks commit leaves exactly one record per
 * changed row (both are in each chunk's transaction), and the run that
 * finishes the work keeps them one to one.
 */
#include "th_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOBS 5000

/* Records minus requeued rows, read in one statement (one snapshot). */
static int64_t records_minus_rows(db *d)
{
    return th_count(d, "SELECT (SELECT COUNT(*) FROM reconciler_changes) - "
                       "(SELECT COUNT(*) FROM processing_jobs WHERE status = 'retry')");
}

DB_TEST(changes_kill, killed_run_leaves_one_record_per_changed_row, .timeout = 90, SVC_FIXTURE)
{
    th_db *t = fx_db(kind);
    const char *fill = kind == DB_MYSQL
        ? "INSERT INTO processing_jobs (job_type, status, attempts, locked_by, locked_until) "
          "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
          "SELECT 'k', 'processing', 1, 'dead', '2020-01-01 00:00:00' FROM n"
        : "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
          "INSERT INTO processing_jobs (job_type, status, attempts, locked_by, locked_until) "
          "SELECT 'k', 'processing', 1, 'dead', '2020-01-01 00:00:00' FROM n";
    const char *steps = kind == DB_MYSQL ? "  - plugin: leases\n    options: { batch_size: 5 }\n"
                                         : "  - plugin: leases\n    options: { batch_size: 2 }\n";
    if (kind == DB_MYSQL)
        cr_assert_eq(db_exec(t->conn, "SET SESSION max_recursive_iterations = 100000", NULL, 0,
                             NULL), 0, "%s", db_errmsg(t->conn));
    cr_assert_eq(db_exec(t->conn, fill, NULL, 0, NULL), 0, "%s", db_errmsg(t->conn));
    svc *s = fx_svc("schedule:\n  lock_ttl: 3s\n", "", steps);
    char *out = th_path(th_tmpdir(), "once.json");
    s->pid = spawn(s, NULL, out);
    int64_t end = mono_ms() + 30000, done;
    while ((done = th_count(t->conn, "SELECT COUNT(*) FROM reconciler_changes")) < 300) {
        cr_assert_lt(mono_ms(), end, "no progress: %s", th_read(s->errlog));
        sleep_ms(5);
    }
    kill(s->pid, SIGKILL);
    cr_assert_eq(svc_wait_exit(s, 5000), 128 + SIGKILL);
    done = th_count(t->conn, "SELECT COUNT(*) FROM processing_jobs WHERE status = 'retry'");
    cr_assert_lt(done, JOBS, "the run finished before the kill: make it longer");
    cr_assert_eq(records_minus_rows(t->conn), 0, "records and changed rows differ after the kill");
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(DISTINCT row_key) FROM reconciler_changes"),
                 th_count(t->conn, "SELECT COUNT(*) FROM reconciler_changes"));

    /* The next run (after the dead run's lease) finishes, one record per row still. */
    char *yaml = th_read(s->yaml);
    char *at = strstr(yaml, "batch_size: ");
    cr_assert(at, "%s", yaml);
    FILE *f = fopen(s->yaml, "w");
    cr_assert(f);
    fprintf(f, "%.*sbatch_size: 500%s", (int)(at - yaml), yaml,
            strchr(at, ' ') + strspn(strchr(at, ' '), " 0123456789"));
    fclose(f);
    free(yaml);
    char *o = NULL, *e = NULL;
    int rc = run_once(s, 1, &o, &e);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, e);
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM processing_jobs WHERE status = 'retry'"),
                 JOBS);
    cr_assert_eq(records_minus_rows(t->conn), 0);
    free(o);
    free(e);
    free(out);
}
