/* SPDX-License-Identifier: MIT */
/*
 * test_faults_history.c - the local history store under faults: runs left
 * "running" by a killed process, a read-only folder, a corrupt file, a full
 * disk (a small tmpfs) and a write lock held by another process. At start:
 * a clear message and exit 5; reading (`reconciler history`) works on a
 * read-only or full filesystem; in the service a failed history write loses
 * no run, no processing_job_logs row and no manual run, and shows in the
 * log, /metrics and /readyz.
 *
 * The filesystem faults mount a tmpfs (root only): without the right to
 * mount, those tests skip and say why.
 */
#include "helpers.h"
#include "th_svc.h"
#include "th_disk.h"
#include "engine/history.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

static json_t *result_of(const char *status)
{
    return json_pack("{s:s, s:I, s:s, s:s, s:b, s:[]}", "status", status, "durationMs",
                     (json_int_t)5, "trigger", "manual", "timestamp", "2026-11-29T04:00:00.000Z",
                     "dryRun", 0, "steps");
}

static const char *status_in(history *h, int64_t id)
{
    static char status[32];
    json_t *runs = history_list(h, 1000);
    cr_assert_not_null(runs, "%s", history_error(h));
    status[0] = '\0';
    size_t i;
    json_t *r;
    json_array_foreach(runs, i, r)
        if (json_integer_value(json_object_get(r, "runId")) == id)
            snprintf(status, sizeof status, "%s", json_string_value(json_object_get(r, "status")));
    json_decref(runs);
    return status;
}

/* An absolute path under the test's folder (pipeline files resolve relative ones). */
static char *abs_tmp(const char *name)
{
    char abs[PATH_MAX];
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    return th_path(abs, name);
}

/* A pipeline file for `run --once` and `history` with its history at hist. */
static char *pipeline_with(th_db *t, const char *hist, const char *name)
{
    char *yaml = th_path(th_tmpdir(), name), *text = NULL;
    cr_assert_neq(asprintf(&text, "database:\n  url: \"%s\"\nhistory:\n  path: %s\n"
                           "plugin_dir: %s\nsteps:\n  - plugin: leases\n  - plugin: orders\n",
                           t->url, hist, th_build_path("plugins")), -1);
    th_write(yaml, text);
    free(text);
    return yaml;
}

/* ------------------------------------------------- abandoned runs */

/*
 * Runs left "running" are closed as "abandoned" at the next start when the
 * process that made them has ended (killed before it could finish, or an
 * owner that is no process at all), never while it still runs: another
 * instance's live run, this process's own, and a reused pid whose process
 * started at another time is not the owner.
 */
