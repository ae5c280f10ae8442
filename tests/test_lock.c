/* SPDX-License-Identifier: MIT */
/*
 * test_lock.c - the run lock (core/lock.c) on SQLite and MariaDB: who may
 * take, renew and release it, leases that run out, holds after a run, times
 * to the millisecond, errors, and one winner when many try at once.
 */
#include "helpers.h"
#include "th_wait.h"
#include "db/lock.h"
#include "db/migrate.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define A "hostA:100:aaaaaaaa"
#define B "hostB:200:bbbbbbbb"
#define MISSING "table reconciler_locks is missing: run `reconciler migrate`"

static th_db fresh(db_kind kind)
{
    th_db t;
    th_db_create(kind, &t);
    th_db_migrate(&t);
    return t;
}

static int try_as(db *d, const char *holder, int64_t ttl, lock_info *other)
{
    char err[512];
    int rc = lock_try(d, LOCK_NAME, holder, ttl, other, err, sizeof err);
    cr_assert_geq(rc, 0, "%s", err);
    return rc;
}

static lock_info peek(db *d, int *held)
{
    char err[512];
    lock_info li = { "", "" };
    *held = lock_peek(d, LOCK_NAME, &li, err, sizeof err);
    cr_assert_geq(*held, 0, "%s", err);
    return li;
}

static int text_row(void *user, const rc_value *c, size_t n)
{
    char *out = user;
    cr_assert_eq(n, 1);
    cr_assert_eq(c[0].type, RC_TEXT);
    snprintf(out, 32, "%s", c[0].s);
    return 1;
}

/* The database clock as lock text, "YYYY-MM-DD HH:MM:SS.mmm", in UTC like the lock. */
static void db_now_text(db *d, char out[32])
{
    const char *sql = db_get_kind(d) == DB_MYSQL
                          ? "SELECT CAST(UTC_TIMESTAMP(3) AS CHAR)"
                          : "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')";
    out[0] = '\0';
    cr_assert_eq(db_query(d, sql, NULL, 0, text_row, out), 0, "%s", db_errmsg(d));
    cr_assert_eq(strlen(out), 23, "'%s'", out);
}

/* lock_until - locked_at of the lock row, in milliseconds. */
static int64_t lease_ms(db *d)
{
    return th_count(d, db_get_kind(d) == DB_MYSQL
        ? "SELECT TIMESTAMPDIFF(MICROSECOND, locked_at, lock_until) DIV 1000 "
          "FROM reconciler_locks"
        : "SELECT CAST(round((julianday(lock_until) - julianday(locked_at)) * 86400000) "
          "AS INTEGER) FROM reconciler_locks");
}

DB_TEST(lock, take_refuse_retake)
{
    th_db t = fresh(kind);
    lock_info other, li;
    char now[32];
    int held;
    li = peek(t.conn, &held);
    cr_assert_eq(held, 0, "no row yet: free");
    cr_assert_str_eq(li.holder, "");
    cr_assert_eq(try_as(t.conn, A, 60000, NULL), 1);
    cr_assert_eq(try_as(t.conn, B, 60000, &other), 0);
    cr_assert_str_eq(other.holder, A);
    cr_assert_eq(strlen(other.until), 23, "millisecond text: '%s'", other.until);
    db_now_text(t.conn, now);
    cr_assert_gt(strcmp(other.until, now), 0, "until %s is after now %s", other.until, now);
    li = peek(t.conn, &held);
    cr_assert_eq(held, 1);
    cr_assert_str_eq(li.holder, A);
    cr_assert_eq(try_as(t.conn, A, 60000, NULL), 1, "its holder may take it again");
    peek(t.conn, &held);
    cr_assert_eq(held, 1);
    th_db_destroy(&t);
}

/* The lease is exactly ttl on the database clock, below a second and above. */
DB_TEST(lock, lease_is_ttl_to_the_millisecond)
{
    th_db t = fresh(kind);
    static const int64_t ttl[] = { 250, 1500, 61001 };
    for (size_t i = 0; i < sizeof ttl / sizeof ttl[0]; i++) {
        cr_assert_eq(try_as(t.conn, A, ttl[i], NULL), 1);
        cr_assert_eq(lease_ms(t.conn), ttl[i]);
    }
    /* A zero ttl takes a lease that has already ended: the lock is free. */
    int held;
    cr_assert_eq(try_as(t.conn, A, 0, NULL), 1);
    peek(t.conn, &held);
    cr_assert_eq(held, 0);
    cr_assert_eq(try_as(t.conn, B, 60000, NULL), 1);
    th_db_destroy(&t);
}

