/* SPDX-License-Identifier: MIT */
/* th_wait.c - see th_wait.h. */
#include "th_wait.h"
#include "helpers.h"

#include <criterion/hooks.h>
#include <criterion/internal/ordered-set.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

int th_time_scale(void)
{
    const char *v = getenv("TH_TIME_SCALE");
    char *end;
    long n = v ? strtol(v, &end, 10) : 1;
    return v && *v && !*end && n >= 1 && n <= 20 ? (int)n : 1;
}

int th_ms(int ms)
{
    int64_t scaled = (int64_t)ms * th_time_scale();
    return scaled > INT32_MAX ? INT32_MAX : (int)scaled;
}

/*
 * Before the first test (in the runner, which reads each test's timeout when
 * it starts the test): every Criterion .timeout, the suites' too, times
 * TH_TIME_SCALE, so a slower build (make tsan) gets the same margin.
 */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    int k = th_time_scale();
    if (k == 1)
        return;
    FOREACH_SET(struct criterion_suite_set *ss, set->suites) {
        if (ss->suite.data)
            ss->suite.data->timeout *= k;
        FOREACH_SET(struct criterion_test *t, ss->tests) {
            t->data->timeout *= k;
        }
    }
}

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
    ms = th_ms(ms);
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
