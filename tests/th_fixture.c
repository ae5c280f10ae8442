/* SPDX-License-Identifier: MIT */
/* th_fixture.c - see th_fixture.h. */
#include "th_fixture.h"

#include <signal.h>
#include <string.h>

static th_db g_db;
static svc g_svc;
static int g_have_db, g_have_svc;
static th_server g_srv; /* fx_db_private's, when g_srv.dir */
static th_otlp g_rx[FX_OTLP_MAX];
static int g_n_rx;
static th_pipe g_pipe;

th_db *fx_db(db_kind kind)
{
    cr_assert_not(g_have_db, "fx_db twice in one test");
    migrated(kind, &g_db);
    g_have_db = 1;
    return &g_db;
}

th_db *fx_db_empty(db_kind kind)
{
    cr_assert_not(g_have_db, "fx_db_empty twice in one test");
    th_db_create(kind, &g_db);
    g_have_db = 1;
    return &g_db;
}

th_db *fx_db_private(th_server **srv, int with_conn)
{
    cr_assert_not(g_have_db, "fx_db_private twice in one test");
    if (with_conn)
        th_server_private_db(&g_srv, &g_db);
    else
        th_server_private_url(&g_srv, &g_db);
    g_have_db = 1;
    *srv = &g_srv;
    return &g_db;
}

svc *fx_svc(const char *extra, const char *http_extra, const char *steps)
{
    cr_assert(g_have_db, "fx_svc before fx_db");
    cr_assert_not(g_have_svc, "fx_svc twice in one test");
    svc_setup(&g_svc, &g_db, 1, extra, http_extra, steps);
    g_have_svc = 1;
    return &g_svc;
}

svc *fx_svc_jobs(const char *top, const char *jobs)
{
    cr_assert(g_have_db, "fx_svc_jobs before fx_db");
    cr_assert_not(g_have_svc, "fx_svc_jobs twice in one test");
    svc_setup_jobs(&g_svc, &g_db, 1, top, jobs);
    g_have_svc = 1;
    return &g_svc;
}

th_otlp *fx_otlp(int status, int hang_ms)
{
    cr_assert_lt(g_n_rx, FX_OTLP_MAX, "more than %d receivers", FX_OTLP_MAX);
    th_otlp *rx = &g_rx[g_n_rx];
    memset(rx, 0, sizeof *rx);
    th_otlp_start(rx, status, hang_ms);
    g_n_rx++;
    return rx;
}

th_pipe *fx_pipe(db_kind kind, const char *dir1, const char *dir2, const char *extra,
                 const char *steps)
{
    th_pipe_down(&g_pipe);
    th_pipe_up(&g_pipe, kind, dir1, dir2, extra, steps);
    return &g_pipe;
}

void fx_fini(void)
{
    if (g_have_svc)
        svc_free(&g_svc); /* kills it first if it still runs */
    /* After the service: nothing sends to them any more. A test may have stopped one. */
    while (g_n_rx > 0)
        th_otlp_stop(&g_rx[--g_n_rx]);
    if (g_have_db && g_srv.dir) {
        /* A private server: thawed before its connection is closed, then removed. */
        if (g_srv.pid)
            kill(g_srv.pid, SIGCONT);
        th_db_destroy(&g_db);
        th_server_destroy(&g_srv);
    } else if (g_have_db) {
        th_db_destroy(&g_db);
    }
    th_pipe_down(&g_pipe);
    g_have_svc = g_have_db = 0;
}
