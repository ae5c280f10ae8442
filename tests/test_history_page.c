/* SPDX-License-Identifier: MIT */
/*
 * test_history_page.c - a page of the history in one query (issue 21): the
 * steps and notifications of every run come with it, in order, the count of
 * all runs too, and a run whose text cannot be read back as JSON (bytes
 * that are not UTF-8, written by something else) still lists, repaired.
 */
#include "helpers.h"
#include "db/db.h"
#include "engine/history.h"

#include <string.h>

static json_t *result_of(int64_t id, const char *error)
{
    json_t *r = json_pack("{s:I, s:s, s:I, s:I, s:[{s:s, s:s, s:s, s:I, s:o}, "
                          "{s:s, s:s, s:s, s:I, s:s}]}",
                          "runId", (json_int_t)id, "status", "success", "durationMs",
                          (json_int_t)5, "rowsChanged", (json_int_t)id,
                          "steps", "name", "a", "plugin", "fixture", "status", "ok",
                          "durationMs", (json_int_t)1, "error", json_null(),
                          "name", "b", "plugin", "fixture", "status", "failed",
                          "durationMs", (json_int_t)2, "error", error);
    cr_assert_not_null(r);
    return r;
}

Test(history_page, one_query_carries_steps_notifications_and_total)
{
    char err[512];
    history *h = NULL;
    char *path = th_path(th_tmpdir(), "page.db");
    cr_assert_eq(history_open(path, 1000, HISTORY_BUSY_DEFAULT_MS, &h, err, sizeof err), 0, "%s",
                 err);
    int64_t ids[30];
    for (int i = 0; i < 30; i++) {
        cr_assert_eq(history_begin(h, "scheduled", 0, 1000 * i, &ids[i]), 0);
        json_t *r = result_of(ids[i], "boom");
        cr_assert_eq(history_finish(h, ids[i], 1000 * i + 5, r), 0, "%s", history_error(h));
        json_decref(r);
        history_notification n = { "chat", "failed", "delivered", 200, 1 + i % 3, NULL };
        cr_assert_eq(history_notified(h, ids[i], &n), 0);
        n.event = "recovered";
        n.status = "failed";
        n.http_code = 0;
        n.error = "timeout";
        cr_assert_eq(history_notified(h, ids[i], &n), 0);
    }
    /* Text that is not UTF-8 in one step's error, as a damaged file might hold. */
    db *d = NULL;
    db_url u = { .kind = DB_SQLITE, .path = path };
    db_options o = { 0 };
    cr_assert_eq(db_open(&u, &o, &d, err, sizeof err), DB_OK, "%s", err);
    rc_value p[] = { rc_int(ids[28]) };
    cr_assert_eq(db_exec(d, "UPDATE run_steps SET error = CAST(x'41ff42' AS TEXT) "
                         "WHERE run_id = ? AND seq = 1", p, 1, NULL), 0, "%s", db_errmsg(d));
    db_close(d);

    int64_t total = 0;
    json_t *page = history_page(h, 10, 0, &total);
    cr_assert_not_null(page, "%s", history_error(h));
    cr_assert_eq(total, 30);
    cr_assert_eq(json_array_size(page), 10);
    for (size_t i = 0; i < 10; i++) {
        json_t *run = json_array_get(page, i);
        int64_t id = ids[29 - i];
        cr_assert_eq(json_integer_value(json_object_get(run, "runId")), id);
        cr_assert_eq(json_integer_value(json_object_get(run, "rowsChanged")), id);
        json_t *steps = json_object_get(run, "steps");
        cr_assert_eq(json_array_size(steps), 2, "run %lld", (long long)id);
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(steps, 0), "name")),
                         "a");
        cr_assert(json_is_null(json_object_get(json_array_get(steps, 0), "error")));
        cr_assert_eq(json_integer_value(json_object_get(json_array_get(steps, 1), "durationMs")),
                     2);
        const char *e = json_string_value(json_object_get(json_array_get(steps, 1), "error"));
        if (id == ids[28])
            cr_assert_str_eq(e, "A\xef\xbf\xbd" "B", "repaired, not dropped: %s", e);
        else
            cr_assert_str_eq(e, "boom");
        json_t *notes = json_object_get(run, "notifications");
        cr_assert_eq(json_array_size(notes), 2);
        json_t *n0 = json_array_get(notes, 0), *n1 = json_array_get(notes, 1);
        cr_assert_str_eq(json_string_value(json_object_get(n0, "event")), "failed");
        cr_assert_eq(json_integer_value(json_object_get(n0, "httpCode")), 200);
        cr_assert(json_is_null(json_object_get(n0, "error")));
        cr_assert(json_is_null(json_object_get(n1, "httpCode")));
        cr_assert_str_eq(json_string_value(json_object_get(n1, "error")), "timeout");
    }
    json_decref(page);

    /* The last page, and one past it (no row carries the count there). */
    page = history_page(h, 10, ids[0] + 1, &total);
    cr_assert_eq(json_array_size(page), 1);
    cr_assert_eq(total, 30);
    json_decref(page);
    page = history_page(h, 10, ids[0], &total);
    cr_assert_eq(json_array_size(page), 0);
    cr_assert_eq(total, 30);
    json_decref(page);
    history_close(h);
    free(path);
}

