/* SPDX-License-Identifier: MIT */
/* test_changes_api.c - GET /v1/changes on the real service: pages by keyset,
 * one row's records, bad arguments, and the token as on every GET. */
#include "th_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expired_jobs(db *d, int n)
{
    for (int i = 0; i < n; i++)
        cr_assert_eq(db_exec(d, "INSERT INTO processing_jobs (job_type, status, attempts, "
                             "locked_by, locked_until) VALUES ('t', 'processing', 0, 'w', "
                             "'2000-01-01 00:00:00')", NULL, 0, NULL), 0, "%s", db_errmsg(d));
}

DB_TEST(changes_api, pages_and_one_row, .timeout = 40, SVC_FIXTURE)
{
    int st;
    th_db *t = fx_db(kind);
    expired_jobs(t->conn, 5);
    svc *s = fx_svc("schedule:\n  on_startup: false\n  interval: 1h\n", "",
                    "  - plugin: leases\n");
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    int64_t id = post_run(s, "", 202);
    json_t *run = wait_run(s, id, 10000);
    cr_assert_str_eq(json_string_value(json_object_get(run, "status")), "success");
    json_decref(run);
    /* The service keys the run's sets once the run is over: a key row for each record. */
    int64_t until = mono_ms() + th_ms(10000);
    while (th_count(t->conn, "SELECT COUNT(*) FROM reconciler_change_keys") < 5 &&
           mono_ms() < until)
        sleep_ms(20);
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM reconciler_change_keys"), 5);
    cr_assert_eq(th_count(t->conn, "SELECT COUNT(*) FROM reconciler_change_sets WHERE keyed = 0"),
                 0);

    char path[128];
    snprintf(path, sizeof path, "/v1/changes?run=%lld&limit=3", (long long)id);
    json_t *j = get_json(s, path, &st);
    cr_assert_eq(st, 200);
    json_t *list = json_object_get(j, "changes");
    cr_assert_eq(json_array_size(list), 3);
    int64_t next = json_integer_value(json_object_get(j, "nextBefore"));
    cr_assert_eq(next, json_integer_value(json_object_get(json_array_get(list, 2), "id")));
    json_decref(j);
    snprintf(path, sizeof path, "/v1/changes?run=%lld&limit=3&before=%lld", (long long)id,
             (long long)next);
    j = get_json(s, path, &st);
    cr_assert_eq(st, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "changes")), 2);
    cr_assert(json_is_null(json_object_get(j, "nextBefore")), "the last page");
    json_decref(j);

    j = get_json(s, "/v1/changes?table=processing_jobs&key=4", &st);
    cr_assert_eq(st, 200);
    list = json_object_get(j, "changes");
    cr_assert_eq(json_array_size(list), 1);
    json_t *c = json_array_get(list, 0);
    cr_assert_str_eq(json_string_value(json_object_get(c, "key")), "4");
    cr_assert_str_eq(json_string_value(json_object_get(c, "step")), "leases");
    json_t *pair = json_object_get(json_object_get(c, "changes"), "status");
    cr_assert_str_eq(json_string_value(json_array_get(pair, 0)), "processing");
    cr_assert_str_eq(json_string_value(json_array_get(pair, 1)), "retry");
    json_decref(j);

    static const char *const bad[] = { "/v1/changes?key=4", "/v1/changes?limit=0",
                                       "/v1/changes?before=x", "/v1/changes?run=-1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = get_json(s, bad[i], &st);
        cr_assert_eq(st, 400, "%s: %d", bad[i], st);
        json_decref(j);
    }
}

Test(changes_api, token_required, .timeout = 30, SVC_FIXTURE)
{
    th_response r;
    fx_db(DB_SQLITE);
    svc *s = fx_svc("schedule:\n  on_startup: false\n  interval: 1h\n",
                    "  token_env: RT_API_TOKEN\n", "  - plugin: leases\n");
    const char *const env[] = { "RT_API_TOKEN=tok-77ab01", NULL };
    svc_start(s, env);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    cr_assert_eq(th_http(s->port, "GET", "/v1/changes", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 401);
    th_response_free(&r);
    cr_assert_eq(th_http(s->port, "GET", "/v1/changes", "Authorization: Bearer tok-77ab01\r\n",
                         NULL, &r), 0);
    cr_assert_eq(r.status, 200, "%d", r.status);
    th_response_free(&r);
}