Test(faults_history, abandoned_runs_are_closed_at_start)
{
    char err[512];
    history *h = NULL;
    char *path = th_path(th_tmpdir(), "history.db");
    cr_assert_eq(history_open(path, 100, HISTORY_BUSY_DEFAULT_MS, &h, err, sizeof err), 0, "%s",
                 err);

    /* A process that recorded a run's start and was killed. */
    int64_t dead_id = 0;
    int ids[2];
    cr_assert_eq(pipe(ids), 0);
    pid_t dead = fork();
    cr_assert_neq(dead, -1);
    if (dead == 0) {
        history *ch = NULL;
        int64_t id = 0;
        if (history_open(path, 100, 0, &ch, err, sizeof err) != 0 ||
            history_begin(ch, "startup", 0, 1000, &id) != 0)
            _exit(1);
        (void)!write(ids[1], &id, sizeof id);
        kill(getpid(), SIGKILL);
    }
    int st;
    cr_assert_eq(waitpid(dead, &st, 0), dead);
    cr_assert(WIFSIGNALED(st), "the child did not die by SIGKILL");
    cr_assert_eq(read(ids[0], &dead_id, sizeof dead_id), (ssize_t)sizeof dead_id);

    /* One still running in another live process. */
    int ready[2], release[2];
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(release), 0);
    pid_t live = fork();
    cr_assert_neq(live, -1);
    if (live == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        history *ch = NULL;
        int64_t id = 0;
        if (history_open(path, 100, 0, &ch, err, sizeof err) != 0 ||
            history_begin(ch, "scheduled", 0, 2000, &id) != 0)
            _exit(1);
        (void)!write(ready[1], &id, sizeof id);
        char c;
        (void)!read(release[0], &c, 1);
        json_t *r = result_of("success");
        int rc = history_finish(ch, id, 3000, r);
        json_decref(r);
        history_close(ch);
        _exit(rc == 0 ? 0 : 2);
    }
    int64_t live_id = 0;
    cr_assert_eq(read(ready[0], &live_id, sizeof live_id), (ssize_t)sizeof live_id);

    /* This process's own, an owner that names no process, a row from before owners
     * were recorded, and the live child's pid with another start time (a reused pid). */
    int64_t own_id = 0;
    cr_assert_eq(history_begin(h, "manual", 0, 4000, &own_id), 0, "%s", history_error(h));
    db_url u = { .kind = DB_SQLITE, .path = path };
    db *d = NULL;
    cr_assert_eq(db_open(&u, NULL, &d, err, sizeof err), DB_OK, "%s", err);
    char reused[64];
    snprintf(reused, sizeof reused, "%ld:1", (long)live);
    rc_value p[] = { rc_text(reused) };
    cr_assert_eq(db_exec(d, "INSERT INTO runs (started_at, trigger, status, owner) VALUES "
                         "('2026-01-01T00:00:00.000Z', 'x', 'running', 'garbage'), "
                         "('2026-01-01T00:00:00.000Z', 'x', 'running', NULL), "
                         "('2026-01-01T00:00:00.000Z', 'x', 'running', ?)", p, 1, NULL), 0,
                 "%s", db_errmsg(d));
    int64_t odd_first = th_count(d, "SELECT MAX(id) - 2 FROM runs");

    int64_t closed = -1;
    cr_assert_eq(history_abandon(h, &closed), 0, "%s", history_error(h));
    cr_assert_eq(closed, 4, "closed %lld runs, want the killed one and the three odd owners",
                 (long long)closed);
    cr_assert_str_eq(status_in(h, dead_id), "abandoned");
    cr_assert_str_eq(status_in(h, live_id), "running", "a live process's run was closed");
    cr_assert_str_eq(status_in(h, own_id), "running", "this process's own run was closed");
    for (int64_t i = odd_first; i < odd_first + 3; i++)
        cr_assert_str_eq(status_in(h, i), "abandoned", "run %lld", (long long)i);

    /* Its result says why, naming the process. */
    json_t *r = NULL;
    cr_assert_eq(history_get(h, dead_id, &r), 1, "%s", history_error(h));
    cr_assert_not_null(r);
    char *text = json_dumps(r, 0), want[64];
    snprintf(want, sizeof want, "(pid %ld) ended before recording its end", (long)dead);
    cr_assert_not_null(strstr(text, want), "%s", text);
    free(text);
    json_decref(r);

    /* The live one finishes as usual; nothing is left to close. */
    cr_assert_eq(write(release[1], "x", 1), 1);
    cr_assert_eq(waitpid(live, &st, 0), live);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the live child could not finish its run");
    cr_assert_str_eq(status_in(h, live_id), "success");
    cr_assert_eq(history_abandon(h, &closed), 0);
    cr_assert_eq(closed, 0);
    db_close(d);
    history_close(h);
    free(path);
}

/* ------------------------------------------------- read-only, full */

/*
 * On a filesystem remounted read-only, the store (closed cleanly: no -wal,
 * no -shm) still reads, through `reconciler history`; `run --once` cannot
 * write it and says so at start: exit 5, naming the file.
 */