static int64_t page_total(history *h)
{
    int64_t total = -1;
    json_t *page = history_page(h, 1, 0, &total);
    cr_assert_not_null(page, "%s", history_error(h));
    json_decref(page);
    return total;
}

/*
 * The runs' count the file keeps (so that a page reads no COUNT(*)) follows
 * inserts and pruning, and a file from before it gains it with the right
 * value; `reconciler history` on a read-only handle reads it too.
 */
Test(history_page, the_kept_count_follows_inserts_prunes_and_old_files)
{
    char err[512];
    history *h = NULL;
    char *path = th_path(th_tmpdir(), "count.db");
    cr_assert_eq(history_open(path, 5, HISTORY_BUSY_DEFAULT_MS, &h, err, sizeof err), 0, "%s",
                 err);
    for (int i = 0; i < 8; i++) {
        int64_t id;
        cr_assert_eq(history_begin(h, "scheduled", 0, 1000 * i, &id), 0);
        cr_assert_eq(page_total(h), i < 5 ? i + 1 : 6, "run %d begun", i);
        json_t *r = result_of(id, "boom");
        cr_assert_eq(history_finish(h, id, 1000 * i + 5, r), 0, "%s", history_error(h));
        json_decref(r);
        cr_assert_eq(page_total(h), i < 5 ? i + 1 : 5, "run %d finished (keep_runs 5)", i);
    }
    history_close(h);

    /* A file from before the count: rows written without it. */
    db *d = NULL;
    db_url u = { .kind = DB_SQLITE, .path = path };
    db_options o = { 0 };
    cr_assert_eq(db_open(&u, &o, &d, err, sizeof err), DB_OK, "%s", err);
    cr_assert_eq(db_exec_script(d, "DROP TRIGGER runs_counted_in; DROP TRIGGER runs_counted_out;"
                                   "DROP TABLE run_count;"
                                   "INSERT INTO runs (started_at, trigger, status) "
                                   "VALUES ('x', 'manual', 'running');"), 0, "%s", db_errmsg(d));
    db_close(d);
    history *ro = NULL;
    cr_assert_eq(history_open_read(path, &ro, err, sizeof err), 0, "%s", err);
    cr_assert_eq(page_total(ro), 6, "counted without the kept count");
    history_close(ro);
    cr_assert_eq(history_open(path, 5, HISTORY_BUSY_DEFAULT_MS, &h, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(page_total(h), 6, "the kept count starts right");
    history_close(h);
    cr_assert_eq(history_open_read(path, &ro, err, sizeof err), 0, "%s", err);
    cr_assert_eq(page_total(ro), 6, "read back");
    history_close(ro);
    free(path);
}
