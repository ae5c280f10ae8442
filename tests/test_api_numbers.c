/* SPDX-License-Identifier: MIT */
/*
 * test_api_numbers.c - the service API reads numbers with the core's one
 * integer parser: ?limit= and run ids are whole decimal numbers, nothing
 * else, and a syntax error reads differently from a number out of range.
 */
#include "helpers.h"
#include "th_http.h"

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* `reconciler run -c cfg` in the background (no startup run); it dies with the test. */
static pid_t start_service(int port)
{
    char *rel = NULL, fixtures[PATH_MAX], *text = NULL;
    cr_assert_neq(asprintf(&rel, "%s/tests/plugins", th_build()), -1);
    cr_assert_not_null(realpath(rel, fixtures));
    free(rel);
    cr_assert_neq(asprintf(&text, "database:\n  url: sqlite:bot.db\nhistory:\n  path: h.db\n"
                           "plugin_dir: %s\nhttp:\n  listen: 127.0.0.1:%d\n"
                           "schedule:\n  on_startup: false\n  interval: 1h\n"
                           "steps:\n  - plugin: fixture\n", fixtures, port), -1);
    char *cfg = th_path(th_tmpdir(), "svc.yaml"), *bin = th_path(th_build(), "reconciler");
    th_write(cfg, text);
    free(text);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_WRONLY);
        if (null < 0)
            _exit(127);
        dup2(null, 1);
        dup2(null, 2);
        execl(bin, bin, "run", "-c", cfg, (char *)NULL);
        _exit(127);
    }
    free(cfg);
    free(bin);
    /* The API comes up before anything else. */
    for (int i = 0; i < 500; i++) {
        th_response r;
        if (th_http(port, "GET", "/healthz", NULL, NULL, &r) == 0) {
            th_response_free(&r);
            return pid;
        }
        struct timespec ts = { 0, 20 * 1000000L };
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    cr_assert_fail("the service did not answer /healthz within 10 s");
    return -1;
}

/* GET path: its status; *error the "error" text when there is one (malloc'd) or NULL. */
static int get(int port, const char *path, char **error)
{
    th_response r;
    cr_assert_eq(th_http(port, "GET", path, NULL, NULL, &r), 0, "%s", path);
    json_t *j = json_loads(r.body ? r.body : "", 0, NULL);
    const char *e = json_string_value(json_object_get(j, "error"));
    *error = e ? strdup(e) : NULL;
    json_decref(j);
    int status = r.status;
    th_response_free(&r);
    return status;
}

Test(api_numbers, limit_and_run_id_are_strict, .timeout = 30)
{
    int port = th_free_port();
    pid_t pid = start_service(port);
    static const struct { const char *path; int status; const char *error; } cases[] = {
        { "/v1/reconciliation/history?limit=1", 200, NULL },
        { "/v1/reconciliation/history?limit=1000", 200, NULL },
        { "/v1/reconciliation/history?limit=%2B5", 200, NULL },
        /* '+' in a query is a space ("+5" is " 5"). */
        { "/v1/reconciliation/history?limit=+5", 400,
          "limit must be a whole number from 1 to 1000, got ' 5'" },
        { "/v1/reconciliation/history?limit=007", 200, NULL },
        /* strtoll took leading spaces: no longer. */
        { "/v1/reconciliation/history?limit=%205", 400,
          "limit must be a whole number from 1 to 1000, got ' 5'" },
        { "/v1/reconciliation/history?limit=5%20", 400,
          "limit must be a whole number from 1 to 1000, got '5 '" },
        { "/v1/reconciliation/history?limit=0x10", 400,
          "limit must be a whole number from 1 to 1000, got '0x10'" },
        { "/v1/reconciliation/history?limit=0", 400, "limit must be from 1 to 1000, got '0'" },
        { "/v1/reconciliation/history?limit=1001", 400, "limit must be from 1 to 1000, got '1001'" },
        { "/v1/reconciliation/history?limit=99999999999999999999", 400,
          "limit must be from 1 to 1000, got '99999999999999999999'" },
        { "/v1/reconciliation/runs/abc", 400,
          "a run id is a whole number from 1 to 9223372036854775807, got 'abc'" },
        { "/v1/reconciliation/runs/0", 400, "a run id is a whole number from 1 to "
                                            "9223372036854775807, got '0', which is out of range" },
        { "/v1/reconciliation/runs/9223372036854775808", 400,
          "a run id is a whole number from 1 to 9223372036854775807, got "
          "'9223372036854775808', which is out of range" },
        { "/v1/reconciliation/runs/9223372036854775807", 404, "no finished run "
                                                              "9223372036854775807 in the history" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *error;
        int status = get(port, cases[i].path, &error);
        cr_expect_eq(status, cases[i].status, "%s: %d %s", cases[i].path, status,
                     error ? error : "");
        if (cases[i].error)
            cr_expect(error && strcmp(error, cases[i].error) == 0, "%s:\ngot  %s\nwant %s",
                      cases[i].path, error ? error : "(none)", cases[i].error);
        free(error);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}
