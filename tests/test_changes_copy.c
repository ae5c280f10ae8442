/* SPDX-License-Identifier: MIT */
/*
 * test_changes_copy.c - a change declaration need only live during its
 * declare_changes call: the core keeps a copy until the chunked call that
 * consumes it. (followups declared from its stack frame, gone by the chunked
 * call: under ThreadSanitizer's build the frame was reused and the step
 * failed with "a change declaration needs a plain table".)
 */
#include "helpers.h"
#include "db/changes.h"

#include <stdlib.h>
#include <string.h>

#define T "2030-06-15 12:00:00"
#define T_MINUS_1H "2030-06-15 11:00:00"

/* The scribble fixture overwrites its declaration after declaring it: the records are right. */
DB_TEST(changes_copy, a_declaration_overwritten_after_the_call_is_recorded_as_declared)
{
    rig r;
    rig_up(&r, kind, "tests/plugins", "  - plugin: scribble\n");
    db *d = r.t.conn;
    for (int i = 0; i < 5; i++)
        cr_assert_eq(db_exec(d, "INSERT INTO processing_jobs (job_type, status, attempts, "
                             "locked_by, locked_until) VALUES ('test', 'processing', 0, 'w1', '"
                             T_MINUS_1H "')", NULL, 0, NULL), 0, "%s", db_errmsg(d));
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS, "%s", json_dumps(res, 0));
    json_t *s = json_array_get(json_object_get(res, "steps"), 0);
    cr_assert_eq(json_integer_value(json_object_get(s, "changesRecorded")), 5);
    cr_assert_eq(json_integer_value(json_object_get(s, "unrecordedChanges")), 0);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_rows WHERE table_name = "
                             "'processing_jobs' AND step = 'scribble'"), 5);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_rows WHERE changes LIKE "
                             "'%locked_by%' AND changes LIKE '%locked_until%'"), 5);
    json_decref(res);
    rig_down(&r);
}

/* The copy is whole and independent; an entry without a table is all zero. */
Test(changes_copy, copies_every_string_and_column_list)
{
    char table[16] = "t1", key[16] = "id", c0[16] = "a", c1[16] = "b", where[32] = "x > ?";
    const char *cols[] = { c0, c1 };
    rc_change_decl in[3] = { { table, key, cols, 2, where, 1 },
                             { NULL, (const char *)1, (const char *const *)1, 99, NULL, 7 },
                             { "t2", "k", cols, 1, "y < ?", 0 } };
    rc_change_decl *out = changes_copy(in, 3);
    cr_assert_not_null(out);
    memset(table, 0, sizeof table);
    memset(key, 0, sizeof key);
    memset(c0, 0, sizeof c0);
    memset(c1, 0, sizeof c1);
    memset(where, 0, sizeof where);
    cols[0] = cols[1] = "gone";
    cr_assert_str_eq(out[0].table, "t1");
    cr_assert_str_eq(out[0].key_column, "id");
    cr_assert_eq(out[0].ncolumns, 2);
    cr_assert_str_eq(out[0].columns[0], "a");
    cr_assert_str_eq(out[0].columns[1], "b");
    cr_assert_str_eq(out[0].where, "x > ?");
    cr_assert_eq(out[0].where_param, 1);
    cr_assert_null(out[1].table);
    cr_assert_null(out[1].columns);
    cr_assert_eq(out[1].ncolumns, 0);
    cr_assert_str_eq(out[2].table, "t2");
    cr_assert_eq(out[2].ncolumns, 1);
    cr_assert_str_eq(out[2].columns[0], "a");
    cr_assert_str_eq(out[2].where, "y < ?");
    free(out);
    cr_assert_null(changes_copy(in, 0));
}
