/* SPDX-License-Identifier: MIT */
/*
 * test_migrate_009.c - migration 009 moves 008's change records (one row
 * each) into sets of one record, each with its key row, under ids the
 * records keep in order, and drops the old table; the view reads them as
 * before and the list finds them by run and by row. On MySQL, where a
 * migration that failed half-way is run again, it runs again over itself
 * and over a half-done state without an error or a copy twice.
 */
#include "helpers.h"
#include "db/changes.h"
#include "db/migrate.h"

#include <stdio.h>
#include <string.h>

/* The database at 008: every migration below 009, run as migrate would. */
static void up_to_008(th_db *t, db_kind kind)
{
    for (size_t i = 0; i < rc_migrations_count; i++)
        if (rc_migrations[i].kind == kind && rc_migrations[i].version < 9)
            cr_assert_eq(db_exec_script(t->conn, rc_migrations[i].sql), 0, "%s: %s",
                         rc_migrations[i].name, db_errmsg(t->conn));
}

static const migration *m009(db_kind kind)
{
    for (size_t i = 0; i < rc_migrations_count; i++)
        if (rc_migrations[i].kind == kind && rc_migrations[i].version == 9)
            return &rc_migrations[i];
    cr_assert_fail("no migration 009");
    return NULL;
}

/* Three records of 008: two tables, a multibyte key, text that needs escaping. */
static void old_records(th_db *t, db_kind kind)
{
    const char *now = kind == DB_MYSQL ? "NOW(3)" : "strftime('%Y-%m-%d %H:%M:%f', 'now')";
    char sql[512];
    static const struct { int id, run; const char *step, *table, *key, *changes; } r[] = {
        { 5, 1, "leases", "processing_jobs", "17", "{\"status\":[\"processing\",\"retry\"]}" },
        { 6, 1, "followups", "user_sessions", "ü:日本", "{\"note\":[null,\"a \\\"quoted\\\" word\"]}" },
        { 9, 2, "leases", "processing_jobs", "17", "{\"status\":[\"retry\",\"failed\"]}" },
    };
    snprintf(sql, sizeof sql, "INSERT INTO reconciler_changes (id, run_id, job, step, "
             "table_name, row_key, changes, at) VALUES (?, ?, 'reconcile', ?, ?, ?, ?, %s)", now);
    for (size_t i = 0; i < sizeof r / sizeof *r; i++) {
        rc_value p[] = { rc_int(r[i].id), rc_int(r[i].run), rc_text(r[i].step),
                         rc_text(r[i].table), rc_text(r[i].key), rc_text(r[i].changes) };
        cr_assert_eq(db_exec(t->conn, sql, p, 6, NULL), 0, "%s", db_errmsg(t->conn));
    }
}

static void assert_moved(th_db *t)
{
    db *d = t->conn;
    cr_assert_eq(db_table_exists(d, "reconciler_changes"), 0, "the old table is gone");
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_sets WHERE keyed = 1"), 3);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_keys"), 3);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_rows"), 3);
    cr_assert_eq(th_count(d, "SELECT MAX(id) FROM reconciler_change_rows"),
                 9 * CHANGES_ID_SPAN + 1);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_rows WHERE row_key = "
                          "'ü:日本' AND table_name = 'user_sessions' AND step = 'followups'"), 1);

    /* One row's history, newest first, through its key rows. */
    changes_filter f = { .table = "processing_jobs", .key = "17", .limit = 10 };
    json_t *l = changes_list(d, &f);
    cr_assert_not_null(l, "%s", db_errmsg(d));
    cr_assert_eq(json_array_size(l), 2);
    json_t *c = json_array_get(l, 0);
    cr_assert_eq(json_integer_value(json_object_get(c, "id")), 9 * CHANGES_ID_SPAN + 1);
    cr_assert_eq(json_integer_value(json_object_get(c, "runId")), 2);
    cr_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(json_object_get(c, "changes"), "status"), 1)),
                     "failed");
    json_decref(l);

    /* A run's: the text came across whole. */
    changes_filter g = { .run_id = 1, .table = "user_sessions", .limit = 10 };
    l = changes_list(d, &g);
    cr_assert_not_null(l, "%s", db_errmsg(d));
    cr_assert_eq(json_array_size(l), 1);
    c = json_array_get(l, 0);
    cr_assert_str_eq(json_string_value(json_object_get(c, "key")), "ü:日本");
    json_t *note = json_object_get(json_object_get(c, "changes"), "note");
    cr_assert(json_is_null(json_array_get(note, 0)));
    cr_assert_str_eq(json_string_value(json_array_get(note, 1)), "a \"quoted\" word");
    json_decref(l);
}

