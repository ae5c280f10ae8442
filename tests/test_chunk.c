/* SPDX-License-Identifier: MIT */
/* test_chunk.c - the chunk loop behind rc_api.db_chunked and db_chunked_by:
 * a lock wait timeout rolls the chunk back and retries it, and the rows are
 * counted once; a key of two columns (time text, integer id) whose first
 * column ties across chunk boundaries; stop requests; the max_changes hook. */
#include "helpers.h"
#include "db/chunk.h"
#include "engine/host.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Two processes that deadlocked on the same rows must retry apart: their
 * backoff sequences differ (an unseeded rand() gave every process the same
 * one). Each child writes 8 pauses; the sequences must not be equal.
 */
Test(chunk, backoff_differs_between_processes)
{
    int64_t seq[2][8];
    for (int c = 0; c < 2; c++) {
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            int64_t v[8];
            for (int i = 0; i < 8; i++)
                v[i] = chunk_backoff_ms(1 + i % 3);
            _exit(write(fds[1], v, sizeof v) == sizeof v ? 0 : 1);
        }
        close(fds[1]);
        cr_assert_eq(read(fds[0], seq[c], sizeof seq[c]), (ssize_t)sizeof seq[c]);
        close(fds[0]);
        waitpid(pid, NULL, 0);
    }
    for (int i = 0; i < 8; i++) {
        int attempt = 1 + i % 3;
        int64_t base = INT64_C(20) << attempt;
        cr_assert(seq[0][i] >= base && seq[0][i] < 2 * base, "pause %lld for attempt %d",
                  (long long)seq[0][i], attempt);
    }
    cr_assert_neq(memcmp(seq[0], seq[1], sizeof seq[0]), 0,
                  "two processes drew the same backoff sequence");
}

/* ------------------------------------------------- a key of two columns */

#define T "2030-06-15 12:00:00"
/* The (locked_until, id) order, as leases follows the locked_until index. */
#define AFTER " AND (locked_until > ? OR (locked_until = ? AND id > ?))"
#define UPTO " AND (locked_until < ? OR (locked_until = ? AND id <= ?))"
#define FIND2 "SELECT locked_until, id FROM processing_jobs WHERE locked_until < ?" AFTER \
              " ORDER BY locked_until, id LIMIT ?"
#define BUMP2 "UPDATE processing_jobs SET attempts = attempts + 1 WHERE locked_until < ?" \
              AFTER UPTO
static const unsigned char bind2[] = { 0, 0, 1 };

/*
 * Jobs 1..5 share one locked_until (a chunk of 3 ends inside the tie, where a
 * bound of locked_until alone skips or repeats rows); 6 and 7 come first in
 * key order but last in id order; 8 is the latest; 9 is live and 10 has no
 * lease: neither is a candidate. In key order, chunks of 3:
 *   (12-31, 6) (12-31, 7) (01-01, 1) | (01-01, 2) (01-01, 3) (01-01, 4) | (01-01, 5) (01-02, 8)
 */
static void fill(db *d)
{
    static const char *const until[] = {
        "2030-01-01 00:00:00", "2030-01-01 00:00:00", "2030-01-01 00:00:00",
        "2030-01-01 00:00:00", "2030-01-01 00:00:00", "2029-12-31 00:00:00",
        "2029-12-31 00:00:00", "2030-01-02 00:00:00", "2030-06-15 13:00:00", NULL,
    };
    for (size_t i = 0; i < sizeof until / sizeof *until; i++) {
        rc_value p[] = { rc_int((int64_t)i + 1), until[i] ? rc_text(until[i]) : rc_null() };
        cr_assert_eq(db_exec(d, "INSERT INTO processing_jobs (id, job_type, attempts, "
                             "locked_until) VALUES (?, 't', 0, ?)", p, 2, NULL), 0, "%s",
                     db_errmsg(d));
    }
}

/* A fresh migrated database of kind with fill()'s jobs: its connection. */
static db *filled(db_kind kind, th_db *t)
{
    th_db_create(kind, t);
    th_db_migrate(t);
    fill(t->conn);
    return t->conn;
}

/* Every candidate bumped exactly once, the others never. */
static void assert_each_once(db *d, int64_t upto)
{
    for (int64_t id = 1; id <= 10; id++) {
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT attempts FROM processing_jobs WHERE id = %lld",
                 (long long)id);
        int64_t want = id == 9 || id == 10 ? 0 : id <= upto ? 1 : 0;
        cr_assert_eq(th_count(d, sql), want, "job %lld bumped %lld times, expected %lld",
                     (long long)id, (long long)th_count(d, sql), (long long)want);
    }
}

