/*
 * test_header.c - include/reconciler.h itself: its inline conveniences on
 * values C cannot convert (NaN, out of range), and the size hazards fixed
 * around it (libmicrohttpd's start-up message).
 */
#include "helpers.h"
#include "engine/host.h"
#include "service/http.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------- rc__count_row */

static int64_t count_of(rc_value v, int64_t before)
{
    int64_t out = before;
    rc__count_row(&out, &v, 1);
    return out;
}

/* A double C cannot convert leaves the count as it was; (int64_t)NaN is undefined. */
Test(header, count_row_converts_only_what_int64_holds)
{
    cr_assert_eq(count_of(rc_double(12.9), 0), 12, "cut toward zero");
    cr_assert_eq(count_of(rc_double(-12.9), 0), -12);
    cr_assert_eq(count_of(rc_int(7), 0), 7);
    cr_assert_eq(count_of(rc_null(), 5), 5, "NULL leaves it");
    cr_assert_eq(count_of(rc_double(NAN), 5), 5, "NaN leaves it");
    cr_assert_eq(count_of(rc_double(INFINITY), 5), 5);
    cr_assert_eq(count_of(rc_double(-INFINITY), 5), 5);
    /* Both sides of each end: -2^63 fits, the next double below does not; 2^63 does not,
     * the double below it does. */
    cr_assert_eq(count_of(rc_double(-9223372036854775808.0), 5), INT64_MIN);
    cr_assert_eq(count_of(rc_double(nextafter(-9223372036854775808.0, -INFINITY)), 5), 5);
    cr_assert_eq(count_of(rc_double(9223372036854775808.0), 5), 5);
    double below = nextafter(9223372036854775808.0, 0.0);
    cr_assert_eq(count_of(rc_double(below), 5), (int64_t)below);
    cr_assert_eq(count_of(rc_double(1e300), 5), 5);
}

/* rc_count through the real table on SQLite: a value it cannot hold fails the step. */
Test(header, rc_count_refuses_a_value_int64_cannot_hold)
{
    th_db t;
    th_db_create(DB_SQLITE, &t);
    cfg_step cs = { .name = "counter" };
    pipeline_step ps = { .cfg = &cs };
    step_run sr = { .ps = &ps, .d = t.conn, .results = json_object() };
    rc_ctx ctx;
    host_ctx_init(&ctx, &sr);
    int64_t n = -1;

    cr_assert_eq(rc_count(&ctx, "SELECT 41.9", NULL, 0, &n), RC_OK);
    cr_assert_eq(n, 41);
    cr_assert_null(sr.error);
    cr_assert_eq(rc_count(&ctx, "SELECT -9223372036854775808.0", NULL, 0, &n), RC_OK);
    cr_assert_eq(n, INT64_MIN);
    cr_assert_eq(rc_count(&ctx, "SELECT NULL", NULL, 0, &n), RC_OK);
    cr_assert_eq(n, 0);

    cr_assert_eq(rc_count(&ctx, "SELECT 9223372036854775808.0", NULL, 0, &n), RC_ERROR);
    cr_assert_eq(n, 0, "no made-up count: %lld", (long long)n);
    cr_assert(sr.error && strstr(sr.error, "rc_count") && strstr(sr.error, "9.22337e+18"),
              "%s", sr.error ? sr.error : "(no error)");
    free(sr.error);
    sr.error = NULL;
    sr.error_set_by_plugin = 0;
    cr_assert_eq(rc_count(&ctx, "SELECT 1e999", NULL, 0, &n), RC_ERROR, "infinity");
    cr_assert(sr.error && strstr(sr.error, "inf"), "%s", sr.error ? sr.error : "(no error)");
    free(sr.error);
    json_decref(sr.results);
    th_db_destroy(&t);
}

/* ------------------------------------------------- http_start_reason */

Test(header, http_start_reason_never_reads_past_the_message)
{
    cr_assert_str_eq(http_start_reason("Failed to bind to port 3006: Address already in use"),
                     "Address already in use");
    cr_assert_str_eq(http_start_reason("Failed to bind to port 3006:Busy"), "Busy");
    cr_assert_str_eq(http_start_reason("Some other failure: why"), "Some other failure: why");
    cr_assert_str_eq(http_start_reason("Failed to bind"), "Failed to bind");
    /* A colon at the very end: reason + 2 used to point past the NUL, here at "XYZ". */
    static const char tail[] = "Failed to bind to port 3006:\0XYZ";
    cr_assert_str_eq(http_start_reason(tail), "Failed to bind to port 3006:");
    static const char spaces[] = "Failed to bind to port 3006:   \0XYZ";
    cr_assert_str_eq(http_start_reason(spaces), spaces);
}
