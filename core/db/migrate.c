/*
 * migrate.c - see migrate.h. Applied versions are rows of schema_migrations.
 *
 * SQLite applies a migration and records it in one transaction, so a
 * migration is either wholly there or not at all. MySQL commits every DDL
 * statement by itself, so there a migration that failed half-way is simply
 * run again: every migration is written to be re-runnable (IF NOT EXISTS).
 */
#include "db/migrate.h"

#include <stdio.h>

#define MYSQL_DUP_ENTRY 1062

static const char mysql_table[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INT NOT NULL PRIMARY KEY,"
    " name VARCHAR(255) NOT NULL,"
    " applied_at DATETIME NOT NULL"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

static const char sqlite_table[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER NOT NULL PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at TEXT NOT NULL)";

static int count_row(void *user, const rc_value *cols, size_t n)
{
    int64_t *out = user;
    if (n >= 1 && cols[0].type == RC_INT)
        *out = cols[0].i;
    return 1;
}

/* 1 when version is recorded, 0 when not, -1 on error. */
static int is_applied(db *d, int version)
{
    rc_value p[] = { rc_int(version) };
    int64_t n = 0;
    if (db_query(d, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", p, 1, count_row,
                 &n) != 0)
        return -1;
    return n > 0;
}

static int record(db *d, const migration *m)
{
    db_clock now;
    if (db_now(d, &now) != 0)
        return -1;
    rc_value p[] = { rc_int(m->version), rc_text(m->name), rc_text(now.text) };
    return db_exec(d, "INSERT INTO schema_migrations (version, name, applied_at) "
                   "VALUES (?, ?, ?)", p, 3, NULL);
}

/*
 * Apply m unless recorded: 1 applied, 0 already there, -1 error. On SQLite
 * the check runs inside the write transaction, so two reconcilers migrating
 * one file at the same moment cannot both apply it.
 */
static int apply_one(db *d, const migration *m)
{
    int in_tx = db_get_kind(d) == DB_SQLITE;
    int have, rc = -1;
    if (in_tx && db_begin(d) != 0)
        return -1;
    if ((have = is_applied(d, m->version)) < 0)
        goto out;
    if (have) {
        rc = 0;
        goto out;
    }
    if (db_exec_script(d, m->sql) != 0)
        goto out;
    if (record(d, m) != 0) {
        /* MySQL: another reconciler recorded it first (both ran the same
         * idempotent script); that is no failure. */
        if (!in_tx && db_errcode(d) == MYSQL_DUP_ENTRY)
            rc = 0;
        goto out;
    }
    rc = 1;
out:
    if (in_tx) {
        if (rc >= 0 && db_commit(d) != 0)
            rc = -1;
        if (rc < 0)
            db_rollback(d);
    }
    return rc;
}

int migrate_apply(db *d, char *err, size_t errlen)
{
    const char *driver = db_driver_name(d);
    db_kind kind = db_get_kind(d);
    int applied = 0;

    if (db_exec(d, kind == DB_MYSQL ? mysql_table : sqlite_table, NULL, 0, NULL) != 0) {
        snprintf(err, errlen, "cannot create schema_migrations: %s", db_errmsg(d));
        return -1;
    }
    for (size_t i = 0; i < rc_migrations_count; i++) {
        const migration *m = &rc_migrations[i];
        if (m->kind != kind)
            continue;
        int rc = apply_one(d, m);
        if (rc < 0) {
            snprintf(err, errlen, "migration sql/%s/%s: %s", driver, m->name, db_errmsg(d));
            return -1;
        }
        applied += rc;
    }
    return applied;
}
