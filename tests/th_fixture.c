/* SPDX-License-Identifier: MIT */
/* th_fixture.c - see th_fixture.h. */
#include "th_fixture.h"

#include <string.h>

static th_db g_db;
static svc g_svc;
static int g_have_db, g_have_svc;

th_db *fx_db(db_kind kind)
{
    cr_assert_not(g_have_db, "fx_db twice in one test");
    migrated(kind, &g_db);
    g_have_db = 1;
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

void fx_fini(void)
{
    if (g_have_svc)
        svc_free(&g_svc); /* kills it first if it still runs */
    if (g_have_db)
        th_db_destroy(&g_db);
    g_have_svc = g_have_db = 0;
}
