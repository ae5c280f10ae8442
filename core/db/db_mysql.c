/* SPDX-License-Identifier: MIT */
/*
 * db_mysql.c - the MySQL/MariaDB driver, on MariaDB Connector/C's prepared
 * statement API. Rows are streamed from the server one at a time (no
 * mysql_stmt_store_result), so a query over a big table costs one row of
 * memory; the price is that the connection is busy until the last row is read
 * or the rest discarded, so a row callback must not run statements itself
 * (it gets a clear error instead of "Commands out of sync").
 */
#include "db/db_impl.h"
#include "base/log.h"
#include "base/util.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <errmsg.h>
#include <mysql.h>

/* Server error codes we act on (named as in mysqld_error.h). */
#define MY_ER_ACCESS_DENIED 1045
#define MY_ER_UNKNOWN_TIME_ZONE 1298
#define MY_ER_BAD_DB 1049
#define MY_ER_LOCK_WAIT_TIMEOUT 1205
#define MY_ER_LOCK_DEADLOCK 1213
#define MY_ER_CONNECTION_KILLED 1927
#define MY_ER_CLIENT_INTERACTION_TIMEOUT 4031

/* Text columns are read into this much first; longer values are re-read. */
#define SMALL_TEXT 256

typedef struct my_db {
    MYSQL *conn;
    stmt_cache cache;
    int streaming; /* a row callback runs: the connection is mid-result */
    int fd;        /* its socket, for the stop watcher */
    _Atomic int64_t wait_since; /* monotonic ms a statement began waiting; 0: none */
    atomic_int cut; /* the stop watcher shut its socket down */
} my_db;

#define MY(d) ((my_db *)(d)->impl)

/* ------------------------------------------------------------- errors */

static int my_retryable(int code)
{
    return code == MY_ER_LOCK_DEADLOCK || code == MY_ER_LOCK_WAIT_TIMEOUT;
}

static int my_lost(int code)
{
    return code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST ||
           code == CR_SERVER_LOST_EXTENDED || code == MY_ER_CONNECTION_KILLED ||
           code == MY_ER_CLIENT_INTERACTION_TIMEOUT;
}

static void my_fail(db *d, unsigned code, const char *msg)
{
    if (atomic_load(&MY(d)->cut))
        db_set_error(d, (int)code, "stopped: the database did not answer a stopping process "
                     "in time, its connection was cut (%s)", msg);
    else
        db_set_error(d, (int)code, "%s", msg);
    /* Prepared statements live in the server session: gone with it. */
    if (my_lost((int)code))
        stmt_cache_clear(&MY(d)->cache);
}

static void conn_fail(db *d)
{
    my_fail(d, mysql_errno(MY(d)->conn), mysql_error(MY(d)->conn));
}

/*
 * A statement's failure. Some leave their code on the connection rather
 * than on the statement: a step once failed with "mysql: " and code 0 (not
 * retryable) right after a certification-conflict retry on Galera. Take the
 * connection's error then, and say so when neither has one.
 */
static void stmt_fail(db *d, MYSQL_STMT *st)
{
    if (mysql_stmt_errno(st))
        my_fail(d, mysql_stmt_errno(st), mysql_stmt_error(st));
    else if (mysql_errno(MY(d)->conn))
        conn_fail(d);
    else
        my_fail(d, CR_UNKNOWN_ERROR, "the client library reported a failure without an "
                "error code");
}

/* Refuse to use a connection that is still streaming a result. */
static int busy(db *d)
{
    if (!MY(d)->streaming)
        return 0;
    db_set_error(d, CR_COMMANDS_OUT_OF_SYNC,
                 "a statement was run from inside a row callback; MySQL rows are streamed "
                 "over the connection, so read them first and run statements afterwards");
    return 1;
}

/* ---------------------------------------------------------- stop cuts */

/*
 * The stop watcher (db_cut_waits_on_stop): every open connection is listed
 * here; a thread looks every 100 ms and shuts down the socket of one whose
 * statement has waited past the stop's grace. The blocked read or write
 * then fails at once. A connection leaves the list (under the lock) before
 * its socket is closed, so a socket the watcher shuts down is never one
 * that was closed and reused since.
 */
