/* SPDX-License-Identifier: MIT */
/*
 * test_hostile.c - promises that hold against a hostile plugin (issue 18):
 * what a plugin starts dies with its worker; nothing from a plugin runs in
 * the supervisor, validate or `plugins`; a worker's death is its own step's;
 * a refused result fails its step; memory and reply limits are reported as
 * such; a plugin folder or file others may write is refused.
 * The fixtures are tests/fixtures/hostile/ (their own folder: loading
 * ctorcrash crashes).
 */
#include "helpers.h"
#include "th_fixture.h"
#include "th_svc.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Under AddressSanitizer a segfault would become exit 1 with a report: keep it a signal. */
#define AS_PLAIN "ASAN_OPTIONS=handle_segv=0:handle_sigbus=0:allocator_may_return_null=1"

/* The fixture's pipeline run by the binary, the hostile fixtures' folder before the others. */
static th_pipe *hostile(db_kind kind, const char *extra, const char *steps)
{
    th_pipe *p = fx_pipe(kind, "tests/hostile", "tests/plugins", extra, steps);
    p->env = AS_PLAIN;
    return p;
}

/* Is pid gone (or a zombie nobody reaps, which holds nothing)? */
static int gone(long pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && rp[2] == 'Z';
}

/* The pid the supervisor names as left behind by `label`'s worker (its log line). */
static long left_behind(const char *log, const char *label)
{
    char want[128];
    snprintf(want, sizeof want, "%s: its worker (pid ", label);
    const char *at = strstr(log, want);
    cr_assert_not_null(at, "no line about what %s left behind:\n%s", label, log);
    at = strstr(at, "with what a plugin started in it (pid ");
    cr_assert_not_null(at, "%s", log);
    return strtol(at + strlen("with what a plugin started in it (pid "), NULL, 10);
}

/* ------------------------------------------- point 2: process groups */

/*
 * `sleep 30 &` then a hang past timeout 2s: the child inherited nothing the
 * supervisor waits on, the run ends after the timeout and its grace (not
 * after the child), and the child is killed with the worker's group and
 * named in the log.
 */
DB_TEST(hostile, child_process_dies_with_its_worker, .timeout = 60, SVC_FIXTURE)
{
    th_pipe *h = hostile(kind, "",
                         "  - plugin: hostile\n    name: forks\n    options: { how: child_hang }\n"
                         "    timeout: 2s\n  - plugin: fixture\n");
    cr_assert_eq(th_pipe_once(h), 1, "%s", h->err);
    cr_assert_str_eq(th_str(th_step(h->res, 0), "error"),
                     "killed after timeout 2s (steps[].timeout)");
    cr_assert_str_eq(th_str(th_step(h->res, 1), "status"), "ok", "%s", h->err);
    long child = left_behind(h->err, "step forks");
    cr_assert(gone(child), "the step's child %ld is still running", child);
    th_pipe_assert_history(h, "partial");
}

/*
 * The fixture's service on SQLite (not started), the hostile fixtures' folder before the
 * others; *text its pipeline file's text (malloc'd).
 */
static svc *hostile_svc(const char *extra, const char *steps, char **text)
{
    fx_db(DB_SQLITE);
    svc *s = fx_svc(extra, "", steps);
    char *was = th_read(s->yaml), *pd = strstr(was, "plugin_dir: [");
    char *dir = abs_build("tests/hostile");
    cr_assert_not_null(pd);
    cr_assert_neq(asprintf(text, "%.*splugin_dir: [%s, %s", (int)(pd - was), was, dir,
                           pd + strlen("plugin_dir: [")), -1);
    th_write(s->yaml, *text);
    free(dir);
    free(was);
    return s;
}

/* SIGTERM of the service while such a step hangs: out within 5 s, the child gone too. */
Test(hostile, sigterm_with_a_child_holding_on, .timeout = 60, SVC_FIXTURE)
{
    char *text = NULL;
    svc *s = hostile_svc("schedule:\n  interval: 1h\n",
                         "  - plugin: hostile\n    name: forks\n    options: { how: child_hang }\n"
                         "    timeout: 1m\n", &text);
    svc_start(s, NULL);
    /* The step's child runs once the fixture says so. */
    th_wait_log(s->errlog, "hostile: child started", 1, 20000);
    kill(s->pid, SIGTERM);
    int rc = svc_wait_exit(s, 5000);
    char *log = th_read(s->errlog);
    cr_assert_eq(rc, 0, "exit %d (-1: still running 5 s after SIGTERM):\n%s", rc, log);
    long child = left_behind(log, "step forks");
    cr_assert(gone(child), "the step's child %ld is still running", child);
    free(log);
    free(text);
}

