/* SPDX-License-Identifier: MIT */
/*
 * test_readonly.c - db_query cannot write, and a dry run or a max_changes
 * rehearsal cannot write at all, whichever entry a plugin picks (issue 18
 * point 1). The fixture sneakwrite runs each statement through db_query;
 * every one must be refused with a message that says db_query only reads,
 * and the bot's tables must be exactly as before, in a dry run, in a
 * rehearsal (max_changes: 0) and in a real run, on both drivers.
 */
#include "helpers.h"
#include "db/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T "2026-03-01 12:00:00"

/* Statements that write, lock or escape, per driver; "|" separates them. */
static const char *sneaky(db_kind kind)
{
    if (kind == DB_MYSQL)
        return "UPDATE orders SET total_amount = total_amount + 1"
               "|DELETE FROM orders WHERE id > 0 RETURNING id"
               "|INSERT INTO orders (order_number, total_amount) SELECT CONCAT(order_number, 'x'), "
               "total_amount FROM orders"
               "|CALL rc_bump()"
               "|SELECT rc_write()"
               "|SELECT id FROM orders FOR UPDATE"
               "|SET SESSION TRANSACTION READ WRITE"
               "|/*!50000 DELETE FROM orders */ SELECT 1"
               "|CREATE TABLE sneaky (a INT)";
    return "UPDATE orders SET total_amount = total_amount + 1"
           "|DELETE FROM orders WHERE id > 0 RETURNING id"
           "|INSERT INTO orders (order_number, total_amount) SELECT order_number, total_amount "
           "FROM orders"
           "|WITH x AS (SELECT 1) DELETE FROM orders"
           "|PRAGMA query_only=0"
           "|CREATE TABLE sneaky (a INT)";
}

static int count_of(const char *list)
{
    int n = 1;
    for (const char *p = list; *p; p++)
        n += *p == '|';
    return n;
}

/* Rows for the statements to aim at, and (MySQL) a procedure and a function that write. */
static void seed(db *d)
{
    cr_assert_eq(db_exec(d, "INSERT INTO orders (order_number, total_amount) VALUES "
                         "('A1', 10), ('A2', 20), ('A3', 30)", NULL, 0, NULL), 0, "%s",
                 db_errmsg(d));
    if (db_get_kind(d) != DB_MYSQL)
        return;
    cr_assert_eq(db_exec_script(d, "CREATE PROCEDURE rc_bump() "
                                "UPDATE orders SET total_amount = total_amount + 100\n"), 0,
                 "%s", db_errmsg(d));
    cr_assert_eq(db_exec_script(d, "CREATE FUNCTION rc_write() RETURNS INT MODIFIES SQL DATA "
                                "BEGIN UPDATE orders SET total_amount = total_amount + 1000; "
                                "RETURN 1; END\n"), 0, "%s", db_errmsg(d));
}

static char *steps_yaml(db_kind kind, int capped, int in_tx)
{
    char *y = NULL;
    cr_assert_neq(asprintf(&y, "  - plugin: sneakwrite\n%s    options:\n      in_tx: %s\n"
                           "      sql: \"%s\"\n", capped ? "    max_changes: 0\n" : "",
                           in_tx ? "true" : "false", sneaky(kind)), -1);
    return y;
}

/* One run: the step failed, every statement refused as a read-only refusal, nothing changed. */
static void expect_all_refused(rig *r, int dry_run, const char *what)
{
    json_t *res = NULL;
    uint64_t before = th_checksum(r->t.conn, "orders");
    int64_t tables = th_count(r->t.conn, db_get_kind(r->t.conn) == DB_MYSQL
                                  ? "SELECT COUNT(*) FROM information_schema.tables "
                                    "WHERE table_schema = DATABASE()"
                                  : "SELECT COUNT(*) FROM sqlite_master");
    rig_run(r, T, dry_run, &res);
    json_t *step = json_array_get(json_object_get(res, "steps"), 0);
    const char *status = json_string_value(json_object_get(step, "status"));
    const char *error = json_string_value(json_object_get(step, "error"));
    cr_assert_str_eq(status, "failed", "%s: the step must fail (ran: %s)", what,
                     json_dumps(json_object_get(step, "results"), 0));
    cr_assert_not_null(error, "%s", what);
    int n = count_of(sneaky(db_get_kind(r->t.conn)));
    int found = 0;
    for (const char *p = error; (p = strstr(p, "] => ")); p++)
        found++;
    cr_assert_eq(found, n, "%s: %d statements, %d refusals: %s", what, n, found, error);
    /* Each refusal says what db_query is for, or that the session is read-only. */
    for (const char *p = error; (p = strstr(p, "] => ")); p++) {
        const char *end = strstr(p, " || ");
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *one = strndup(p, len);
        cr_assert(strstr(one, "db_query") || strstr(one, "read-only") ||
                  strstr(one, "READ ONLY"), "%s: unclear refusal: %s", what, one);
        free(one);
    }
    cr_assert_eq(th_checksum(r->t.conn, "orders"), before, "%s: orders changed", what);
    cr_assert_eq(th_count(r->t.conn, db_get_kind(r->t.conn) == DB_MYSQL
                              ? "SELECT COUNT(*) FROM information_schema.tables "
                                "WHERE table_schema = DATABASE()"
                              : "SELECT COUNT(*) FROM sqlite_master"),
                 tables, "%s: a table was created", what);
    json_decref(res);
}