Test(faults_history, read_only_filesystem, .fini = th_unmount_disk, .timeout = 30)
{
    char err[512];
    th_db t;
    migrated(DB_SQLITE, &t);
    char *dir = th_small_disk("ro", "2m");
    char *hist = th_path(dir, "history.db");
    history *h = NULL;
    cr_assert_eq(history_open(hist, 100, 0, &h, err, sizeof err), 0, "%s", err);
    int64_t ids[3];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(history_begin(h, "startup", 0, 1000 * i, &ids[i]), 0);
        json_t *r = result_of("success");
        cr_assert_eq(history_finish(h, ids[i], 1000 * i + 5, r), 0, "%s", history_error(h));
        json_decref(r);
    }
    history_close(h);
    th_remount(dir, MS_RDONLY);

    char *yaml = pipeline_with(&t, hist, "ro.yaml"), *out = NULL, *e = NULL;
    const char *hargs[] = { "history", "--json", "-c", yaml, NULL };
    int rc = th_run_cli(hargs, NULL, &out, &e);
    cr_assert_eq(rc, 0, "history on a read-only filesystem: exit %d: %s", rc, e);
    json_t *runs = json_loads(out, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(runs, "runs")), 3, "%s", out);
    json_decref(runs);
    free(out);
    free(e);

    const char *rargs[] = { "run", "--once", "-c", yaml, NULL };
    rc = th_run_cli(rargs, NULL, &out, &e);
    cr_assert_eq(rc, 5, "run --once with a read-only history: exit %d: %s", rc, e);
    cr_assert_not_null(strstr(e, hist), "the message does not name the file: %s", e);
    cr_assert_not_null(strstr(e, "Read-only file system"), "the message does not say why: %s",
                       e);
    cr_assert_eq(th_count(t.conn, "SELECT COUNT(*) FROM processing_job_logs"), 0,
                 "a run went on without its history");
    free(out);
    free(e);
    free(yaml);
    free(hist);
    free(dir);
    th_db_destroy(&t);
}

/*
 * A read-only folder (the store's folder belongs to another user; the file
 * itself may be written): opening for writing is refused with a message
 * naming the folder (SQLite keeps its -wal and -shm files there), and
 * reading still works. Run as user nobody, since root may write anywhere.
 */
Test(faults_history, read_only_folder, .timeout = 30)
{
    char err[512];
    char *dir = abs_tmp("rofolder");
    cr_assert_eq(mkdir(dir, 0755), 0);
    char *hist = th_path(dir, "history.db");
    history *h = NULL;
    cr_assert_eq(history_open(hist, 100, 0, &h, err, sizeof err), 0, "%s", err);
    int64_t id;
    cr_assert_eq(history_begin(h, "startup", 0, 1000, &id), 0);
    json_t *r = result_of("success");
    cr_assert_eq(history_finish(h, id, 1005, r), 0);
    json_decref(r);
    history_close(h);
    cr_assert_eq(chmod(hist, 0666), 0);
    if (getuid() != 0)
        cr_skip_test("needs root, to run its check as another user");

    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t child = fork();
    cr_assert_neq(child, -1);
    if (child == 0) {
        char msg[600] = "";
        history *ch = NULL;
        if (setgid(65534) != 0 || setuid(65534) != 0)
            snprintf(msg, sizeof msg, "cannot become nobody");
        else if (history_open(hist, 100, 0, &ch, err, sizeof err) == 0)
            snprintf(msg, sizeof msg, "opened for writing in a read-only folder");
        else if (history_open_read(hist, &ch, msg, sizeof msg) != 0)
            ; /* msg says why */
        else {
            json_t *runs = history_list(ch, 10);
            if (json_array_size(runs) != 1)
                snprintf(msg, sizeof msg, "read %zu runs, want 1", json_array_size(runs));
            else
                snprintf(msg, sizeof msg, "ok %s", err);
            json_decref(runs);
        }
        (void)!write(p[1], msg, strlen(msg));
        _exit(0);
    }
    close(p[1]);
    char got[700] = "";
    ssize_t n = read(p[0], got, sizeof got - 1);
    got[n > 0 ? n : 0] = '\0';
    waitpid(child, NULL, 0);
    close(p[0]);
    cr_assert(strncmp(got, "ok ", 3) == 0, "%s", got);
    cr_assert_not_null(strstr(got, "its folder"), "%s", got);
    cr_assert_not_null(strstr(got, "Permission denied"), "%s", got);
    cr_assert_not_null(strstr(got, dir), "the message does not name the folder: %s", got);
    free(hist);
    free(dir);
}

/*
 * A full disk under a store in use (its -wal and -shm there): reading works
 * (`reconciler history`, and history_list on the open handle); a run start
 * cannot be written, so the run gets a fallback id above every id the file
 * holds; once there is room again its end writes the whole row under that
 * id, and the next run's id is above it.
 */
