/* SPDX-License-Identifier: MIT */
/*
 * db_sqlite.c - the SQLite driver. The bot's own database file is opened as
 * it is: we never change its journal mode, only turn on foreign keys and
 * a busy timeout for this connection.
 */
#include "db/db_impl.h"
#include "base/util.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

typedef struct busy_state busy_state;
static int busy_wait(void *arg, int count);

typedef struct lite_db {
    sqlite3 *conn;
    struct busy_state {
        int timeout_ms;
        int64_t since;
    } busy;
    stmt_cache cache;
    /* Statements of guarded queries, prepared under the read-only authorizer
     * (never shared with db_exec's, which were not). */
    stmt_cache query_cache;
} lite_db;

#define LITE(d) ((lite_db *)(d)->impl)

/* ------------------------------------------------------------- errors */

static int lite_retryable(int code)
{
    return (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED;
}

static int lite_lost(int code)
{
    (void)code; /* a file does not go away like a server */
    return 0;
}

static void lite_fail(db *d, int code)
{
    db_set_error(d, code, "%s", sqlite3_errmsg(LITE(d)->conn));
}

/* --------------------------------------------------------------- open */

static void finalize_stmt(void *st)
{
    sqlite3_finalize(st);
}

/* SQLite's own message for a missing folder is "unable to open database file". */
static int check_folder(const char *path, char *err, size_t errlen)
{
    struct stat sb;
    char *copy = xstrdup(path);
    int rc = -1;
    const char *dir = dirname(copy);
    if (stat(dir, &sb) != 0)
        snprintf(err, errlen, "cannot create SQLite database %s: folder %s: %s", path, dir,
                 strerror(errno));
    else if (!S_ISDIR(sb.st_mode))
        snprintf(err, errlen, "cannot create SQLite database %s: %s is not a folder", path, dir);
    else
        rc = 0;
    free(copy);
    return rc;
}

/*
 * The busy handler: waits for another writer up to the busy timeout, in
 * sleeps of 1 ms. SQLite's own handler sleeps up to 100 ms at a time, which
 * a writer that commits and begins again within a few ms (a chunk loop)
 * outruns every time: the run lock's renewal then starved behind a step's
 * chunks and failed with "database is locked". Short sleeps find the gap.
 * A stop ends the wait (db_cut_waits_on_stop).
 */
static int busy_wait(void *arg, int count)
{
    busy_state *b = arg;
    int64_t now = db_mono_ms();
    if (count == 0)
        b->since = now;
    if (now - b->since >= b->timeout_ms || db_stop_cuts(b->since))
        return 0;
    struct timespec ts = { 0, 1000000L };
    nanosleep(&ts, NULL);
    return 1;
}

static int lite_setup(sqlite3 *c, busy_state *busy, const char *path, const db_options *o,
                      char *err, size_t errlen)
{
    int ms = o->busy_timeout_ms > 0 ? o->busy_timeout_ms
                                    : (o->write_timeout_s > 0 ? o->write_timeout_s : 10) * 1000;
    const char *what = "set a busy timeout";
    busy->timeout_ms = ms;
    int rc = sqlite3_busy_handler(c, busy_wait, busy);
    if (rc == SQLITE_OK) {
        what = "enable foreign keys";
        rc = sqlite3_exec(c, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK) {
        /* Read the schema now, so that a file that is no database fails here. */
        what = "read it";
        rc = sqlite3_exec(c, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "SQLite database %s: cannot %s: sqlite error %d: %s", path, what,
                 rc, sqlite3_errmsg(c));
        return -1;
    }
    if (!o->read_only && sqlite3_db_readonly(c, "main") == 1) {
        snprintf(err, errlen, "SQLite database %s is read-only for this user", path);
        return -1;
    }
    return 0;
}

/* "file:PATH?immutable=1" with PATH percent-encoded where a URI needs it (malloc'd). */
static char *immutable_uri(const char *path)
{
    size_t n = strlen(path);
    char *uri = xcalloc(1, 3 * n + 32), *o = uri;
    o += sprintf(o, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        o += (*p == '%' || *p == '?' || *p == '#' || *p < 0x21 || *p > 0x7e)
                 ? sprintf(o, "%%%02X", *p) : sprintf(o, "%c", *p);
    sprintf(o, "?immutable=1");
    return uri;
}

/*
 * Read-only: SQLITE_OPEN_READONLY creates nothing, not even the file. A WAL
 * database also needs its -shm file, which a read-only or full filesystem
 * may not let it create: then, when no -wal file holds unmerged pages (the
 * last writer closed cleanly), reading the file as immutable loses nothing.
 */
static int open_read_only(const char *path, const db_options *o, sqlite3 **out,
                          busy_state *busy, char *err, size_t errlen)
{
    struct stat sb;
    char *wal = xasprintf("%s-wal", path);
    int has_wal = stat(wal, &sb) == 0 && sb.st_size > 0, rc = -1;
    free(wal);
    if (stat(path, &sb) != 0) {
        snprintf(err, errlen, "cannot open SQLite database %s for reading: %s", path,
                 strerror(errno));
        return -1;
    }
    int orc = sqlite3_open_v2(path, out, SQLITE_OPEN_READONLY, NULL);
    if (orc == SQLITE_OK && lite_setup(*out, busy, path, o, err, errlen) == 0)
        return 0;
    if (orc != SQLITE_OK)
        snprintf(err, errlen, "cannot open SQLite database %s for reading: sqlite error %d: %s",
                 path, orc, *out ? sqlite3_errmsg(*out) : sqlite3_errstr(orc));
    /* Without its -shm SQLite says CANTOPEN, or READONLY (the folder is not ours). */
    int code = (orc != SQLITE_OK ? orc : *out ? sqlite3_errcode(*out) : orc) & 0xff;
    if (has_wal || (code != SQLITE_CANTOPEN && code != SQLITE_READONLY))
        return -1; /* not the -shm case, or an immutable read would miss pages */
    sqlite3_close(*out);
    *out = NULL;
    char *uri = immutable_uri(path);
    orc = sqlite3_open_v2(uri, out, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    free(uri);
    if (orc != SQLITE_OK)
        snprintf(err, errlen, "cannot open SQLite database %s for reading: sqlite error %d: %s",
                 path, orc, *out ? sqlite3_errmsg(*out) : sqlite3_errstr(orc));
    else
        rc = lite_setup(*out, busy, path, o, err, errlen);
    return rc;
}

/*
 * While a guarded db_query prepares (d->query_depth): reads only. Anything
 * else (a write, a PRAGMA, ATTACH, a transaction or savepoint, DDL) fails
 * the prepare with SQLITE_AUTH, which db.c words for the plugin.
 */
static int authorize(void *arg, int action, const char *a, const char *b, const char *c,
                     const char *e)
{
    const db *d = arg;
    (void)a, (void)b, (void)c, (void)e;
    if (!d->query_depth)
        return SQLITE_OK;
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    default:
        return SQLITE_DENY;
    }
}

static int lite_open(db *d, const db_url *u, const db_options *o, char *err, size_t errlen)
{
    const char *path = u->path;
    sqlite3 *c = NULL;
    /* Owned by the handle from here on: the busy handler's state outlives this call. */
    lite_db *l = xcalloc(1, sizeof *l);
    int rc = DB_ERROR;

    if (!path || !*path) {
        snprintf(err, errlen, "SQLite URL without a file path");
        goto out;
    }
    if (strcmp(path, ":memory:") != 0 && check_folder(path, err, errlen) != 0)
        goto out;
    if (o->read_only) {
        if (open_read_only(path, o, &c, &l->busy, err, errlen) != 0)
            goto out;
    } else {
        int orc = sqlite3_open_v2(path, &c, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
        if (orc != SQLITE_OK) {
            snprintf(err, errlen, "cannot open SQLite database %s: sqlite error %d: %s", path,
                     orc, c ? sqlite3_errmsg(c) : sqlite3_errstr(orc));
            goto out;
        }
        if (lite_setup(c, &l->busy, path, o, err, errlen) != 0)
            goto out;
    }
    /* SQLite's 'now' is UTC; an offset shifts it. A zone name needs zone
     * tables SQLite does not have. */
    if (o->time_zone && strcmp(o->time_zone, "server") != 0 &&
        db_parse_offset(o->time_zone, &d->sqlite_offset_s) != 0) {
        snprintf(err, errlen, "database.time_zone '%.64s': SQLite knows no named zones; use "
                 "'server' (UTC, what datetime('now') gives) or an offset such as +02:00",
                 o->time_zone);
        goto out;
    }
    l->conn = c;
    stmt_cache_init(&l->cache, finalize_stmt);
    stmt_cache_init(&l->query_cache, finalize_stmt);
    /* Asked at every prepare (and re-prepare inside a step): refuses only
     * while a guarded query runs. */
    sqlite3_set_authorizer(l->conn, authorize, d);
    d->impl = l;
    l = NULL;
    c = NULL;
    rc = DB_OK;
out:
    sqlite3_close(c); /* accepts NULL */
    free(l);
    return rc;
}

static void lite_close(db *d)
{
    lite_db *l = LITE(d);
    if (!l)
        return;
    stmt_cache_clear(&l->cache);
    stmt_cache_clear(&l->query_cache);
    /* _v2: a statement still stepping (a close from a callback) cannot block it. */
    sqlite3_close_v2(l->conn);
    free(l);
    d->impl = NULL;
}

/* --------------------------------------------------------- statements */

/* The tail after the first statement must hold no second one. */
static int single_statement(db *d, const char *tail)
{
    sqlite3_stmt *extra = NULL;
    if (!tail || !*tail)
        return 0;
    int rc = sqlite3_prepare_v2(LITE(d)->conn, tail, -1, &extra, NULL);
    if (rc != SQLITE_OK) {
        lite_fail(d, rc);
        return -1;
    }
    if (extra) {
        sqlite3_finalize(extra);
        db_set_error(d, SQLITE_MISUSE, "one statement at a time: the SQL text goes on after "
                     "the first statement");
        return -1;
    }
    return 0;
}

/* The cache of d's statements of this kind (see lite_db.query_cache). */
static stmt_cache *cache_of(db *d)
{
    return d->query_depth ? &LITE(d)->query_cache : &LITE(d)->cache;
}

static sqlite3_stmt *prepare(db *d, const char *sql)
{
    sqlite3_stmt *st = stmt_cache_take(cache_of(d), sql);
    const char *tail = NULL;
    if (st)
        return st;
    int rc = sqlite3_prepare_v2(LITE(d)->conn, sql, -1, &st, &tail);
    if (rc != SQLITE_OK) {
        lite_fail(d, rc);
        return NULL;
    }
    if (!st) {
        db_set_error(d, SQLITE_MISUSE, "no statement in the SQL text");
        return NULL;
    }
    if (single_statement(d, tail) != 0) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/*
 * Done with a statement: reset it (which ends a read early and releases its
 * locks) and clear the bindings, which point at the caller's strings; then
 * back to the cache, or dropped when it failed.
 */
static void release(db *d, const char *sql, sqlite3_stmt *st, int ok)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (ok)
        stmt_cache_give(cache_of(d), sql, st);
    else
        sqlite3_finalize(st);
}

static int bind_params(db *d, sqlite3_stmt *st, const rc_value *p, size_t n)
{
    int want = sqlite3_bind_parameter_count(st);
    if (want < 0 || (size_t)want != n) {
        db_set_error(d, SQLITE_RANGE, "the statement has %d placeholders but %zu values were "
                     "given", want, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int at = (int)i + 1, rc;
        switch (p[i].type) {
        case RC_INT:
            rc = sqlite3_bind_int64(st, at, p[i].i);
            break;
        case RC_DOUBLE:
            rc = sqlite3_bind_double(st, at, p[i].d);
            break;
        case RC_TEXT:
            /* STATIC: the text outlives the statement's use (bindings cleared in release). */
            rc = p[i].s ? sqlite3_bind_text(st, at, p[i].s, -1, SQLITE_STATIC)
                        : sqlite3_bind_null(st, at);
            break;
        default:
            rc = sqlite3_bind_null(st, at);
            break;
        }
        if (rc != SQLITE_OK) {
            lite_fail(d, rc);
            return -1;
        }
    }
    return 0;
}

static int lite_exec(db *d, const char *sql, const rc_value *p, size_t n, int64_t *affected)
{
    sqlite3 *c = LITE(d)->conn;
    sqlite3_stmt *st = prepare(d, sql);
    int rc = SQLITE_ERROR, ok = 0;
    if (!st)
        return -1;
    if (bind_params(d, st, p, n) == 0) {
        /*
         * changes() keeps the count of the last INSERT/UPDATE/DELETE, even
         * when this statement was something else: count only if this one
         * changed the total.
         */
        sqlite3_int64 before = sqlite3_total_changes64(c);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ; /* rows of a statement run for its effect (a PRAGMA): not wanted */
        if (rc == SQLITE_DONE) {
            *affected = sqlite3_total_changes64(c) != before ? sqlite3_changes64(c) : 0;
            ok = 1;
        } else {
            lite_fail(d, rc);
        }
    }
    release(d, sql, st, ok);
    return ok ? 0 : -1;
}

static int lite_prepare(db *d, const char *sql)
{
    sqlite3_stmt *st = prepare(d, sql);
    if (!st)
        return -1;
    release(d, sql, st, 1);
    return 0;
}

/* The current row as rc_values; text stays valid until the next step. */
static int row_values(db *d, sqlite3_stmt *st, rc_value *vals, int ncols)
{
    for (int i = 0; i < ncols; i++) {
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            vals[i] = rc_int(sqlite3_column_int64(st, i));
            break;
        case SQLITE_FLOAT:
            vals[i] = rc_double(sqlite3_column_double(st, i));
            break;
        case SQLITE_NULL:
            vals[i] = rc_null();
            break;
        default: {
            const char *s = (const char *)sqlite3_column_text(st, i);
            if (!s) {
                db_set_error(d, SQLITE_NOMEM, "out of memory reading column %d", i);
                return -1;
            }
            vals[i] = rc_text(s);
            break;
        }
        }
    }
    return 0;
}

static int lite_query(db *d, const char *sql, const rc_value *p, size_t n, rc_row_fn fn,
                      void *user)
{
    sqlite3_stmt *st = prepare(d, sql);
    rc_value *vals = NULL;
    int ok = 0, rc, ncols = 0;
    if (!st)
        return -1;
    if (d->query_depth && !sqlite3_stmt_readonly(st)) {
        db_set_error(d, SQLITE_AUTH, "the statement would write");
        goto out;
    }
    if (bind_params(d, st, p, n) != 0)
        goto out;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        /* Counted after the first step: a schema change re-prepares the
         * statement there, and SELECT * may have gained a column. */
        if (!vals) {
            ncols = sqlite3_column_count(st);
            vals = xcalloc(ncols ? (size_t)ncols : 1, sizeof *vals);
        }
        if (row_values(d, st, vals, ncols) != 0)
            goto out;
        if (fn(user, vals, (size_t)ncols) != 0)
            break; /* an early stop is no error */
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        lite_fail(d, rc);
        goto out;
    }
    ok = 1;
out:
    free(vals);
    release(d, sql, st, ok);
    return ok ? 0 : -1;
}

/* --------------------------------------------------------- plain text */

static int run_text(db *d, const char *sql)
{
    int rc = sqlite3_exec(LITE(d)->conn, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        lite_fail(d, rc);
        return -1;
    }
    return 0;
}

/*
 * BEGIN IMMEDIATE: our transactions exist to write. Taking the write lock at
 * BEGIN means a busy database makes BEGIN wait (busy timeout) or fail with
 * SQLITE_BUSY, which the caller retries; a deferred BEGIN could instead fail
 * half-way when a read lock cannot be upgraded, which no waiting resolves.
 */
static int lite_begin(db *d, int mode)
{
    /* A guarded read-only session: the write transaction lifts query_only
     * for its length (lite_commit, lite_rollback put it back). A read-only
     * one stays under it, deferred: it takes no write lock. */
    if (mode == DB_TX_READ_ONLY)
        return run_text(d, "BEGIN");
    if (mode == DB_TX_READ_WRITE && run_text(d, "PRAGMA query_only=0") != 0)
        return -1;
    if (run_text(d, "BEGIN IMMEDIATE") == 0)
        return 0;
    if (mode == DB_TX_READ_WRITE) {
        int code = d->errcode;
        char first[sizeof d->errmsg];
        memcpy(first, d->errmsg, sizeof first);
        sqlite3_exec(LITE(d)->conn, "PRAGMA query_only=1", NULL, NULL, NULL);
        d->errcode = code;
        memcpy(d->errmsg, first, sizeof first);
    }
    return -1;
}

/* After a transaction: a guarded session is read-only again. */
static int read_only_again(db *d)
{
    if (d->guard == DB_GUARD_OFF || !sqlite3_get_autocommit(LITE(d)->conn))
        return 0;
    return sqlite3_exec(LITE(d)->conn, "PRAGMA query_only=1", NULL, NULL, NULL) == SQLITE_OK
               ? 0 : -1;
}

static int lite_commit(db *d)
{
    if (run_text(d, "COMMIT") != 0)
        return -1;
    if (read_only_again(d) != 0) {
        lite_fail(d, sqlite3_errcode(LITE(d)->conn));
        return -1;
    }
    return 0;
}

static int lite_rollback(db *d)
{
    /* SQLite already rolled back by itself after some errors (BUSY, FULL,
     * IOERR): then there is nothing left to do, and that is no failure. */
    int rc = sqlite3_get_autocommit(LITE(d)->conn) ? 0 : run_text(d, "ROLLBACK");
    if (read_only_again(d) != 0 && rc == 0) {
        lite_fail(d, sqlite3_errcode(LITE(d)->conn));
        rc = -1;
    }
    return rc;
}

static int lite_set_read_only(db *d, int on)
{
    return run_text(d, on ? "PRAGMA query_only=1" : "PRAGMA query_only=0");
}

static int lite_exec_script(db *d, const char *script)
{
    return run_text(d, script);
}

static int lite_ping(db *d)
{
    (void)d; /* a file does not go away like a server */
    return 0;
}

const db_driver db_sqlite_driver = {
    .kind = DB_SQLITE,
    .name = "sqlite",
    .open = lite_open,
    .close = lite_close,
    .exec = lite_exec,
    .query = lite_query,
    .begin = lite_begin,
    .commit = lite_commit,
    .rollback = lite_rollback,
    .exec_script = lite_exec_script,
    .prepare = lite_prepare,
    .set_read_only = lite_set_read_only,
    .ping = lite_ping,
    .retryable = lite_retryable,
    .lost = lite_lost,
};
