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
    return th_count(d, "SELECT (SELECT COUNT(*) FROM reconciler_change_rows) - "
                       "(SELECT COUNT(*) FROM processing_jobs WHERE status = 'retry')");
}

DB_TEST(changes_kill, killed_run_leaves_one_record_per_changed_row, .timeout = 90, SVC_FIXTURE)
{
    th_db *t = fx_db(kind);
    const char *steps = kind == DB_MYSQL ? "  - plugin: leases\n    options: { batch_size: 5 }\n"
                                         : "  - plugin: leases\n    options: { batch_size: 2 }\n";
    th_dead_leases(t, JOBS);
    svc *s = fx_svc("schedule:\n  lock_ttl: 3s\n", "", steps);
    char *out = th_path(th_tmpdir(), "once.json");
    s->pid = spawn(s, NULL, out);
    svc_kill_at(s, t->conn, "SELECT COUNT(*) FROM reconciler_change_rows", 300, 30000);
    int64_t done = th_count(t->conn, "SELECT COUNT(*) FROM processing_jobs WHERE status = 'retry'");
    cr_assert_lt(done, JOBS, "the run finished before the kill: make it longer");
    cr_assert_eq(records_minus_rows(t->conn), 0, "records and changed rows differ after the kill");
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(DISTINCT row_key) FROM reconciler_change_rows"),
                 th_count(t->conn, "SELECT COUNT(*) FROM reconciler_change_rows"));

    /* The next run (after the dead run's lease) finishes, one record per row still. */
    svc_set_batch_size(s, 500);
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
