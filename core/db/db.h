/* SPDX-License-Identifier: MIT */
/*
 * db.h - one database interface, two drivers (MySQL/MariaDB and SQLite).
 *
 * Every statement is prepared and its values bound; nothing from data is ever
 * pasted into SQL text. Datetimes travel as "YYYY-MM-DD HH:MM:SS" text in the
 * session's time zone, the zone the bot's own sessions write in: by default
 * the server's default zone (db_options.time_zone "server"), which is what
 * NOW() and DEFAULT CURRENT_TIMESTAMP use in the bot's sessions too. SQLite
 * has no zones: its 'now' is UTC, optionally shifted by a fixed offset.
 */
#ifndef RC_DB_H
#define RC_DB_H

#include <stddef.h>
#include <stdint.h>
#include "reconciler.h"

typedef struct db db;

typedef enum db_kind { DB_MYSQL = 1, DB_SQLITE = 2 } db_kind;

/* A parsed database URL. Strings are owned by the struct (db_url_free). */
typedef struct db_url {
    db_kind kind;
    char *user;     /* mysql */
    char *password; /* mysql: only if the URL carried one (discouraged) */
    char *host;     /* mysql: NULL with a socket */
    unsigned port;  /* mysql: 0 = default */
    char *socket;   /* mysql: ?socket=/path */
    char *database; /* mysql: database name */
    char *path;     /* sqlite: file path (":memory:" allowed) */
} db_url;

/*
 * Parse "mysql://USER[:PASS]@HOST[:PORT]/DB", "mysql://USER@/DB?socket=/path"
 * or "sqlite:PATH". A relative sqlite PATH is resolved against base_dir (may be
 * NULL: left as is). Returns 0, or -1 with a message in err that never
 * contains the password.
 */
int db_url_parse(const char *url, const char *base_dir, db_url *out, char *err, size_t errlen);
void db_url_free(db_url *u);

/* Write url with any password replaced by "***", for messages. */
void db_url_redact(const char *url, char *out, size_t outlen);

typedef struct db_options {
    const char *password;    /* overrides the URL's password when non-NULL */
    /*
     * The session's time zone: NULL or "server" keeps the server's default
     * (SQLite: UTC); "+HH:MM"/"-HH:MM" a fixed offset; any other name a named
     * zone (MySQL only, and only where the server has its zone tables).
     */
    const char *time_zone;
    int connect_timeout_s;   /* 0 = 10 */
    int read_timeout_s;      /* 0 = 300: longer than the longest statement */
    int write_timeout_s;     /* 0 = 60 */
    int busy_timeout_ms;     /* SQLite: wait this long for another writer (0: write_timeout) */
    /*
     * SQLite: open an existing file for reading only, creating nothing, so
     * that it can be read on a read-only or full filesystem (a WAL file
     * whose -shm cannot be created there is read as immutable).
     */
    int read_only;
} db_options;

/* Return codes of db_open. */
#define DB_OK 0
#define DB_ERROR (-1)       /* e.g. bad URL, SQLite file cannot be created */
#define DB_UNREACHABLE (-2) /* the server did not answer within the timeout */

/*
 * Connect. On failure *out is NULL and err says what failed, on which host or
 * file, and never contains the password.
 */
int db_open(const db_url *url, const db_options *opt, db **out, char *err, size_t errlen);
void db_close(db *d); /* accepts NULL */

db_kind db_get_kind(const db *d);
const char *db_driver_name(const db *d); /* "mysql" or "sqlite" */

/* See rc_api.db_exec / db_query in reconciler.h. Return 0 or -1. */
int db_exec(db *d, const char *sql, const rc_value *params, size_t n, int64_t *affected);
int db_query(db *d, const char *sql, const rc_value *params, size_t n, rc_row_fn fn, void *user);

/*
 * The core's own read (change records' before- and after-reads): as
 * db_query, without the guard's care for a plugin's SQL (on MySQL a
 * savepoint and a rollback to it around every query in a read-write
 * transaction: two round trips more each time). Never for plugin SQL.
 */
int db_query_core(db *d, const char *sql, const rc_value *params, size_t n, rc_row_fn fn,
                  void *user);

/*
 * The core's own write that returns rows (SQLite's UPDATE ... RETURNING,
 * for change records): refused as db_exec refuses a statement, and only
 * inside an open transaction while the session is guarded; each row goes
 * to fn, and *affected is the number of rows. 0 or -1.
 */
int db_exec_rows(db *d, const char *sql, const rc_value *params, size_t n, rc_row_fn fn,
                 void *user, int64_t *affected);
/*
 * Compile sql on the server (or in SQLite) without running it: 0, or -1
 * with the error (syntax, unknown table or column). The statement stays in
 * the statement cache for the run that follows.
 */
int db_prepare(db *d, const char *sql);
int db_begin(db *d);
/*
 * Commit. With a fence set (db_set_fence) and a transaction that may write,
 * the fence runs first, inside the transaction: when it says the lease is
 * gone, the transaction is rolled back and -1 returned ("lease lost").
 */
int db_commit(db *d);
int db_rollback(db *d);