DB_TEST(lock, only_the_holder_extends)
{
    th_db t = fresh(kind);
    char err[512];
    int held;
    cr_assert_eq(try_as(t.conn, A, 5000, NULL), 1);
    lock_info before = peek(t.conn, &held);
    cr_assert_eq(lock_extend(t.conn, LOCK_NAME, B, 600000, err, sizeof err), 0);
    lock_info same = peek(t.conn, &held);
    cr_assert_str_eq(same.holder, A);
    cr_assert_str_eq(same.until, before.until, "another's renewal changed nothing");
    cr_assert_eq(lock_extend(t.conn, LOCK_NAME, A, 600000, err, sizeof err), 1, "%s", err);
    lock_info later = peek(t.conn, &held);
    cr_assert_eq(held, 1);
    cr_assert_str_eq(later.holder, A);
    cr_assert_gt(strcmp(later.until, before.until), 0, "%s vs %s", later.until, before.until);
    /* Renewal moves lock_until only: locked_at stays the start of the run. */
    cr_assert_geq(lease_ms(t.conn), 600000);
    th_db_destroy(&t);
}

DB_TEST(lock, only_the_holder_releases)
{
    th_db t = fresh(kind);
    char err[512];
    int held;
    cr_assert_eq(try_as(t.conn, A, 60000, NULL), 1);
    lock_info before = peek(t.conn, &held);
    cr_assert_eq(lock_release(t.conn, LOCK_NAME, B, 0, err, sizeof err), 0);
    lock_info same = peek(t.conn, &held);
    cr_assert_eq(held, 1, "another's release changed nothing");
    cr_assert_str_eq(same.holder, A);
    cr_assert_str_eq(same.until, before.until);
    cr_assert_eq(try_as(t.conn, B, 60000, NULL), 0);
    cr_assert_eq(lock_release(t.conn, LOCK_NAME, A, 0, err, sizeof err), 1, "%s", err);
    peek(t.conn, &held);
    cr_assert_eq(held, 0);
    cr_assert_eq(try_as(t.conn, B, 60000, NULL), 1, "free at once after the release");
    cr_assert_eq(lock_release(t.conn, LOCK_NAME, A, 0, err, sizeof err), 0,
                 "a former holder cannot release the new one's lock");
    peek(t.conn, &held);
    cr_assert_eq(held, 1);
    th_db_destroy(&t);
}

/* After a scheduled run: held until locked_at + hold, for others; its holder may take it. */
DB_TEST(lock, hold_after_the_run)
{
    th_db t = fresh(kind);
    char err[512];
    cr_assert_eq(try_as(t.conn, A, 60000, NULL), 1);
    cr_assert_eq(lock_release(t.conn, LOCK_NAME, A, 1000, err, sizeof err), 1, "%s", err);
    cr_assert_eq(lease_ms(t.conn), 1000, "held until locked_at + hold");
    cr_assert_eq(try_as(t.conn, B, 60000, NULL), 0, "held for the rest of the interval");
    sleep_ms(300);
    cr_assert_eq(try_as(t.conn, B, 60000, NULL), 0, "still within the interval");
    sleep_ms(900);
    cr_assert_eq(try_as(t.conn, B, 60000, NULL), 1, "free once the interval is over");

    /* Its own holder takes it at its next tick, hold or not. */
    cr_assert_eq(lock_release(t.conn, LOCK_NAME, B, 60000, err, sizeof err), 1, "%s", err);
    cr_assert_eq(try_as(t.conn, A, 60000, NULL), 0);
    cr_assert_eq(try_as(t.conn, B, 60000, NULL), 1);
    th_db_destroy(&t);
}

/* A hold that ended before the run did: lock_until is now, never in the past. */
DB_TEST(lock, hold_shorter_than_the_run_frees_now)
{
    th_db t = fresh(kind);
    char err[512];
    int held;
    cr_assert_eq(try_as(t.conn, A, 60000, NULL), 1);
    sleep_ms(300);
    cr_assert_eq(lock_release(t.conn, LOCK_NAME, A, 100, err, sizeof err), 1, "%s", err);
    peek(t.conn, &held);
    cr_assert_eq(held, 0);
    /* lock_until is the release time (>= 300 ms after locked_at), not locked_at + 100 ms. */
    int64_t gap_ms = lease_ms(t.conn);
    cr_assert_geq(gap_ms, 290, "lock_until only %lld ms after locked_at", (long long)gap_ms);
    cr_assert_eq(try_as(t.conn, B, 60000, NULL), 1);
    th_db_destroy(&t);
}

