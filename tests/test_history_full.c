/* SPDX-License-Identifier: MIT */
/*
 * test_history_full.c - the history store on a nearly full filesystem (a
 * small tmpfs; root only, else the test skips): after a write fails for want
 * of space, the store checkpoints and truncates its WAL as soon as it can,
 * so the space the WAL grew into comes back and the store goes on by itself
 * once room is freed, every run still readable.
 */
#include "helpers.h"
#include "engine/history.h"
#include "th_disk.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A finished run's result with about 6 KiB of step errors: a few pages each. */
static json_t *bulky_result(int64_t id)
{
    char text[6144];
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    return json_pack("{s:I, s:s, s:I, s:[{s:s, s:s, s:s, s:I, s:s}]}", "runId", (json_int_t)id,
                     "status", "partial", "durationMs", (json_int_t)5, "steps", "name", "a",
                     "plugin", "fixture", "status", "failed", "durationMs", (json_int_t)1,
                     "error", text);
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* Record one whole run; 0, or -1 when either write failed. */
static int record(history *h, int64_t *id)
{
    if (history_begin(h, "manual", 0, 1000, id) != 0)
        return -1;
    json_t *r = bulky_result(*id);
    int rc = history_finish(h, *id, 1005, r);
    json_decref(r);
    return rc;
}

Test(history_full, wal_gives_its_space_back_after_a_failed_write, .fini = th_unmount_disk,
     .timeout = 30)
{
    char err[512];
    char *dir = th_small_disk("full", "2m");
    char *path = th_path(dir, "history.db"), *wal = NULL;
    cr_assert_neq(asprintf(&wal, "%s-wal", path), -1);
    history *h = NULL;
    cr_assert_eq(history_open(path, 1000, 0, &h, err, sizeof err), 0, "%s", err);

    /* Twenty runs: all in the WAL still (far below SQLite's automatic checkpoint). */
    int64_t id = 0, ok = 0;
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(record(h, &id), 0, "run %d: %s", i, history_error(h));
        ok++;
    }
    int64_t wal_before = file_size(wal);
    cr_assert_gt(wal_before, 20 * 4096, "the WAL holds %lld bytes", (long long)wal_before);

    /* Full: writes fail (one may still fit in a page the WAL has). */
    char *filler = th_fill_disk(dir);
    int failed = 0;
    for (int i = 0; i < 50 && !failed; i++) {
        failed = record(h, &id) != 0;
        ok += !failed;
    }
    cr_assert(failed, "no history write failed on a full disk");
    char why[512];
    int64_t since;
    cr_assert_eq(history_write_failing(why, sizeof why, &since), 1);

    /* Room again: the next write succeeds without a restart, and the WAL
     * was checkpointed and truncated first, so it holds that write only. */
    cr_assert_eq(unlink(filler), 0);
    cr_assert_eq(record(h, &id), 0, "no recovery once space is freed: %s", history_error(h));
    ok++;
    cr_assert_eq(history_write_failing(why, sizeof why, &since), 0, "still failing: %s", why);
    int64_t wal_after = file_size(wal);
    cr_assert_lt(wal_after, wal_before / 2, "the WAL still holds %lld bytes (%lld before the "
                 "failure): never truncated", (long long)wal_after, (long long)wal_before);

    /* Every run that was recorded is there, and whole. */
    json_t *runs = history_list(h, 1000);
    cr_assert_not_null(runs, "%s", history_error(h));
    int64_t partial = 0;
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run)
        partial += strcmp(json_string_value(json_object_get(run, "status")), "partial") == 0;
    cr_assert_eq(partial, ok, "%lld whole runs, %lld recorded", (long long)partial, (long long)ok);
    json_decref(runs);
    json_t *last = NULL;
    cr_assert_eq(history_get(h, id, &last), 1, "%s", history_error(h));
    cr_assert_not_null(last);
    cr_assert_eq(json_integer_value(json_object_get(last, "runId")), id);
    json_decref(last);
    history_close(h);
    free(filler);
    free(wal);
    free(path);
    free(dir);
}
