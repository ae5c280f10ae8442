/* SPDX-License-Identifier: MIT */
/*
 * test_race.c - the leases step beside live workers on MariaDB.
 *
 * While the pipeline runs in a loop, two worker processes race it: one renews
 * expired leases, one completes jobs. Afterwards every lease a worker renewed
 * is still held, and every job a worker completed is still completed with no
 * error: the step's UPDATEs re-check their conditions, so a write that lost
 * the race overwrites nothing.
 */
#include "helpers.h"
#include "th_race.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define JOBS 3000
#define ROUNDS 4

static int64_t count_where(db *d, const char *sql, int64_t id)
{
    rc_value p[] = { rc_int(id) };
    int64_t v = -1;
    cr_assert_eq(db_query(d, sql, p, 1, rc__count_row, &v), 0, "%s", db_errmsg(d));
    return v;
}

Test(race, workers_never_lose_to_the_reconciler, .timeout = 120)
{
    rig r;
    rig_up(&r, DB_MYSQL, "plugins", "  - plugin: leases\n    options: { batch_size: 25 }\n");
    db *d = r.t.conn;
    cr_assert_eq(db_exec(d, "SET STATEMENT max_recursive_iterations = 10000 FOR "
                         "INSERT INTO processing_jobs (job_type) WITH RECURSIVE n(i) AS "
                         "(SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
                         "SELECT 'race' FROM n", NULL, 0, NULL),
                 0, "%s", db_errmsg(d));
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM processing_jobs"), JOBS);
    char *renewed = th_path(th_tmpdir(), "renewed"), *completed = th_path(th_tmpdir(), "completed");
    int64_t total_renewed = 0, total_completed = 0, runs = 0;

    for (int round = 0; round < ROUNDS; round++) {
        /* Every job: processing under a lease that just expired. */
        cr_assert_eq(db_exec(d, "UPDATE processing_jobs SET status = 'processing', "
                             "locked_by = 'dead', locked_until = NOW() - INTERVAL 1 SECOND, "
                             "last_error = NULL", NULL, 0, NULL), 0, "%s", db_errmsg(d));
        th_lease_racers(&r.t, JOBS, renewed, completed);
        runs += th_run_beside_racers(&r);

        FILE *f = fopen(renewed, "r");
        int id;
        cr_assert_not_null(f);
        while (fscanf(f, "%d", &id) == 1) {
            total_renewed++;
            cr_assert_eq(count_where(d, "SELECT COUNT(*) FROM processing_jobs WHERE id = ? AND "
                                     "status = 'processing' AND locked_by = 'renewer' AND "
                                     "locked_until > NOW()", id), 1,
                         "round %d: job %d's renewed lease was taken", round, id);
        }
        fclose(f);
        f = fopen(completed, "r");
        cr_assert_not_null(f);
        while (fscanf(f, "%d", &id) == 1) {
            total_completed++;
            cr_assert_eq(count_where(d, "SELECT COUNT(*) FROM processing_jobs WHERE id = ? AND "
                                     "status = 'completed' AND last_error IS NULL", id), 1,
                         "round %d: completed job %d was touched", round, id);
        }
        fclose(f);
    }
    /* The race was real: both sides won some rows. */
    cr_assert_gt(total_renewed, 0);
    cr_assert_gt(total_completed, 0);
    cr_assert_gt(th_count(d, "SELECT COUNT(*) FROM processing_jobs WHERE status = 'retry'"), 0);
    cr_log_info("race: %lld runs, %lld renewals and %lld completions won by workers",
                (long long)runs, (long long)total_renewed, (long long)total_completed);
    free(renewed);
    free(completed);
    rig_down(&r);
}