#define WATCH_MAX 64

static pthread_mutex_t watch_mu = PTHREAD_MUTEX_INITIALIZER;
static my_db *watched[WATCH_MAX];
static pthread_once_t watch_once = PTHREAD_ONCE_INIT;

static void *watch_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct timespec ts = { 0, 100 * 1000000L };
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&watch_mu);
        for (size_t i = 0; i < WATCH_MAX; i++) {
            my_db *m = watched[i];
            if (m && !atomic_load(&m->cut) && db_stop_cuts(atomic_load(&m->wait_since))) {
                atomic_store(&m->cut, 1);
                shutdown(m->fd, SHUT_RDWR);
            }
        }
        pthread_mutex_unlock(&watch_mu);
    }
    return NULL;
}

static void watch_thread(void)
{
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    /* Through the logger, so that --log-format json keeps every line JSON. */
    if (util_thread_start(&t, &a, watch_main, NULL) != 0)
        log_warn("cannot start the database stop watcher; a stop waits for the database's "
                 "timeouts");
    pthread_attr_destroy(&a);
}

void db_mysql_watch_start(void)
{
    pthread_once(&watch_once, watch_thread);
}

/* A full list only means that connection is not watched (timeouts still bound it). */
static void watch_add(my_db *m)
{
    pthread_mutex_lock(&watch_mu);
    for (size_t i = 0; i < WATCH_MAX; i++) {
        if (!watched[i]) {
            watched[i] = m;
            break;
        }
    }
    pthread_mutex_unlock(&watch_mu);
}

static void watch_remove(my_db *m)
{
    pthread_mutex_lock(&watch_mu);
    for (size_t i = 0; i < WATCH_MAX; i++)
        if (watched[i] == m)
            watched[i] = NULL;
    pthread_mutex_unlock(&watch_mu);
}

/* Around every call that waits for the server. */
static void wait_begin(db *d)
{
    atomic_store(&MY(d)->wait_since, db_mono_ms());
}

static void wait_end(db *d)
{
    atomic_store(&MY(d)->wait_since, 0);
}

/*
 * mysql_real_connect through the non-blocking API, polling in slices of
 * 100 ms so that a stop is seen (db_cut_waits_on_stop): a server that
 * accepts the connection and then says nothing (frozen) would otherwise
 * hold the caller for the whole connect timeout. NULL on failure, as
 * mysql_real_connect; *stopped is set when it was the stop.
 */
static MYSQL *connect_stoppable(MYSQL *c, const db_url *u, const char *password, int *stopped)
{
    MYSQL *ret = NULL;
    int64_t since = db_mono_ms();
    *stopped = 0;
    int status = mysql_real_connect_start(&ret, c, u->host, u->user, password, u->database,
                                          u->port, u->socket, CLIENT_FOUND_ROWS);
    while (status) {
        int64_t deadline = status & MYSQL_WAIT_TIMEOUT
                               ? db_mono_ms() + mysql_get_timeout_value_ms(c) : INT64_MAX;
        int ready = 0;
        while (!ready) {
            if (db_stop_cuts(since)) {
                *stopped = 1;
                /* Ends the attempt: the library's state is dropped with the handle. */
                return NULL;
            }
            int64_t left = deadline - db_mono_ms();
            if (left <= 0) {
                ready = MYSQL_WAIT_TIMEOUT;
                break;
            }
            struct pollfd p = { mysql_get_socket(c), 0, 0 };
            if (status & MYSQL_WAIT_READ)
                p.events |= POLLIN;
            if (status & MYSQL_WAIT_WRITE)
                p.events |= POLLOUT;
            if (status & MYSQL_WAIT_EXCEPT)
                p.events |= POLLPRI;
            int n = poll(&p, 1, (int)(left < 100 ? left : 100));
            if (n > 0) {
                ready = (p.revents & (POLLIN | POLLHUP | POLLERR) ? MYSQL_WAIT_READ : 0) |
                        (p.revents & (POLLOUT | POLLHUP | POLLERR) ? MYSQL_WAIT_WRITE : 0) |
                        (p.revents & POLLPRI ? MYSQL_WAIT_EXCEPT : 0);
                ready &= status | MYSQL_WAIT_READ | MYSQL_WAIT_WRITE;
                if (!ready)
                    ready = status & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE);
            }
        }
        status = mysql_real_connect_cont(&ret, c, ready);
    }
    return ret;
}