Test(faults_history, full_disk, .fini = th_unmount_disk, .timeout = 30)
{
    char err[512];
    th_db t;
    migrated(DB_SQLITE, &t);
    char *dir = th_small_disk("full", "1m");
    char *hist = th_path(dir, "history.db");
    history *h = NULL;
    cr_assert_eq(history_open(hist, 100, 0, &h, err, sizeof err), 0, "%s", err);
    int64_t first = 0;
    cr_assert_eq(history_begin(h, "startup", 0, 1000, &first), 0);
    json_t *r = result_of("success");
    cr_assert_eq(history_finish(h, first, 1005, r), 0, "%s", history_error(h));
    json_decref(r);
    uint64_t errors_before = history_write_errors();

    char *filler = th_fill_disk(dir);
    /* Several starts: one may still fit in a page the WAL already has. */
    int64_t id = 0;
    int failed = 0;
    for (int i = 0; i < 50 && !failed; i++)
        failed = history_begin(h, "manual", 0, 2000, &id) != 0;
    cr_assert(failed, "no history write failed on a full disk");
    cr_assert_not_null(strstr(history_error(h), "full"), "%s", history_error(h));
    cr_assert_gt(history_write_errors(), errors_before);
    char why[512];
    int64_t since;
    cr_assert_eq(history_write_failing(why, sizeof why, &since), 1);
    cr_assert_gt(since, 0);

    int64_t fallback = history_fallback_id(h);
    json_t *runs = history_list(h, 1000);
    cr_assert_not_null(runs, "reading failed on a full disk: %s", history_error(h));
    int64_t highest = json_integer_value(json_object_get(json_array_get(runs, 0), "runId"));
    json_decref(runs);
    cr_assert_gt(fallback, highest, "fallback id %lld is not above the file's %lld",
                 (long long)fallback, (long long)highest);

    char *yaml = pipeline_with(&t, hist, "full.yaml"), *out = NULL, *e = NULL;
    const char *hargs[] = { "history", "--json", "-c", yaml, NULL };
    int rc = th_run_cli(hargs, NULL, &out, &e);
    cr_assert_eq(rc, 0, "history on a full disk: exit %d: %s", rc, e);
    free(out);
    free(e);

    /* Room again: the run's end records it whole, under its fallback id. */
    cr_assert_eq(unlink(filler), 0);
    r = result_of("success");
    cr_assert_eq(history_finish(h, fallback, 3000, r), 0, "%s", history_error(h));
    json_decref(r);
    cr_assert_str_eq(status_in(h, fallback), "success");
    cr_assert_eq(history_write_failing(why, sizeof why, &since), 0, "still failing: %s", why);
    int64_t next = 0;
    cr_assert_eq(history_begin(h, "manual", 0, 4000, &next), 0, "%s", history_error(h));
    cr_assert_gt(next, fallback);
    history_close(h);
    free(filler);
    free(yaml);
    free(hist);
    free(dir);
    th_db_destroy(&t);
}

/*
 * A full disk with no store yet: `run --once` cannot create it and says so
 * at start (exit 5, naming the file); `reconciler history` reads the empty
 * file that start left as "no runs".
 */
Test(faults_history, full_disk_at_start, .fini = th_unmount_disk, .timeout = 30)
{
    th_db t;
    migrated(DB_SQLITE, &t);
    char *dir = th_small_disk("fullstart", "256k");
    char *filler = th_fill_disk(dir);
    char *hist = th_path(dir, "history.db");
    char *yaml = pipeline_with(&t, hist, "fullstart.yaml"), *out = NULL, *e = NULL;
    const char *rargs[] = { "run", "--once", "-c", yaml, NULL };
    int rc = th_run_cli(rargs, NULL, &out, &e);
    cr_assert_eq(rc, 5, "run --once with a full history disk: exit %d: %s", rc, e);
    cr_assert_not_null(strstr(e, hist), "%s", e);
    cr_assert_not_null(strstr(e, "full"), "%s", e);
    cr_assert_eq(th_count(t.conn, "SELECT COUNT(*) FROM processing_job_logs"), 0);
    free(out);
    free(e);
    const char *hargs[] = { "history", "--json", "-c", yaml, NULL };
    rc = th_run_cli(hargs, NULL, &out, &e);
    cr_assert_eq(rc, 0, "history after a start that could not write: exit %d: %s", rc, e);
    cr_assert_not_null(strstr(out, "[]"), "%s", out);
    free(out);
    free(e);
    free(yaml);
    free(hist);
    free(filler);
    free(dir);
    th_db_destroy(&t);
}

/* ------------------------------------------------- corrupt, locked */

/*
 * A history file that is no SQLite database: run --once and the service
 * refuse at start with exit 5, naming the file and what is wrong with it;
 * `reconciler history` too.
 */
