/* SPDX-License-Identifier: MIT */
/*
 * test_fence.c - every write transaction of a run is fenced by its run
 * lock's lease on the database clock (issue 18 point 4): a chunk, a db_exec
 * and a plugin's commit roll back when the lease ended or another instance
 * holds it, and write nothing. The loop against a frozen server is
 * tests/faults/fence-loop.
 */
#include "helpers.h"
#include "db/chunk.h"
#include "db/lock.h"

#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <time.h>

#define ME "me:1:00000001"
#define FIND "SELECT id FROM orders WHERE id > ? ORDER BY id LIMIT ?"
#define BUMP "UPDATE orders SET total_amount = total_amount + 1 WHERE id > ? AND id <= ?"

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A migrated database with 20 orders, the lock row held by holder until lock_until. */
static db *setup(db_kind kind, th_db *t, const char *holder, const char *until_sql)
{
    th_db_create(kind, t);
    th_db_migrate(t);
    db *d = t->conn;
    for (int i = 0; i < 20; i++)
        cr_assert_eq(db_exec(d, "INSERT INTO orders (order_number, total_amount) VALUES ('o', 0)",
                             NULL, 0, NULL), 0, "%s", db_errmsg(d));
    char *sql = NULL;
    cr_assert_neq(asprintf(&sql, "INSERT INTO reconciler_locks (name, holder, locked_at, "
                           "lock_until) VALUES ('%s', '%s', %s, %s)", LOCK_NAME, holder,
                           until_sql, until_sql), -1);
    cr_assert_eq(db_exec(d, sql, NULL, 0, NULL), 0, "%s", db_errmsg(d));
    free(sql);
    return d;
}

static const char *later(db_kind k)
{
    return k == DB_MYSQL ? "UTC_TIMESTAMP(3) + INTERVAL 1 HOUR"
                         : "strftime('%Y-%m-%d %H:%M:%f', 'now', '+1 hour')";
}

static const char *earlier(db_kind k)
{
    return k == DB_MYSQL ? "UTC_TIMESTAMP(3) - INTERVAL 1 SECOND"
                         : "strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 second')";
}

/* The guard and the fence a run's worker sets. */
static void fence_on(db *d, lock_ident *id)
{
    snprintf(id->name, sizeof id->name, "%s", LOCK_NAME);
    snprintf(id->holder, sizeof id->holder, "%s", ME);
    cr_assert_eq(db_set_guard(d, DB_GUARD_WRITE_TX), 0, "%s", db_errmsg(d));
    db_set_fence(d, lock_fence, id);
}

static int chunks(db *d, int64_t batch, int64_t *affected, char *err, size_t errlen)
{
    rc_value first = rc_int(0);
    static const unsigned char b0[] = { 0 };
    rc_chunk_key key = { 1, &first, b0, 1 };
    rc_chunk_stmt st = { BUMP, NULL, 0, 0 };
    int rc = chunk_run(d, FIND, NULL, 0, &key, batch, &st, 1, NULL, NULL, err, errlen);
    *affected = st.affected;
    return rc;
}

/* A live lease: every chunk commits, each one fenced (the counter says how many). */
DB_TEST(fence, live_lease_commits_every_chunk)
{
    th_db t;
    lock_ident id;
    db *d = setup(kind, &t, ME, later(kind));
    fence_on(d, &id);
    char err[256] = "";
    int64_t n = 0;
    cr_assert_eq(chunks(d, 5, &n, err, sizeof err), 0, "%s %s", err, db_errmsg(d));
    cr_assert_eq(n, 20);
    cr_assert_eq(db_set_guard(d, DB_GUARD_OFF), 0);
    cr_assert_eq(th_count(d, "SELECT SUM(total_amount) FROM orders"), 20);
    cr_assert_eq(th_count(d, "SELECT fences FROM reconciler_locks"), 4, "one fence a chunk");
    th_db_destroy(&t);
}

/* The lease ended on the database clock: the first chunk rolls back, 0 rows written. */
DB_TEST(fence, expired_lease_rolls_the_chunk_back)
{
    th_db t;
    lock_ident id;
    db *d = setup(kind, &t, ME, earlier(kind));
    fence_on(d, &id);
    char err[256] = "";
    int64_t n = 0;
    cr_assert_neq(chunks(d, 5, &n, err, sizeof err), 0, "a chunk committed under a dead lease");
    cr_assert(strstr(db_errmsg(d), "lease lost"), "%s", db_errmsg(d));
    cr_assert_eq(n, 0);
    cr_assert_eq(db_set_guard(d, DB_GUARD_OFF), 0);
    cr_assert_eq(th_count(d, "SELECT SUM(total_amount) FROM orders"), 0, "rows were written");
    th_db_destroy(&t);
}

