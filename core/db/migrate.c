/* SPDX-License-Identifier: MIT */
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
#include <stdlib.h>
#include <string.h>

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

/* 1 when version is recorded, 0 when not, -1 on error. */
static int is_applied(db *d, int version)
{
    rc_value p[] = { rc_int(version) };
    int64_t n = 0;
    if (db_query(d, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", p, 1, rc__count_row,
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

/* The applied versions and when, read once for migrate_status. */
typedef struct applied_rows {
    int versions[256];
    char at[256][32];
    size_t n;
} applied_rows;

static int applied_row(void *user, const rc_value *c, size_t n)
{
    applied_rows *a = user;
    if (n >= 2 && c[0].type == RC_INT && a->n < sizeof a->versions / sizeof a->versions[0]) {
        a->versions[a->n] = (int)c[0].i;
        snprintf(a->at[a->n], sizeof a->at[0], "%s", c[1].type == RC_TEXT ? c[1].s : "");
        a->n++;
    }
    return 0; /* every row */
}

int migrate_status(db *d, void (*each)(void *user, const migration *m, const char *applied_at),
                   void *user, char *err, size_t errlen)
{
    db_kind kind = db_get_kind(d);
    int64_t exists = 0;
    int pending = 0;
    applied_rows *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Nothing is created: a status must not change the database it looks at. */
    if (db_query(d, kind == DB_MYSQL
                        ? "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "
                          "DATABASE() AND table_name = 'schema_migrations'"
                        : "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = "
                          "'schema_migrations'",
                 NULL, 0, rc__count_row, &exists) != 0 ||
        (exists && db_query(d, kind == DB_MYSQL
                                   ? "SELECT version, CAST(applied_at AS CHAR) FROM "
                                     "schema_migrations ORDER BY version"
                                   : "SELECT version, applied_at FROM schema_migrations ORDER "
                                     "BY version",
                            NULL, 0, applied_row, a) != 0)) {
        snprintf(err, errlen, "cannot read schema_migrations: %s", db_errmsg(d));
        free(a);
        return -1;
    }
    for (size_t i = 0; i < rc_migrations_count; i++) {
        const migration *m = &rc_migrations[i];
        const char *at = NULL;
        if (m->kind != kind)
            continue;
        for (size_t k = 0; k < a->n && !at; k++)
            if (a->versions[k] == m->version)
                at = a->at[k];
        pending += !at;
        if (each)
            each(user, m, at);
    }
    free(a);
    return pending;
}
