/* SPDX-License-Identifier: MIT */
/* test_history.c - the local run-history store: write, read, prune. */
#include "helpers.h"
#include "engine/history.h"

#include <string.h>

static json_t *fake_result(const char *status, int64_t ms)
{
    return json_pack("{s:s, s:I, s:[{s:s, s:s, s:s, s:I, s:o}, {s:s, s:s, s:s, s:I, s:s}]}",
                     "status", status, "durationMs", (json_int_t)ms, "steps",
                     "name", "a", "plugin", "fixture", "status", "ok", "durationMs", (json_int_t)1,
                     "error", json_null(),
                     "name", "b", "plugin", "fixture", "status", "failed", "durationMs", (json_int_t)2,
                     "error", "boom");
}

Test(history, write_read_and_prune)
{
    char err[512];
    history *h = NULL;
    char *path = th_path(th_tmpdir(), "sub/history.db");
    cr_assert_eq(history_open(path, 3, HISTORY_BUSY_DEFAULT_MS, &h, err, sizeof err), 0, "%s", err);

    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(history_begin(h, i % 2 ? "scheduled" : "startup", i == 4, 1000 * i, &ids[i]), 0,
                     "%s", history_error(h));
        if (i > 0)
            cr_assert_gt(ids[i], ids[i - 1]);
        json_t *r = fake_result(i == 3 ? "partial" : "success", 10 + i);
        json_object_set_new(r, "runId", json_integer(ids[i]));
        cr_assert_eq(history_finish(h, ids[i], 1000 * i + 10, r), 0, "%s", history_error(h));
        json_decref(r);
    }
    /* A sixth run started but never finished: listed as running. */
    int64_t running;
    cr_assert_eq(history_begin(h, "manual", 0, 9000, &running), 0);

    json_t *list = history_list(h, 100);
    cr_assert_not_null(list, "%s", history_error(h));
    /* keep_runs 3 was applied at the last finish (5 runs -> 3), then one began. */
    cr_assert_eq(json_array_size(list), 4);
    json_t *first = json_array_get(list, 0);
    cr_assert_eq(json_integer_value(json_object_get(first, "runId")), running);
    cr_assert_str_eq(json_string_value(json_object_get(first, "status")), "running");
    cr_assert(json_is_null(json_object_get(first, "finishedAt")));
    json_t *second = json_array_get(list, 1);
    cr_assert_eq(json_integer_value(json_object_get(second, "runId")), ids[4]);
    cr_assert(json_is_true(json_object_get(second, "dryRun")));
    cr_assert_eq(json_integer_value(json_object_get(second, "durationMs")), 14);
    json_t *steps = json_object_get(second, "steps");
    cr_assert_eq(json_array_size(steps), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(steps, 1), "error")), "boom");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(list, 3), "runId")), ids[2]);
    json_decref(list);

    /* limit is honoured */
    list = history_list(h, 2);
    cr_assert_eq(json_array_size(list), 2);
    json_decref(list);

    /* The full result round-trips; a pruned run is gone. */
    json_t *r = NULL;
    cr_assert_eq(history_get(h, ids[3], &r), 1, "%s", history_error(h));
    cr_assert_not_null(r);
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "partial");
    json_decref(r);
    cr_assert_eq(history_get(h, ids[1], &r), 0);
    cr_assert_null(r);
    history_close(h);

    /* Steps of pruned runs went with them. */
    th_db t = { 0 };
    char *url = NULL;
    cr_assert_neq(asprintf(&url, "sqlite:%s", path), -1);
    db_url u;
    cr_assert_eq(db_url_parse(url, NULL, &u, err, sizeof err), 0);
    db_options o = { 0 };
    cr_assert_eq(db_open(&u, &o, &t.conn, err, sizeof err), DB_OK, "%s", err);
    cr_assert_eq(th_count(t.conn, "SELECT COUNT(*) FROM run_steps"), 6);
    cr_assert_eq(th_count(t.conn, "SELECT COUNT(*) FROM run_steps WHERE run_id < (SELECT MIN(id) FROM runs)"), 0);
    db_close(t.conn);
    db_url_free(&u);
    free(url);
    free(path);
}

Test(history, keep_one_keeps_exactly_one)
{
    char err[512];
    history *h = NULL;
    char *path = th_path(th_tmpdir(), "h1.db");
    cr_assert_eq(history_open(path, 1, HISTORY_BUSY_DEFAULT_MS, &h, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 3; i++) {
        int64_t id;
        cr_assert_eq(history_begin(h, "startup", 0, i, &id), 0);
        json_t *r = fake_result("success", 1);
        cr_assert_eq(history_finish(h, id, i, r), 0, "%s", history_error(h));
        json_decref(r);
    }
    json_t *list = history_list(h, 10);
    cr_assert_eq(json_array_size(list), 1);
    json_decref(list);
    history_close(h);
    free(path);
}

Test(history, open_fails_with_message)
{
    char err[512];
    history *h = (history *)0x1;
    cr_assert_eq(history_open("/proc/nonexistent/dir/h.db", 10, HISTORY_BUSY_DEFAULT_MS, &h, err, sizeof err), -1);
    cr_assert_null(h);
    cr_assert(strstr(err, "/proc/nonexistent/dir"), "%s", err);
}