/* ------------------------------- point 3: no plugin code in the supervisor */

/* check() calls exit(0): the run fails (exit 2, never 0), and the history says so. */
Test(hostile, check_that_exits_fails_the_run, .timeout = 60, SVC_FIXTURE)
{
    char *out = NULL, *err = NULL;
    th_pipe *h = hostile(DB_SQLITE, "", "  - plugin: hostile\n    options: { how: check_exit }\n");
    int rc = th_pipe_cli(h, "run", "--once", NULL, &out, &err);
    cr_assert_eq(rc, 2, "exit %d:\n%s", rc, err);
    cr_assert(strstr(err, "pipeline.yaml:7:5: step 'hostile': plugin 'hostile': the worker "
                     "running its check() exited with status 0 before reporting"), "%s", err);
    free(out);
    free(err);
    const char *args[] = { "history", "--json", "-c", h->yaml, NULL };
    cr_assert_eq(th_run_cli(args, NULL, &out, &err), 0, "%s", err);
    json_t *page = json_loads(out, 0, NULL), *runs = json_object_get(page, "runs");
    cr_assert_eq(json_array_size(runs), 1, "%s", out);
    cr_assert_str_eq(th_str(json_array_get(runs, 0), "status"), "failed", "%s", out);
    json_decref(page);
    free(out);
    free(err);
}

/* A constructor that crashes: validate and run name the plugin (exit 2, not 139). */
Test(hostile, constructor_crash_is_reported_by_name, .timeout = 60, SVC_FIXTURE)
{
    char *out = NULL, *err = NULL;
    th_pipe *h = hostile(DB_SQLITE, "", "  - plugin: fixture\n  - plugin: ctorcrash\n");
    int rc = th_pipe_cli(h, "validate", NULL, NULL, &out, &err);
    cr_assert_eq(rc, 2, "validate: exit %d:\n%s", rc, err);
    cr_assert(strstr(err, "ctorcrash.so: plugin 'ctorcrash' could not be loaded: the worker "
                     "loading it crashed: signal 11 (Segmentation fault)"), "%s", err);
    free(out);
    free(err);
    rc = th_pipe_cli(h, "run", "--once", NULL, &out, &err);
    cr_assert_eq(rc, 2, "run: exit %d:\n%s", rc, err);
    cr_assert(strstr(err, "plugin 'ctorcrash' could not be loaded"), "%s", err);
    free(out);
    free(err);
    /* `plugins` lists the others and names the broken one. */
    rc = th_pipe_cli(h, "plugins", NULL, NULL, &out, &err);
    cr_assert_eq(rc, 2, "plugins: exit %d:\n%s", rc, err);
    cr_assert(strstr(out, "hostile 1.0.0"), "%s", out);
    cr_assert(strstr(err, "plugin 'ctorcrash' could not be loaded"), "%s", err);
    free(out);
    free(err);
}

/* The doc generator loads plugins in a worker too. */
Test(hostile, doc_generation_survives_a_crashing_constructor, .timeout = 60)
{
    char *out = NULL, *err = NULL, *dir = abs_build("tests/hostile");
    const char *args[] = { "__doc", "plugins", dir, "--markdown", NULL };
    int rc = th_run_cli(args, (const char *[]){ AS_PLAIN, NULL }, &out, &err);
    cr_assert_eq(rc, 2, "exit %d:\n%s", rc, err);
    cr_assert(strstr(err, "plugin 'ctorcrash' could not be loaded"), "%s", err);
    cr_assert(strstr(out, "hostile"), "%s", out);
    free(out);
    free(err);
    free(dir);
}

/* A reload that adds a plugin whose check() crashes is refused; the service stays up. */
Test(hostile, reload_with_a_crashing_check_is_refused, .timeout = 60, SVC_FIXTURE)
{
    char *text = NULL;
    svc *s = hostile_svc("schedule:\n  interval: 1h\n", "  - plugin: fixture\n", &text);
    svc_start(s, (const char *[]){ AS_PLAIN, NULL });
    json_decref(wait_for(s, "/healthz", 200, 10000));
    char *more = NULL;
    cr_assert_neq(asprintf(&more, "%s  - plugin: hostile\n    options: { how: check_segv }\n",
                           text), -1);
    th_write(s->yaml, more);
    kill(s->pid, SIGHUP);
    th_wait_log(s->errlog, "keeping the running pipeline", 1, 20000);
    char *log = th_read(s->errlog);
    cr_assert(strstr(log, "plugin 'hostile': the worker running its check() crashed: signal 11"),
              "%s", log);
    json_decref(wait_for(s, "/healthz", 200, 1000));
    svc_term(s);
    free(log);
    free(more);
    free(text);
}

