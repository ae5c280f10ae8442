/* SPDX-License-Identifier: MIT */
/*
 * test_history_ids.c - the run-id floor (history_fallback_id) belongs to its
 * handle, not to the process: two stores in one process (two services) do
 * not push each other's ids up, while the two handles a service has on one
 * file (history_share_ids) hand out ids above everything either has seen.
 */
#include "helpers.h"
#include "engine/history.h"

static history *open_at(const char *name)
{
    char err[512];
    history *h = NULL;
    char *path = th_path(th_tmpdir(), name);
    cr_assert_eq(history_open(path, 100, HISTORY_BUSY_DEFAULT_MS, &h, err, sizeof err), 0, "%s",
                 err);
    free(path);
    return h;
}

static int64_t begin(history *h)
{
    int64_t id = 0;
    cr_assert_eq(history_begin(h, "manual", 0, 1000, &id), 0, "%s", history_error(h));
    return id;
}

Test(history_ids, two_stores_keep_their_own_floor)
{
    history *a = open_at("a.db"), *b = open_at("b.db");
    for (int i = 0; i < 5; i++)
        begin(a);
    int64_t fa = history_fallback_id(a);
    cr_assert_eq(fa, 6, "a's fallback id: %lld", (long long)fa);
    /* b has seen nothing of a's: its fallback is just above its own file's ids. */
    cr_assert_eq(history_fallback_id(b), 1);
    cr_assert_eq(begin(b), 2, "b's next recorded run starts above its own fallback id");
    cr_assert_eq(begin(a), 7, "a's next recorded run starts above its own fallback id");
    history_close(a);
    history_close(b);
}

Test(history_ids, two_handles_on_one_file_share_it)
{
    history *run = open_at("one.db");
    for (int i = 0; i < 3; i++)
        begin(run);
    history *api = open_at("one.db");
    begin(api); /* 4: seen by api only */
    history_share_ids(api, run);
    int64_t f = history_fallback_id(run);
    cr_assert_eq(f, 5, "the run handle's fallback is above the API handle's id: %lld",
                 (long long)f);
    cr_assert_eq(history_fallback_id(api), 6);
    cr_assert_eq(begin(run), 7);
    history_close(run); /* the API handle keeps the shared floor */
    cr_assert_eq(history_fallback_id(api), 8);
    history_close(api);
}
