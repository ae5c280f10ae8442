/* SPDX-License-Identifier: MIT */
/* th_race.c - see th_race.h. */
#include "th_race.h"
#include "th_wait.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The racer's body, in the child: never returns. */
static void race(const th_db *t, const th_racer *r)
{
    char err[512];
    db_url u;
    db *d = NULL;
    db_options o = { .password = t->password, .busy_timeout_ms = r->busy_ms };
    if (db_url_parse(t->url, NULL, &u, err, sizeof err) != 0 ||
        db_open(&u, &o, &d, err, sizeof err) != DB_OK)
        _exit(1);
    FILE *f = r->won ? fopen(r->won, "w") : NULL;
    if (r->won && !f)
        _exit(1);
    int *ids = calloc((size_t)r->jobs + 1, sizeof *ids), n = 0;
    if (!ids)
        _exit(1);
    for (int id = 1; id <= r->jobs; id++)
        if (id % r->mod == r->share)
            ids[n++] = id;
    srand((unsigned)getpid());
    for (int i = n - 1; i > 0; i--) {
        int j = rand() % (i + 1), tmp = ids[i];
        ids[i] = ids[j];
        ids[j] = tmp;
    }
    int64_t end = mono_ms() + r->run_ms;
    for (int i = 0; i < n; i++) {
        int64_t matched = 0;
        rc_value p[] = { rc_int(ids[i]) };
        int tries = 0;
        while (db_exec(d, r->sql, p, 1, &matched) != 0) {
            if (!db_retryable(d) || ++tries > r->retries) {
                fprintf(stderr, "racer: %s\n", db_errmsg(d));
                _exit(1);
            }
        }
        if (f && matched == 1)
            fprintf(f, "%d\n", ids[i]);
        if (r->pause_us)
            usleep((useconds_t)r->pause_us);
        if (i == n - 1 && r->run_ms && mono_ms() < end)
            i = -1;
    }
    if (f)
        fclose(f);
    free(ids);
    db_close(d);
    db_url_free(&u);
    _exit(0);
}

pid_t th_racer_start(const th_db *t, const th_racer *r)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0)
        race(t, r);
    return pid;
}

void th_racer_wait(pid_t pid, const char *what)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed", what);
}

int64_t th_figure(json_t *res, const char *path)
{
    json_t *node = json_object_get(res, "results");
    char *copy = strdup(path), *save = NULL;
    for (char *part = strtok_r(copy, ".", &save); part; part = strtok_r(NULL, ".", &save))
        node = json_object_get(node, part);
    free(copy);
    cr_assert(json_is_number(node), "results.%s missing", path);
    return (int64_t)json_number_value(node);
}

void th_lease_racers(const th_db *t, int jobs, const char *renewed, const char *completed)
{
    /* InnoDB may pick a worker's one-row UPDATE as a deadlock victim against a chunk (the
     * chunk holds more rows); every InnoDB client retries that, and so do these. */
    th_racer renew = { .sql = "UPDATE processing_jobs SET locked_until = NOW() + INTERVAL 1 "
                              "HOUR, locked_by = 'renewer' WHERE id = ? AND status = "
                              "'processing'",
                       .jobs = jobs, .mod = 4, .share = 1, .retries = 50, .won = renewed };
    th_racer complete = { .sql = "UPDATE processing_jobs SET status = 'completed', locked_by = "
                                 "NULL, locked_until = NULL, finished_at = NOW() WHERE id = ? "
                                 "AND status = 'processing'",
                          .jobs = jobs, .mod = 4, .share = 2, .retries = 50,
                          .won = completed };
    th_racer_start(t, &renew);
    th_racer_start(t, &complete);
}

int64_t th_run_beside_racers(rig *r)
{
    int live = 2, st;
    int64_t runs = 0;
    while (live > 0) {
        json_t *res;
        rig_run(r, NULL, 0, &res);
        cr_assert_str_eq(json_string_value(json_object_get(res, "status")), "success");
        json_decref(res);
        runs++;
        while (live > 0 && waitpid(-1, &st, WNOHANG) > 0) {
            cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a worker failed");
            live--;
        }
    }
    return runs;
}
