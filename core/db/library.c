/* SPDX-License-Identifier: MIT */
/* library.c - see library.h. */
#include "db/library.h"

#include <mysql.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stddef.h>

static atomic_int g_holds;

void db_library_init(void)
{
    mysql_library_init(0, NULL, NULL);
    sqlite3_initialize();
}

int db_library_end(void)
{
    /*
     * A hold taken after this load is a thread started after main decided
     * to return: none is (every such thread is started by the command, which
     * has returned). So a zero here stays zero.
     */
    if (atomic_load(&g_holds) > 0)
        return 0;
    mysql_library_end();
    sqlite3_shutdown();
    return 1;
}

void db_library_hold(void)
{
    atomic_fetch_add(&g_holds, 1);
}

void db_library_release(void)
{
    atomic_fetch_sub(&g_holds, 1);
}

int db_library_holds(void)
{
    return atomic_load(&g_holds);
}