/* A dry run and a real run, through db_query: every statement refused. */
DB_TEST(readonly, db_query_never_writes)
{
    rig r;
    char *y = steps_yaml(kind, 0, 0);
    rig_up(&r, kind, "tests/plugins", y);
    seed(r.t.conn);
    expect_all_refused(&r, 1, "dry run");
    expect_all_refused(&r, 0, "real run");
    rig_down(&r);
    free(y);
}

/* max_changes: 0 rehearses the step: its db_query writes are refused there too. */
DB_TEST(readonly, rehearsal_cannot_write)
{
    rig r;
    char *y = steps_yaml(kind, 1, 0);
    rig_up(&r, kind, "tests/plugins", y);
    seed(r.t.conn);
    expect_all_refused(&r, 0, "rehearsal");
    rig_down(&r);
    free(y);
}

/*
 * Inside the plugin's own transaction, in a real run: still refused (the
 * words), and on MySQL a write hidden in a function is undone (the query
 * runs between a savepoint and a rollback to it): the table is unchanged.
 */
DB_TEST(readonly, inside_a_transaction)
{
    rig r;
    json_t *res = NULL;
    const char *hidden = kind == DB_MYSQL ? "SELECT rc_write()" : "SELECT 1";
    char *y = NULL;
    cr_assert_neq(asprintf(&y, "  - plugin: sneakwrite\n    options:\n      in_tx: true\n"
                           "      sql: \"%s\"\n", hidden), -1);
    rig_up(&r, kind, "tests/plugins", y);
    seed(r.t.conn);
    uint64_t before = th_checksum(r.t.conn, "orders");
    rig_run(&r, T, 0, &res);
    cr_assert_eq(th_checksum(r.t.conn, "orders"), before, "a write hidden in a query stayed");
    json_decref(res);
    rig_down(&r);
    free(y);
    y = steps_yaml(kind, 0, 1);
    rig_up(&r, kind, "tests/plugins", y);
    seed(r.t.conn);
    before = th_checksum(r.t.conn, "orders");
    rig_run(&r, T, 0, &res);
    cr_assert_eq(th_checksum(r.t.conn, "orders"), before, "orders changed");
    json_decref(res);
    rig_down(&r);
    free(y);
}

/* The guard in the database layer itself, without a run: reads pass, writes do not. */
DB_TEST(readonly, guard_levels)
{
    th_db t;
    th_db_create(kind, &t);
    th_db_migrate(&t);
    seed(t.conn);
    db *d = t.conn;
    int64_t n = 0;
    cr_assert_eq(db_set_guard(d, DB_GUARD_READ_ONLY), 0, "%s", db_errmsg(d));
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM orders"), 3, "a read passes");
    cr_assert_neq(db_exec(d, "UPDATE orders SET total_amount = 0", NULL, 0, &n), 0,
                  "a dry run's session cannot write, even through db_exec");
    cr_assert_eq(db_begin(d), 0, "%s", db_errmsg(d));
    cr_assert_neq(db_exec(d, "UPDATE orders SET total_amount = 0", NULL, 0, &n), 0,
                  "nor in a transaction");
    cr_assert_eq(db_rollback(d), 0, "%s", db_errmsg(d));
    cr_assert_eq(db_set_guard(d, DB_GUARD_WRITE_TX), 0, "%s", db_errmsg(d));
    cr_assert_eq(db_exec(d, "UPDATE orders SET total_amount = total_amount WHERE id = 1", NULL,
                         0, &n), 0, "a run's db_exec gets a transaction: %s", db_errmsg(d));
    cr_assert_eq(n, 1);
    cr_assert_neq(db_exec(d, "COMMIT", NULL, 0, NULL), 0, "transaction control is the core's");
    cr_assert(strstr(db_errmsg(d), "COMMIT"), "%s", db_errmsg(d));
    cr_assert_neq(db_exec(d, "SET SESSION TRANSACTION READ WRITE", NULL, 0, NULL), 0);
    cr_assert_eq(db_set_guard(d, DB_GUARD_OFF), 0, "%s", db_errmsg(d));
    cr_assert_eq(db_exec(d, "UPDATE orders SET total_amount = 1 WHERE id = 1", NULL, 0, &n), 0,
                 "off again: %s", db_errmsg(d));
    th_db_destroy(&t);
}