typedef struct stops {
    int asked;    /* times the loop asked: once per chunk, and once more at an empty find */
    int stop_at;  /* answer yes at this ask (0: never) */
} stops;

static int stop_hook(void *arg)
{
    stops *s = arg;
    return ++s->asked == s->stop_at;
}

static rc_value first2[] = { { RC_TEXT, 0, 0.0, "0000-00-00 00:00:00" }, { RC_INT, 0, 0.0, NULL } };
static const rc_chunk_key key2 = { 2, first2, bind2, 3 };

DB_TEST(chunk, two_column_key_ties_across_chunks)
{
    th_db t;
    db *d = filled(kind, &t);
    rc_value tp[] = { rc_text(T) };
    for (int batch = 1; batch <= 9; batch++) {
        cr_assert_eq(db_exec(d, "UPDATE processing_jobs SET attempts = 0", NULL, 0, NULL), 0);
        char err[256] = "";
        stops s = { 0, 0 };
        chunk_hooks hooks = { stop_hook, NULL, &s };
        rc_chunk_stmt st = { BUMP2, tp, 1, 0 };
        cr_assert_eq(chunk_run(d, FIND2, tp, 1, &key2, batch, &st, 1, &hooks, NULL, err,
                               sizeof err), 0, "batch %d: %s %s", batch, err, db_errmsg(d));
        cr_assert_eq(st.affected, 8, "batch %d: %lld rows", batch, (long long)st.affected);
        assert_each_once(d, 8);
        /* 8 candidates: ceil(8 / batch) chunks, and one empty find after a full last one. */
        int chunks = (8 + batch - 1) / batch + (8 % batch == 0);
        cr_assert_eq(s.asked, chunks, "batch %d: %d chunks, expected %d", batch, s.asked, chunks);
    }
    th_db_destroy(&t);
}

