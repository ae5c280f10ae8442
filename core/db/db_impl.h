/* SPDX-License-Identifier: MIT */
/*
 * db_impl.h - what db.c shares with the two drivers (db_mysql.c, db_sqlite.c).
 * Nothing outside core/db*.c includes this file.
 *
 * db.c owns the handle, the last error and everything that is the same for
 * both drivers (URLs, time text, db_now, db_table_exists, the statement cache).
 * A driver fills a db_driver table and keeps its own state behind db->impl.
 */
#ifndef RC_DB_IMPL_H
#define RC_DB_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include "db/db.h"

/* Steps run the same few statements once per chunk: keep them prepared. */
#define DB_STMT_CACHE 16

/*
 * A small LRU cache of prepared statements keyed by SQL text. A statement is
 * taken out of the cache while it runs and given back afterwards, so a nested
 * query with the same text (SQLite allows that from a row callback) never
 * shares a statement that is still stepping: it misses and prepares its own.
 */
typedef struct stmt_cache {
    char *sql[DB_STMT_CACHE];
    void *stmt[DB_STMT_CACHE];
    uint64_t used[DB_STMT_CACHE]; /* tick of the last give; 0 = empty slot */
    uint64_t tick;
    void (*finalize)(void *stmt);
} stmt_cache;

void stmt_cache_init(stmt_cache *c, void (*finalize)(void *stmt));
/* Take the statement for sql out of the cache; NULL on a miss. */
void *stmt_cache_take(stmt_cache *c, const char *sql);
/* Give a statement back (or for the first time), evicting the least used. */
void stmt_cache_give(stmt_cache *c, const char *sql, void *stmt);
/* Finalize every cached statement. */
void stmt_cache_clear(stmt_cache *c);

typedef struct db_driver {
    db_kind kind;
    const char *name; /* "mysql" or "sqlite": also the prefix of error messages */

    /* Connect d->impl; DB_OK, DB_ERROR or DB_UNREACHABLE with a message in err. */
    int (*open)(db *d, const db_url *u, const db_options *o, char *err, size_t errlen);
    void (*close)(db *d);

    /* As db_exec ... db_exec_script; on failure they call db_set_error. */
    int (*exec)(db *d, const char *sql, const rc_value *p, size_t n, int64_t *affected);
    int (*query)(db *d, const char *sql, const rc_value *p, size_t n, rc_row_fn fn, void *user);
    /* mode: DB_TX_PLAIN, DB_TX_READ_WRITE or DB_TX_READ_ONLY (see db.c). */
    int (*begin)(db *d, int mode);
    int (*commit)(db *d);
    int (*rollback)(db *d);
    int (*exec_script)(db *d, const char *script);
    /* As db_prepare: compile sql (kept in the statement cache), run nothing. */
    int (*prepare)(db *d, const char *sql);

    /*
     * The session's default for statements outside an explicit transaction:
     * read-only on the server (1) or not (0). 0, or -1 after db_set_error.
     */
    int (*set_read_only)(db *d, int on);

    /* Is the connection alive? 0, or -1 after db_set_error. */
    int (*ping)(db *d);

    /* Classify an error code of this driver. */
    int (*retryable)(int code);
    int (*lost)(int code);
} db_driver;

extern const db_driver db_mysql_driver;
extern const db_driver db_sqlite_driver;

struct db {
    const db_driver *drv;
    void *impl;
    /* SQLite only: 'now' is shifted by this fixed offset (time_zone "+HH:MM"). */
    int sqlite_offset_s;
    db_guard guard;     /* db_set_guard: DB_GUARD_OFF unless a step runs */
    int in_tx;          /* between db_begin and its commit or rollback */
    int tx_rw;          /* ...and that transaction may write (it is fenced) */
    int query_depth;    /* SQLite: a guarded db_query runs (its authorizer refuses writes) */
    db_fence_fn fence;  /* db_set_fence, or NULL */
    void *fence_arg;
    int errcode;        /* 0 = no error */
    char errmsg[1024];  /* "driver error CODE: message" or "" */
};

/* db_begin's modes, for the drivers. */
#define DB_TX_PLAIN 0     /* as the session's default (unguarded handles) */
#define DB_TX_READ_WRITE 1 /* a guarded run's write transaction */
#define DB_TX_READ_ONLY 2  /* a guarded dry run's transaction */

/*
 * db_cut_waits_on_stop: has a wait that began at since_ms (monotonic) gone
 * on long enough past a stop to be cut? Async-safe: atomics only.
 */
int db_stop_cuts(int64_t since_ms);
int64_t db_mono_ms(void);
/* MySQL: start the watcher thread that cuts statements (db_mysql.c). */
void db_mysql_watch_start(void);

/* Record the last error as "<driver> error CODE: message". */
void db_set_error(db *d, int code, const char *fmt, ...) RC_PRINTF(3, 4);
/* Forget it (a driver that recovered by itself, e.g. by preparing again). */
void db_clear_error(db *d);

#endif
