/* test_chunk.c - the chunk loop behind rc_api.db_chunked: a lock wait
 * timeout rolls the chunk back and retries it, and the rows are counted once. */
#include "helpers.h"
#include "db/chunk.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

Test(chunk, lock_wait_timeout_retries_the_chunk, .timeout = 60)
{
    th_db t;
    th_db_create(DB_MYSQL, &t);
    th_db_migrate(&t);
    db *d = t.conn;
    cr_assert_eq(db_exec(d, "INSERT INTO processing_jobs (job_type, attempts) VALUES "
                         "('a', 0), ('b', 0), ('c', 0)", NULL, 0, NULL), 0, "%s", db_errmsg(d));
    /* Give up waiting for a row lock after 1 s, so the first try fails fast. */
    cr_assert_eq(db_exec(d, "SET SESSION innodb_lock_wait_timeout = 1", NULL, 0, NULL), 0);

    int ready[2];
    cr_assert_eq(pipe(ready), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /* Another writer holds job 2's row lock for 1.5 s, then commits. */
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
        usleep(1500 * 1000);
        _exit(db_commit(other) == 0 ? 0 : 1);
    }
    char c;
    cr_assert_eq(read(ready[0], &c, 1), 1, "the lock holder did not start");

    char err[256] = "";
    int64_t retries = 0;
    rc_value zero = rc_int(0);
    static const unsigned char once[] = { 0 };
    rc_chunk_key by_id = { 1, &zero, once, 1 };
    rc_chunk_stmt st = { "UPDATE processing_jobs SET attempts = attempts + 1 "
                         "WHERE id > ? AND id <= ?", NULL, 0, 0 };
    int rc = chunk_run(d, "SELECT id FROM processing_jobs WHERE id > ? ORDER BY id LIMIT ?",
                       NULL, 0, &by_id, 10, &st, 1, NULL, &retries, err, sizeof err);
    cr_assert_eq(rc, 0, "chunk failed instead of retrying: %s %s", err, db_errmsg(d));
    cr_assert_geq(retries, 1, "the retry was not counted");
    cr_assert_eq(st.affected, 3, "rows counted once, not once per try");
    cr_assert_eq(th_count(d, "SELECT SUM(attempts) FROM processing_jobs"), 3,
                 "the rolled-back try left nothing behind");
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the lock holder failed");
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM processing_jobs WHERE job_type = 'held'"), 1);
    th_db_destroy(&t);
}

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