/* Another holder: db_exec (its own transaction) and a plugin's commit roll back. */
DB_TEST(fence, another_holder_rolls_back_exec_and_commit)
{
    th_db t;
    lock_ident id;
    db *d = setup(kind, &t, "other:2:00000002", later(kind));
    fence_on(d, &id);
    int64_t n = -1;
    cr_assert_neq(db_exec(d, "UPDATE orders SET total_amount = 5", NULL, 0, &n), 0);
    cr_assert(strstr(db_errmsg(d), "lease lost"), "%s", db_errmsg(d));
    cr_assert_eq(n, 0);
    cr_assert_eq(db_begin(d), 0, "%s", db_errmsg(d));
    cr_assert_eq(db_exec(d, "UPDATE orders SET total_amount = 7", NULL, 0, &n), 0, "%s",
                 db_errmsg(d));
    cr_assert_neq(db_commit(d), 0, "a commit under another's lease");
    cr_assert(strstr(db_errmsg(d), "lease lost"), "%s", db_errmsg(d));
    cr_assert_eq(db_in_transaction(d), 0, "rolled back");
    cr_assert_eq(db_set_guard(d, DB_GUARD_OFF), 0);
    cr_assert_eq(th_count(d, "SELECT SUM(total_amount) FROM orders"), 0, "rows were written");
    th_db_destroy(&t);
}

/* A renewal does not revive a lease that ended (the fence relies on it). */
DB_TEST(fence, renewal_does_not_revive_an_ended_lease)
{
    th_db t;
    db *d = setup(kind, &t, ME, earlier(kind));
    char err[256] = "";
    cr_assert_eq(lock_extend(d, LOCK_NAME, ME, 60000, err, sizeof err), 0, "%s", err);
    cr_assert_eq(lock_peek(d, LOCK_NAME, NULL, err, sizeof err), 0, "still ended");
    th_db_destroy(&t);
}

/*
 * The fence's cost, per chunk of 1 row (the worst case): the same loop over
 * 200 rows, unfenced and fenced, twice each, the best of each kept. Printed
 * (--verbose), never asserted.
 */
DB_TEST(fence, cost_per_chunk)
{
    th_db t;
    lock_ident id;
    db *d = setup(kind, &t, ME, later(kind));
    char err[256] = "";
    int64_t n = 0, best[2] = { INT64_MAX, INT64_MAX };
    for (int i = 0; i < 3; i++)
        cr_assert_eq(db_exec(d, "INSERT INTO orders (order_number, total_amount) SELECT "
                             "order_number, total_amount FROM orders", NULL, 0, NULL), 0);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM orders"), 160);
    for (int round = 0; round < 4; round++) {
        int fenced = round % 2;
        cr_assert_eq(db_set_guard(d, DB_GUARD_WRITE_TX), 0);
        if (fenced)
            fence_on(d, &id);
        else
            db_set_fence(d, NULL, NULL);
        int64_t t0 = mono_us();
        cr_assert_eq(chunks(d, 1, &n, err, sizeof err), 0, "%s", err);
        int64_t us = (mono_us() - t0) / 160;
        best[fenced] = us < best[fenced] ? us : best[fenced];
    }
    cr_log_info("fence cost (%s): %lld us a 1-row chunk unfenced, %lld us fenced (%+lld us)",
                kind == DB_MYSQL ? "mysql" : "sqlite", (long long)best[0], (long long)best[1],
                (long long)(best[1] - best[0]));
    th_db_destroy(&t);
}

/* A schema without migration 005: the write is refused, and the message says what fixes it. */
DB_TEST(fence, unmigrated_lock_table_names_the_migration)
{
    th_db t;
    lock_ident id;
    db *d = setup(kind, &t, ME, later(kind));
    cr_assert_eq(db_exec(d, "ALTER TABLE reconciler_locks DROP COLUMN fences", NULL, 0, NULL),
                 0, "%s", db_errmsg(d));
    fence_on(d, &id);
    cr_assert_neq(db_exec(d, "UPDATE orders SET total_amount = 5", NULL, 0, NULL), 0);
    cr_assert(strstr(db_errmsg(d), "reconciler migrate"), "%s", db_errmsg(d));
    cr_assert_eq(db_set_guard(d, DB_GUARD_OFF), 0);
    cr_assert_eq(th_count(d, "SELECT SUM(total_amount) FROM orders"), 0, "rows were written");
    th_db_destroy(&t);
}