/*
 * The guard on a session that runs plugin SQL (a step's). Whatever the
 * guard, a guarded db_query never writes: its statement must start with
 * SELECT, WITH, VALUES, TABLE, SHOW or '(' (anything else is refused before
 * it reaches the server), and the database itself refuses a write hidden in
 * one (a function that writes, SELECT ... FOR UPDATE):
 *   - MySQL: outside a transaction the session is read-only on the server
 *     (SET SESSION TRANSACTION READ ONLY); inside a read-write transaction
 *     the query runs between a SAVEPOINT and a ROLLBACK TO it, so whatever
 *     it wrote is undone;
 *   - SQLite: an authorizer allows reads only, and sqlite3_stmt_readonly()
 *     must agree.
 * DB_GUARD_WRITE_TX (a run, a max_changes rehearsal): the session is
 * read-only on the server (SQLite: PRAGMA query_only) except inside
 * db_begin's transactions, which are read-write; a db_exec outside one gets
 * a transaction of its own (so every write is fenced, see db_set_fence).
 * db_exec refuses what would end a transaction behind our back: transaction
 * control (BEGIN, COMMIT, SAVEPOINT, XA...), SET ... TRANSACTION or
 * read_only, and on MySQL statements that commit implicitly (DDL but
 * CREATE/DROP TEMPORARY, LOCK TABLES).
 * DB_GUARD_READ_ONLY (a dry run, a probe, prepare()): transactions are
 * read-only too: nothing this session runs can write.
 * DB_GUARD_OFF: the service's own connections, as opened.
 * Not inside a transaction. 0, or -1 with the error.
 */
typedef enum db_guard { DB_GUARD_OFF = 0, DB_GUARD_WRITE_TX = 1, DB_GUARD_READ_ONLY = 2 } db_guard;
int db_set_guard(db *d, db_guard g);
db_guard db_get_guard(const db *d);
/* Is a transaction open (db_begin, not yet committed or rolled back)? */
int db_in_transaction(const db *d);

/*
 * A fence: called inside every read-write transaction of a guarded session
 * just before its COMMIT (db_commit, each chunk, each db_exec that gets a
 * transaction of its own). 1: the lease is live, commit; 0: it is not
 * (rolled back, "lease lost"); -1: error (db_errmsg; rolled back). NULL
 * clears it. lock_fence (lock.h) is the run lock's.
 */
typedef int (*db_fence_fn)(db *d, void *arg);
void db_set_fence(db *d, db_fence_fn fn, void *arg);

/*
 * Run a script of several statements separated by ';' at the end of a line
 * (migrations: our own files, never data). 0 or -1.
 */
int db_exec_script(db *d, const char *script);

/* Last error: "mysql error 1146: Table 'x.y' doesn't exist" or "" */
const char *db_errmsg(const db *d);
int db_errcode(const db *d);
/* Non-zero when the last error is a deadlock, lock wait timeout or busy. */
int db_retryable(const db *d);
/* Non-zero when the last error means the connection is gone. */
int db_lost(const db *d);

/*
 * Ping the server (MySQL): 0 when the connection answers, -1 with the error
 * (db_lost() tells whether it is gone, e.g. after a server restart). SQLite: 0.
 */
int db_ping(db *d);

/* The database clock at one instant, as the session sees it. */
typedef struct db_clock {
    int64_t unix_s; /* Unix seconds (UTC) */
    int offset_s;   /* the session's offset from UTC at that instant, seconds east */
    char text[RC_TIME_TEXT_SIZE]; /* "YYYY-MM-DD HH:MM:SS" in the session's zone:
                                     what NOW() gives */
    char zone[8];   /* the offset as "+HH:MM" */
} db_clock;

/*
 * Read the clock: NOW() and UNIX_TIMESTAMP() in one statement, so that the
 * text and the Unix time are the same instant and their difference is the
 * session's offset. 0, or -1 with the error.
 */
int db_now(db *d, db_clock *out);

/*
 * A clock for a given session text at a given offset (tests and
 * --reference-time style uses): 0, or -1 when text is not a time.
 */
int db_clock_from_text(const char *text, int offset_s, db_clock *out);

/*
 * unix_s as the session of c would write it: with c's offset. Times days
 * before T come out exactly as DATE_SUB(NOW(), INTERVAL n DAY) would.
 */
void db_clock_format(const db_clock *c, int64_t unix_s, char *out, size_t outlen);

/* "+HH:MM" for an offset in seconds (out: 8 bytes). */
void db_offset_text(int offset_s, char out[8]);
/* Parse "+HH:MM", "-HH:MM" or "+H:MM" (hours 0-14): 0 and *offset_s, or -1. */
int db_parse_offset(const char *text, int *offset_s);

/*
 * "YYYY-MM-DD HH:MM:SS" <-> Unix seconds, UTC. Parse returns 0 or -1. out
 * holds RC_TIME_TEXT_SIZE bytes; a smaller outlen gets "" (never a cut time).
 */
void db_format_time(int64_t unix_s, char *out, size_t outlen);
int db_parse_time(const char *text, int64_t *unix_s);

/*
 * The server's id of this connection (MySQL CONNECTION_ID()), so that
 * another connection can KILL it: > 0, 0 on SQLite, -1 on error.
 */
int64_t db_connection_id(db *d);

/*
 * A stop cuts every wait on the database: once the process is asked to stop
 * (base/stop.h), a wait of this process on the database that has lasted
 * grace_ms since the stop (a connect, a statement, a ping, a SQLite busy
 * lock) ends at once with an error that says so, instead of running to its
 * timeout: a frozen server cannot hold a stopping process. MySQL: connects
 * use the client's non-blocking API and check the stop between polls; a
 * watcher thread shuts down the socket of a connection whose statement
 * still waits (the server rolls back its open transaction). SQLite: the
 * busy handler checks the stop. The grace lets a healthy server answer the
 * last statements of a stop (releasing the run lock, the run's record).
 * 0 (the default) turns it off: step workers finish their statement and
 * stop at a chunk boundary; their supervisor kills them if they do not.
 */
void db_cut_waits_on_stop(int64_t grace_ms);
/* The grace the service and run --once give: a healthy server answers well within it. */
#define DB_STOP_GRACE_MS 500

/* Does table exist in the connected database? 1 yes, 0 no, -1 error. */
int db_table_exists(db *d, const char *table);

#endif
