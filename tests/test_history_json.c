/* SPDX-License-Identifier: MIT */
/*
 * test_history_json.c - `reconciler history --json` returns the API's shape:
 * the very page GET /v1/reconciliation/history answers ({runs, total,
 * nextBefore}) for the same limit and before, on the same history file,
 * both pages of it. The real binary, its service over loopback, SQLite.
 */
#include "helpers.h"
#include "th_fixture.h"
#include "th_http.h"
#include "th_svc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUIET "schedule:\n  on_startup: false\n  interval: 1h\n"

static json_t *cli_page(svc *s, const char *limit, const char *before)
{
    char *out = NULL, *err = NULL;
    const char *const args[] = { "history", "--json", "-n", limit, "-c", s->yaml,
                                 before ? "--before" : NULL, before, NULL };
    int rc = th_run_cli(args, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    json_t *page = json_loads(out, 0, NULL);
    cr_assert_not_null(page, "%s", out);
    free(out);
    free(err);
    return page;
}

static void same(json_t *api, json_t *cli)
{
    char *a = json_dumps(api, JSON_SORT_KEYS | JSON_INDENT(1));
    char *c = json_dumps(cli, JSON_SORT_KEYS | JSON_INDENT(1));
    cr_assert(json_equal(api, cli), "the API:\n%s\nhistory --json:\n%s", a, c);
    free(a);
    free(c);
}

Test(history_json, the_cli_page_is_the_apis, .timeout = 60, SVC_FIXTURE)
{
    fx_db(DB_SQLITE);
    svc *s = fx_svc(QUIET, "", "  - plugin: fixture\n");
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    for (int i = 0; i < 3; i++)
        json_decref(wait_run(s, post_run(s, i == 1 ? "?dryRun=true" : "", 202), 10000));

    json_t *api = wait_for(s, "/v1/reconciliation/history?limit=2", 200, 5000);
    json_t *cli = cli_page(s, "2", NULL);
    cr_assert_eq(json_object_size(cli), 3, "runs, total, nextBefore only");
    cr_assert_eq(json_integer_value(json_object_get(cli, "total")), 3);
    cr_assert(json_is_integer(json_object_get(cli, "nextBefore")));
    same(api, cli);

    char before[32], path[96];
    snprintf(before, sizeof before, "%lld",
             (long long)json_integer_value(json_object_get(api, "nextBefore")));
    snprintf(path, sizeof path, "/v1/reconciliation/history?limit=2&before=%s", before);
    json_decref(api);
    json_decref(cli);
    api = wait_for(s, path, 200, 5000);
    cli = cli_page(s, "2", before);
    cr_assert(json_is_null(json_object_get(cli, "nextBefore")), "the last page");
    cr_assert_eq(json_array_size(json_object_get(cli, "runs")), 1);
    same(api, cli);
    json_decref(api);
    json_decref(cli);
    svc_term(s);
}
