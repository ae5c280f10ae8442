/* SPDX-License-Identifier: MIT */
/* test_prom.c - the Prometheus text format writer. */
#include "helpers.h"
#include "service/prom.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* b's text (taken) must equal want. */
static void assert_text(strbuf *b, const char *want)
{
    char *got = sb_take(b);
    cr_assert_str_eq(got, want, "got:\n%s\nwant:\n%s", got, want);
    free(got);
    cr_assert_null(b->s, "sb_take resets the buffer");
    cr_assert_eq(b->len, 0);
}

Test(prom, family_and_plain_sample)
{
    strbuf b = STRBUF_INIT;
    prom_family(&b, "reconciler_runs_total", "counter", "Runs by status.");
    prom_sample(&b, "reconciler_runs_total", 3, NULL);
    assert_text(&b, "# HELP reconciler_runs_total Runs by status.\n"
                    "# TYPE reconciler_runs_total counter\n"
                    "reconciler_runs_total 3\n");
}

Test(prom, help_escaping)
{
    strbuf b = STRBUF_INIT;
    prom_family(&b, "x", "gauge", "a\\b\nc \"q\"");
    assert_text(&b, "# HELP x a\\\\b\\nc \"q\"\n# TYPE x gauge\n");
}

Test(prom, labels_escaped)
{
    strbuf b = STRBUF_INIT;
    prom_sample(&b, "steps_total", 1, "step", "leases", "status", "ok", NULL);
    prom_sample(&b, "steps_total", 2, "step", "a\"b\\c\nd", NULL);
    prom_sample(&b, "steps_total", 0, "step", "", NULL);
    assert_text(&b, "steps_total{step=\"leases\",status=\"ok\"} 1\n"
                    "steps_total{step=\"a\\\"b\\\\c\\nd\"} 2\n"
                    "steps_total{step=\"\"} 0\n");
}

Test(prom, number_formatting)
{
    strbuf b = STRBUF_INIT;
    prom_sample(&b, "a", 1733000000, NULL);
    prom_sample(&b, "a", -5, NULL);
    prom_sample(&b, "a", -0.0, NULL);
    prom_sample(&b, "a", 0.1, NULL);
    prom_sample(&b, "a", 0.25, NULL);
    prom_sample(&b, "a", 1.0 / 3, NULL);
    prom_sample(&b, "a", 1733000000.5, NULL);
    prom_sample(&b, "a", 1e20, NULL);
    prom_sample(&b, "a", NAN, NULL);
    prom_sample(&b, "a", INFINITY, NULL);
    prom_sample(&b, "a", -INFINITY, NULL);
    assert_text(&b, "a 1733000000\n"
                    "a -5\n"
                    "a 0\n"
                    "a 0.1\n"
                    "a 0.25\n"
                    "a 0.3333333333333333\n"
                    "a 1733000000.5\n"
                    "a 1e+20\n"
                    "a NaN\n"
                    "a +Inf\n"
                    "a -Inf\n");
}

Test(prom, values_read_back_exactly)
{
    const double vals[] = { 0.1 + 0.2, 1e-7, 123456.789, 5e-324, 1.7976931348623157e308 };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        strbuf b = STRBUF_INIT;
        prom_sample(&b, "v", vals[i], NULL);
        char *s = sb_take(&b);
        cr_assert_eq(strtod(s + 2, NULL), vals[i], "%s", s);
        cr_assert_null(strchr(s + 2, ' '), "%s", s);
        free(s);
    }
}

Test(prom, histogram_cumulative)
{
    strbuf b = STRBUF_INIT;
    const double bounds[] = { 0.005, 0.5, 1, 2.5 };
    const uint64_t counts[] = { 1, 0, 3, 2, 4 };
    prom_family(&b, "run_seconds", "histogram", "Run duration.");
    prom_histogram(&b, "run_seconds", bounds, counts, 4, 31.25, NULL);
    assert_text(&b, "# HELP run_seconds Run duration.\n"
                    "# TYPE run_seconds histogram\n"
                    "run_seconds_bucket{le=\"0.005\"} 1\n"
                    "run_seconds_bucket{le=\"0.5\"} 1\n"
                    "run_seconds_bucket{le=\"1\"} 4\n"
                    "run_seconds_bucket{le=\"2.5\"} 6\n"
                    "run_seconds_bucket{le=\"+Inf\"} 10\n"
                    "run_seconds_sum 31.25\n"
                    "run_seconds_count 10\n");
}

Test(prom, histogram_with_labels_and_no_bounds)
{
    strbuf b = STRBUF_INIT;
    const double bounds[] = { 1 };
    const uint64_t counts[] = { 2, 1 };
    prom_histogram(&b, "step_seconds", bounds, counts, 1, 3, "step", "x\"y", NULL);
    const uint64_t only[] = { 5 };
    prom_histogram(&b, "h", NULL, only, 0, 0.5, NULL);
    assert_text(&b, "step_seconds_bucket{step=\"x\\\"y\",le=\"1\"} 2\n"
                    "step_seconds_bucket{step=\"x\\\"y\",le=\"+Inf\"} 3\n"
                    "step_seconds_sum{step=\"x\\\"y\"} 3\n"
                    "step_seconds_count{step=\"x\\\"y\"} 3\n"
                    "h_bucket{le=\"+Inf\"} 5\n"
                    "h_sum 0.5\n"
                    "h_count 5\n");
}

Test(prom, buffer_grows_and_ends_with_newline)
{
    strbuf b = STRBUF_INIT;
    char *empty = sb_take(&b);
    cr_assert_str_eq(empty, "");
    free(empty);
    for (int i = 0; i < 2000; i++)
        prom_sample(&b, "many_total", i, "i", "some label value to make lines long", NULL);
    cr_assert_eq(strlen(b.s), b.len);
    cr_assert_eq(b.s[b.len - 1], '\n');
    cr_assert(strstr(b.s, "many_total{i=\"some label value to make lines long\"} 1999\n"));
    size_t lines = 0;
    for (size_t i = 0; i < b.len; i++)
        lines += b.s[i] == '\n';
    cr_assert_eq(lines, 2000);
    sb_printf(&b, "%s", "");
    sb_free(&b);
    cr_assert_null(b.s);
}
