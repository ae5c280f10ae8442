/* SPDX-License-Identifier: MIT */
/* test_migrate.c - schema migrations on both drivers. */
#include "helpers.h"
#include "db/migrate.h"

#include <string.h>

static const char *const tables[] = {
    "processing_jobs", "user_sessions", "orders", "processing_job_logs", "reconciler_locks",
    "schema_migrations", "reconciler_change_sets", "reconciler_change_keys",
};

static int migrations_for(db_kind kind)
{
    int n = 0;
    for (size_t i = 0; i < rc_migrations_count; i++)
        n += rc_migrations[i].kind == kind;
    return n;
}

typedef struct applied {
    int n;
    int64_t version[16];
    char name[16][64];
    int times_ok;
} applied;

static int applied_row(void *user, const rc_value *c, size_t n)
{
    applied *a = user;
    cr_assert_eq(n, 3);
    cr_assert_eq(c[0].type, RC_INT);
    cr_assert_eq(c[1].type, RC_TEXT);
    if (a->n < 16) {
        a->version[a->n] = c[0].i;
        snprintf(a->name[a->n], sizeof a->name[0], "%s", c[1].s);
        a->times_ok += c[2].type == RC_TEXT && db_parse_time(c[2].s, NULL) == 0;
    }
    a->n++;
    return 0;
}

DB_TEST(migrate, applies_once_then_nothing)
{
    th_db t;
    char err[512] = "";
    applied a = { 0 };
    th_db_create(kind, &t);
    int want = migrations_for(kind);
    /* MySQL has 003 (lock times to the millisecond); SQLite's text times need none. */
    cr_assert_eq(want, kind == DB_MYSQL ? 9 : 8);

    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        cr_assert_eq(db_table_exists(t.conn, tables[i]), 0, "%s before", tables[i]);
    cr_assert_eq(migrate_apply(t.conn, err, sizeof err), want, "%s", err);
    cr_assert_eq(migrate_apply(t.conn, err, sizeof err), 0, "%s", err);
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        cr_assert_eq(db_table_exists(t.conn, tables[i]), 1, "%s after", tables[i]);

    cr_assert_eq(db_query(t.conn, "SELECT version, name, applied_at FROM schema_migrations "
                          "ORDER BY version", NULL, 0, applied_row, &a), 0, "%s",
                 db_errmsg(t.conn));
    cr_assert_eq(a.n, want);
    cr_assert_eq(a.times_ok, want, "applied_at holds a datetime");
    cr_assert_eq(a.version[0], 1);
    cr_assert_str_eq(a.name[0], "001_bot_tables.sql");
    cr_assert_eq(a.version[1], 2);
    cr_assert_str_eq(a.name[1], "002_reconciler_locks.sql");
    if (kind == DB_MYSQL) {
        cr_assert_eq(a.version[2], 3);
        cr_assert_str_eq(a.name[2], "003_lock_millis.sql");
    }
    /* 004 on: the last six, on both drivers. */
    static const char *const tail[] = { "004_dashboard_indexes.sql", "005_lock_fence.sql",
                                        "006_drop_dashboard_indexes.sql", "007_job_slots.sql",
                                        "008_change_records.sql", "009_change_sets.sql" };
    int ntail = (int)(sizeof tail / sizeof *tail);
    for (int i = 0; i < ntail; i++) {
        cr_assert_eq(a.version[want - ntail + i], 4 + i);
        cr_assert_str_eq(a.name[want - ntail + i], tail[i]);
    }

    /* A fresh connection agrees that nothing is left to do. */
    db_close(t.conn);
    db_url u;
    cr_assert_eq(db_url_parse(t.url, NULL, &u, err, sizeof err), 0, "%s", err);
    db_options o = { .password = t.password };
    cr_assert_eq(db_open(&u, &o, &t.conn, err, sizeof err), DB_OK, "%s", err);
    db_url_free(&u);
    cr_assert_eq(migrate_apply(t.conn, err, sizeof err), 0, "%s", err);
    th_db_destroy(&t);
}

typedef struct job {
    rc_value v[6];
    char text[6][32];
} job;

static int job_row(void *user, const rc_value *c, size_t n)
{
    job *j = user;
    cr_assert_eq(n, 6);
    for (size_t i = 0; i < n; i++) {
        j->v[i] = c[i];
        if (c[i].type == RC_TEXT) {
            snprintf(j->text[i], sizeof j->text[i], "%s", c[i].s);
            j->v[i].s = j->text[i];
        }
    }
    return 1;
}