Test(faults_history, corrupt_file, .timeout = 30)
{
    th_db t;
    migrated(DB_SQLITE, &t);
    char *hist = abs_tmp("corrupt.db");
    char garbage[4096];
    memset(garbage, 'x', sizeof garbage - 1);
    garbage[sizeof garbage - 1] = '\0';
    th_write(hist, garbage);
    char *yaml = pipeline_with(&t, hist, "corrupt.yaml");
    const char *const cmds[][5] = {
        { "run", "--once", "-c", yaml, NULL },
        { "history", "-c", yaml, NULL, NULL },
        { "run", "-c", yaml, NULL, NULL }, /* the service: at start, before its API */
    };
    for (size_t i = 0; i < 3; i++) {
        char *out = NULL, *e = NULL;
        int rc = th_run_cli(cmds[i], NULL, &out, &e);
        cr_assert_eq(rc, 5, "%s: exit %d: %s", cmds[i][0], rc, e);
        cr_assert_not_null(strstr(e, hist), "%s: the message does not name the file: %s",
                           cmds[i][0], e);
        cr_assert_not_null(strstr(e, "not a database"), "%s: %s", cmds[i][0], e);
        free(out);
        free(e);
    }
    cr_assert_eq(th_count(t.conn, "SELECT COUNT(*) FROM processing_job_logs"), 0);
    free(yaml);
    free(hist);
    th_db_destroy(&t);
}

/*
 * Another process holds the store's write lock (BEGIN EXCLUSIVE) for 2 s:
 * `reconciler history` reads at once; a `run --once` started meanwhile
 * waits for the lock and records its run.
 */
Test(faults_history, write_lock_held_by_another_process, .timeout = 30)
{
    char err[512];
    th_db t;
    migrated(DB_SQLITE, &t);
    char *hist = abs_tmp("locked.db");
    history *h = NULL;
    cr_assert_eq(history_open(hist, 100, 0, &h, err, sizeof err), 0, "%s", err);
    history_close(h);
    char *yaml = pipeline_with(&t, hist, "locked.yaml");

    int ready[2];
    cr_assert_eq(pipe(ready), 0);
    pid_t holder = fork();
    cr_assert_neq(holder, -1);
    if (holder == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        db_url u = { .kind = DB_SQLITE, .path = hist };
        db *d = NULL;
        if (db_open(&u, NULL, &d, err, sizeof err) != DB_OK ||
            db_exec(d, "BEGIN EXCLUSIVE", NULL, 0, NULL) != 0)
            _exit(1);
        (void)!write(ready[1], "1", 1);
        sleep_ms(2000);
        db_exec(d, "ROLLBACK", NULL, 0, NULL);
        db_close(d);
        _exit(0);
    }
    char c;
    cr_assert_eq(read(ready[0], &c, 1), 1, "the other process could not lock the store");
    int64_t t0 = mono_ms();
    char *out = NULL, *e = NULL;
    const char *hargs[] = { "history", "--json", "-c", yaml, NULL };
    int rc = th_run_cli(hargs, NULL, &out, &e);
    cr_assert_eq(rc, 0, "history while another process holds the write lock: %d %s", rc, e);
    cr_assert_lt(mono_ms() - t0, 1500, "history waited for the write lock");
    free(out);
    free(e);

    const char *rargs[] = { "run", "--once", "--json", "-c", yaml, NULL };
    rc = th_run_cli(rargs, NULL, &out, &e);
    cr_assert_eq(rc, 0, "run --once beside a held history lock: exit %d: %s", rc, e);
    int st;
    cr_assert_eq(waitpid(holder, &st, 0), holder);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(history_open(hist, 100, 0, &h, err, sizeof err), 0, "%s", err);
    json_t *res = json_loads(out, 0, NULL);
    int64_t id = json_integer_value(json_object_get(res, "runId"));
    cr_assert_gt(id, 0, "%s", out);
    cr_assert_str_eq(status_in(h, id), "success", "the run is not in history as success");
    json_decref(res);
    history_close(h);
    free(out);
    free(e);
    free(yaml);
    free(hist);
    th_db_destroy(&t);
}

/* ------------------------------------------------- in the service */

/* The number after `name ` in a Prometheus text, or -1. */
static double metric(const char *text, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *at = strstr(text, key);
    return at ? strtod(at + strlen(key), NULL) : -1;
}

