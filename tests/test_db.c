/* SPDX-License-Identifier: MIT */
/* test_db.c - the database layer: URLs, both drivers, errors, time text. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------- helpers */

/* Rows read by a query, copied out of the callback. */
#define MAX_ROWS 8
#define MAX_COLS 8
typedef struct rows {
    size_t n, ncols, stop_after; /* stop_after 0: read everything */
    rc_value v[MAX_ROWS][MAX_COLS];
    char *text[MAX_ROWS][MAX_COLS];
} rows;

static int collect(void *user, const rc_value *cols, size_t ncols)
{
    rows *r = user;
    cr_assert_leq(ncols, MAX_COLS);
    if (r->n < MAX_ROWS) {
        r->ncols = ncols;
        for (size_t i = 0; i < ncols; i++) {
            r->v[r->n][i] = cols[i];
            if (cols[i].type == RC_TEXT) {
                r->text[r->n][i] = strdup(cols[i].s);
                r->v[r->n][i].s = r->text[r->n][i];
            }
        }
    }
    r->n++;
    return r->stop_after && r->n >= r->stop_after;
}

static void rows_free(rows *r)
{
    for (size_t i = 0; i < MAX_ROWS; i++)
        for (size_t j = 0; j < MAX_COLS; j++)
            free(r->text[i][j]);
    memset(r, 0, sizeof *r);
}

static void exec_ok(db *d, const char *sql, const rc_value *p, size_t n, int64_t *affected)
{
    cr_assert_eq(db_exec(d, sql, p, n, affected), 0, "%s: %s", sql, db_errmsg(d));
}

/* A second connection to the test database (busy timeout 1 s for SQLite). */
static db *open_again(const th_db *t)
{
    char err[512];
    db_url u;
    db *d = NULL;
    cr_assert_eq(db_url_parse(t->url, NULL, &u, err, sizeof err), 0, "%s", err);
    db_options o = { .password = t->password, .write_timeout_s = 1 };
    cr_assert_eq(db_open(&u, &o, &d, err, sizeof err), DB_OK, "%s", err);
    db_url_free(&u);
    return d;
}

static const char *env_or_fail(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v && *v, "%s is not set: run the tests through tests/with-mariadb", name);
    return v;
}

