/* SPDX-License-Identifier: MIT */
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

/* ------------------------------------------------------- RC_API_HAS */

/* A plugin asks before calling an entry newer than the minor it needs. */
Test(header, api_has_tells_entries_by_the_table_size)
{
    rc_api older = host_api;
    rc_ctx ctx = { sizeof ctx, &host_api, "t", NULL };
    cr_assert(RC_API_HAS(&ctx, log));
    cr_assert(RC_API_HAS(&ctx, db_chunked_by), "this core's own table has every entry");
    /* A 1.2 core's table ends after db_prepare. */
    older.size = (uint32_t)(offsetof(rc_api, db_prepare) + sizeof older.db_prepare);
    ctx.api = &older;
    cr_assert(RC_API_HAS(&ctx, db_prepare));
    cr_assert_not(RC_API_HAS(&ctx, db_chunked_by));
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

/* --------------------------------------------- checked at compile time */

/*
 * Compile src (C, or C++ with a .cc name) with compiler and flags, from the
 * source tree: its exit status, and its messages in *msgs (malloc'd).
 */
static int compile(const char *compiler, const char *name, const char *src, const char *flags,
                   char **msgs)
{
    char *file = th_path(th_tmpdir(), name), *log = th_path(th_tmpdir(), "compile.log");
    char *cmd = NULL;
    th_write(file, src);
    cr_assert_neq(asprintf(&cmd, "%s %s -Iinclude -Icore -D_GNU_SOURCE -c %s -o /dev/null "
                           ">%s 2>&1", compiler, flags, file, log), -1);
    int rc = system(cmd);
    *msgs = th_read(log);
    free(cmd);
    free(file);
    free(log);
    return rc;
}

#define PLUGIN_SRC                                                                   \
    "#include <reconciler.h>\n"                                                     \
    "static int run(rc_ctx *ctx, void *s) { (void)s; return rc_result_int(ctx, \"x\", 1); }\n" \
    "RC_PLUGIN(\"p\", \"d\", \"1\", NULL, NULL, run, NULL)\n"

/* The header's layout checks: a plugin built with flags that move a field fails to compile. */
Test(header, layout_checks_stop_a_plugin_built_with_other_flags, .timeout = 60)
{
    char *m;
    cr_assert_eq(compile("cc", "p.c", PLUGIN_SRC, "-std=c11 -Wall -Wextra -Werror -pedantic", &m),
                 0, "the plain build must compile: %s", m);
    free(m);
    cr_assert_eq(compile("cc", "p.c", PLUGIN_SRC, "-std=c99 -Wall -Wextra -Werror", &m), 0,
                 "C99 (GNU) too: %s", m);
    free(m);
    cr_assert_neq(compile("cc", "p.c", PLUGIN_SRC, "-std=c11 -fshort-enums", &m), 0);
    cr_assert(strstr(m, "rc_opt_type is not int-sized"), "%s", m);
    free(m);
    cr_assert_neq(compile("cc", "p.c", "#pragma pack(4)\n" PLUGIN_SRC, "-std=c11", &m), 0);
    cr_assert(strstr(m, "rc_api.log moved"), "%s", m);
    free(m);
    cr_assert_neq(compile("cc", "p.c", "#pragma pack(2)\n" PLUGIN_SRC, "-std=c11", &m), 0);
    cr_assert(strstr(m, "rc_plugin.name moved"), "%s", m);
    free(m);
}

/* The header is C++ too: static_assert there, and the RC_PLUGIN macro compiles. */
Test(header, compiles_as_cplusplus, .timeout = 60)
{
    char *m;
    cr_assert_eq(compile("clang++", "p.cc", PLUGIN_SRC,
                         "-std=c++11 -Wall -Wextra -Werror -pedantic -fsyntax-only", &m), 0,
                 "%s", m);
    free(m);
    cr_assert_neq(compile("clang++", "p.cc", PLUGIN_SRC, "-std=c++11 -fshort-enums -fsyntax-only",
                          &m), 0);
    cr_assert(strstr(m, "rc_opt_type is not int-sized"), "%s", m);
    free(m);
}

/* RC_PLUGIN_NEEDS_MINOR: raised within the header's minor it is the field; above, an error. */
Test(header, needs_minor_is_bounded_by_the_header, .timeout = 60)
{
    char *m, src[1024];
    snprintf(src, sizeof src, "#define RC_PLUGIN_NEEDS_MINOR %d\n" PLUGIN_SRC
             "_Static_assert(RC_PLUGIN_NEEDS_MINOR == %d, \"kept\");\n", RC_ABI_MINOR,
             RC_ABI_MINOR);
    cr_assert_eq(compile("cc", "p.c", src, "-std=c11 -Wall -Werror", &m), 0, "%s", m);
    free(m);
    snprintf(src, sizeof src, "#define RC_PLUGIN_NEEDS_MINOR %d\n" PLUGIN_SRC, RC_ABI_MINOR + 1);
    cr_assert_neq(compile("cc", "p.c", src, "-std=c11", &m), 0);
    cr_assert(strstr(m, "RC_PLUGIN_NEEDS_MINOR is above this header's RC_ABI_MINOR"), "%s", m);
    free(m);
}

/* A time buffer shorter than RC_TIME_TEXT_SIZE passed to the core is a compile error. */
Test(header, short_time_buffer_is_a_compile_error, .timeout = 60)
{
    char *m;
    static const char fmt[] =
        "#include \"engine/runner.h\"\n"
        "void f(const pipeline *p, db *d);\n"
        "void f(const pipeline *p, db *d) { char now[%d]; json_t *r; char e[9];\n"
        "    runner_probe(p, \"x\", d, &r, now, e, sizeof e); }\n";
    char src[512];
    snprintf(src, sizeof src, fmt, RC_TIME_TEXT_SIZE);
    cr_assert_eq(compile("cc", "t.c", src, "-std=c11 -O2 -Wall -Werror", &m), 0, "%s", m);
    free(m);
    snprintf(src, sizeof src, fmt, RC_TIME_TEXT_SIZE - 1);
    cr_assert_neq(compile("cc", "t.c", src, "-std=c11 -O2 -Wall -Werror", &m), 0);
    cr_assert(strstr(m, "runner_probe"), "%s", m);
    free(m);
}

/* ABI 1.5: a plugin that declares figures compiles as C and C++, and its table is pinned. */
#define FIGURES_SRC                                                                  \
    "#include <reconciler.h>\n"                                                     \
    "static const rc_figure figs[] = { { \"x_total\", \"x\", RC_FIGURE_GAUGE, \"\", "  \
    "\"X.\", NULL }, RC_FIGURES_END };\n"                                             \
    "static int run(rc_ctx *ctx, void *s) { (void)s; return rc_result_int(ctx, \"x\", 1); }\n" \
    "RC_PLUGIN_FIGURES(\"p\", \"d\", \"1\", NULL, NULL, run, NULL, NULL, NULL, figs)\n"

Test(header, figures_table_compiles_and_is_pinned, .timeout = 60)
{
    char *m;
    cr_assert_eq(compile("cc", "p.c", FIGURES_SRC, "-std=c11 -Wall -Wextra -Werror -pedantic", &m),
                 0, "%s", m);
    free(m);
    cr_assert_eq(compile("clang++", "p.cc", FIGURES_SRC,
                         "-std=c++11 -Wall -Wextra -Werror -pedantic -fsyntax-only", &m), 0,
                 "%s", m);
    free(m);
    cr_assert_eq(offsetof(rc_plugin, figures), offsetof(rc_plugin, min_abi_minor) + 8,
                 "figures follows min_abi_minor at the next pointer");
    cr_assert_eq(sizeof(rc_figure), 6 * sizeof(void *));
}