/* ------------------------------ point 6: a worker's death is its own step's */

/*
 * A plugin thread that crashes 300 ms after its step reported ok: that
 * step is failed with the crash, the next step (innocent) is ok; as the
 * last step, the run is not a success (exit 1).
 */
DB_TEST(hostile, late_thread_crash_is_blamed_on_its_step, .timeout = 60, SVC_FIXTURE)
{
    th_pipe *h = hostile(kind, "", "  - plugin: hostile\n    options: { how: thread_crash }\n"
                         "  - plugin: fixture\n");
    cr_assert_eq(th_pipe_once(h), 1, "%s", h->err);
    cr_assert_str_eq(th_str(th_step(h->res, 0), "status"), "failed");
    cr_assert_str_eq(th_str(th_step(h->res, 0), "error"), "crashed: signal 11 (Segmentation fault)",
                     "%s", h->err);
    cr_assert_str_eq(th_str(th_step(h->res, 1), "status"), "ok", "%s", h->err);
    th_pipe_assert_history(h, "partial");

    h = hostile(kind, "", "  - plugin: fixture\n"
                "  - plugin: hostile\n    options: { how: thread_crash }\n");
    cr_assert_eq(th_pipe_once(h), 1, "%s", h->err);
    cr_assert_str_eq(th_str(th_step(h->res, 0), "status"), "ok");
    cr_assert_str_eq(th_str(th_step(h->res, 1), "error"), "crashed: signal 11 (Segmentation fault)",
                     "%s", h->err);
    cr_assert_str_eq(th_str(h->res, "status"), "partial");
}

/* result_double(NaN) is refused, and the step that reported it fails with the refusal. */
DB_TEST(hostile, refused_result_fails_its_step, .timeout = 60, SVC_FIXTURE)
{
    th_pipe *h = hostile(kind, "", "  - plugin: hostile\n    options: { how: nan }\n"
                         "  - plugin: hostile\n    name: fine\n");
    cr_assert_eq(th_pipe_once(h), 1, "%s", h->err);
    cr_assert_str_eq(th_str(th_step(h->res, 0), "status"), "failed");
    cr_assert_str_eq(th_str(th_step(h->res, 0), "error"),
                     "result 'hostile.ratio': NaN is not a number JSON can hold");
    /* The other side: a step that reports only what JSON holds is ok. */
    cr_assert_str_eq(th_str(th_step(h->res, 1), "status"), "ok", "%s", h->err);
}

/* ------------------------------------------------- point 7: limits, modes */

/*
 * A plugin that allocates until malloc fails and then uses the NULL:
 * reported as its memory limit, not a bare signal; the next step runs.
 */
DB_TEST(hostile, memory_limit_is_reported_as_such, .timeout = 60, SVC_FIXTURE)
{
#if defined(__SANITIZE_ADDRESS__)
    (void)kind;
    cr_skip_test("AddressSanitizer reserves terabytes: no memory limit applies under it");
#else
    th_pipe *h = hostile(kind, "", "  - plugin: hostile\n    options: { how: hog }\n"
                         "    memory_limit: 64MiB\n  - plugin: fixture\n    memory_limit: 64MiB\n");
    cr_assert_eq(th_pipe_once(h), 1, "%s", h->err);
    const char *e = th_str(th_step(h->res, 0), "error");
    cr_assert(e && strncmp(e, "exceeded its memory limit (64MiB, steps[].memory_limit)", 55) == 0,
              "%s\n%s", e, h->err);
    /* The other side: a step within the same limit runs. */
    cr_assert_str_eq(th_str(th_step(h->res, 1), "status"), "ok", "%s", h->err);
#endif
}