/* --------------------------------------------------------------- open */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_rc;

static void lib_init(void)
{
    lib_rc = mysql_library_init(0, NULL, NULL);
}

/* Where we connect, for messages: "socket /run/x.sock" or "host:port". */
static void describe_server(const db_url *u, int tcp, char *out, size_t outlen)
{
    if (!tcp && u->socket)
        snprintf(out, outlen, "socket %s", u->socket);
    else if (!tcp)
        snprintf(out, outlen, "localhost (default socket)");
    else if (u->host && strchr(u->host, ':'))
        snprintf(out, outlen, "[%s]:%u", u->host, u->port ? u->port : 3306);
    else
        snprintf(out, outlen, "%s:%u", u->host ? u->host : "localhost", u->port ? u->port : 3306);
}

/*
 * The client library reaches "localhost" (or no host) through its Unix
 * socket even when a port is given. A URL with an explicit port and no
 * socket= means TCP, so we say so.
 */
static int wants_tcp(const db_url *u)
{
    if (u->socket)
        return 0;
    if (u->port)
        return 1;
    return u->host && strcmp(u->host, "localhost") != 0;
}

static int set_options(MYSQL *c, const db_url *u, const db_options *o, unsigned ct)
{
    unsigned rt = o->read_timeout_s > 0 ? (unsigned)o->read_timeout_s : 300;
    unsigned wt = o->write_timeout_s > 0 ? (unsigned)o->write_timeout_s : 60;
    unsigned no_local_infile = 0, tcp = MYSQL_PROTOCOL_TCP;
    my_bool report_truncation = 1;
    if (mysql_optionsv(c, MYSQL_OPT_CONNECT_TIMEOUT, &ct) ||
        mysql_optionsv(c, MYSQL_OPT_READ_TIMEOUT, &rt) ||
        mysql_optionsv(c, MYSQL_OPT_WRITE_TIMEOUT, &wt) ||
        mysql_optionsv(c, MYSQL_SET_CHARSET_NAME, "utf8mb4") ||
        /* We never load files: a hostile server must not be able to ask. */
        mysql_optionsv(c, MYSQL_OPT_LOCAL_INFILE, &no_local_infile) ||
        mysql_optionsv(c, MYSQL_REPORT_DATA_TRUNCATION, &report_truncation))
        return -1;
    if (wants_tcp(u) && mysql_optionsv(c, MYSQL_OPT_PROTOCOL, &tcp))
        return -1;
    /* For connect_stoppable; the blocking calls still work on the handle. */
    if (mysql_optionsv(c, MYSQL_OPT_NONBLOCK, 0))
        return -1;
    return 0;
}

static int is_unreachable(unsigned code)
{
    return code == CR_CONNECTION_ERROR || code == CR_CONN_HOST_ERROR ||
           code == CR_UNKNOWN_HOST || code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST ||
           code == CR_SERVER_LOST_EXTENDED || code == CR_ERR_NET_READ ||
           code == CR_ERR_NET_WRITE;
}

/* A failed mysql_real_connect as DB_UNREACHABLE or DB_ERROR, password-free. */
static int connect_error(MYSQL *c, const db_url *u, const char *where, unsigned ct, char *err,
                         size_t errlen)
{
    unsigned code = mysql_errno(c);
    const char *msg = mysql_error(c);
    if (is_unreachable(code)) {
        snprintf(err, errlen, "cannot reach MySQL server at %s (database %s) within %u s: %s",
                 where, u->database, ct, msg);
        return DB_UNREACHABLE;
    }
    if (code == MY_ER_ACCESS_DENIED)
        snprintf(err, errlen, "MySQL server at %s refused the login of user '%s' "
                 "(check the password): mysql error %u: %s", where, u->user, code, msg);
    else if (code == MY_ER_BAD_DB)
        snprintf(err, errlen, "database '%s' does not exist on MySQL server at %s: "
                 "mysql error %u: %s", u->database, where, code, msg);
    else
        snprintf(err, errlen, "cannot connect to MySQL server at %s (database %s): "
                 "mysql error %u: %s", where, u->database, code, msg);
    return DB_ERROR;
}

