/*
 * test_lock.c - the run lock (core/lock.c) on SQLite and MariaDB: who may
 * take, renew and release it, leases that run out, holds after a run, and
 * one winner when many try at once.
 */
#include "helpers.h"
#include "lock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define A "hostA:100:aaaaaaaa"
#define B "hostB:200:bbbbbbbb"

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

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

DB_TEST(lock, take_refuse_retake)
{
    th_db t = fresh(kind);
    lock_info other, li;
    int held;
    li = peek(t.conn, &held);
    cr_assert_eq(held, 0, "no row yet: free");
    cr_assert_eq(try_as(t.conn, A, 60000, NULL), 1);
    cr_assert_eq(try_as(t.conn, B, 60000, &other), 0);
    cr_assert_str_eq(other.holder, A);
    cr_assert_eq(strlen(other.until), 23, "millisecond text: '%s'", other.until);
    li = peek(t.conn, &held);
    cr_assert_eq(held, 1);
    cr_assert_str_eq(li.holder, A);
    cr_assert_eq(try_as(t.conn, A, 60000, NULL), 1, "its holder may take it again");
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
    cr_assert_str_eq(same.until, before.until, "another's renewal changed nothing");
    cr_assert_eq(lock_extend(t.conn, LOCK_NAME, A, 600000, err, sizeof err), 1, "%s", err);
    lock_info later = peek(t.conn, &held);
    cr_assert_gt(strcmp(later.until, before.until), 0, "%s vs %s", later.until, before.until);
    th_db_destroy(&t);
}

DB_TEST(lock, only_the_holder_releases)
{
    th_db t = fresh(kind);
    char err[512];
    int held;
    cr_assert_eq(try_as(t.conn, A, 60000, NULL), 1);
    cr_assert_eq(lock_release(t.conn, LOCK_NAME, B, 0, err, sizeof err), 0);
    peek(t.conn, &held);
    cr_assert_eq(held, 1, "another's release changed nothing");
    cr_assert_eq(try_as(t.conn, B, 60000, NULL), 0);
    cr_assert_eq(lock_release(t.conn, LOCK_NAME, A, 0, err, sizeof err), 1, "%s", err);
    peek(t.conn, &held);
    cr_assert_eq(held, 0);
    cr_assert_eq(try_as(t.conn, B, 60000, NULL), 1, "free at once after the release");
    th_db_destroy(&t);
}

/* After a scheduled run: held until locked_at + hold, for others; its holder may take it. */
DB_TEST(lock, hold_after_the_run)
{
    th_db t = fresh(kind);
    char err[512];
    cr_assert_eq(try_as(t.conn, A, 60000, NULL), 1);
    cr_assert_eq(lock_release(t.conn, LOCK_NAME, A, 700, err, sizeof err), 1, "%s", err);
    cr_assert_eq(try_as(t.conn, B, 60000, NULL), 0, "held for the rest of the interval");
    sleep_ms(300);
    cr_assert_eq(try_as(t.conn, B, 60000, NULL), 0, "still within the interval");
    sleep_ms(600);
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
    int64_t gap_ms = th_count(t.conn, kind == DB_MYSQL
        ? "SELECT TIMESTAMPDIFF(MICROSECOND, locked_at, lock_until) DIV 1000 FROM reconciler_locks"
        : "SELECT CAST((julianday(lock_until) - julianday(locked_at)) * 86400000 AS INTEGER) "
          "FROM reconciler_locks");
    cr_assert_geq(gap_ms, 290, "lock_until only %lld ms after locked_at", (long long)gap_ms);
    cr_assert_eq(try_as(t.conn, B, 60000, NULL), 1);
    th_db_destroy(&t);
}

/* A holder that died loses the lock when its lease ends, not before. */
DB_TEST(lock, lease_runs_out)
{
    th_db t = fresh(kind);
    cr_assert_eq(try_as(t.conn, A, 400, NULL), 1);
    sleep_ms(150);
    cr_assert_eq(try_as(t.conn, B, 60000, NULL), 0);
    sleep_ms(400);
    cr_assert_eq(try_as(t.conn, B, 60000, NULL), 1);
    char err[512];
    cr_assert_eq(lock_extend(t.conn, LOCK_NAME, A, 60000, err, sizeof err), 0,
                 "the dead holder cannot renew what another took");
    th_db_destroy(&t);
}

DB_TEST(lock, missing_table_says_migrate)
{
    th_db t;
    char err[512] = "";
    th_db_create(kind, &t);
    cr_assert_eq(lock_try(t.conn, LOCK_NAME, A, 1000, NULL, err, sizeof err), -1);
    cr_assert_str_eq(err, "table reconciler_locks is missing: run `reconciler migrate`");
    th_db_destroy(&t);
}

Test(lock, holder_id)
{
    char a[129], b[129], host[64] = "", want[96];
    lock_holder_id(a, sizeof a);
    lock_holder_id(b, sizeof b);
    gethostname(host, sizeof host);
    snprintf(want, sizeof want, "%s:%ld:", host, (long)getpid());
    cr_assert_eq(strncmp(a, want, strlen(want)), 0, "%s", a);
    cr_assert_eq(strlen(a), strlen(want) + 8, "%s", a);
    cr_assert_str_neq(a, b, "two ids of one process differ");
}

/* Many instances at the same moment: exactly one wins. */
typedef struct racer {
    const th_db *t;
    pthread_barrier_t *go;
    int rc;
    char holder[32];
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    char err[512];
    db_url u;
    db *d = NULL;
    db_options o = { .password = r->t->password };
    r->rc = -9;
    if (db_url_parse(r->t->url, NULL, &u, err, sizeof err) != 0)
        return NULL;
    if (db_open(&u, &o, &d, err, sizeof err) == DB_OK) {
        pthread_barrier_wait(r->go);
        r->rc = lock_try(d, LOCK_NAME, r->holder, 60000, NULL, err, sizeof err);
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
    for (int round = 0; round < 3; round++) {
        pthread_barrier_t go;
        pthread_t th[N];
        racer r[N];
        pthread_barrier_init(&go, NULL, N);
        for (int i = 0; i < N; i++) {
            r[i] = (racer){ &t, &go, 0, "" };
            snprintf(r[i].holder, sizeof r[i].holder, "racer%d-%d", round, i);
            pthread_create(&th[i], NULL, race, &r[i]);
        }
        int wins = 0;
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            cr_assert_geq(r[i].rc, 0, "racer %d failed", i);
            wins += r[i].rc;
        }
        pthread_barrier_destroy(&go);
        cr_assert_eq(wins, 1, "round %d: %d winners", round, wins);
        cr_assert_eq(db_exec(t.conn, "DELETE FROM reconciler_locks", NULL, 0, NULL), 0);
    }
    th_db_destroy(&t);
}

/* Migration 003: MariaDB keeps the milliseconds. */
Test(lock, mysql_keeps_milliseconds)
{
    th_db t = fresh(DB_MYSQL);
    int held;
    cr_assert_eq(db_exec(t.conn, "INSERT INTO reconciler_locks VALUES "
                         "('x', 'h', '2026-01-01 00:00:00.250', '2099-01-01 00:00:00.750')",
                         NULL, 0, NULL), 0, "%s", db_errmsg(t.conn));
    char err[512];
    lock_info li;
    held = lock_peek(t.conn, "x", &li, err, sizeof err);
    cr_assert_eq(held, 1, "%s", err);
    cr_assert_str_eq(li.until, "2099-01-01 00:00:00.750");
    th_db_destroy(&t);
}
