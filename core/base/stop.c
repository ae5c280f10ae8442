/* SPDX-License-Identifier: MIT */
/* stop.c - see stop.h. */
#include "base/stop.h"

#include <stdatomic.h>

/*
 * Read by several threads (the run, the supervisor's waits, the HTTP
 * server's handlers), written by a signal handler: an atomic, so that every
 * reader sees the store (a volatile sig_atomic_t orders nothing between
 * threads). A store to a lock-free atomic is async-signal-safe (C11
 * 7.14.1.1p5); one that took a lock could deadlock in the handler, so the
 * build fails where atomic_int is not always lock-free.
 */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "stop_request stores to an atomic_int from a "
                                          "signal handler: it must be lock-free");

static atomic_int g_stop;

void stop_request(void)
{
    atomic_store(&g_stop, 1);
}

int stop_requested(void)
{
    return atomic_load(&g_stop) != 0;
}
