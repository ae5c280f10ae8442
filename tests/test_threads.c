/* SPDX-License-Identifier: MIT */
/*
 * test_threads.c - the process's signals are handled on the main thread
 * only. A SIGTERM handled on the database stop watcher's thread raced with
 * the main thread closing the wake pipe at the end (make tsan reported it):
 * every thread of the core now starts through util_thread_start, with
 * SIGINT, SIGTERM, SIGHUP and SIGPIPE blocked.
 */
#include "helpers.h"
#include "base/util.h"

#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void *mask_of(void *arg)
{
    pthread_sigmask(SIG_BLOCK, NULL, arg);
    return NULL;
}

Test(threads, a_started_thread_has_the_process_signals_blocked)
{
    sigset_t before, after, inside;
    pthread_sigmask(SIG_BLOCK, NULL, &before);
    cr_assert_not(sigismember(&before, SIGTERM), "the test itself starts with SIGTERM open");
    pthread_t t;
    cr_assert_eq(util_thread_start(&t, NULL, mask_of, &inside), 0);
    pthread_join(t, NULL);
    const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        cr_assert(sigismember(&inside, sigs[i]), "signal %d open in the new thread", sigs[i]);
    /* The caller's own mask is as it was. */
    pthread_sigmask(SIG_BLOCK, NULL, &after);
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        cr_assert_eq(sigismember(&after, sigs[i]), sigismember(&before, sigs[i]));
    cr_assert_not(sigismember(&inside, SIGUSR1), "only the process's signals are blocked");
}

/* Files under core/ that call pthread_create themselves, joined by spaces. */
static char g_direct[4096];

static int scan(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    size_t n = strlen(path);
    if (type != FTW_F || n < 2 || strcmp(path + n - 2, ".c") != 0)
        return 0;
    /* util.c is the helper itself; http.c blocks the signals around MHD_start_daemon,
     * whose threads libmicrohttpd creates, and starts its reaper in that same window. */
    if (strcmp(path, "core/base/util.c") == 0 || strcmp(path, "core/service/http.c") == 0)
        return 0;
    char *text = th_read(path);
    cr_assert_not_null(text, "cannot read %s", path);
    if (strstr(text, "pthread_create(")) {
        strncat(g_direct, path, sizeof g_direct - strlen(g_direct) - 2);
        strcat(g_direct, " ");
    }
    free(text);
    return 0;
}

Test(threads, every_thread_of_the_core_starts_through_util_thread_start)
{
    g_direct[0] = '\0';
    cr_assert_eq(nftw("core", scan, 16, FTW_PHYS), 0, "cannot walk core/ (run from the tree)");
    cr_assert_str_empty(g_direct, "pthread_create called directly (use util_thread_start): %s",
                        g_direct);
    char *http = th_read("core/service/http.c");
    cr_assert_not_null(http);
    cr_assert_not_null(strstr(http, "util_block_signals("),
                       "http.c starts its threads with the signals blocked");
    free(http);
}
