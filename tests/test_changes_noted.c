/* SPDX-License-Identifier: MIT */
/*
 * test_changes_noted.c - MariaDB: a chunked UPDATE notes its own rows'
 * values before and after (changes_noted in db/changes.c) instead of the
 * core reading the rows before and after it. The oracle is the read path
 * itself: the same statement over an identical table, run where the
 * statement cannot note its rows (SIMULTANEOUS_ASSIGNMENT, a FLOAT column,
 * a chunk past NOTE_ROWS_MAX), must give byte-identical records. Which path
 * ran is told by @rc_n, which only the noting statement sets.
 */
#include "helpers.h"
#include "db/changes.h"
#include "db/chunk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every kind of column the noting path reads back as text, and values that are awkward as text. */
#define KINDS_TABLE(name)                                                                  \
    "CREATE TABLE " name " (id BIGINT UNSIGNED PRIMARY KEY, n_int INT NULL, "                 \
    "n_big BIGINT UNSIGNED NULL, n_dbl DOUBLE NULL, n_dec DECIMAL(12,3) NULL, "                \
    "s_txt VARCHAR(64) NULL, s_long LONGTEXT NULL, t_dt DATETIME(3) NULL, t_date DATE NULL, " \
    "s_enum ENUM('a','b') NULL, s_lat VARCHAR(32) CHARACTER SET latin1 NULL, "               \
    "t_time TIME NULL, flag INT NOT NULL DEFAULT 0) DEFAULT CHARSET=utf8mb4"

#define KINDS_ROWS(name)                                                                   \
    "INSERT INTO " name " (id, n_int, n_big, n_dbl, n_dec, s_txt, s_long, t_dt, t_date, "      \
    "s_enum, s_lat, t_time) VALUES "                                                         \
    "(1, -5, 18446744073709551000, 0.1 + 0.2, 12.345, 'ü:日本-', NULL, "                       \
    "'2030-01-02 03:04:05.678', '2030-01-02', 'a', 'é,', '-01:02:03'), "                      \
    "(2, NULL, NULL, NULL, NULL, NULL, 'x', NULL, NULL, NULL, NULL, NULL), "                   \
    "(3, 0, 0, 1e30, -0.001, '', '-', '2030-12-31 23:59:59.000', '1999-01-01', 'b', '', "    \
    "'00:00:00'), "                                                                            \
    "(4, 2147483646, 9223372036854775807, -2.5, 0, '5:abc,', '\"quoted\"\\\\ and\\ttab', "    \
    "'2030-01-01 00:00:00.001', NULL, 'a', '-', '838:59:59'), "                               \
    "(5, 7, 1, 3, 1, 'same', 'same', '2030-01-01 00:00:00.000', '2030-01-01', 'b', 'x', "    \
    "'12:00:00'), "                                                                            \
    "(6, 1, 2, 3, 4, '6', ',6,', '2030-06-06 06:06:06.600', '2030-06-06', 'a', ',', NULL)"

/* Flips each value between NULL and a value, or changes it; and marks the row done. */
#define KINDS_UPDATE(name)                                                                 \
    "UPDATE " name " SET n_int = IF(n_int IS NULL, 42, n_int + 1), n_big = ?, "                \
    "n_dbl = n_dbl * 2, n_dec = IF(n_dec IS NULL, 9.5, NULL), "                                \
    "s_txt = CONCAT(COALESCE(s_txt, 'was null'), ':ß-'), s_long = IF(s_long IS NULL, "         \
    "'set', NULL), t_dt = '2031-02-03 04:05:06.789', t_date = IF(t_date IS NULL, "             \
    "'2031-01-01', NULL), s_enum = IF(s_enum = 'a', 'b', 'a'), "                              \
    "s_lat = IF(s_lat IS NULL, 'ü,', IF(s_lat = 'x', NULL, CONCAT(s_lat, ',é'))), "             \
    "t_time = IF(t_time IS NULL, '-00:00:01', NULL), flag = 1 WHERE " KINDS_WHERE
#define KINDS_WHERE "flag = 0 AND id > ? AND id <= ?"

static const char *const kinds_cols[] = { "n_int", "n_big", "n_dbl", "n_dec", "s_txt",
                                          "s_long", "t_dt", "t_date", "s_enum", "s_lat",
                                          "t_time" };

static int text_rows(void *user, const rc_value *cols, size_t n)
{
    char **out = user;
    size_t had = *out ? strlen(*out) : 0;
    const char *k = n >= 1 && cols[0].type == RC_TEXT ? cols[0].s : "?";
    const char *c = n >= 2 && cols[1].type == RC_TEXT ? cols[1].s : "?";
    *out = realloc(*out, had + strlen(k) + strlen(c) + 3);
    sprintf(*out + had, "%s=%s\n", k, c);
    return 0;
}

