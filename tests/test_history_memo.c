/* SPDX-License-Identifier: MIT */
/*
 * test_history_memo.c - history pages kept while the store is unchanged
 * (engine/page_memo.c) are never stale: a run begun, finished or notified
 * through the same handle, a write by another handle of the process, and a
 * write by another connection to the file each show in the next page; and
 * pages of different limits, keyset positions and filters, asked in turn,
 * never answer for one another.
 */
#include "helpers.h"
#include "db/db.h"
#include "engine/history.h"

#include <string.h>

static json_t *result_of(int64_t id, const char *status)
{
    json_t *r = json_pack("{s:I, s:s, s:I, s:I, s:[]}", "runId", (json_int_t)id, "status",
                          status, "durationMs", (json_int_t)5, "rowsChanged", (json_int_t)id,
                          "steps");
    cr_assert_not_null(r);
    return r;
}

static int64_t add_run(history *h, const char *status)
{
    int64_t id = 0;
    cr_assert_eq(history_begin(h, "scheduled", 0, 1000, &id), 0, "%s", history_error(h));
    json_t *r = result_of(id, status);
    cr_assert_eq(history_finish(h, id, 1005, r), 0, "%s", history_error(h));
    json_decref(r);
    return id;
}

/* The first page's newest run: its id and status; *total the count. */
static int64_t newest(history *h, const history_filter *f, int64_t limit, int64_t before,
                      const char **status, int64_t *total)
{
    json_t *page = history_page_filter(h, f, limit, before, total);
    cr_assert_not_null(page, "%s", history_error(h));
    json_t *first = json_array_get(page, 0);
    int64_t id = first ? json_integer_value(json_object_get(first, "runId")) : 0;
    static char st[32];
    snprintf(st, sizeof st, "%s", first ? json_string_value(json_object_get(first, "status")) : "");
    if (status)
        *status = st;
    json_decref(page);
    return id;
}

static history *open_store(const char *name, char **path)
{
    char err[512];
    history *h = NULL;
    *path = th_path(th_tmpdir(), name);
    cr_assert_eq(history_open(*path, 1000, HISTORY_BUSY_DEFAULT_MS, &h, err, sizeof err), 0,
                 "%s", err);
    return h;
}

Test(history_memo, own_writes_show_in_the_next_page)
{
    char *path;
    history *h = open_store("own.db", &path);
    const char *st;
    int64_t total;
    add_run(h, "success");
    int64_t second = add_run(h, "success");
    cr_assert_eq(newest(h, NULL, 10, 0, &st, &total), second);
    cr_assert_eq(total, 2);
    /* Asked again, unchanged: the same answer. */
    cr_assert_eq(newest(h, NULL, 10, 0, &st, &total), second);
    cr_assert_eq(total, 2);
    /* A run begun: it leads the page, not yet finished. */
    int64_t third = 0;
    cr_assert_eq(history_begin(h, "manual", 0, 2000, &third), 0);
    cr_assert_eq(newest(h, NULL, 10, 0, &st, &total), third);
    cr_assert_eq(total, 3);
    cr_assert_str_eq(st, "running");
    /* Finished: its status changes, the count does not. */
    json_t *r = result_of(third, "failed");
    cr_assert_eq(history_finish(h, third, 2005, r), 0);
    json_decref(r);
    cr_assert_eq(newest(h, NULL, 10, 0, &st, &total), third);
    cr_assert_str_eq(st, "failed");
    /* A notification of it shows too. */
    history_notification n = { "chat", "failed", "delivered", 200, 1, NULL };
    cr_assert_eq(history_notified(h, third, &n), 0);
    json_t *page = history_page_filter(h, NULL, 10, 0, &total);
    cr_assert_eq(json_array_size(json_object_get(json_array_get(page, 0), "notifications")), 1,
                 "%s", json_dumps(page, 0));
    json_decref(page);
    history_close(h);
    free(path);
}

Test(history_memo, other_handles_and_connections_writes_show)
{
    char err[512], *path;
    history *w = open_store("other.db", &path);
    history *rd = NULL;
    cr_assert_eq(history_open_read(path, &rd, err, sizeof err), 0, "%s", err);
    const char *st;
    int64_t total;
    int64_t first = add_run(w, "success");
    cr_assert_eq(newest(rd, NULL, 10, 0, &st, &total), first);
    cr_assert_eq(newest(rd, NULL, 10, 0, &st, &total), first);
    /* Another handle of the process writes. */
    int64_t second = add_run(w, "partial");
    cr_assert_eq(newest(rd, NULL, 10, 0, &st, &total), second);
    cr_assert_str_eq(st, "partial");
    cr_assert_eq(total, 2);
    /* A connection of its own (another process, as far as SQLite knows) writes. */
    db *d = NULL;
    db_url u = { .kind = DB_SQLITE, .path = path };
    db_options o = { 0 };
    cr_assert_eq(db_open(&u, &o, &d, err, sizeof err), DB_OK, "%s", err);
    rc_value p[] = { rc_int(second) };
    cr_assert_eq(db_exec(d, "UPDATE runs SET status = 'failed' WHERE id = ?", p, 1, NULL), 0,
                 "%s", db_errmsg(d));
    db_close(d);
    cr_assert_eq(newest(rd, NULL, 10, 0, &st, &total), second);
    cr_assert_str_eq(st, "failed", "a page older than the file's last commit was served");
    history_close(rd);
    history_close(w);
    free(path);
}

Test(history_memo, pages_of_different_asks_never_answer_for_one_another)
{
    char *path;
    history *h = open_store("asks.db", &path);
    int64_t id[6];
    for (int i = 0; i < 6; i++)
        id[i] = add_run(h, i % 2 ? "failed" : "success");
    history_filter failed = { NULL, "failed", NULL, NULL, NULL };
    history_filter empty_job = { "", NULL, NULL, NULL, NULL };
    for (int round = 0; round < 3; round++) {
        int64_t total;
        json_t *one = history_page_filter(h, NULL, 1, 0, &total);
        json_t *two = history_page_filter(h, NULL, 2, 0, &total);
        cr_assert_eq(json_array_size(one), 1);
        cr_assert_eq(json_array_size(two), 2);
        json_decref(one);
        json_decref(two);
        const char *st;
        cr_assert_eq(newest(h, NULL, 10, id[3], &st, &total), id[2], "round %d", round);
        cr_assert_eq(newest(h, &failed, 10, 0, &st, &total), id[5]);
        cr_assert_eq(total, 3);
        cr_assert_eq(newest(h, &failed, 10, id[5], &st, &total), id[3]);
        cr_assert_eq(newest(h, NULL, 10, 0, &st, &total), id[5]);
        cr_assert_eq(total, 6);
        /* job="" is a filter of its own, not the unfiltered page. */
        newest(h, &empty_job, 10, 0, &st, &total);
        cr_assert_eq(total, 0, "job=\"\" answered as no filter (%lld runs)", (long long)total);
    }
    history_close(h);
    free(path);
}
