/* SPDX-License-Identifier: MIT */
/*
 * test_worker_leak.c - a step worker's LeakSanitizer report fails the test
 * that ran it (rig_run, helpers.c): the supervisor only logs the worker's
 * exit status after its last step, which changes no outcome, so a leak in the
 * worker's own code (a step's error text, say) would otherwise pass `make
 * asan` unseen. Meaningful under AddressSanitizer only: skipped elsewhere.
 */
#include "helpers.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif

/* A leak the plugin does not mark: the worker's report reaches what rig_run reads. */
Test(worker_leak, unmarked_leak_in_a_worker_is_seen, .timeout = 30)
{
    if (!UNDER_ASAN)
        cr_skip_test("no LeakSanitizer in this build (make asan has it)");
    rig r;
    json_t *res = NULL;
    char *said = NULL;
    rig_up(&r, DB_SQLITE, "tests/plugins",
           "  - plugin: misbehave\n    options: { how: leak_unmarked }\n");
    cr_assert_eq(rig_run_said(&r, NULL, 0, &res, &said), RUN_SUCCESS, "%s", said);
    cr_assert(strstr(said, "LeakSanitizer") && strstr(said, "41 byte"),
              "the worker's leak report is not in what the run wrote:\n%s", said);
    cr_assert(strstr(said, "after its last step"), "%s", said);
    json_decref(res);
    free(said);
    rig_down(&r);
}

/* The other side: a leak the plugin marks as meant, and a plain step, say nothing. */
Test(worker_leak, clean_workers_say_nothing, .timeout = 30)
{
    rig r;
    json_t *res = NULL;
    char *said = NULL;
    rig_up(&r, DB_SQLITE, "tests/plugins",
           "  - plugin: misbehave\n    options: { how: leak }\n  - plugin: fixture\n");
    cr_assert_eq(rig_run_said(&r, NULL, 0, &res, &said), RUN_SUCCESS, "%s", said);
    cr_assert_null(strstr(said, "LeakSanitizer"), "%s", said);
    cr_assert_null(strstr(said, "after its last step"), "%s", said);
    json_decref(res);
    free(said);
    rig_down(&r);
}
