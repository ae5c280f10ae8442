/* SPDX-License-Identifier: MIT */
/*
 * test_migrate_006.c - migration 006 drops the two covering indexes of 004
 * that every repair paid for (processing_jobs, user_sessions) and keeps the
 * orders one; it runs again over itself without an error, and after 004
 * was run again by hand.
 */
#include "helpers.h"
#include "db/migrate.h"

#include <stdio.h>
#include <string.h>

static int index_count(th_db *t, db_kind kind, const char *table, const char *index)
{
    char sql[512];
    if (kind == DB_MYSQL)
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM information_schema.statistics "
                 "WHERE table_schema = DATABASE() AND table_name = '%s' AND index_name = '%s'",
                 table, index);
    else
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' "
                 "AND tbl_name = '%s' AND name = '%s'", table, index);
    return (int)th_count(t->conn, sql);
}

static const migration *find(db_kind kind, const char *name)
{
    for (size_t i = 0; i < rc_migrations_count; i++)
        if (rc_migrations[i].kind == kind && strcmp(rc_migrations[i].name, name) == 0)
            return &rc_migrations[i];
    cr_assert_fail("no migration %s", name);
    return NULL;
}

static void assert_after_006(th_db *t, db_kind kind)
{
    cr_assert_eq(index_count(t, kind, "processing_jobs", "idx_processing_jobs_status_times"), 0);
    cr_assert_eq(index_count(t, kind, "user_sessions", "idx_user_sessions_candidates"), 0);
    cr_assert_gt(index_count(t, kind, "orders", "idx_orders_status_amount"), 0);
    /* The bot's own indexes stay. */
    cr_assert_gt(index_count(t, kind, "processing_jobs", "idx_processing_jobs_status_locked_until"),
                 0);
    cr_assert_gt(index_count(t, kind, "user_sessions", "idx_user_sessions_followup"), 0);
}

DB_TEST(migrate_006, drops_what_repairs_paid_for)
{
    th_db t;
    th_db_create(kind, &t);
    th_db_migrate(&t);
    assert_after_006(&t, kind);
    const migration *m4 = find(kind, "004_dashboard_indexes.sql");
    const migration *m6 = find(kind, "006_drop_dashboard_indexes.sql");
    cr_assert_eq(db_exec_script(t.conn, m6->sql), 0, "again: %s", db_errmsg(t.conn));
    assert_after_006(&t, kind);
    cr_assert_eq(db_exec_script(t.conn, m4->sql), 0, "%s", db_errmsg(t.conn));
    cr_assert_gt(index_count(&t, kind, "user_sessions", "idx_user_sessions_candidates"), 0);
    cr_assert_eq(db_exec_script(t.conn, m6->sql), 0, "%s", db_errmsg(t.conn));
    assert_after_006(&t, kind);
    th_db_destroy(&t);
}