DB_TEST(migrate, tables_have_the_bot_defaults)
{
    th_db t;
    job j = { 0 };
    th_db_create(kind, &t);
    th_db_migrate(&t);
    db *d = t.conn;

    cr_assert_eq(db_exec(d, "INSERT INTO processing_jobs (job_type, payload) VALUES (?, ?)",
                         (rc_value[]){ rc_text("send_message"), rc_text("not json, on purpose") },
                         2, NULL), 0, "%s", db_errmsg(d));
    cr_assert_eq(db_query(d, "SELECT id, status, attempts, locked_until, created_at, updated_at "
                          "FROM processing_jobs", NULL, 0, job_row, &j), 0, "%s", db_errmsg(d));
    cr_assert_eq(j.v[0].type, RC_INT);
    cr_assert_eq(j.v[0].i, 1);
    cr_assert_str_eq(j.v[1].s, "pending");
    cr_assert_eq(j.v[2].type, RC_INT);
    cr_assert_eq(j.v[2].i, 0);
    cr_assert_eq(j.v[3].type, RC_NULL);
    cr_assert_eq(db_parse_time(j.v[4].s, NULL), 0, "created_at '%s'", j.v[4].s);
    cr_assert_eq(db_parse_time(j.v[5].s, NULL), 0, "updated_at '%s'", j.v[5].s);

    /* The status set is enforced (ENUM in strict mode, CHECK in SQLite). */
    cr_assert_eq(db_exec(d, "INSERT INTO processing_jobs (job_type, status) VALUES ('x', 'bogus')",
                         NULL, 0, NULL), -1);
    cr_assert_eq(db_exec(d, "INSERT INTO orders (order_number, processing_status) "
                         "VALUES ('o1', 'shipped')", NULL, 0, NULL), -1);

    cr_assert_eq(db_exec(d, "INSERT INTO orders (order_number, total_amount) VALUES ('o2', ?)",
                         (rc_value[]){ rc_text("12.50") }, 1, NULL), 0, "%s", db_errmsg(d));
    cr_assert_eq(db_query(d, "SELECT total_amount, processing_status, customer_phone, id, "
                          "created_at, order_number FROM orders", NULL, 0, job_row, &j), 0,
                 "%s", db_errmsg(d));
    cr_assert_eq(j.v[0].type, RC_DOUBLE);
    cr_assert_float_eq(j.v[0].d, 12.5, 1e-9);
    cr_assert_str_eq(j.v[1].s, "pending");
    cr_assert_eq(j.v[2].type, RC_NULL);

    cr_assert_eq(db_exec(d, "INSERT INTO user_sessions (user_id, last_activity) VALUES (?, ?)",
                         (rc_value[]){ rc_text("+5215550000001"), rc_text("2024-01-01 00:00:00") },
                         2, NULL), 0, "%s", db_errmsg(d));
    cr_assert_eq(db_query(d, "SELECT contact_status, follow_up_attempts, cooldown_until, "
                          "last_activity, user_id, user_id FROM user_sessions", NULL, 0, job_row,
                          &j), 0, "%s", db_errmsg(d));
    cr_assert_str_eq(j.v[0].s, "ACTIVE");
    cr_assert_eq(j.v[1].i, 0);
    cr_assert_eq(j.v[2].type, RC_NULL);
    cr_assert_str_eq(j.v[3].s, "2024-01-01 00:00:00");

    /* Log lines: job_id 0 by default, created_at with milliseconds. */
    cr_assert_eq(db_exec(d, "INSERT INTO processing_job_logs (level, category, message) "
                         "VALUES ('info', 'startup_reconciliation', 'ok')", NULL, 0, NULL), 0,
                 "%s", db_errmsg(d));
    cr_assert_eq(db_query(d, "SELECT job_id, created_at, level, category, message, details "
                          "FROM processing_job_logs", NULL, 0, job_row, &j), 0, "%s",
                 db_errmsg(d));
    cr_assert_eq(j.v[0].i, 0);
    cr_assert_eq(strlen(j.v[1].s), 23, "'%s'", j.v[1].s);
    cr_assert_eq(j.v[1].s[19], '.');
    cr_assert_eq(db_parse_time(j.v[1].s, NULL), 0, "'%s'", j.v[1].s);
    cr_assert_eq(j.v[5].type, RC_NULL);

    cr_assert_eq(db_exec(d, "INSERT INTO reconciler_locks (name, holder, locked_at, lock_until) "
                         "VALUES ('run', 'host-1', ?, ?)",
                         (rc_value[]){ rc_text("2024-01-01 00:00:00"),
                                       rc_text("2024-01-01 00:05:00") }, 2, NULL), 0, "%s",
                 db_errmsg(d));
    cr_assert_eq(db_exec(d, "INSERT INTO reconciler_locks (name, holder, locked_at, lock_until) "
                         "VALUES ('run', 'host-2', ?, ?)",
                         (rc_value[]){ rc_text("2024-01-01 00:00:00"),
                                       rc_text("2024-01-01 00:05:00") }, 2, NULL), -1,
                 "one row per lock name");
    th_db_destroy(&t);
}

