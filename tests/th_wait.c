/* SPDX-License-Identifier: MIT */
/* th_wait.c - see th_wait.h. */
#include "th_wait.h"
#include "helpers.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int th_log_count(const char *path, const char *needle)
{
    char *text = th_read(path);
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(text);
    return n;
}

void th_wait_log(const char *path, const char *needle, int n, int ms)
{
    int64_t end = mono_ms() + ms;
    while (th_log_count(path, needle) < n) {
        if (mono_ms() >= end) {
            char *text = th_read(path);
            cr_assert_fail("\"%s\" not %d times in %s within %d ms:\n%s", needle, n, path, ms,
                           text ? text : "(no file)");
        }
        sleep_ms(TH_WAIT_POLL_MS);
    }
}