/* Every record of table, one "key=changes" line each in key order (malloc'd). */
static char *records_of(db *d, const char *table)
{
    char *out = NULL;
    rc_value p[] = { rc_text(table) };
    cr_assert_eq(db_query(d, "SELECT row_key, changes FROM reconciler_change_rows WHERE "
                          "table_name = ? ORDER BY row_key", p, 1, text_rows, &out), 0,
                 "%s", db_errmsg(d));
    return out ? out : strdup("");
}

/*
 * Run the KINDS update over table in chunks of batch, recording; returns
 * whether the statement noted its rows (@rc_n set) and the records in *rec.
 */
static int run_kinds(db *d, const char *table, const char *update, int64_t batch,
                     int64_t *recorded, int64_t *missed)
{
    char find[200], err[256] = "";
    snprintf(find, sizeof find, "SELECT id FROM %s WHERE flag = 0 AND id > ? ORDER BY id LIMIT ?",
             table);
    cr_assert_eq(db_exec(d, "SET @rc_n = NULL", NULL, 0, NULL), 0, "%s", db_errmsg(d));
    static const unsigned char b0[] = { 0 };
    rc_value first[] = { rc_int(0) };
    rc_chunk_key key = { 1, first, b0, 1 };
    rc_value params[] = { rc_text("18446744073709551615") };
    rc_chunk_stmt st = { update, params, 1, 0 };
    rc_change_decl decl = { table, "id", kinds_cols, sizeof kinds_cols / sizeof *kinds_cols,
                            KINDS_WHERE, 1 };
    changes_meta cm = { &decl, 1, 7, "job", "step", 0, 0, 0, NULL, NULL };
    chunk_hooks hooks = { NULL, NULL, NULL, &cm, NULL };
    int rc = chunk_run(d, find, NULL, 0, &key, batch, &st, 1, &hooks, NULL, err, sizeof err);
    changes_meta_done(&cm);
    cr_assert_eq(rc, 0, "%s: %s %s", table, err, db_errmsg(d));
    *recorded = cm.written;
    *missed = cm.missed;
    return th_count(d, "SELECT @rc_n IS NOT NULL") == 1;
}

static db *kinds_db(th_db *t)
{
    th_db_create(DB_MYSQL, t);
    th_db_migrate(t);
    db *d = t->conn;
    const char *setup[] = { KINDS_TABLE("kinds_a"), KINDS_ROWS("kinds_a"), KINDS_TABLE("kinds_b"),
                            KINDS_ROWS("kinds_b") };
    for (size_t i = 0; i < sizeof setup / sizeof *setup; i++)
        cr_assert_eq(db_exec(d, setup[i], NULL, 0, NULL), 0, "%s", db_errmsg(d));
    return d;
}

Test(changes_noted, every_column_kind_reads_back_as_the_read_path_gives)
{
    th_db t;
    db *d = kinds_db(&t);
    int64_t rec_a, rec_b, miss_a, miss_b;
    /* Chunks of 4: a chunk of four rows and one of two. */
    cr_assert(run_kinds(d, "kinds_a", KINDS_UPDATE("kinds_a"), 4, &rec_a, &miss_a),
              "the statement did not note its rows");
    cr_assert_eq(db_exec(d, "SET SESSION sql_mode = CONCAT(@@sql_mode, "
                         "',SIMULTANEOUS_ASSIGNMENT')", NULL, 0, NULL), 0, "%s", db_errmsg(d));
    cr_assert_not(run_kinds(d, "kinds_b", KINDS_UPDATE("kinds_b"), 4, &rec_b, &miss_b),
                  "SIMULTANEOUS_ASSIGNMENT: every assignment sees the old row, the rows must be read");
    cr_assert_eq(rec_a, 6, "%lld records", (long long)rec_a);
    cr_assert_eq(rec_b, 6, "%lld records", (long long)rec_b);
    cr_assert_eq(miss_a + miss_b, 0);
    char *a = records_of(d, "kinds_a"), *b = records_of(d, "kinds_b");
    cr_assert_str_eq(a, b, "noted:\n%s\nread:\n%s", a, b);
    /* And the records say what the rows were: one checked by hand. */
    cr_assert(strstr(a, "1={\"n_int\":[-5,-4],"), "%s", a);
    /* A BIGINT UNSIGNED past INT64_MAX is a double on both paths (db_mysql.c). */
    cr_assert(strstr(a, "4={\"n_int\":[2147483646,2147483647],\"n_big\":[9223372036854775807,"
                     "1.8446744073709552e+19]"), "%s", a);
    cr_assert(strstr(a, "\"s_txt\":[\"ü:日本-\",\"ü:日本-:ß-\"]"), "%s", a);
    /* Commas in text of either character set; a negative TIME, and one set from NULL. */
    cr_assert(strstr(a, "\"s_lat\":[\"é,\",\"é,,é\"],\"t_time\":[\"-01:02:03\",null]"), "%s", a);
    cr_assert(strstr(a, "\"s_lat\":[\",\",\",,é\"]"), "%s", a);
    cr_assert(strstr(a, "\"t_time\":[null,\"-00:00:01\"]"), "%s", a);
    free(a);
    free(b);
    th_db_destroy(&t);
}

