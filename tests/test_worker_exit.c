/* SPDX-License-Identifier: MIT */
/*
 * test_worker_exit.c - a step worker that ends uncleanly after its last
 * reply (what a heap it corrupted, or LeakSanitizer's exit 1 under `make
 * asan`, looks like) changes no outcome, but the supervisor says so: the
 * check that lets workers/leaking_plugin_runs fail.
 */
#include "helpers.h"
#include "th_fixture.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

Test(worker_exit, unclean_exit_after_the_last_reply_is_said, .timeout = 30, SVC_FIXTURE)
{
    th_pipe *r = fx_pipe(DB_SQLITE, "tests/plugins", NULL, "",
                         "  - plugin: misbehave\n    options: { how: exit3_at_end }\n"
                         "  - plugin: fixture\n");
    int rc = th_pipe_once(r);
    cr_assert_eq(rc, 0, "%s", r->err);
    cr_assert_str_eq(th_str(th_step(r->res, 0), "status"), "ok");
    cr_assert_str_eq(th_str(th_step(r->res, 1), "status"), "ok");
    cr_assert(strstr(r->err, "step worker") &&
              strstr(r->err, "exited with status 3 after its last step"),
              "nothing said of the worker's exit 3:\n%s", r->err);
}

/* The other side: a worker that ends cleanly is not mentioned. */
Test(worker_exit, clean_exit_is_not_mentioned, .timeout = 30, SVC_FIXTURE)
{
    th_pipe *r = fx_pipe(DB_SQLITE, "tests/plugins", NULL, "",
                         "  - plugin: misbehave\n    options: { how: none }\n"
                         "  - plugin: fixture\n");
    int rc = th_pipe_once(r);
    cr_assert_eq(rc, 0, "%s", r->err);
    cr_assert_null(strstr(r->err, "after its last step"), "%s", r->err);
}