DB_TEST(migrate, adopts_an_existing_bot_database)
{
    th_db t;
    char err[512] = "";
    th_db_create(kind, &t);
    /*
     * The bot created its jobs table already (with fewer columns, but those
     * the steps read and 004 indexes) and has a row.
     */
    cr_assert_eq(db_exec(t.conn, "CREATE TABLE processing_jobs (id INTEGER PRIMARY KEY, "
                         "job_type VARCHAR(64) NOT NULL, status VARCHAR(16), "
                         "locked_until DATETIME, created_at DATETIME, started_at DATETIME, "
                         "finished_at DATETIME)", NULL, 0, NULL), 0, "%s",
                 db_errmsg(t.conn));
    cr_assert_eq(db_exec(t.conn, "INSERT INTO processing_jobs (id, job_type) VALUES (7, 'x')",
                         NULL, 0, NULL), 0, "%s", db_errmsg(t.conn));
    cr_assert_eq(migrate_apply(t.conn, err, sizeof err), migrations_for(kind), "%s", err);
    cr_assert_eq(th_count(t.conn, "SELECT id FROM processing_jobs WHERE job_type = 'x'"), 7);
    cr_assert_eq(db_table_exists(t.conn, "orders"), 1);
    th_db_destroy(&t);
}

DB_TEST(migrate, failure_names_the_file_and_the_error)
{
    th_db t;
    char err[512] = "";
    th_db_create(kind, &t);
    /* A schema_migrations of another shape: the version check cannot run. */
    cr_assert_eq(db_exec(t.conn, "CREATE TABLE schema_migrations (other INT)", NULL, 0, NULL), 0,
                 "%s", db_errmsg(t.conn));
    cr_assert_eq(migrate_apply(t.conn, err, sizeof err), -1);
    const char *file = kind == DB_MYSQL ? "sql/mysql/001_bot_tables.sql"
                                        : "sql/sqlite/001_bot_tables.sql";
    cr_assert(strstr(err, file), "%s", err);
    cr_assert(strstr(err, "version"), "%s", err);
    cr_assert_eq(db_table_exists(t.conn, "processing_jobs"), 0);
    th_db_destroy(&t);
}

static const char *const endpoint_indexes[][2] = {
    { "processing_jobs", "idx_processing_jobs_status_times" },
    { "orders", "idx_orders_status_amount" },
    { "user_sessions", "idx_user_sessions_candidates" },
};

static int index_count(th_db *t, const char *table, const char *index)
{
    char sql[512];
    if (t->kind == DB_MYSQL)
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM information_schema.statistics "
                 "WHERE table_schema = DATABASE() AND table_name = '%s' AND index_name = '%s'",
                 table, index);
    else
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' "
                 "AND tbl_name = '%s' AND name = '%s'", table, index);
    return (int)th_count(t->conn, sql);
}

/*
 * 004 adds the live endpoints' indexes, and runs again over itself without
 * an error (MySQL commits each DDL by itself, so a failed migration is run
 * again; MySQL has no ADD INDEX IF NOT EXISTS).
 */
DB_TEST(migrate, endpoint_indexes_are_added_once)
{
    th_db t;
    const migration *m = NULL;
    th_db_create(kind, &t);
    th_db_migrate(&t);
    for (size_t i = 0; i < rc_migrations_count; i++)
        if (rc_migrations[i].kind == kind &&
            strcmp(rc_migrations[i].name, "004_dashboard_indexes.sql") == 0)
            m = &rc_migrations[i];
    cr_assert_not_null(m);
    /* 006 drops two of them: 004 run again puts them back. */
    cr_assert_eq(db_exec_script(t.conn, m->sql), 0, "%s", db_errmsg(t.conn));
    for (size_t i = 0; i < sizeof endpoint_indexes / sizeof endpoint_indexes[0]; i++)
        cr_assert_gt(index_count(&t, endpoint_indexes[i][0], endpoint_indexes[i][1]), 0,
                     "%s.%s", endpoint_indexes[i][0], endpoint_indexes[i][1]);
    cr_assert_eq(db_exec_script(t.conn, m->sql), 0, "again: %s", db_errmsg(t.conn));
    /* Dropped by hand, an index comes back when the migration runs again. */
    cr_assert_eq(db_exec(t.conn, kind == DB_MYSQL
                         ? "ALTER TABLE orders DROP INDEX idx_orders_status_amount"
                         : "DROP INDEX idx_orders_status_amount", NULL, 0, NULL), 0, "%s",
                 db_errmsg(t.conn));
    cr_assert_eq(index_count(&t, "orders", "idx_orders_status_amount"), 0);
    cr_assert_eq(db_exec_script(t.conn, m->sql), 0, "%s", db_errmsg(t.conn));
    cr_assert_gt(index_count(&t, "orders", "idx_orders_status_amount"), 0);
    th_db_destroy(&t);
}