/* A holder that died loses the lock when its lease ends, not before. */
DB_TEST(lock, lease_runs_out)
{
    th_db t = fresh(kind);
    cr_assert_eq(try_as(t.conn, A, 600, NULL), 1);
    sleep_ms(100);
    cr_assert_eq(try_as(t.conn, B, 60000, NULL), 0);
    sleep_ms(650);
    cr_assert_eq(try_as(t.conn, B, 60000, NULL), 1);
    char err[512];
    cr_assert_eq(lock_extend(t.conn, LOCK_NAME, A, 60000, err, sizeof err), 0,
                 "the dead holder cannot renew what another took");
    lock_info li;
    cr_assert_eq(try_as(t.conn, A, 60000, &li), 0);
    cr_assert_str_eq(li.holder, B);
    th_db_destroy(&t);
}

DB_TEST(lock, missing_table_says_migrate)
{
    th_db t;
    char err[512];
    lock_info li;
    th_db_create(kind, &t);
    strcpy(err, "");
    cr_assert_eq(lock_try(t.conn, LOCK_NAME, A, 1000, &li, err, sizeof err), -1);
    cr_assert_str_eq(err, MISSING);
    strcpy(err, "");
    cr_assert_eq(lock_extend(t.conn, LOCK_NAME, A, 1000, err, sizeof err), -1);
    cr_assert_str_eq(err, MISSING);
    strcpy(err, "");
    cr_assert_eq(lock_release(t.conn, LOCK_NAME, A, 0, err, sizeof err), -1);
    cr_assert_str_eq(err, MISSING);
    strcpy(err, "");
    cr_assert_eq(lock_peek(t.conn, LOCK_NAME, &li, err, sizeof err), -1);
    cr_assert_str_eq(err, MISSING);
    th_db_destroy(&t);
}

/* A table that is there but wrong: the database's own message, not "missing". */
DB_TEST(lock, broken_table_gives_the_database_error)
{
    th_db t;
    char err[512] = "";
    th_db_create(kind, &t);
    cr_assert_eq(db_exec(t.conn, "CREATE TABLE reconciler_locks (name VARCHAR(64) PRIMARY KEY, "
                         "holder VARCHAR(128) NOT NULL, locked_at VARCHAR(30) NOT NULL)",
                         NULL, 0, NULL), 0, "%s", db_errmsg(t.conn));
    cr_assert_eq(lock_try(t.conn, LOCK_NAME, A, 1000, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "run lock: ") == err, "%s", err);
    cr_assert(strstr(err, "lock_until") != NULL, "names the column: %s", err);
    cr_assert_eq(lock_extend(t.conn, LOCK_NAME, A, 1000, err, sizeof err), -1);
    cr_assert(strstr(err, "lock_until") != NULL, "names the column: %s", err);
    th_db_destroy(&t);
}

Test(lock, holder_id)
{
    char a[129], b[129], small[8], host[HOST_NAME_MAX + 1] = "", want[HOST_NAME_MAX + 32];
    lock_holder_id(a, sizeof a);
    lock_holder_id(b, sizeof b);
    cr_assert_eq(gethostname(host, sizeof host), 0);
    snprintf(want, sizeof want, "%s:%ld:", host, (long)getpid());
    cr_assert_eq(strncmp(a, want, strlen(want)), 0, "%s", a);
    cr_assert_eq(strlen(a), strlen(want) + 8, "%s", a);
    cr_assert_eq(strspn(a + strlen(want), "0123456789abcdef"), 8, "%s", a);
    cr_assert_leq(strlen(a), 128);
    cr_assert_str_neq(a, b, "two ids of one process differ");
    lock_holder_id(small, sizeof small);
    cr_assert_eq(strlen(small), sizeof small - 1, "truncated to fit");
}

/* Many instances at the same moment, the row absent or present: exactly one wins. */
typedef struct racer {
    const th_db *t;
    pthread_barrier_t *go;
    int rc;
    char holder[32];
    char err[512];
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    db_url u;
    db *d = NULL;
    db_options o = { .password = r->t->password };
    r->rc = -9;
    if (db_url_parse(r->t->url, NULL, &u, r->err, sizeof r->err) != 0) {
        pthread_barrier_wait(r->go);
        return NULL;
    }
    if (db_open(&u, &o, &d, r->err, sizeof r->err) == DB_OK) {
        pthread_barrier_wait(r->go);
        r->rc = lock_try(d, LOCK_NAME, r->holder, 60000, NULL, r->err, sizeof r->err);
        db_close(d);
    } else {
        pthread_barrier_wait(r->go);
    }
    db_url_free(&u);
    return NULL;
}

