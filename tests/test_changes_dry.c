/* SPDX-License-Identifier: MIT */
/*
 * test_changes_dry.c - a dry run records nothing and says what it would
 * record: each step's wouldRecordChanges (and the run's sum) is the number
 * of change records the real run then writes, on both drivers; the terminal
 * summary says it too.
 */
#include "helpers.h"

#include <stdlib.h>
#include <string.h>

#define T "2030-06-15 12:00:00"
#define PAST "2001-01-01 00:00:00"   /* before T and before now: expired, ended */
#define FUTURE "2099-01-01 00:00:00" /* after both: live */

#define STEPS(FOLLOWUPS_EXTRA)                                                          \
    "  - plugin: leases\n"                                                             \
    "  - plugin: followups\n" FOLLOWUPS_EXTRA                                          \
    "  - plugin: sql\n    name: cancel\n    options:\n      table: orders\n"           \
    "      set: \"processing_status = 'cancelled'\"\n"                                 \
    "      where: \"processing_status = 'pending'\"\n      result: cancelled\n"

static void exec_ok(db *d, const char *sql)
{
    cr_assert_eq(db_exec(d, sql, NULL, 0, NULL), 0, "%s: %s", sql, db_errmsg(d));
}

/*
 * Rows a real run changes: 3 jobs (an expired lease in 'processing', one in
 * 'completed', a 'processing' job without one), 2 ended cooldowns, 2
 * pending orders; and rows it leaves alone of each kind.
 */
static void fill(db *d)
{
    exec_ok(d, "INSERT INTO processing_jobs (job_type, status, attempts, locked_by, locked_until) "
               "VALUES ('t', 'processing', 0, 'w1', '" PAST "'), "
               "('t', 'completed', 1, 'w2', '" PAST "'), ('t', 'processing', 1, 'w3', NULL), "
               "('t', 'processing', 0, 'w4', '" FUTURE "'), ('t', 'completed', 1, NULL, NULL)");
    exec_ok(d, "INSERT INTO user_sessions (user_id, follow_up_attempts, cooldown_until, "
               "last_activity) VALUES ('u1', 2, '" PAST "', '" PAST "'), "
               "('u2', 1, '" PAST "', '" PAST "'), ('u3', 1, '" FUTURE "', '" PAST "'), "
               "('u4', 0, NULL, '" PAST "')");
    exec_ok(d, "INSERT INTO orders (order_number, processing_status) VALUES ('O1', 'pending'), "
               "('O2', 'pending'), ('O3', 'completed')");
}

static json_t *step(json_t *res, size_t i)
{
    return json_array_get(json_object_get(res, "steps"), i);
}

static json_int_t field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    cr_assert(json_is_integer(v), "%s is not an integer", key);
    return json_integer_value(v);
}

DB_TEST(changes_dry, would_record_what_the_real_run_records)
{
    rig r;
    rig_up(&r, kind, "plugins", STEPS(""));
    db *d = r.t.conn;
    fill(d);
    json_t *dry = NULL, *real = NULL;
    cr_assert_eq(rig_run(&r, T, 1, &dry), RUN_SUCCESS);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_rows"), 0, "a dry run recorded");
    const json_int_t want[] = { 3, 2, 2 };
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(field(step(dry, i), "wouldRecordChanges"), want[i], "step %zu", i);
        cr_assert_eq(field(step(dry, i), "changesRecorded"), 0);
        /* It is the step's own field, not one of its figures. */
        cr_assert_null(json_object_get(json_object_get(step(dry, i), "results"),
                                       "wouldRecordChanges"));
    }
    cr_assert_eq(field(dry, "wouldRecordChanges"), 7);
    cr_assert_null(json_object_get(json_object_get(dry, "results"), "wouldRecordChanges"));

    /* The real run writes exactly that many, and says nothing of "would". */
    cr_assert_eq(rig_run(&r, T, 0, &real), RUN_SUCCESS);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(field(step(real, i), "changesRecorded"), want[i], "step %zu", i);
        cr_assert_null(json_object_get(step(real, i), "wouldRecordChanges"));
    }
    cr_assert_null(json_object_get(real, "wouldRecordChanges"));
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_rows"), 7);

    /* Now nothing is left to change: nothing would be recorded. */
    json_decref(dry);
    cr_assert_eq(rig_run(&r, T, 1, &dry), RUN_SUCCESS);
    cr_assert_eq(field(dry, "wouldRecordChanges"), 0);
    json_decref(dry);
    json_decref(real);
    rig_down(&r);
}

DB_TEST(changes_dry, record_changes_false_would_record_nothing)
{
    rig r;
    rig_up(&r, kind, "plugins", STEPS("    record_changes: false\n"));
    fill(r.t.conn);
    json_t *dry = NULL;
    cr_assert_eq(rig_run(&r, T, 1, &dry), RUN_SUCCESS);
    cr_assert_eq(field(step(dry, 0), "wouldRecordChanges"), 3);
    cr_assert_eq(field(step(dry, 1), "wouldRecordChanges"), 0);
    cr_assert_eq(field(dry, "wouldRecordChanges"), 5);
    json_decref(dry);
    rig_down(&r);
}

#define RUN(...) ((const char *const[]){ __VA_ARGS__, NULL })

DB_TEST(changes_dry, summary_says_what_it_would_record)
{
    rig r;
    rig_up(&r, kind, "plugins", STEPS(""));
    fill(r.t.conn);
    char *out = NULL, *err = NULL;
    int rc = th_run_cli(RUN("run", "--once", "--dry-run", "-c", r.yaml), NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert(strstr(out, "nothing recorded (dry run); a real run would record 7 change records"),
              "%s", out);
    cr_assert_eq(th_count(r.t.conn, "SELECT COUNT(*) FROM reconciler_change_rows"), 0);
    free(out);
    free(err);
    rig_down(&r);
}