/* A stop request ends the loop between chunks: whole chunks applied, not an error. */
DB_TEST(chunk, two_column_key_stops_between_chunks)
{
    th_db t;
    db *d = filled(kind, &t);
    rc_value tp[] = { rc_text(T) };
    char err[256] = "";
    stops s = { 0, 2 };
    chunk_hooks hooks = { stop_hook, NULL, &s };
    rc_chunk_stmt st = { BUMP2, tp, 1, 0 };
    cr_assert_eq(chunk_run(d, FIND2, tp, 1, &key2, 3, &st, 1, &hooks, NULL, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(st.affected, 3, "only the first chunk ran");
    cr_assert_eq(th_count(d, "SELECT SUM(attempts) FROM processing_jobs"), 3);
    cr_assert_eq(th_count(d, "SELECT SUM(attempts) FROM processing_jobs WHERE id IN (6, 7, 1)"),
                 3, "the first chunk is the first three in key order");
    th_db_destroy(&t);
}

/*
 * Another connection holds job 2 (MySQL: its row lock; SQLite: the write
 * lock) for a while: the chunk's first try fails with a lock wait timeout or
 * SQLITE_BUSY, is rolled back and retried, the retry counted, every row
 * bumped once. With key (the one-column key of db_chunked, or two columns)
 * and its find and statement.
 */
static void retry_is_counted(db_kind kind, const rc_chunk_key *key, const char *find,
                             const char *bump)
{
    th_db t;
    db *d = filled(kind, &t);
    /* Give up waiting soon, so that the first try fails. */
    if (kind == DB_MYSQL)
        cr_assert_eq(db_exec(d, "SET SESSION innodb_lock_wait_timeout = 1", NULL, 0, NULL), 0);
    else
        cr_assert_eq(db_exec(d, "PRAGMA busy_timeout = 50", NULL, 0, NULL), 0, "%s",
                     db_errmsg(d));
    int ready[2];
    cr_assert_eq(pipe(ready), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /*
         * MySQL: lock wait 1 s, then retries from 40 ms on; held 1.5 s. SQLite:
         * busy 50 ms a try plus backoffs of at least 40, 80, 160, 320 ms: held
         * 0.6 s, released before the fifth try.
         */
        char err[512];
        db_url u;
        db *other = NULL;
        db_options o = { .password = t.password };
        if (db_url_parse(t.url, NULL, &u, err, sizeof err) != 0 ||
            db_open(&u, &o, &other, err, sizeof err) != DB_OK || db_begin(other) != 0 ||
            db_exec(other, "UPDATE processing_jobs SET job_type = 'held' WHERE id = 2",
                    NULL, 0, NULL) != 0)
            _exit(1);
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        usleep(kind == DB_MYSQL ? 1500 * 1000 : 600 * 1000);
        _exit(db_commit(other) == 0 ? 0 : 1);
    }
    char c;
    cr_assert_eq(read(ready[0], &c, 1), 1, "the lock holder did not start");
    char err[256] = "";
    int64_t retries = 0;
    rc_value tp[] = { rc_text(T) };
    rc_chunk_stmt st = { bump, tp, 1, 0 };
    int rc = chunk_run(d, find, tp, 1, key, 100, &st, 1, NULL, &retries, err, sizeof err);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the lock holder failed");
    cr_assert_eq(rc, 0, "chunk failed instead of retrying: %s %s", err, db_errmsg(d));
    cr_assert_geq(retries, 1, "the retry was not counted");
    cr_assert_eq(st.affected, 8, "rows counted once, not once per try");
    assert_each_once(d, 8);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM processing_jobs WHERE job_type = 'held'"), 1);
    th_db_destroy(&t);
}

DB_TEST(chunk, retry_is_counted, .timeout = 60)
{
    static const unsigned char once[] = { 0 };
    rc_value zero = rc_int(0);
    rc_chunk_key by_id = { 1, &zero, once, 1 };
    retry_is_counted(kind, &by_id, "SELECT id FROM processing_jobs WHERE locked_until < ? "
                     "AND id > ? ORDER BY id LIMIT ?", "UPDATE processing_jobs SET attempts = "
                     "attempts + 1 WHERE locked_until < ? AND id > ? AND id <= ?");
    retry_is_counted(kind, &key2, FIND2, BUMP2);
}

/*
 * Through the host, as a plugin calls it: the max_changes hook refuses the
 * chunk that passes the cap (rolled back, the chunks before it kept); a
 * rehearsal rolls every chunk back; a dry run is refused.
 */
DB_TEST(chunk, chunked_by_applies_max_changes)
{
    rig r;
    rig_up(&r, kind, "plugins", "  - plugin: leases\n    max_changes: 4\n");
    db *d = r.t.conn;
    fill(d);
    rc_value tp[] = { rc_text(T) };
    rc_chunk_stmt st = { BUMP2, tp, 1, 0 };
    step_run sr = { .ps = &r.p->steps[0], .d = d, .file = r.yaml, .cap = 4,
                    .results = json_object() };
    cr_assert_eq(db_clock_from_text(T, 0, &sr.clock), 0);
    rc_ctx ctx;
    host_ctx_init(&ctx, &sr);
    cr_assert_eq(ctx.api->db_chunked_by(&ctx, FIND2, tp, 1, &key2, 3, &st, 1), RC_ERROR,
                 "the second chunk passed the cap");
    cr_assert_eq(st.affected, 3);
    cr_assert_eq(sr.rows_changed, 3);
    cr_assert(sr.over_cap && sr.found == 6);
    cr_assert(sr.error && strstr(sr.error, "db_chunked_by") && strstr(sr.error, "max_changes"),
              "%s", sr.error ? sr.error : "(no error)");
    cr_assert_eq(th_count(d, "SELECT SUM(attempts) FROM processing_jobs"), 3,
                 "the chunk past the cap was rolled back");
    free(sr.error);
    json_decref(sr.results);

    step_run rehearsal = { .ps = &r.p->steps[0], .d = d, .file = r.yaml, .cap = 100,
                           .rehearsal = 1, .clock = sr.clock, .results = json_object() };
    host_ctx_init(&ctx, &rehearsal);
    st.affected = 0;
    cr_assert_eq(ctx.api->db_chunked_by(&ctx, FIND2, tp, 1, &key2, 3, &st, 1), RC_OK, "%s",
                 ctx.api->db_error(&ctx));
    cr_assert_eq(st.affected, 8, "the rehearsal ran every chunk");
    cr_assert_eq(rehearsal.changes, 8);
    cr_assert_eq(th_count(d, "SELECT SUM(attempts) FROM processing_jobs"), 3,
                 "a rehearsal kept a write");
    free(rehearsal.error);
    json_decref(rehearsal.results);

    step_run dry = { .ps = &r.p->steps[0], .d = d, .file = r.yaml, .cap = HOST_NO_CAP,
                     .dry_run = 1, .clock = sr.clock, .results = json_object() };
    host_ctx_init(&ctx, &dry);
    cr_assert_eq(ctx.api->db_chunked_by(&ctx, FIND2, tp, 1, &key2, 3, &st, 1), RC_ERROR);
    cr_assert(strstr(ctx.api->db_error(&ctx), "db_chunked_by"), "%s", ctx.api->db_error(&ctx));
    cr_assert_eq(th_count(d, "SELECT SUM(attempts) FROM processing_jobs"), 3);
    free(dry.error);
    json_decref(dry.results);
    rig_down(&r);
}

/* A key that cannot work is refused before the database is touched, naming why. */
Test(chunk, bad_keys_are_refused)
{
    rc_value first[5] = { rc_int(0), rc_int(0), rc_int(0), rc_int(0), rc_int(0) };
    static const unsigned char b0[] = { 0 }, b01[] = { 0, 0, 1 }, b2[] = { 0, 2 },
                               b00[] = { 0, 0 };
    static const unsigned char b11[RC_CHUNK_BIND_MAX + 1] = { 0 };
    struct {
        rc_chunk_key key;
        int64_t batch;
        const char *want;
    } bad[] = {
        { { 0, first, b0, 1 }, 1, "1 to 4 columns" },
        { { 5, first, b0, 1 }, 1, "1 to 4 columns" },
        { { 1, NULL, b0, 1 }, 1, "first values" },
        { { 1, first, NULL, 1 }, 1, "bind must list" },
        { { 1, first, b0, 0 }, 1, "bind must list" },
        { { 1, first, b11, RC_CHUNK_BIND_MAX + 1 }, 1, "bind must list" },
        { { 2, first, b2, 2 }, 1, "bind[1] is 2, but the key has 2 columns" },
        { { 2, first, b00, 2 }, 1, "key column 1 is never bound" },
        { { 2, first, b01, 3 }, 0, "batch must be >= 1" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[256] = "";
        rc_chunk_stmt st = { "UPDATE x SET y = 1", NULL, 0, 0 };
        cr_assert_eq(chunk_run(NULL, "SELECT 1", NULL, 0, &bad[i].key, bad[i].batch, &st, 1,
                               NULL, NULL, err, sizeof err), -1, "case %zu accepted", i);
        cr_assert(strstr(err, bad[i].want), "case %zu: %s", i, err);
    }
    /* A count with no array is refused (it would be copied from NULL). */
    rc_chunk_key k1 = { 1, first, b0, 1 };
    char why[256] = "";
    rc_chunk_stmt none = { "UPDATE x SET y = 1", NULL, 2, 0 };
    cr_assert_eq(chunk_run(NULL, "SELECT 1", NULL, 1, &k1, 1, &none, 0, NULL, NULL, why,
                           sizeof why), -1);
    cr_assert(strstr(why, "1 find parameters announced but none given"), "%s", why);
    cr_assert_eq(chunk_run(NULL, "SELECT 1", NULL, 0, &k1, 1, NULL, 2, NULL, NULL, why,
                           sizeof why), -1);
    cr_assert(strstr(why, "2 statements announced but none given"), "%s", why);
    cr_assert_eq(chunk_run(NULL, "SELECT 1", NULL, 0, &k1, 1, &none, 1, NULL, NULL, why,
                           sizeof why), -1);
    cr_assert(strstr(why, "statement 0: 2 parameters announced but none given"), "%s", why);
    /* Parameters: 32 a statement, both bounds included; 32 a find, one bound and batch. */
    rc_value many[32];
    for (int i = 0; i < 32; i++)
        many[i] = rc_int(i);
    rc_chunk_key k = { 2, first, b01, 3 };
    char err[256] = "";
    rc_chunk_stmt over = { "UPDATE x SET y = 1", many, 27, 0 };
    cr_assert_eq(chunk_run(NULL, "SELECT 1", many, 29, &k, 1, &over, 1, NULL, NULL, err,
                           sizeof err), -1);
    cr_assert(strstr(err, "the find has too many parameters"), "%s", err);
    err[0] = '\0';
    cr_assert_eq(chunk_run(NULL, "SELECT 1", many, 28, &k, 1, &over, 1, NULL, NULL, err,
                           sizeof err), -1);
    cr_assert(strstr(err, "statement 0 has too many parameters"), "%s", err);
    /* 26 + 2 * 3 = 32 fits: run in find_must_return_the_key below. */
}

/*
 * The header's RC_CHUNK_BIND_MAX is the core's: a 4-column key bound the
 * most times the header allows (4 + 3 + 2 + 1) runs; one more is refused
 * (bad_keys_are_refused).
 */
#define LO4 "(id > ? OR (id = ? AND id > ?) OR (id = ? AND id = ? AND id > ?) OR " \
            "(id = ? AND id = ? AND id = ? AND id > ?))"
#define HI4 "(id < ? OR (id = ? AND id < ?) OR (id = ? AND id = ? AND id < ?) OR " \
            "(id = ? AND id = ? AND id = ? AND id <= ?))"
DB_TEST(chunk, key_bound_the_most_times_the_header_allows)
{
    th_db t;
    db *d = filled(kind, &t);
    static const unsigned char bind4[] = { 0, 0, 1, 0, 1, 2, 0, 1, 2, 3 };
    _Static_assert(sizeof bind4 == RC_CHUNK_BIND_MAX, "the test binds the most times allowed");
    rc_value first[4] = { rc_int(0), rc_int(0), rc_int(0), rc_int(0) };
    rc_chunk_key key = { 4, first, bind4, RC_CHUNK_BIND_MAX };
    rc_chunk_stmt st = { "UPDATE processing_jobs SET attempts = attempts + 1 WHERE " LO4
                         " AND " HI4, NULL, 0, 0 };
    char err[256] = "";
    cr_assert_eq(chunk_run(d, "SELECT id, id, id, id FROM processing_jobs WHERE " LO4
                           " ORDER BY id LIMIT ?", NULL, 0, &key, 3, &st, 1, NULL, NULL, err,
                           sizeof err), 0, "%s %s", err, db_errmsg(d));
    cr_assert_eq(st.affected, 10, "every job once: %lld", (long long)st.affected);
    cr_assert_eq(th_count(d, "SELECT SUM(attempts) FROM processing_jobs"), 10);
    th_db_destroy(&t);
}

/* A find that selects too few columns, or a NULL key, fails with a clear message. */
DB_TEST(chunk, find_must_return_the_key)
{
    th_db t;
    db *d = filled(kind, &t);
    rc_value tp[] = { rc_text(T) };
    char err[256] = "";
    rc_chunk_stmt st = { BUMP2, tp, 1, 0 };
    cr_assert_eq(chunk_run(d, "SELECT locked_until FROM processing_jobs WHERE locked_until < ? "
                           "AND (locked_until > ? OR (locked_until = ? AND id > ?)) LIMIT ?",
                           tp, 1, &key2, 3, &st, 1, NULL, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "the find selected 1 columns, but the key has 2"), "%s", err);
    err[0] = '\0';
    cr_assert_eq(chunk_run(d, "SELECT locked_until, id FROM processing_jobs WHERE "
                           "locked_until IS NULL AND ? <> '' AND ? <> '' AND ? <> '' AND ? >= 0 LIMIT ?",
                           tp, 1, &key2, 3, &st, 1, NULL, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "NULL in key column 0"), "%s", err);
    cr_assert_eq(st.affected, 0);
    cr_assert_eq(th_count(d, "SELECT SUM(attempts) FROM processing_jobs"), 0);

    /* The most parameters a statement takes: 26 of its own and two bounds of 3. */
    rc_value many[26];
    for (int i = 0; i < 26; i++)
        many[i] = rc_int(i);
    char sql[1024] = "UPDATE processing_jobs SET attempts = attempts + 1 WHERE 1 = 1";
    for (int i = 0; i < 26; i++)
        strcat(sql, " AND ? >= 0");
    strcat(sql, " AND locked_until < '" T "'" AFTER UPTO);
    rc_chunk_stmt fits = { sql, many, 26, 0 };
    cr_assert_eq(chunk_run(d, FIND2, tp, 1, &key2, 3, &fits, 1, NULL, NULL, err, sizeof err),
                 0, "%s %s", err, db_errmsg(d));
    cr_assert_eq(fits.affected, 8);
    th_db_destroy(&t);
}
