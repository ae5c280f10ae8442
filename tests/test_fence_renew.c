/* SPDX-License-Identifier: MIT */
/*
 * test_fence_renew.c - on SQLite a run's fenced writes also renew its live
 * lease (lock_fence with a ttl), since SQLite's one writer can starve the
 * heartbeat's own renewal: a step writing chunk after chunk used to have its
 * healthy run stopped ("the run lock could not be renewed in time";
 * service::killed_mid_run_leaves_whole_chunks_sqlite under load). An ended
 * lease stays ended, and MariaDB, whose server queues writers, keeps the
 * heartbeat as the only renewal.
 */
#include "helpers.h"
#include "db/lock.h"

#include <stdio.h>
#include <string.h>

#define ME "me:1:00000001"

/* A migrated database whose lock row ME holds until `until` (SQL). */
static db *held_until(db_kind kind, th_db *t, const char *until)
{
    th_db_create(kind, t);
    th_db_migrate(t);
    char sql[512];
    snprintf(sql, sizeof sql, "INSERT INTO reconciler_locks (name, holder, locked_at, "
             "lock_until) VALUES ('%s', '%s', %s, %s)", LOCK_NAME, ME, until, until);
    cr_assert_eq(db_exec(t->conn, sql, NULL, 0, NULL), 0, "%s", db_errmsg(t->conn));
    return t->conn;
}

/* Seconds from the database's now to the lease's end (negative: ended). */
static int64_t seconds_left(db *d)
{
    int64_t s = -999;
    const char *q = db_get_kind(d) == DB_MYSQL
        ? "SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(3), lock_until) FROM reconciler_locks"
        : "SELECT CAST(round((julianday(lock_until) - julianday('now')) * 86400) AS INTEGER) "
          "FROM reconciler_locks";
    cr_assert_eq(db_query(d, q, NULL, 0, rc__count_row, &s), 0, "%s", db_errmsg(d));
    return s;
}

static int fence_once(db *d, int64_t ttl_ms)
{
    lock_ident id = { LOCK_NAME, ME, ttl_ms };
    cr_assert_eq(db_exec(d, "BEGIN", NULL, 0, NULL), 0, "%s", db_errmsg(d));
    int rc = lock_fence(d, &id);
    cr_assert_eq(db_exec(d, "COMMIT", NULL, 0, NULL), 0, "%s", db_errmsg(d));
    return rc;
}

Test(fence_renew, sqlite_live_lease_is_pushed_to_now_plus_ttl)
{
    th_db t;
    db *d = held_until(DB_SQLITE, &t, "strftime('%Y-%m-%d %H:%M:%f', 'now', '+5 seconds')");
    cr_assert_eq(fence_once(d, 120000), 1);
    int64_t left = seconds_left(d);
    cr_assert(left >= 115 && left <= 120, "the lease ends in %lld s, not ~120 s", (long long)left);
    /* Never shortened: a later fence with a shorter ttl leaves the longer lease. */
    cr_assert_eq(fence_once(d, 10000), 1);
    left = seconds_left(d);
    cr_assert(left >= 115, "a fence shortened the lease to %lld s", (long long)left);
    th_db_destroy(&t);
}

Test(fence_renew, sqlite_without_ttl_renews_nothing)
{
    th_db t;
    db *d = held_until(DB_SQLITE, &t, "strftime('%Y-%m-%d %H:%M:%f', 'now', '+5 seconds')");
    cr_assert_eq(fence_once(d, 0), 1);
    cr_assert_leq(seconds_left(d), 5);
    th_db_destroy(&t);
}

Test(fence_renew, sqlite_ended_lease_stays_ended)
{
    th_db t;
    db *d = held_until(DB_SQLITE, &t, "strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 second')");
    cr_assert_eq(fence_once(d, 120000), 0, "the fence passed under an ended lease");
    cr_assert_leq(seconds_left(d), 0, "an ended lease was revived");
    th_db_destroy(&t);
}

Test(fence_renew, mysql_fence_leaves_the_renewal_to_the_heartbeat)
{
    th_db t;
    db *d = held_until(DB_MYSQL, &t, "UTC_TIMESTAMP(3) + INTERVAL 5 SECOND");
    cr_assert_eq(fence_once(d, 120000), 1);
    cr_assert_leq(seconds_left(d), 5);
    th_db_destroy(&t);
}
