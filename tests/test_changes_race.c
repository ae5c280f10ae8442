/* SPDX-License-Identifier: MIT */
/*
 * test_changes_race.c - change records beside live workers on MariaDB: while
 * the leases step runs in a loop, workers renew and complete the same jobs.
 * Every record's before-values are the values its write replaced (read under
 * the chunk's row locks), no row a worker won has a record, and records and
 * requeued rows match one to one.
 */
#include "helpers.h"
#include "th_race.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define JOBS 2000

typedef struct check {
    int64_t n, bad;
    char why[256];
} check;

static int record_row(void *user, const rc_value *c, size_t n)
{
    check *k = user;
    cr_assert_eq(n, 2);
    json_t *ch = json_loads(c[1].s, 0, NULL);
    cr_assert_not_null(ch);
    const char *bs = json_string_value(json_array_get(json_object_get(ch, "status"), 0));
    const char *as = json_string_value(json_array_get(json_object_get(ch, "status"), 1));
    const char *bl = json_string_value(json_array_get(json_object_get(ch, "locked_by"), 0));
    if (!bs || strcmp(bs, "processing") != 0 || !as || strcmp(as, "retry") != 0 || !bl ||
        strcmp(bl, "dead") != 0) {
        if (!k->bad++)
            snprintf(k->why, sizeof k->why, "row %s: %s", c[0].s, c[1].s);
    }
    k->n++;
    json_decref(ch);
    return 0;
}

static void no_record_for(db *d, const char *path)
{
    FILE *f = fopen(path, "r");
    int id;
    cr_assert_not_null(f);
    while (fscanf(f, "%d", &id) == 1) {
        rc_value p[] = { rc_int(id) };
        int64_t v = -1;
        char key[32];
        snprintf(key, sizeof key, "%d", id);
        p[0] = rc_text(key);
        cr_assert_eq(db_query(d, "SELECT COUNT(*) FROM reconciler_change_rows WHERE "
                              "table_name = 'processing_jobs' AND row_key = ?", p, 1,
                              rc__count_row, &v), 0);
        cr_assert_eq(v, 0, "job %d, won by a worker, has a record", id);
    }
    fclose(f);
}

Test(changes_race, before_values_are_what_the_write_replaced, .timeout = 120)
{
    rig r;
    rig_up(&r, DB_MYSQL, "plugins", "  - plugin: leases\n    options: { batch_size: 25 }\n");
    db *d = r.t.conn;
    cr_assert_eq(db_exec(d, "SET STATEMENT max_recursive_iterations = 10000 FOR "
                         "INSERT INTO processing_jobs (job_type, status, locked_by, locked_until) "
                         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE "
                         "i < 2000) SELECT 'race', 'processing', 'dead', NOW() - INTERVAL 1 "
                         "SECOND FROM n", NULL, 0, NULL), 0, "%s", db_errmsg(d));
    char *renewed = th_path(th_tmpdir(), "renewed"), *completed = th_path(th_tmpdir(), "completed");
    th_lease_racers(&r.t, JOBS, renewed, completed);
    th_run_beside_racers(&r);
    json_t *res;
    rig_run(&r, NULL, 0, &res); /* the last expired leases the workers left */
    json_decref(res);

    check k = { 0 };
    cr_assert_eq(db_query(d, "SELECT row_key, changes FROM reconciler_change_rows ORDER BY id", NULL,
                          0, record_row, &k), 0, "%s", db_errmsg(d));
    cr_assert_eq(k.bad, 0, "%lld records with wrong values, first %s", (long long)k.bad, k.why);
    int64_t requeued = th_count(d, "SELECT COUNT(*) FROM processing_jobs WHERE status = 'retry'");
    cr_assert_gt(requeued, 0);
    cr_assert_eq(k.n, requeued, "records %lld, requeued rows %lld", (long long)k.n,
                 (long long)requeued);
    cr_assert_eq(th_count(d, "SELECT COUNT(DISTINCT row_key) FROM reconciler_change_rows"), k.n);
    no_record_for(d, renewed);
    no_record_for(d, completed);
    free(renewed);
    free(completed);
    rig_down(&r);
}