DB_TEST(lock, one_winner_in_a_race, .timeout = 30)
{
    enum { N = 8 };
    th_db t = fresh(kind);
    /* Rounds 0 and 1 start without the row (all insert it at once), round 2
     * with a released one, round 3 with the expired lease of a dead holder. */
    for (int round = 0; round < 4; round++) {
        pthread_barrier_t go;
        pthread_t th[N];
        racer r[N];
        pthread_barrier_init(&go, NULL, N);
        for (int i = 0; i < N; i++) {
            r[i] = (racer){ &t, &go, 0, "", "" };
            snprintf(r[i].holder, sizeof r[i].holder, "racer%d-%d", round, i);
            cr_assert_eq(pthread_create(&th[i], NULL, race, &r[i]), 0);
        }
        int wins = 0, winner = 0;
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            cr_assert_geq(r[i].rc, 0, "round %d: racer %d failed: %s", round, i, r[i].err);
            if (r[i].rc == 1)
                winner = i;
            wins += r[i].rc;
        }
        pthread_barrier_destroy(&go);
        cr_assert_eq(wins, 1, "round %d: %d winners", round, wins);
        int held;
        lock_info li = peek(t.conn, &held);
        cr_assert_eq(held, 1);
        cr_assert_str_eq(li.holder, r[winner].holder, "the row names the winner");

        /* Set up the next round. */
        if (round == 0)
            cr_assert_eq(db_exec(t.conn, "DELETE FROM reconciler_locks", NULL, 0, NULL), 0);
        else if (round == 1)
            cr_assert_eq(lock_release(t.conn, LOCK_NAME, li.holder, 0, NULL, 0), 1);
        else if (round == 2)
            cr_assert_eq(db_exec(t.conn, "UPDATE reconciler_locks "
                                 "SET lock_until = '2000-01-01 00:00:00.000'", NULL, 0, NULL), 0);
    }
    th_db_destroy(&t);
}

static const migration *mysql_migration(const char *name)
{
    for (size_t i = 0; i < rc_migrations_count; i++)
        if (rc_migrations[i].kind == DB_MYSQL && strcmp(rc_migrations[i].name, name) == 0)
            return &rc_migrations[i];
    cr_assert_fail("no migration sql/mysql/%s", name);
    return NULL;
}

/* Migration 003: MariaDB keeps the milliseconds. */
Test(lock, mysql_keeps_milliseconds)
{
    th_db t = fresh(DB_MYSQL);
    int held;
    cr_assert_eq(th_count(t.conn, "SELECT COUNT(*) FROM information_schema.columns "
                          "WHERE table_schema = DATABASE() AND table_name = 'reconciler_locks' "
                          "AND column_name IN ('locked_at', 'lock_until') "
                          "AND datetime_precision = 3"), 2);
    cr_assert_eq(db_exec(t.conn, "INSERT INTO reconciler_locks (name, holder, locked_at, "
                         "lock_until) VALUES ('x', 'h', '2026-01-01 00:00:00.250', '2099-01-01 00:00:00.750')",
                         NULL, 0, NULL), 0, "%s", db_errmsg(t.conn));
    char err[512];
    lock_info li;
    held = lock_peek(t.conn, "x", &li, err, sizeof err);
    cr_assert_eq(held, 1, "%s", err);
    cr_assert_str_eq(li.until, "2099-01-01 00:00:00.750");
    cr_assert_eq(th_count(t.conn, "SELECT MICROSECOND(locked_at) FROM reconciler_locks "
                          "WHERE name = 'x'"), 250000);
    th_db_destroy(&t);
}

/* 003 over a 002 table with a row in it, twice: the row stays, now to the millisecond. */
Test(lock, mysql_003_upgrades_and_reruns)
{
    th_db t;
    th_db_create(DB_MYSQL, &t);
    cr_assert_eq(db_exec_script(t.conn, mysql_migration("002_reconciler_locks.sql")->sql), 0,
                 "%s", db_errmsg(t.conn));
    cr_assert_eq(db_exec(t.conn, "INSERT INTO reconciler_locks VALUES "
                         "('reconciler', 'old', '2026-01-01 00:00:00', '2099-01-01 00:00:00')",
                         NULL, 0, NULL), 0, "%s", db_errmsg(t.conn));
    for (int i = 0; i < 2; i++)
        cr_assert_eq(db_exec_script(t.conn, mysql_migration("003_lock_millis.sql")->sql), 0,
                     "run %d: %s", i + 1, db_errmsg(t.conn));
    int held;
    lock_info li = peek(t.conn, &held);
    cr_assert_eq(held, 1);
    cr_assert_str_eq(li.holder, "old");
    cr_assert_str_eq(li.until, "2099-01-01 00:00:00.000");
    cr_assert_eq(lock_extend(t.conn, LOCK_NAME, "old", 1500, NULL, 0), 1);
    cr_assert_eq(th_count(t.conn, "SELECT MICROSECOND(lock_until) % 1000 FROM reconciler_locks"),
                 0, "milliseconds, no finer");
    th_db_destroy(&t);
}