DB_TEST(migrate_009, moves_the_records_of_008_into_sets)
{
    th_db t;
    th_db_create(kind, &t);
    up_to_008(&t, kind);
    old_records(&t, kind);
    cr_assert_eq(db_exec_script(t.conn, m009(kind)->sql), 0, "%s", db_errmsg(t.conn));
    assert_moved(&t);
    /* New sets take ids above the moved ones: the order of ids stays the order of records. */
    cr_assert_eq(db_exec(t.conn, kind == DB_MYSQL
                         ? "INSERT INTO reconciler_change_sets (run_id, job, step, table_name, "
                           "nrecords, records, at) VALUES (3, '', 's', 't', 1, '[[\"1\",{}]]', "
                           "NOW(3))"
                         : "INSERT INTO reconciler_change_sets (run_id, job, step, table_name, "
                           "nrecords, records, at) VALUES (3, '', 's', 't', 1, '[[\"1\",{}]]', "
                           "'2030-01-01 00:00:00')", NULL, 0, NULL), 0, "%s",
                 db_errmsg(t.conn));
    cr_assert_gt(th_count(t.conn, "SELECT MAX(id) FROM reconciler_change_sets"), 9);
    th_db_destroy(&t);
}

/* MySQL runs a half-done migration again (migrate.c): 009 over itself copies nothing twice. */
Test(migrate_009, runs_again_over_itself_mysql)
{
    th_db t;
    th_db_create(DB_MYSQL, &t);
    up_to_008(&t, DB_MYSQL);
    old_records(&t, DB_MYSQL);
    const migration *m = m009(DB_MYSQL);
    /* Half done: the sets copied, the key rows and the drop not yet. */
    cr_assert_eq(db_exec(t.conn, "CREATE TABLE reconciler_change_sets (id BIGINT NOT NULL "
                         "AUTO_INCREMENT PRIMARY KEY, run_id BIGINT NOT NULL, job VARCHAR(128) "
                         "NOT NULL, step VARCHAR(128) NOT NULL, table_name VARCHAR(64) NOT NULL, "
                         "nrecords INT NOT NULL, records MEDIUMTEXT NOT NULL, at DATETIME(3) NOT "
                         "NULL, keyed TINYINT NOT NULL DEFAULT 0, KEY "
                         "idx_reconciler_change_sets_run (run_id, id), KEY "
                         "idx_reconciler_change_sets_keyed (keyed, id)) "
                         "DEFAULT CHARSET=utf8mb4", NULL, 0, NULL), 0, "%s", db_errmsg(t.conn));
    cr_assert_eq(db_exec(t.conn, "INSERT INTO reconciler_change_sets SELECT id, run_id, job, step, "
                         "table_name, 1, JSON_ARRAY(JSON_ARRAY(row_key, JSON_EXTRACT(changes, "
                         "'$'))), at, 1 FROM reconciler_changes", NULL, 0, NULL), 0, "%s",
                 db_errmsg(t.conn));
    cr_assert_eq(db_exec_script(t.conn, m->sql), 0, "%s", db_errmsg(t.conn));
    assert_moved(&t);
    cr_assert_eq(db_exec_script(t.conn, m->sql), 0, "again: %s", db_errmsg(t.conn));
    assert_moved(&t);
    th_db_destroy(&t);
}