/*
 * The service's history disk fills up: a manual run is still queued (202,
 * with historyError) and made, under a fallback id; its processing_job_logs
 * row is written; the failure shows in the log, in /metrics
 * (reconciler_history_write_errors_total) and in /readyz (history.ok false,
 * still 200: the bot's database is fine). With room again, runs are
 * recorded as before and /readyz says history ok.
 */
Test(faults_history, service_with_a_full_history_disk, .fini = th_unmount_disk, .timeout = 60)
{
    th_db t;
    svc s;
    migrated(DB_SQLITE, &t);
    char *dir = th_small_disk("svcfull", "1m");
    svc_setup(&s, &t, 1, "schedule:\n  interval: 1h\n", "", "  - plugin: fixture\n");
    char *hist = th_path(dir, "history.db");
    char *text = th_read(s.yaml), *at = strstr(text, s.hist), *edited = NULL;
    cr_assert_not_null(at);
    *at = '\0';
    cr_assert_neq(asprintf(&edited, "%s%s%s", text, hist, at + strlen(s.hist)), -1);
    th_write(s.yaml, edited);
    free(text);
    free(edited);
    free(s.hist);
    s.hist = hist;
    svc_start(&s, NULL);
    json_decref(wait_for(&s, "/readyz", 200, 15000));

    char *filler = th_fill_disk(dir);
    /* Runs until a history write fails (the WAL may hold a free page or two). */
    int64_t id = 0;
    json_t *r = NULL;
    for (int i = 0; i < 20; i++) {
        th_response resp;
        cr_assert_eq(th_http(s.port, "POST", "/v1/reconciliation/run", NULL, NULL, &resp), 0);
        cr_assert_eq(resp.status, 202, "POST with a full history disk: %d %s", resp.status,
                     resp.body);
        json_t *j = parse(&resp);
        th_response_free(&resp);
        id = json_integer_value(json_object_get(j, "runId"));
        json_decref(j);
        cr_assert_gt(id, 0);
        /* Made and finished: the status (memory) shows it. */
        int64_t end = mono_ms() + 10000;
        for (;;) {
            int st;
            json_decref(r);
            r = get_json(&s, "/v1/reconciliation/status", &st);
            if (st == 200 && json_integer_value(json_object_get(r, "runId")) == id)
                break;
            cr_assert_lt(mono_ms(), end, "manual run %lld never finished:\n%s", (long long)id,
                         th_read(s.errlog));
            sleep_ms(50);
        }
        if (th_file_contains(s.errlog, "full") == 1)
            break;
    }
    cr_assert_eq(th_file_contains(s.errlog, "database or disk is full"), 1,
                 "no history write failed in 20 runs:\n%s", th_read(s.errlog));
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "success",
                     "%s", json_dumps(r, 0));
    json_decref(r);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM processing_job_logs WHERE "
             "json_extract(details, '$.runId') = %lld", (long long)id);
    cr_assert_eq(th_count(t.conn, sql), 1, "run %lld has no processing_job_logs row",
                 (long long)id);

    th_response m;
    cr_assert_eq(th_http(s.port, "GET", "/metrics", NULL, NULL, &m), 0);
    cr_assert_geq(metric(m.body, "reconciler_history_write_errors_total"), 1, "%s", m.body);
    th_response_free(&m);
    int st;
    json_t *ready = get_json(&s, "/readyz", &st);
    cr_assert_eq(st, 200);
    json_t *hh = json_object_get(ready, "history");
    cr_assert(json_is_false(json_object_get(hh, "ok")), "%s", json_dumps(ready, 0));
    cr_assert_not_null(strstr(json_string_value(json_object_get(hh, "error")), "full"));
    json_decref(ready);

    /* Room again: the next run is recorded, and /readyz says so. */
    cr_assert_eq(unlink(filler), 0);
    int64_t next = post_run(&s, "", 202);
    cr_assert_gt(next, id);
    r = wait_run(&s, next, 10000);
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "success");
    json_decref(r);
    ready = get_json(&s, "/readyz", &st);
    cr_assert(json_is_true(json_object_get(json_object_get(ready, "history"), "ok")), "%s",
              json_dumps(ready, 0));
    json_decref(ready);
    svc_term(&s);
    svc_free(&s);
    free(filler);
    free(dir);
    th_db_destroy(&t);
}
