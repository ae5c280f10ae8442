/* SPDX-License-Identifier: MIT */
/*
 * test_lifetimes.c - a thread left behind at shutdown owns what it uses
 * (docs/ARCHITECTURE.md, "Who owns what at shutdown"): the run lock's close,
 * given up on after 1 s because the database is frozen, runs on after its
 * caller has freed the config, holds the client library while it does (so
 * db_library_end skips the tear-down), and lets go of it once it ends.
 */
#include "helpers.h"
#include "th_server.h"
#include "th_svc.h"
#include "config/config.h"
#include "db/library.h"
#include "engine/runlock.h"

#include <signal.h>
#include <string.h>

static pid_t g_server; /* thawed and killed whatever happens to the test */

static void thaw_server(void)
{
    if (g_server > 0) {
        kill(g_server, SIGCONT);
        kill(g_server, SIGKILL);
    }
}

Test(lifetimes, run_lock_close_left_behind_holds_the_library, .timeout = 60, .fini = thaw_server)
{
    th_server srv;
    th_db t = { .kind = DB_MYSQL };
    svc s;
    char err[512];
    db_url u;

    th_server_start(&srv, NULL);
    g_server = srv.pid;
    t.url = th_server_db(&srv, "bot");
    cr_assert_eq(db_url_parse(t.url, NULL, &u, err, sizeof err), 0, "%s", err);
    cr_assert_eq(db_open(&u, NULL, &t.conn, err, sizeof err), DB_OK, "%s", err);
    db_url_free(&u);
    th_db_migrate(&t);
    /* lock_ttl 12 s: the lock's statements wait 2 s, longer than the close's 1 s. */
    svc_setup(&s, &t, 1, "schedule:\n  lock_ttl: 12s\n", "", "  - plugin: orders\n");
    config *cfg = NULL;
    cr_assert_eq(config_load(s.yaml, &cfg, err, sizeof err), 0, "%s", err);

    runlock *rl = runlock_open(cfg);
    lock_info other;
    cr_assert_eq(runlock_acquire(rl, 0, &other, err, sizeof err), RUNLOCK_TAKEN, "%s", err);
    int before = db_library_holds();
    cr_assert_eq(kill(srv.pid, SIGSTOP), 0);
    int64_t t0 = mono_ms();
    runlock_close(rl); /* its release hangs on the frozen server */
    int64_t took = mono_ms() - t0;
    /* Returned while the release still hangs (the server stays frozen until below). */
    cr_assert_eq(db_library_holds(), before + 1, "the close left behind holds no library");
    config_free(cfg); /* what the caller does next: the close must not need it */
    cr_assert_eq(db_library_end(), 0, "the library was torn down under a thread using it");

    kill(srv.pid, SIGCONT);
    TH_WAIT(db_library_holds() == before, 30000, "the close left behind never ended");
    cr_log_info("lifetimes: runlock_close returned after %lld ms", (long long)took);
    svc_free(&s);
    db_close(t.conn);
    free(t.url);
    th_server_destroy(&srv);
    g_server = 0;
}
