/* stop.c - see stop.h. */
#include "base/stop.h"

#include <signal.h>

static volatile sig_atomic_t g_stop;

void stop_request(void)
{
    g_stop = 1;
}

int stop_requested(void)
{
    return g_stop != 0;
}