static double elapsed_s(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---------------------------------------------------------------- URLs */

Test(db_url, mysql_host_port_and_password)
{
    char err[256] = "";
    db_url u;
    cr_assert_eq(db_url_parse("mysql://bot:s%40cret@db.internal:3307/botdb", NULL, &u, err,
                              sizeof err), 0, "%s", err);
    cr_assert_eq(u.kind, DB_MYSQL);
    cr_assert_str_eq(u.user, "bot");
    cr_assert_str_eq(u.password, "s@cret");
    cr_assert_str_eq(u.host, "db.internal");
    cr_assert_eq(u.port, 3307);
    cr_assert_str_eq(u.database, "botdb");
    cr_assert_null(u.socket);
    cr_assert_null(u.path);
    db_url_free(&u);
}

Test(db_url, mysql_socket_no_password)
{
    char err[256] = "";
    db_url u;
    cr_assert_eq(db_url_parse("mysql://bot@/bot?socket=/run/mysqld/mysqld.sock", NULL, &u, err,
                              sizeof err), 0, "%s", err);
    cr_assert_str_eq(u.user, "bot");
    cr_assert_null(u.password);
    cr_assert_null(u.host);
    cr_assert_eq(u.port, 0);
    cr_assert_str_eq(u.socket, "/run/mysqld/mysqld.sock");
    cr_assert_str_eq(u.database, "bot");
    db_url_free(&u);
}

Test(db_url, mysql_ipv6_and_raw_password)
{
    char err[256] = "";
    db_url u;
    cr_assert_eq(db_url_parse("mysql://u@[::1]:3306/d", NULL, &u, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(u.host, "::1");
    cr_assert_eq(u.port, 3306);
    db_url_free(&u);
    /* The user part ends at the last '@': a password may hold '@', '/', '?' and ':'. */
    cr_assert_eq(db_url_parse("mysql://u:p@ss/w?r:d@h/d", NULL, &u, err, sizeof err), 0, "%s",
                 err);
    cr_assert_str_eq(u.password, "p@ss/w?r:d");
    cr_assert_str_eq(u.host, "h");
    cr_assert_str_eq(u.database, "d");
    db_url_free(&u);
}

Test(db_url, sqlite_paths)
{
    char err[256] = "";
    db_url u;
    cr_assert_eq(db_url_parse("sqlite:var/bot.db", "/etc/rc", &u, err, sizeof err), 0, "%s", err);
    cr_assert_eq(u.kind, DB_SQLITE);
    cr_assert_str_eq(u.path, "/etc/rc/var/bot.db");
    db_url_free(&u);
    cr_assert_eq(db_url_parse("sqlite:/abs/bot.db", "/etc/rc", &u, err, sizeof err), 0);
    cr_assert_str_eq(u.path, "/abs/bot.db");
    db_url_free(&u);
    cr_assert_eq(db_url_parse("sqlite:bot.db", NULL, &u, err, sizeof err), 0);
    cr_assert_str_eq(u.path, "bot.db");
    db_url_free(&u);
    cr_assert_eq(db_url_parse("sqlite::memory:", "/etc/rc", &u, err, sizeof err), 0);
    cr_assert_str_eq(u.path, ":memory:");
    db_url_free(&u);
}

Test(db_url, bad_urls_say_what_is_wrong)
{
    static const struct { const char *url, *want; } cases[] = {
        { "", "empty database URL" },
        { "postgres://u@h/d", "unknown scheme 'postgres'" },
        { "bot.db", "not a database URL" },
        { "mysql://u@h", "missing database name" },
        { "mysql://u@h/", "missing database name" },
        { "mysql://h/d", "missing user name" },
        { "mysql://:pw@h/d", "missing user name" },
        { "mysql://u@h:0/d", "bad port '0'" },
        { "mysql://u@h:99999/d", "bad port '99999'" },
        { "mysql://u@h:12a/d", "bad port after the host: not a number from 1 to 65535 (not shown" },
        { "mysql://u@h:/d", "bad port ''" },
        { "mysql://u@h/d?sock=/x", "unknown parameter 'sock'" },
        { "mysql://u@h/d?socket=", "socket" },
        { "mysql://u@[::1/d", "IPv6" },
        { "mysql://u%zz@h/d", "user name" },
        { "sqlite:", "no file path" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        db_url u;
        cr_assert_eq(db_url_parse(cases[i].url, NULL, &u, err, sizeof err), -1, "%s accepted",
                     cases[i].url);
        cr_assert(strstr(err, cases[i].want), "%s: got \"%s\", want \"%s\"", cases[i].url, err,
                  cases[i].want);
        cr_assert_null(u.user, "%s: the url must be freed and zeroed", cases[i].url);
        cr_assert_null(u.host);
    }
}

Test(db_url, errors_never_show_the_password)
{
    static const char *const urls[] = {
        "mysql://u:topsecret@h:bad/d", "mysql://u:topsecret@h", "mysql://u:top%zzsecret@h/d",
        "mysql://u:topsecret@h/d?x=1", "topsecret", "mysql://:topsecret@h/d",
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        char err[256] = "";
        db_url u;
        cr_assert_eq(db_url_parse(urls[i], NULL, &u, err, sizeof err), -1, "%s", urls[i]);
        cr_assert(err[0], "%s: no message", urls[i]);
        cr_assert_null(strstr(err, "topsecret"), "%s: %s", urls[i], err);
        cr_assert_null(strstr(err, "top"), "%s: %s", urls[i], err);
    }
}

Test(db_url, redact)
{
    char out[128];
    db_url_redact("mysql://bot:secret@h:3306/db", out, sizeof out);
    cr_assert_str_eq(out, "mysql://bot:***@h:3306/db");
    db_url_redact("mysql://bot:p@ss/w@h/db?socket=/s", out, sizeof out);
    cr_assert_str_eq(out, "mysql://bot:***@h/db?socket=/s");
    db_url_redact("mysql://bot@h/db", out, sizeof out);
    cr_assert_str_eq(out, "mysql://bot@h/db");
    db_url_redact("sqlite:/var/x:y@z.db", out, sizeof out);
    cr_assert_str_eq(out, "sqlite:/var/x:y@z.db");
    char tiny[12];
    db_url_redact("mysql://bot:secret@h:3306/db", tiny, sizeof tiny);
    cr_assert_str_eq(tiny, "mysql://bot");
}

/* ---------------------------------------------------------------- time */

Test(db_time, format_and_parse_round_trip)
{
    char buf[32];
    int64_t t;
    db_format_time(0, buf, sizeof buf);
    cr_assert_str_eq(buf, "1970-01-01 00:00:00");
    db_format_time(951782400 + 3661, buf, sizeof buf);
    cr_assert_str_eq(buf, "2000-02-29 01:01:01");
    cr_assert_eq(db_parse_time("2000-02-29 01:01:01", &t), 0);
    cr_assert_eq(t, 951782400 + 3661);
    cr_assert_eq(db_parse_time("2024-06-01 12:00:00.123", &t), 0, "a DATETIME(3) fraction");
    cr_assert_eq(t, 1717243200);
    static const int64_t samples[] = { -315619200, 0, 1, 86399, 1234567890, 1709210096,
                                       4102444799, 4107542400 };
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        db_format_time(samples[i], buf, sizeof buf);
        cr_assert_eq(strlen(buf), 19, "%s", buf);
        cr_assert_eq(db_parse_time(buf, &t), 0, "%s", buf);
        cr_assert_eq(t, samples[i], "%s", buf);
    }
}

Test(db_time, parse_refuses_bad_text)
{
    static const char *const bad[] = {
        "", "2024-01-01", "2024-01-01 00:00", "2024-01-01T00:00:00", " 2024-01-01 00:00:00",
        "2024-01-01 00:00:00x", "2024-01-01 00:00:00.", "2024-13-01 00:00:00",
        "2024-00-10 00:00:00", "2024-02-30 00:00:00", "2023-02-29 00:00:00",
        "2024-01-01 24:00:00", "2024-01-01 00:60:00", "2024-01-01 00:00:60", "2024-1-01 00:00:00",
        "2024-01-01 00:00:0a", "yesterday",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t t = 42;
        cr_assert_eq(db_parse_time(bad[i], &t), -1, "'%s' accepted", bad[i]);
    }
    cr_assert_eq(db_parse_time(NULL, NULL), -1);
}

/* ------------------------------------------------------- both drivers */

DB_TEST(db, exec_counts_rows_matched)
{
    th_db t;
    int64_t n = -1;
    th_db_create(kind, &t);
    exec_ok(t.conn, "CREATE TABLE t (id INT PRIMARY KEY, v INT)", NULL, 0, &n);
    cr_assert_eq(n, 0);
    for (int i = 1; i <= 3; i++) {
        rc_value p[] = { rc_int(i), rc_int(i * 10) };
        exec_ok(t.conn, "INSERT INTO t (id, v) VALUES (?, ?)", p, 2, &n);
        cr_assert_eq(n, 1);
    }
    /* Rows 1 and 2 already have v = v: still matched, still counted. */
    exec_ok(t.conn, "UPDATE t SET v = v WHERE id <= 2", NULL, 0, &n);
    cr_assert_eq(n, 2);
    rc_value p[] = { rc_int(30), rc_int(3) };
    exec_ok(t.conn, "UPDATE t SET v = ? WHERE id = ?", p, 2, &n);
    cr_assert_eq(n, 1, "setting a value to what it is counts as matched");
    exec_ok(t.conn, "UPDATE t SET v = 0 WHERE id > 100", NULL, 0, &n);
    cr_assert_eq(n, 0);
    /* A statement that is no INSERT/UPDATE/DELETE reports 0, not the last count. */
    exec_ok(t.conn, "DELETE FROM t WHERE id >= 2", NULL, 0, &n);
    cr_assert_eq(n, 2);
    exec_ok(t.conn, "CREATE TABLE t2 (x INT)", NULL, 0, &n);
    cr_assert_eq(n, 0);
    exec_ok(t.conn, "UPDATE t SET v = 1", NULL, 0, NULL); /* affected may be NULL */
    cr_assert_eq(th_count(t.conn, "SELECT COUNT(*) FROM t"), 1);
    th_db_destroy(&t);
}

DB_TEST(db, query_every_value_type)
{
    th_db t;
    rows r = { 0 };
    th_db_create(kind, &t);
    exec_ok(t.conn, "CREATE TABLE tv (i BIGINT, d DOUBLE, s VARCHAR(100), n VARCHAR(10), "
            "m DECIMAL(12,2), dt DATETIME, u BIGINT UNSIGNED)", NULL, 0, NULL);
    rc_value p[] = { rc_int(INT64_MIN + 1), rc_double(2.5), rc_text("h\xc3\xa9llo 'q' \"x\" ?"),
                     rc_null(), rc_text("12.50"), rc_text("2024-02-29 13:14:15"),
                     rc_int(INT64_MAX) };
    exec_ok(t.conn, "INSERT INTO tv VALUES (?, ?, ?, ?, ?, ?, ?)", p, 7, NULL);
    rc_value q[] = { rc_text(NULL) }; /* a NULL string binds as SQL NULL */
    exec_ok(t.conn, "INSERT INTO tv (i, s) VALUES (7, ?)", q, 1, NULL);

    cr_assert_eq(db_query(t.conn, "SELECT i, d, s, n, m, dt, u FROM tv ORDER BY i", NULL, 0,
                          collect, &r), 0, "%s", db_errmsg(t.conn));
    cr_assert_eq(r.n, 2);
    cr_assert_eq(r.ncols, 7);
    rc_value *v = r.v[0];
    cr_assert_eq(v[0].type, RC_INT);
    cr_assert_eq(v[0].i, INT64_MIN + 1);
    cr_assert_eq(v[1].type, RC_DOUBLE);
    cr_assert_float_eq(v[1].d, 2.5, 1e-12);
    cr_assert_eq(v[2].type, RC_TEXT);
    cr_assert_str_eq(v[2].s, "h\xc3\xa9llo 'q' \"x\" ?");
    cr_assert_eq(v[3].type, RC_NULL);
    cr_assert_eq(v[4].type, RC_DOUBLE, "DECIMAL reads as a double");
    cr_assert_float_eq(v[4].d, 12.5, 1e-9);
    cr_assert_eq(v[5].type, RC_TEXT);
    cr_assert_str_eq(v[5].s, "2024-02-29 13:14:15");
    cr_assert_eq(v[6].type, RC_INT);
    cr_assert_eq(v[6].i, INT64_MAX);
    cr_assert_eq(r.v[1][0].i, 7);
    cr_assert_eq(r.v[1][2].type, RC_NULL);
    rows_free(&r);

    /* Parameters of every type in a WHERE, and a SELECT without a table. */
    rc_value w[] = { rc_double(2.5), rc_text("h\xc3\xa9llo 'q' \"x\" ?"), rc_int(INT64_MIN + 1) };
    cr_assert_eq(db_query(t.conn, "SELECT COUNT(*) FROM tv WHERE d = ? AND s = ? AND i = ?", w, 3,
                          collect, &r), 0, "%s", db_errmsg(t.conn));
    cr_assert_eq(r.v[0][0].type, RC_INT);
    cr_assert_eq(r.v[0][0].i, 1);
    rows_free(&r);
    cr_assert_eq(db_query(t.conn, "SELECT 1, 0.25e0, NULL, 'x'", NULL, 0, collect, &r), 0, "%s",
                 db_errmsg(t.conn));
    cr_assert_eq(r.v[0][0].type, RC_INT);
    cr_assert_eq(r.v[0][1].type, RC_DOUBLE);
    cr_assert_eq(r.v[0][2].type, RC_NULL);
    cr_assert_str_eq(r.v[0][3].s, "x");
    rows_free(&r);
    th_db_destroy(&t);
}

/* A value of n bytes that is not one byte repeated, so a misplaced chunk shows. */
static char *long_text(size_t n, char salt)
{
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('a' + (i * 7 + (size_t)salt + i / 977) % 26);
    s[n] = '\0';
    return s;
}

typedef struct long_rows {
    size_t n;
    char *got[4];
} long_rows;

static int collect_long(void *user, const rc_value *cols, size_t ncols)
{
    long_rows *r = user;
    cr_assert_eq(ncols, 2);
    cr_assert_eq(cols[1].type, RC_TEXT);
    if (r->n < 4)
        r->got[r->n] = strdup(cols[1].s);
    r->n++;
    return 0;
}

DB_TEST(db, long_text_round_trip)
{
    th_db t;
    long_rows r = { 0 };
    th_db_create(kind, &t);
    exec_ok(t.conn, "CREATE TABLE lt (id INT PRIMARY KEY, body LONGTEXT)", NULL, 0, NULL);
    /* Short, long, shorter than the last long, longest: the buffer must grow
     * and must not leak one row's tail into the next. */
    size_t sizes[] = { 10, 70 * 1024, 300, 200 * 1024 + 3 };
    char *want[4];
    for (int i = 0; i < 4; i++) {
        want[i] = long_text(sizes[i], (char)i);
        rc_value p[] = { rc_int(i), rc_text(want[i]) };
        exec_ok(t.conn, "INSERT INTO lt (id, body) VALUES (?, ?)", p, 2, NULL);
    }
    cr_assert_eq(db_query(t.conn, "SELECT id, body FROM lt ORDER BY id", NULL, 0, collect_long,
                          &r), 0, "%s", db_errmsg(t.conn));
    cr_assert_eq(r.n, 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(strlen(r.got[i]), sizes[i], "row %d", i);
        cr_assert(strcmp(r.got[i], want[i]) == 0, "row %d differs", i);
        free(r.got[i]);
        free(want[i]);
    }
    th_db_destroy(&t);
}

static void fill_numbers(db *d, int n)
{
    exec_ok(d, "CREATE TABLE nums (id INT PRIMARY KEY)", NULL, 0, NULL);
    cr_assert_eq(db_begin(d), 0, "%s", db_errmsg(d));
    for (int i = 1; i <= n; i++) {
        rc_value p[] = { rc_int(i) };
        exec_ok(d, "INSERT INTO nums (id) VALUES (?)", p, 1, NULL);
    }
    cr_assert_eq(db_commit(d), 0, "%s", db_errmsg(d));
}

DB_TEST(db, row_callback_stops_early)
{
    th_db t;
    rows r = { .stop_after = 3 };
    th_db_create(kind, &t);
    fill_numbers(t.conn, 500);
    for (int round = 0; round < 3; round++) { /* the same (cached) statement again */
        r.n = 0;
        cr_assert_eq(db_query(t.conn, "SELECT id FROM nums ORDER BY id", NULL, 0, collect, &r), 0,
                     "%s", db_errmsg(t.conn));
        cr_assert_eq(r.n, 3, "the callback asked to stop after 3 rows");
        cr_assert_eq(r.v[2][0].i, 3);
        /* The connection is usable again at once. */
        cr_assert_eq(th_count(t.conn, "SELECT COUNT(*) FROM nums"), 500);
        exec_ok(t.conn, "UPDATE nums SET id = id WHERE id = 1", NULL, 0, NULL);
    }
    rows_free(&r);
    th_db_destroy(&t);
}

DB_TEST(db, transactions_commit_and_rollback)
{
    th_db t;
    th_db_create(kind, &t);
    exec_ok(t.conn, "CREATE TABLE tx (id INT PRIMARY KEY)", NULL, 0, NULL);
    db *other = open_again(&t);

    cr_assert_eq(db_begin(t.conn), 0, "%s", db_errmsg(t.conn));
    exec_ok(t.conn, "INSERT INTO tx (id) VALUES (1)", NULL, 0, NULL);
    cr_assert_eq(th_count(t.conn, "SELECT COUNT(*) FROM tx"), 1, "own write visible");
    cr_assert_eq(db_rollback(t.conn), 0, "%s", db_errmsg(t.conn));
    cr_assert_eq(th_count(t.conn, "SELECT COUNT(*) FROM tx"), 0, "rolled back");

    cr_assert_eq(db_begin(t.conn), 0, "%s", db_errmsg(t.conn));
    exec_ok(t.conn, "INSERT INTO tx (id) VALUES (2)", NULL, 0, NULL);
    cr_assert_eq(db_commit(t.conn), 0, "%s", db_errmsg(t.conn));
    cr_assert_eq(th_count(other, "SELECT COUNT(*) FROM tx WHERE id = 2"), 1,
                 "another connection sees the commit");
    /* Outside a transaction a statement commits by itself. */
    exec_ok(t.conn, "INSERT INTO tx (id) VALUES (3)", NULL, 0, NULL);
    cr_assert_eq(th_count(other, "SELECT COUNT(*) FROM tx"), 2);
    db_close(other);
    th_db_destroy(&t);
}

DB_TEST(db, errors_name_the_problem)
{
    th_db t;
    rows r = { 0 };
    th_db_create(kind, &t);
    const char *prefix = kind == DB_MYSQL ? "mysql error " : "sqlite error ";
    cr_assert_str_eq(db_errmsg(t.conn), "");
    cr_assert_eq(db_exec(t.conn, "UPDATE no_such_jobs SET x = 1", NULL, 0, NULL), -1);
    cr_assert(strstr(db_errmsg(t.conn), "no_such_jobs"), "%s", db_errmsg(t.conn));
    cr_assert(strncmp(db_errmsg(t.conn), prefix, strlen(prefix)) == 0, "%s", db_errmsg(t.conn));
    cr_assert_neq(db_errcode(t.conn), 0);
    cr_assert_eq(db_errcode(t.conn), kind == DB_MYSQL ? 1146 : 1);
    cr_assert_not(db_retryable(t.conn));
    cr_assert_not(db_lost(t.conn));

    cr_assert_eq(db_query(t.conn, "SELEC 1", NULL, 0, collect, &r), -1);
    cr_assert_neq(db_errcode(t.conn), 0);
    cr_assert_eq(r.n, 0);

    /* Parameter count mismatch is an error, not a crash. */
    rc_value p[] = { rc_int(1), rc_int(2) };
    cr_assert_eq(db_query(t.conn, "SELECT ?", p, 2, collect, &r), -1);
    cr_assert(strstr(db_errmsg(t.conn), "placeholders"), "%s", db_errmsg(t.conn));

    /* A constraint violation, then the same statement succeeds. */
    exec_ok(t.conn, "CREATE TABLE u (id INT PRIMARY KEY)", NULL, 0, NULL);
    exec_ok(t.conn, "INSERT INTO u (id) VALUES (1)", NULL, 0, NULL);
    rc_value one[] = { rc_int(1) }, two[] = { rc_int(2) };
    cr_assert_eq(db_exec(t.conn, "INSERT INTO u (id) VALUES (?)", one, 1, NULL), -1);
    cr_assert_eq(db_exec(t.conn, "INSERT INTO u (id) VALUES (?)", two, 1, NULL), 0, "%s",
                 db_errmsg(t.conn));
    cr_assert_str_eq(db_errmsg(t.conn), "", "a success clears the last error");
    cr_assert_eq(db_errcode(t.conn), 0);
    th_db_destroy(&t);
}

DB_TEST(db, rollback_keeps_the_error_that_caused_it)
{
    th_db t;
    th_db_create(kind, &t);
    cr_assert_eq(db_begin(t.conn), 0, "%s", db_errmsg(t.conn));
    cr_assert_eq(db_exec(t.conn, "DELETE FROM missing_tbl", NULL, 0, NULL), -1);
    int code = db_errcode(t.conn);
    cr_assert_eq(db_rollback(t.conn), 0, "%s", db_errmsg(t.conn));
    cr_assert_eq(db_errcode(t.conn), code);
    cr_assert(strstr(db_errmsg(t.conn), "missing_tbl"), "%s", db_errmsg(t.conn));
    th_db_destroy(&t);
}

/* Two writers on one row: the second waits, then gets a retryable error. */
DB_TEST(db, lock_conflict_is_retryable)
{
    th_db t;
    th_db_create(kind, &t);
    exec_ok(t.conn, "CREATE TABLE lk (id INT PRIMARY KEY, v INT)", NULL, 0, NULL);
    exec_ok(t.conn, "INSERT INTO lk (id, v) VALUES (1, 0)", NULL, 0, NULL);
    db *other = open_again(&t);
    if (kind == DB_MYSQL)
        exec_ok(other, "SET SESSION innodb_lock_wait_timeout = 1", NULL, 0, NULL);

    cr_assert_eq(db_begin(t.conn), 0, "%s", db_errmsg(t.conn));
    exec_ok(t.conn, "UPDATE lk SET v = 1 WHERE id = 1", NULL, 0, NULL);
    int rc = kind == DB_MYSQL ? db_exec(other, "UPDATE lk SET v = 2 WHERE id = 1", NULL, 0, NULL)
                              : db_begin(other);
    cr_assert_eq(rc, -1, "the second writer must not get the lock");
    cr_assert(db_retryable(other), "%s", db_errmsg(other));
    cr_assert_not(db_lost(other));
    cr_assert_eq(db_rollback(other), 0, "%s", db_errmsg(other));
    cr_assert(db_retryable(other), "still retryable after the rollback");
    cr_assert_eq(db_commit(t.conn), 0, "%s", db_errmsg(t.conn));
    /* Once the first committed, the retry goes through. */
    exec_ok(other, "UPDATE lk SET v = 2 WHERE id = 1", NULL, 0, NULL);
    cr_assert_eq(th_count(t.conn, "SELECT v FROM lk WHERE id = 1"), 2);
    db_close(other);
    th_db_destroy(&t);
}

DB_TEST(db, now_agrees_with_host_clock)
{
    th_db t;
    int64_t now = 0, parsed = 0;
    db_clock c;
    th_db_create(kind, &t);
    time_t before = time(NULL);
    cr_assert_eq(db_now(t.conn, &c), 0, "%s", db_errmsg(t.conn));
    time_t after = time(NULL);
    now = c.unix_s;
    const char *text = c.text;
    cr_assert_geq(now, (int64_t)before - 3, "db %lld host %lld", (long long)now,
                  (long long)before);
    cr_assert_leq(now, (int64_t)after + 3, "db %lld host %lld", (long long)now, (long long)after);
    cr_assert_eq(strlen(text), 19, "%s", text);
    cr_assert_eq(db_parse_time(text, &parsed), 0, "%s", text);
    cr_assert_eq(parsed, now + c.offset_s, "the text is the Unix time at the session's offset");
    th_db_destroy(&t);
}

DB_TEST(db, table_exists_and_scripts)
{
    th_db t;
    th_db_create(kind, &t);
    cr_assert_eq(db_table_exists(t.conn, "s1"), 0);
    const char *script =
        "-- a comment line; with a semicolon;\n"
        "CREATE TABLE s1 (\n"
        "  id INT PRIMARY KEY, -- an inline comment\n"
        "  name VARCHAR(20) DEFAULT 'a;b'\n"
        ");\n"
        "\n"
        "  -- indented comment\n"
        "INSERT INTO s1 (id) VALUES (1);   \r\n"
        "CREATE TABLE s2 (x INT)\n";
    cr_assert_eq(db_exec_script(t.conn, script), 0, "%s", db_errmsg(t.conn));
    cr_assert_eq(db_table_exists(t.conn, "s1"), 1);
    cr_assert_eq(db_table_exists(t.conn, "s2"), 1, "a last statement without ';' runs too");
    cr_assert_eq(th_count(t.conn, "SELECT COUNT(*) FROM s1 WHERE name = 'a;b'"), 1);
    cr_assert_eq(db_exec_script(t.conn, "CREATE TABLE s3 (x INT);\nCREATE TABLEX s4;\n"), -1);
    cr_assert_neq(db_errcode(t.conn), 0);
    cr_assert(strstr(db_errmsg(t.conn), "TABLEX"), "%s", db_errmsg(t.conn));
    th_db_destroy(&t);
}

/* More distinct statements than the cache holds, a schema change under a
 * cached statement, and one SQL text run nested (SQLite) or refused (MySQL). */
typedef struct nested {
    db *d;
    int rc;
    int64_t inner;
    size_t calls;
} nested;

static int nested_row(void *user, const rc_value *cols, size_t ncols)
{
    nested *s = user;
    (void)cols;
    (void)ncols;
    s->calls++;
    s->rc = db_query(s->d, "SELECT COUNT(*) FROM nums", NULL, 0, rc__count_row, &s->inner);
    return 0;
}

DB_TEST(db, statement_cache_stays_correct)
{
    th_db t;
    rows r = { 0 };
    th_db_create(kind, &t);
    fill_numbers(t.conn, 40);
    for (int round = 0; round < 2; round++) {
        for (int i = 1; i <= 40; i++) {
            char sql[96];
            snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM nums WHERE id <= %d", i);
            cr_assert_eq(th_count(t.conn, sql), i);
        }
    }
    cr_assert_eq(db_query(t.conn, "SELECT * FROM nums WHERE id = 1", NULL, 0, collect, &r), 0);
    cr_assert_eq(r.ncols, 1);
    rows_free(&r);
    exec_ok(t.conn, "ALTER TABLE nums ADD COLUMN extra INT", NULL, 0, NULL);
    cr_assert_eq(db_query(t.conn, "SELECT * FROM nums WHERE id = 1", NULL, 0, collect, &r), 0,
                 "%s", db_errmsg(t.conn));
    cr_assert_eq(r.ncols, 2, "a cached statement sees the new column");
    rows_free(&r);

    nested s = { .d = t.conn };
    cr_assert_eq(db_query(t.conn, "SELECT id FROM nums WHERE id <= 2 ORDER BY id", NULL, 0,
                          nested_row, &s), 0, "%s", db_errmsg(t.conn));
    cr_assert_eq(s.calls, 2);
    if (kind == DB_SQLITE) {
        cr_assert_eq(s.rc, 0);
        cr_assert_eq(s.inner, 40);
    } else {
        cr_assert_eq(s.rc, -1, "MySQL streams rows: a nested statement is refused");
    }
    cr_assert_eq(th_count(t.conn, "SELECT COUNT(*) FROM nums"), 40);
    th_db_destroy(&t);
}

/* ------------------------------------------------------- open failures */

Test(db_open, unreachable_mysql_socket_fails_fast)
{
    char err[512] = "", url[512];
    db_url u;
    db *d = (db *)&err; /* must be reset to NULL */
    snprintf(url, sizeof url, "mysql://rtest@/bot?socket=%s/no-such.sock", th_tmpdir());
    cr_assert_eq(db_url_parse(url, NULL, &u, err, sizeof err), 0, "%s", err);
    db_options o = { .password = "pw", .connect_timeout_s = 5 };
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(db_open(&u, &o, &d, err, sizeof err), DB_UNREACHABLE, "%s", err);
    cr_assert_lt(elapsed_s(&t0), 3.0);
    cr_assert_null(d);
    cr_assert(strstr(err, "cannot reach MySQL server at socket "), "%s", err);
    cr_assert(strstr(err, "no-such.sock"), "%s", err);
    cr_assert(strstr(err, "(database bot) within 5 s"), "%s", err);
    db_url_free(&u);
}

Test(db_open, unreachable_mysql_tcp_port)
{
    char err[512] = "";
    db_url u;
    db *d = NULL;
    /* Port 1 on loopback: nothing listens, the connection is refused. */
    cr_assert_eq(db_url_parse("mysql://bot:hunter2@127.0.0.1:1/bot", NULL, &u, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(db_open(&u, NULL, &d, err, sizeof err), DB_UNREACHABLE, "%s", err);
    cr_assert(strstr(err, "cannot reach MySQL server at 127.0.0.1:1 (database bot) within 10 s"),
              "%s", err);
    cr_assert_null(strstr(err, "hunter2"), "%s", err);
    db_url_free(&u);
}

Test(db_open, mysql_wrong_password_and_unknown_database)
{
    const char *sock = env_or_fail("RECONCILER_TEST_MYSQL_SOCKET");
    const char *user = env_or_fail("RECONCILER_TEST_MYSQL_USER");
    const char *pw = env_or_fail("RECONCILER_TEST_MYSQL_PASSWORD");
    char err[512] = "", url[512];
    db_url u;
    db *d = NULL;

    /* Wrong password in the URL, then in the options. */
    snprintf(url, sizeof url, "mysql://%s:Wr0ng-Pa55@/mysql?socket=%s", user, sock);
    cr_assert_eq(db_url_parse(url, NULL, &u, err, sizeof err), 0, "%s", err);
    cr_assert_eq(db_open(&u, NULL, &d, err, sizeof err), DB_ERROR, "%s", err);
    cr_assert_null(d);
    cr_assert(strstr(err, "refused the login"), "%s", err);
    cr_assert(strstr(err, "1045"), "%s", err);
    cr_assert_null(strstr(err, "Wr0ng-Pa55"), "%s", err);
    db_options o = { .password = "0ther-Wr0ng" };
    cr_assert_eq(db_open(&u, &o, &d, err, sizeof err), DB_ERROR, "%s", err);
    cr_assert_null(strstr(err, "0ther-Wr0ng"), "%s", err);
    db_url_free(&u);

    /* The right password, a database that does not exist. */
    snprintf(url, sizeof url, "mysql://%s@/no_such_db_here?socket=%s", user, sock);
    cr_assert_eq(db_url_parse(url, NULL, &u, err, sizeof err), 0, "%s", err);
    o.password = pw;
    cr_assert_eq(db_open(&u, &o, &d, err, sizeof err), DB_ERROR, "%s", err);
    cr_assert(strstr(err, "database 'no_such_db_here' does not exist"), "%s", err);
    cr_assert_null(strstr(err, pw), "%s", err);
    db_url_free(&u);
}

/*
 * The session keeps the server's default time zone (the bot's sessions write
 * NOW() in it; forcing UTC took live leases on servers behind UTC).
 */
Test(db_open, mysql_session_keeps_server_zone_read_committed)
{
    th_db t;
    rows r = { 0 };
    th_db_create(DB_MYSQL, &t);
    cr_assert_eq(db_query(t.conn, "SELECT @@session.time_zone, @@session.tx_isolation, "
                          "@@character_set_client, @@global.time_zone", NULL, 0, collect, &r),
                 0, "%s", db_errmsg(t.conn));
    cr_assert_str_eq(r.v[0][0].s, r.v[0][3].s, "the session's zone is the server's default");
    cr_assert_str_eq(r.v[0][1].s, "READ-COMMITTED");
    cr_assert_str_eq(r.v[0][2].s, "utf8mb4");
    rows_free(&r);
    th_db_destroy(&t);
}

Test(db_open, mysql_lost_connection_is_reported)
{
    th_db t;
    rows r = { 0 };
    th_db_create(DB_MYSQL, &t);
    db *killer = open_again(&t);
    /* Cache a statement first: it must go with the connection, without a crash. */
    cr_assert_eq(th_count(t.conn, "SELECT CONNECTION_ID()") > 0, 1);
    int64_t id = th_count(t.conn, "SELECT CONNECTION_ID()");
    char sql[64];
    snprintf(sql, sizeof sql, "KILL %lld", (long long)id);
    exec_ok(killer, sql, NULL, 0, NULL);
    struct timespec pause = { 0, 200 * 1000 * 1000 }; /* let the server close it */
    nanosleep(&pause, NULL);
    cr_assert_eq(db_query(t.conn, "SELECT CONNECTION_ID()", NULL, 0, collect, &r), -1);
    cr_assert(db_lost(t.conn), "%s", db_errmsg(t.conn));
    cr_assert_not(db_retryable(t.conn));
    cr_assert_eq(db_query(t.conn, "SELECT 1", NULL, 0, collect, &r), -1);
    cr_assert(db_lost(t.conn), "%s", db_errmsg(t.conn));
    db_close(killer);
    th_db_destroy(&t);
}

Test(db_open, sqlite_missing_folder_names_the_path)
{
    char err[512] = "";
    db_url u = { .kind = DB_SQLITE };
    db *d = NULL;
    u.path = th_path(th_tmpdir(), "no-such-dir/bot.db");
    cr_assert_eq(db_open(&u, NULL, &d, err, sizeof err), DB_ERROR);
    cr_assert_null(d);
    cr_assert(strstr(err, u.path), "%s", err);
    cr_assert(strstr(err, "no-such-dir"), "%s", err);
    free(u.path);
}

Test(db_open, sqlite_not_a_database)
{
    char err[512] = "";
    db_url u = { .kind = DB_SQLITE };
    db *d = NULL;
    u.path = th_path(th_tmpdir(), "notes.txt");
    th_write(u.path, "this is not a database, just some text that is long enough to have a "
                     "header of one hundred bytes or so, which SQLite checks first.\n");
    cr_assert_eq(db_open(&u, NULL, &d, err, sizeof err), DB_ERROR);
    cr_assert(strstr(err, u.path), "%s", err);
    cr_assert(strstr(err, "not a database"), "%s", err);
    free(u.path);
}

Test(db_open, sqlite_creates_the_file_and_keeps_journal_mode)
{
    char err[512] = "";
    db_url u = { .kind = DB_SQLITE };
    db *d = NULL;
    rows r = { 0 };
    u.path = th_path(th_tmpdir(), "fresh.db");
    cr_assert_eq(db_open(&u, NULL, &d, err, sizeof err), DB_OK, "%s", err);
    cr_assert_str_eq(db_driver_name(d), "sqlite");
    cr_assert_eq(db_get_kind(d), DB_SQLITE);
    cr_assert_eq(th_count(d, "PRAGMA foreign_keys"), 1);
    cr_assert_eq(db_query(d, "PRAGMA journal_mode", NULL, 0, collect, &r), 0);
    cr_assert_str_eq(r.v[0][0].s, "delete", "the default journal mode is left alone");
    rows_free(&r);
    exec_ok(d, "CREATE TABLE x (a INT)", NULL, 0, NULL);
    db_close(d);
    cr_assert_eq(th_file_contains(u.path, "CREATE TABLE x"), 1);
    free(u.path);
}
