/* SPDX-License-Identifier: MIT */
/*
 * migrate.h - schema migrations, embedded in the binary at build time from
 * sql/mysql/NNN_name.sql and sql/sqlite/NNN_name.sql (tools/embed-sql), so
 * that an installed reconciler needs no source tree.
 */
#ifndef RC_MIGRATE_H
#define RC_MIGRATE_H

#include <stddef.h>
#include "db/db.h"

typedef struct migration {
    db_kind kind;
    int version;       /* NNN */
    const char *name;  /* file name, e.g. "001_bot_tables.sql" */
    const char *sql;   /* the file's text */
} migration;

/* Generated: every migration, sorted by kind then version. */
extern const migration rc_migrations[];
extern const size_t rc_migrations_count;

/*
 * Apply, in order, every migration for d's driver that the
 * schema_migrations table does not list yet, recording each. Idempotent.
 * Returns the number applied (>= 0), or -1 with err naming the file and the
 * database error.
 */
int migrate_apply(db *d, char *err, size_t errlen);

/*
 * Which of d's driver's migrations are applied, creating nothing: each(user,
 * m, applied_at) for every one in order, applied_at NULL while pending (each
 * may be NULL). Returns the number pending (all of them when schema_migrations
 * does not exist yet), or -1 with err.
 */
int migrate_status(db *d, void (*each)(void *user, const migration *m, const char *applied_at),
                   void *user, char *err, size_t errlen);

#endif
