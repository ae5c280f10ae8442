/* SPDX-License-Identifier: MIT */
/*
 * test_thread_start.c - a thread that cannot start is said through the
 * logger, in the format asked for: with --log-format json, a JSON line like
 * every other, never a plain-text line a JSON log pipeline would lose.
 *
 * Threads are made unable to start for real: the child's stack limit (which
 * glibc takes as a new thread's stack size) is set above its address-space
 * limit, so every pthread_create fails with EAGAIN while the process itself
 * runs on.
 */
#include "helpers.h"
#include "th_svc.h"

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* `run [--once] --log-format json` with threads unable to start; its stderr. */
static char *run_without_threads(const char *yaml, int once)
{
    char bin[PATH_MAX];
    snprintf(bin, sizeof bin, "%s/reconciler", th_build());
    char *errp = th_path(th_tmpdir(), "nothreads.err");
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int devnull = open("/dev/null", O_WRONLY);
        struct rlimit stack = { 2000000000, RLIM_INFINITY }, as = { 1500000000, 1500000000 },
                      core = { 0, 0 };
        if (e < 0 || devnull < 0 || setrlimit(RLIMIT_STACK, &stack) != 0 ||
            setrlimit(RLIMIT_AS, &as) != 0 || setrlimit(RLIMIT_CORE, &core) != 0)
            _exit(127);
        dup2(devnull, 1);
        dup2(e, 2);
        if (once)
            execl(bin, bin, "run", "--once", "--log-format", "json", "-c", yaml, (char *)NULL);
        else
            execl(bin, bin, "run", "--log-format", "json", "-c", yaml, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(!WIFEXITED(st) || WEXITSTATUS(st) != 127, "could not start the command");
    char *err = th_read(errp);
    free(errp);
    return err;
}

/*
 * The stop watcher (started before the run) and the run lock's heartbeat
 * cannot start: both say so as JSON lines, and every stderr line is one;
 * for `run --once` and for the service (its startup run).
 * (Without a heartbeat the run does not go on: a lease would run out under
 * it; the process aborts after saying why, which is not what is judged here.)
 */
Test(thread_start, failures_are_json_lines, .timeout = 30)
{
#if defined(__SANITIZE_ADDRESS__)
    (void)run_without_threads;
    cr_skip_test("AddressSanitizer reserves terabytes: no address-space limit applies under it");
#else
    th_db t;
    svc s;
    migrated(DB_SQLITE, &t);
    svc_setup(&s, &t, 1, "", "", "  - plugin: fixture\n");
    for (int once = 1; once >= 0; once--) {
        char *err = run_without_threads(s.yaml, once);
        int watcher = 0, heartbeat = 0, lines = 0;
        char *save = NULL;
        for (char *line = strtok_r(err, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            json_t *o = json_loads(line, 0, NULL);
            cr_assert_not_null(o, "not a JSON line: %s", line);
            const char *msg = json_string_value(json_object_get(o, "msg"));
            cr_assert_not_null(msg, "%s", line);
            watcher += strstr(msg, "cannot start the database stop watcher") != NULL;
            heartbeat += strstr(msg, "cannot start the run lock's heartbeat thread") != NULL;
            lines++;
            json_decref(o);
        }
        const char *how = once ? "run --once" : "the service";
        cr_assert_eq(watcher, 1, "%s: %d lines, none on the stop watcher", how, lines);
        cr_assert_eq(heartbeat, 1, "%s: %d lines, none on the heartbeat", how, lines);
        free(err);
    }
    svc_free(&s);
    th_db_destroy(&t);
#endif
}