/* A FLOAT column's shortest digits would not read back as the read path's double: read. */
Test(changes_noted, a_float_column_is_read_not_noted)
{
    th_db t;
    db *d = kinds_db(&t);
    cr_assert_eq(db_exec(d, "ALTER TABLE kinds_b MODIFY n_dbl FLOAT NULL", NULL, 0, NULL), 0, "%s",
                 db_errmsg(d));
    int64_t rec_a, rec_b, miss_a, miss_b;
    cr_assert(run_kinds(d, "kinds_a", KINDS_UPDATE("kinds_a"), 100, &rec_a, &miss_a));
    cr_assert_not(run_kinds(d, "kinds_b", KINDS_UPDATE("kinds_b"), 100, &rec_b, &miss_b),
                  "a FLOAT column was noted");
    cr_assert_eq(rec_b, 6);
    cr_assert_eq(miss_b, 0);
    th_db_destroy(&t);
}

/* A statement that is not "UPDATE <the declared table> SET": the rows are read. */
Test(changes_noted, another_statement_shape_is_read_not_noted)
{
    th_db t;
    db *d = kinds_db(&t);
    int64_t rec, miss;
    cr_assert_not(run_kinds(d, "kinds_a", "UPDATE kinds_a AS k SET k.n_int = 1, k.n_big = ?, k.flag = 1 "
                            "WHERE " KINDS_WHERE, 100, &rec, &miss));
    cr_assert_eq(rec, 6, "%lld records", (long long)rec);
    cr_assert_eq(miss, 0);
    th_db_destroy(&t);
}

/*
 * The noting strings grow with the chunk: up to NOTE_ROWS_MAX (16384) rows
 * a chunk notes its rows, past it the rows are read; records alike.
 */
Test(changes_noted, a_chunk_past_the_limit_is_read, .timeout = 120)
{
    th_db t;
    th_db_create(DB_MYSQL, &t);
    th_db_migrate(&t);
    db *d = t.conn;
    const char *fill = "INSERT INTO %s (id, n_int, s_txt) SELECT seq, seq, CONCAT('t', seq) "
                       "FROM seq_1_to_16385";
    char sql[200];
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "kinds_b" : "kinds_a";
        char create[600];
        snprintf(create, sizeof create, "%s", i ? KINDS_TABLE("kinds_b") : KINDS_TABLE("kinds_a"));
        cr_assert_eq(db_exec(d, create, NULL, 0, NULL), 0, "%s", db_errmsg(d));
        snprintf(sql, sizeof sql, fill, name);
        cr_assert_eq(db_exec(d, sql, NULL, 0, NULL), 0, "%s", db_errmsg(d));
    }
    int64_t rec_a, rec_b, miss_a, miss_b;
    /* 16384 rows a chunk (and then one): noted. */
    cr_assert(run_kinds(d, "kinds_a", KINDS_UPDATE("kinds_a"), 16384, &rec_a, &miss_a));
    /* One chunk of 16385: read. */
    cr_assert_not(run_kinds(d, "kinds_b", KINDS_UPDATE("kinds_b"), 16385, &rec_b, &miss_b));
    cr_assert_eq(rec_a, 16385);
    cr_assert_eq(rec_b, 16385);
    cr_assert_eq(miss_a + miss_b, 0);
    char *a = records_of(d, "kinds_a"), *b = records_of(d, "kinds_b");
    size_t at = 0;
    while (a[at] && a[at] == b[at])
        at++;
    cr_assert(strcmp(a, b) == 0, "the records differ at: %.200s\nand: %.200s", a + at, b + at);
    free(a);
    free(b);
    th_db_destroy(&t);
}