/* steps[].memory_limit: 64MiB and 1TiB are in, a byte less or more is refused, at its place. */
Test(hostile, memory_limit_bounds, SVC_FIXTURE)
{
    static const struct { const char *value; int ok; } cases[] = {
        { "64MiB", 1 }, { "65535KiB", 0 }, { "1TiB", 1 }, { "1025GiB", 0 }, { "1gb", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL, *err = NULL, steps[128];
        snprintf(steps, sizeof steps, "  - plugin: fixture\n    memory_limit: %s\n",
                 cases[i].value);
        th_pipe *h = hostile(DB_SQLITE, "", steps);
        int rc = th_pipe_cli(h, "validate", NULL, NULL, &out, &err);
        cr_assert_eq(rc, cases[i].ok ? 0 : 2, "%s: exit %d\n%s", cases[i].value, rc, err);
        if (!cases[i].ok)
            cr_assert(strstr(err, "pipeline.yaml:8:19: 'memory_limit'"), "%s", err);
        free(out);
        free(err);
    }
}

/* A reply past the protocol's limit: killed by the supervisor, and said so. */
Test(hostile, oversized_reply_is_named, .timeout = 60, SVC_FIXTURE)
{
    th_pipe *h = hostile(DB_SQLITE, "", "  - plugin: hostile\n    options: { how: bigreply }\n"
                         "  - plugin: fixture\n");
    cr_assert_eq(th_pipe_once(h), 1, "%s", h->err);
    cr_assert_str_eq(th_str(th_step(h->res, 0), "error"),
                     "killed by the supervisor: reply larger than 16 MiB");
    cr_assert_str_eq(th_str(th_step(h->res, 1), "status"), "ok", "%s", h->err);
}

/* A copy of the fixture plugin in a folder of its own, for mode games. */
static char *own_plugin_dir(void)
{
    char abs[PATH_MAX];
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    char *dir = th_path(abs, "own"), *src = abs_build("tests/plugins/fixture.so");
    char *dst = th_path(dir, "fixture.so"), *cmd = NULL;
    cr_assert_eq(mkdir(dir, 0755), 0);
    cr_assert_neq(asprintf(&cmd, "cp '%s' '%s'", src, dst), -1);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(chmod(dst, 0755), 0);
    free(cmd);
    free(src);
    free(dst);
    return dir;
}

/* StrictModes: a plugin or its folder writable by group or others is refused, naming both. */
Test(hostile, plugin_writable_by_others_is_refused, .timeout = 30)
{
    char *dir = own_plugin_dir(), *so = th_path(dir, "fixture.so"), *err = NULL, want[600];
    cr_assert_eq(th_validate("own.yaml", dir, "  - plugin: fixture\n", &err), 0, "0755 file in a 0755 folder: %s", err);
    free(err);
    cr_assert_eq(chmod(so, 0775), 0);
    cr_assert_eq(th_validate("own.yaml", dir, "  - plugin: fixture\n", &err), 2);
    snprintf(want, sizeof want, "%s: writable by group or others (mode 0775)", so);
    cr_assert(strstr(err, want), "%s", err);
    free(err);
    cr_assert_eq(chmod(so, 0757), 0);
    cr_assert_eq(th_validate("own.yaml", dir, "  - plugin: fixture\n", &err), 2);
    cr_assert(strstr(err, "(mode 0757)"), "%s", err);
    free(err);
    cr_assert_eq(chmod(so, 0755), 0);
    cr_assert_eq(chmod(dir, 0777), 0);
    cr_assert_eq(th_validate("own.yaml", dir, "  - plugin: fixture\n", &err), 2);
    snprintf(want, sizeof want, "its folder %s is writable by group or others (mode 0777)", dir);
    cr_assert(strstr(err, want), "%s", err);
    free(err);
    cr_assert_eq(chmod(dir, 0755), 0);
    free(so);
    free(dir);
}

/* The children of pid, from /proc (its threads' lists): how many. */
static int children_of(pid_t pid)
{
    char path[64];
    int n = 0;
    snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
    DIR *d = opendir(path);
    struct dirent *e;
    cr_assert_not_null(d);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char cp[400], buf[512];
        snprintf(cp, sizeof cp, "%s/%s/children", path, e->d_name);
        FILE *f = fopen(cp, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        for (char *t = strtok(buf, " \n"); t; t = strtok(NULL, " \n"))
            n++;
    }
    closedir(d);
    return n;
}

/*
 * The next step's worker is started while a step runs; when that step then
 * aborts the run, the spare goes with the run: the service keeps no worker.
 */
Test(hostile, no_worker_outlives_its_run, .timeout = 60, SVC_FIXTURE)
{
    fx_db(DB_SQLITE);
    /* No figures: their refresh right after the run is a worker of its own. */
    svc *s = fx_svc("schedule:\n  interval: 1h\n", "  figure_plugins: []\n",
                    "  - plugin: misbehave\n    options: { how: segv }\n    on_error: abort\n"
                    "  - plugin: fixture\n");
    svc_start(s, (const char *[]){ AS_PLAIN, NULL });
    int64_t end = mono_ms() + 20000;
    char *log = NULL;
    for (;;) {
        free(log);
        log = th_read(s->errlog);
        if (log && strstr(log, "reconciliation run 1 (job reconcile, startup): failed"))
            break;
        cr_assert_lt(mono_ms(), end, "no run:\n%s", log);
        sleep_ms(50);
    }
    cr_assert(strstr(log, "step fixture") == NULL || strstr(log, "skipped") != NULL, "%s", log);
    cr_assert_eq(children_of(s->pid), 0, "a worker outlived its run:\n%s", log);
    svc_term(s);
    free(log);
}