/*
 * A time_zone value is pasted into SET (it cannot be bound there): only the
 * characters of offsets and zone names pass, so no quote can end the literal.
 */
static int zone_text_ok(const char *tz)
{
    size_t n = strlen(tz);
    return n >= 1 && n <= 64 &&
           tz[strspn(tz, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-/:")] == '\0';
}

/*
 * The session: the configured time zone (none set for "server": the server's
 * default is the zone the bot's own sessions write NOW() in), and no gap
 * locks for our short chunk transactions.
 */
static int session_setup(MYSQL *c, const char *tz, const char *where, char *err, size_t errlen)
{
    char sql[128];
    if (tz && strcmp(tz, "server") != 0) {
        if (!zone_text_ok(tz)) {
            snprintf(err, errlen, "database.time_zone '%.64s' is neither server, an offset such "
                     "as +02:00, nor a zone name", tz);
            return -1;
        }
        snprintf(sql, sizeof sql, "SET time_zone = '%s'", tz);
        if (mysql_real_query(c, sql, strlen(sql)) != 0) {
            if (mysql_errno(c) == MY_ER_UNKNOWN_TIME_ZONE)
                snprintf(err, errlen, "MySQL server at %s does not know the time zone '%s' "
                         "(database.time_zone): a named zone needs the server's time zone "
                         "tables (load them with mariadb-tzinfo-to-sql); or give an offset "
                         "such as +02:00, or 'server'", where, tz);
            else
                snprintf(err, errlen, "MySQL server at %s: cannot set time_zone '%s': "
                         "mysql error %u: %s", where, tz, mysql_errno(c), mysql_error(c));
            return -1;
        }
    }
    static const char iso[] = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";
    if (mysql_real_query(c, iso, strlen(iso)) != 0) {
        snprintf(err, errlen, "MySQL server at %s: cannot set up the session: mysql error %u: %s",
                 where, mysql_errno(c), mysql_error(c));
        return -1;
    }
    return 0;
}

static void finalize_stmt(void *st)
{
    mysql_stmt_close(st);
}

static int my_open(db *d, const db_url *u, const db_options *o, char *err, size_t errlen)
{
    char where[512];
    unsigned ct = o->connect_timeout_s > 0 ? (unsigned)o->connect_timeout_s : 10;
    const char *password = o->password ? o->password : u->password;
    int rc = DB_ERROR;
    my_db *m = NULL;

    describe_server(u, wants_tcp(u), where, sizeof where);
    if (pthread_once(&lib_once, lib_init) != 0 || lib_rc != 0) {
        snprintf(err, errlen, "cannot initialise the MySQL client library");
        goto out;
    }
    if (!u->user || !u->database) {
        snprintf(err, errlen, "MySQL URL without a user or a database name");
        goto out;
    }
    m = xcalloc(1, sizeof *m);
    if (!(m->conn = mysql_init(NULL))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    stmt_cache_init(&m->cache, finalize_stmt);
    if (set_options(m->conn, u, o, ct) != 0) {
        snprintf(err, errlen, "cannot set MySQL client options: %s", mysql_error(m->conn));
        goto out;
    }
    /* CLIENT_FOUND_ROWS: affected rows are rows matched, like SQLite's changes(). */
    int stopped = 0;
    if (!connect_stoppable(m->conn, u, password, &stopped)) {
        if (stopped) {
            snprintf(err, errlen, "stopped while connecting to MySQL server at %s (database "
                     "%s): it did not answer", where, u->database);
            rc = DB_UNREACHABLE;
        } else {
            rc = connect_error(m->conn, u, where, ct, err, errlen);
        }
        goto out;
    }
    /* The client keeps a copy of the password for reconnects, which we never
     * do (we reconnect ourselves): wipe it now rather than at mysql_close. */
    if (m->conn->passwd)
        explicit_bzero(m->conn->passwd, strlen(m->conn->passwd));
    m->fd = (int)mysql_get_socket(m->conn);
    watch_add(m);
    atomic_store(&m->wait_since, db_mono_ms());
    int setup = session_setup(m->conn, o->time_zone, where, err, errlen);
    atomic_store(&m->wait_since, 0);
    if (setup != 0) {
        watch_remove(m);
        goto out;
    }
    d->impl = m;
    m = NULL;
    rc = DB_OK;
out:
    if (m && m->conn)
        mysql_close(m->conn);
    free(m);
    return rc;
}

static void my_close(db *d)
{
    my_db *m = MY(d);
    if (!m)
        return;
    watch_remove(m);
    stmt_cache_clear(&m->cache);
    mysql_close(m->conn);
    free(m);
    d->impl = NULL;
}

/* --------------------------------------------------------- statements */

/* A statement from the cache, or a new one (*cached says which). */
static MYSQL_STMT *prepare(db *d, const char *sql, int *cached)
{
    MYSQL_STMT *st = stmt_cache_take(&MY(d)->cache, sql);
    *cached = st != NULL;
    if (st)
        return st;
    if (!(st = mysql_stmt_init(MY(d)->conn))) {
        conn_fail(d);
        return NULL;
    }
    if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
        stmt_fail(d, st);
        mysql_stmt_close(st);
        return NULL;
    }
    return st;
}

/* Back to the cache when it ran fine; a statement that failed is dropped. */
static void release(db *d, const char *sql, MYSQL_STMT *st, int ok)
{
    if (ok)
        stmt_cache_give(&MY(d)->cache, sql, st);
    else
        mysql_stmt_close(st);
}

static int my_prepare(db *d, const char *sql)
{
    int cached;
    MYSQL_STMT *st;
    if (busy(d))
        return -1;
    wait_begin(d);
    st = prepare(d, sql, &cached);
    wait_end(d);
    if (!st)
        return -1;
    release(d, sql, st, 1);
    return 0;
}

/* One parameter; the buffer points into the caller's value, which outlives execute. */
static void bind_value(MYSQL_BIND *b, const rc_value *v)
{
    if (v->type == RC_INT) {
        b->buffer_type = MYSQL_TYPE_LONGLONG;
        b->buffer = (void *)&v->i;
    } else if (v->type == RC_DOUBLE) {
        b->buffer_type = MYSQL_TYPE_DOUBLE;
        b->buffer = (void *)&v->d;
    } else if (v->type == RC_TEXT && v->s) {
        b->buffer_type = MYSQL_TYPE_STRING;
        b->buffer = (void *)v->s;
        b->buffer_length = strlen(v->s);
    } else {
        b->buffer_type = MYSQL_TYPE_NULL; /* RC_NULL, or a NULL string */
    }
}

/* Bind params and execute. The binds only need to live until execute returns. */
static int bind_and_execute(db *d, MYSQL_STMT *st, const rc_value *p, size_t n)
{
    unsigned long want = mysql_stmt_param_count(st);
    MYSQL_BIND *b = NULL;
    int rc = -1;

    if (want != n) {
        db_set_error(d, CR_PARAMS_NOT_BOUND, "the statement has %lu placeholders but %zu "
                     "values were given", want, n);
        goto out;
    }
    if (n) {
        b = xcalloc(n, sizeof *b);
        for (size_t i = 0; i < n; i++)
            bind_value(&b[i], &p[i]);
        if (mysql_stmt_bind_param(st, b) != 0) {
            stmt_fail(d, st);
            goto out;
        }
    }
    if (mysql_stmt_execute(st) != 0) {
        stmt_fail(d, st);
        goto out;
    }
    rc = 0;
out:
    free(b);
    return rc;
}

/*
 * Prepare (or take from the cache) and execute. A cached statement whose
 * result changed shape since it was prepared (an ALTER TABLE under a
 * SELECT *) fails with CR_NEW_STMT_METADATA: prepared again, it runs.
 */
static MYSQL_STMT *prepare_and_execute(db *d, const char *sql, const rc_value *p, size_t n)
{
    int cached;
    MYSQL_STMT *st = prepare(d, sql, &cached);
    if (!st)
        return NULL;
    if (bind_and_execute(d, st, p, n) == 0)
        return st;
    mysql_stmt_close(st);
    if (!cached || d->errcode != CR_NEW_STMT_METADATA)
        return NULL;
    db_clear_error(d);
    if (!(st = prepare(d, sql, &cached)))
        return NULL;
    if (bind_and_execute(d, st, p, n) == 0)
        return st;
    mysql_stmt_close(st);
    return NULL;
}

static int my_exec(db *d, const char *sql, const rc_value *p, size_t n, int64_t *affected)
{
    MYSQL_STMT *st;
    if (busy(d))
        return -1;
    wait_begin(d);
    st = prepare_and_execute(d, sql, p, n);
    wait_end(d);
    if (!st)
        return -1;
    my_ulonglong a = mysql_stmt_affected_rows(st);
    *affected = a == (my_ulonglong)-1 ? 0 : (int64_t)a;
    /* A statement that returns rows: discard them, the connection is needed. */
    if (mysql_stmt_field_count(st) > 0) {
        wait_begin(d);
        mysql_stmt_free_result(st);
        wait_end(d);
    }
    release(d, sql, st, 1);
    return 0;
}

/* ------------------------------------------------------------ results */

typedef enum col_kind { COL_INT, COL_DOUBLE, COL_DECIMAL, COL_TEXT } col_kind;

/* One output column: what it is bound to, and room for long text. */
typedef struct col {
    col_kind kind;
    long long i;
    double d;
    unsigned long len;
    my_bool is_null, error;
    char small[SMALL_TEXT];
    char *big;
    size_t bigcap;
} col;

typedef struct result {
    unsigned ncols;
    MYSQL_RES *meta;
    MYSQL_BIND *bind;
    col *cols;
    rc_value *vals;
} result;

static col_kind kind_of(const MYSQL_FIELD *f)
{
    switch (f->type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR:
        return COL_INT;
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
        return COL_DOUBLE;
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
        /* Read as text and converted by strtod: exact digits, no client conversion. */
        return COL_DECIMAL;
    default:
        /* NULL-typed columns too: every NULL value arrives through is_null. */
        return COL_TEXT;
    }
}

static void result_free(result *r)
{
    if (r->meta)
        mysql_free_result(r->meta);
    for (unsigned i = 0; r->cols && i < r->ncols; i++)
        free(r->cols[i].big);
    free(r->cols);
    free(r->bind);
    free(r->vals);
    memset(r, 0, sizeof *r);
}

/* Bind every output column by its type, after execute (types are exact then). */
static int result_bind(db *d, MYSQL_STMT *st, result *r)
{
    r->ncols = mysql_stmt_field_count(st);
    if (r->ncols == 0)
        return 0;
    if (!(r->meta = mysql_stmt_result_metadata(st))) {
        stmt_fail(d, st);
        return -1;
    }
    MYSQL_FIELD *f = mysql_fetch_fields(r->meta);
    r->bind = xcalloc(r->ncols, sizeof *r->bind);
    r->cols = xcalloc(r->ncols, sizeof *r->cols);
    r->vals = xcalloc(r->ncols, sizeof *r->vals);
    for (unsigned i = 0; i < r->ncols; i++) {
        col *c = &r->cols[i];
        MYSQL_BIND *b = &r->bind[i];
        c->kind = kind_of(&f[i]);
        b->is_null = &c->is_null;
        b->error = &c->error;
        b->length = &c->len;
        if (c->kind == COL_INT) {
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = &c->i;
            b->is_unsigned = (f[i].flags & UNSIGNED_FLAG) != 0;
        } else if (c->kind == COL_DOUBLE) {
            b->buffer_type = MYSQL_TYPE_DOUBLE;
            b->buffer = &c->d;
        } else {
            b->buffer_type = MYSQL_TYPE_STRING;
            b->buffer = c->small;
            b->buffer_length = sizeof c->small;
        }
    }
    if (mysql_stmt_bind_result(st, r->bind) != 0) {
        stmt_fail(d, st);
        return -1;
    }
    return 0;
}

/*
 * The text of column i of the current row. A value that did not fit the
 * bound buffer (MYSQL_DATA_TRUNCATED) is read again whole into a buffer
 * that grows to the longest value seen.
 */
static const char *col_text(db *d, MYSQL_STMT *st, col *c, unsigned i)
{
    if (c->len < sizeof c->small) {
        c->small[c->len] = '\0';
        return c->small;
    }
    if (c->len + 1 > c->bigcap) {
        c->big = xrealloc(c->big, c->len + 1);
        c->bigcap = c->len + 1;
    }
    unsigned long got = 0;
    my_bool is_null = 0, error = 0;
    MYSQL_BIND b = { .buffer_type = MYSQL_TYPE_STRING, .buffer = c->big,
                     .buffer_length = c->bigcap, .length = &got, .is_null = &is_null,
                     .error = &error };
    if (mysql_stmt_fetch_column(st, &b, i, 0) != 0) {
        stmt_fail(d, st);
        return NULL;
    }
    c->big[got < c->bigcap ? got : c->bigcap - 1] = '\0';
    return c->big;
}

static int row_values(db *d, MYSQL_STMT *st, result *r)
{
    for (unsigned i = 0; i < r->ncols; i++) {
        col *c = &r->cols[i];
        rc_value *v = &r->vals[i];
        const char *s;
        if (c->is_null) {
            *v = rc_null();
        } else if (c->kind == COL_INT) {
            /* A BIGINT UNSIGNED above INT64_MAX cannot be an int64_t: give a double. */
            if (r->bind[i].is_unsigned && (unsigned long long)c->i > INT64_MAX)
                *v = rc_double((double)(unsigned long long)c->i);
            else
                *v = rc_int((int64_t)c->i);
        } else if (c->kind == COL_DOUBLE) {
            *v = rc_double(c->d);
        } else if (!(s = col_text(d, st, c, i))) {
            return -1;
        } else {
            /* The server writes '.', whatever locale a plugin may have set. */
            *v = c->kind == COL_DECIMAL ? rc_double(util_strtod(s, NULL)) : rc_text(s);
        }
    }
    return 0;
}

/* Fetch rows until the end, an error, or the callback says stop. */
static int stream_rows(db *d, MYSQL_STMT *st, result *r, rc_row_fn fn, void *user)
{
    for (;;) {
        int f = mysql_stmt_fetch(st);
        if (f == MYSQL_NO_DATA)
            return 0;
        if (f != 0 && f != MYSQL_DATA_TRUNCATED) {
            stmt_fail(d, st);
            return -1;
        }
        if (row_values(d, st, r) != 0)
            return -1;
        MY(d)->streaming = 1;
        int stop = fn(user, r->vals, r->ncols);
        MY(d)->streaming = 0;
        if (stop)
            return 0;
    }
}

static int my_query(db *d, const char *sql, const rc_value *p, size_t n, rc_row_fn fn,
                    void *user)
{
    result r = { 0 };
    MYSQL_STMT *st;
    int ok = 0;

    if (busy(d))
        return -1;
    /* The row callbacks count as waiting too: they are the caller's, and short. */
    wait_begin(d);
    st = prepare_and_execute(d, sql, p, n);
    if (!st) {
        wait_end(d);
        return -1;
    }
    if (result_bind(d, st, &r) == 0 && (r.ncols == 0 || stream_rows(d, st, &r, fn, user) == 0))
        ok = 1;
    /*
     * Discard unread rows (early stop, error): the connection must be free
     * again. The protocol cannot cancel a result, so the rest still comes
     * over the wire, one row at a time and never all in memory.
     */
    if (r.ncols)
        mysql_stmt_free_result(st);
    wait_end(d);
    result_free(&r);
    release(d, sql, st, ok);
    return ok ? 0 : -1;
}

/* --------------------------------------------------------- plain text */

/* A statement with no parameters and no rows we want. */
static int run_text(db *d, const char *sql, size_t len)
{
    int rc = -1;
    if (busy(d))
        return -1;
    wait_begin(d);
    if (mysql_real_query(MY(d)->conn, sql, len) != 0) {
        conn_fail(d);
        goto out;
    }
    MYSQL_RES *res = mysql_store_result(MY(d)->conn);
    if (res) {
        mysql_free_result(res);
    } else if (mysql_field_count(MY(d)->conn) != 0) {
        conn_fail(d);
        goto out;
    }
    rc = 0;
out:
    wait_end(d);
    return rc;
}

/*
 * START TRANSACTION / COMMIT / ROLLBACK as statements: autocommit stays on
 * between transactions, so a statement outside one commits by itself.
 */
static int my_begin(db *d, int mode)
{
    /* An explicit READ WRITE overrides the session's READ ONLY (db_set_guard). */
    const char *sql = mode == DB_TX_READ_WRITE ? "START TRANSACTION READ WRITE"
                      : mode == DB_TX_READ_ONLY ? "START TRANSACTION READ ONLY"
                                                : "START TRANSACTION";
    return run_text(d, sql, strlen(sql));
}

static int my_commit(db *d)
{
    return run_text(d, "COMMIT", 6);
}

static int my_rollback(db *d)
{
    return run_text(d, "ROLLBACK", 8);
}

static int blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return 0;
    return 1;
}

/*
 * A script is our own migration text: statements end with ';' at the end of
 * a line, and lines starting with "--" are comments. No multi-statement
 * mode on the connection: each statement is sent by itself.
 */
static int my_exec_script(db *d, const char *script)
{
    size_t cap = strlen(script) + 1, len = 0;
    char *stmt = xmalloc(cap);
    int rc = -1;
    for (const char *line = script; *line;) {
        size_t ll = strcspn(line, "\n");
        const char *next = line + ll + (line[ll] == '\n');
        size_t lead = strspn(line, " \t"), end = ll;
        while (end > lead && (line[end - 1] == ' ' || line[end - 1] == '\t' ||
                              line[end - 1] == '\r'))
            end--;
        if (end - lead >= 2 && line[lead] == '-' && line[lead + 1] == '-') {
            line = next;
            continue;
        }
        int last = end > lead && line[end - 1] == ';';
        memcpy(stmt + len, line, last ? end - 1 : end);
        len += last ? end - 1 : end;
        stmt[len++] = '\n';
        if (last) {
            if (!blank(stmt, len) && run_text(d, stmt, len) != 0)
                goto out;
            len = 0;
        }
        line = next;
    }
    if (!blank(stmt, len) && run_text(d, stmt, len) != 0)
        goto out;
    rc = 0;
out:
    free(stmt);
    return rc;
}

/* Outside a transaction, every statement is then refused a write by the server. */
static int my_set_read_only(db *d, int on)
{
    const char *sql = on ? "SET SESSION TRANSACTION READ ONLY" : "SET SESSION TRANSACTION READ WRITE";
    return run_text(d, sql, strlen(sql));
}

static int my_ping(db *d)
{
    if (busy(d))
        return -1;
    wait_begin(d);
    int rc = mysql_ping(MY(d)->conn);
    wait_end(d);
    if (rc != 0) {
        conn_fail(d);
        return -1;
    }
    return 0;
}

const db_driver db_mysql_driver = {
    .kind = DB_MYSQL,
    .name = "mysql",
    .open = my_open,
    .close = my_close,
    .exec = my_exec,
    .query = my_query,
    .begin = my_begin,
    .commit = my_commit,
    .rollback = my_rollback,
    .exec_script = my_exec_script,
    .prepare = my_prepare,
    .set_read_only = my_set_read_only,
    .ping = my_ping,
    .retryable = my_retryable,
    .lost = my_lost,
};
