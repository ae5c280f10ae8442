/* SPDX-License-Identifier: MIT */
/* test_options.c - typed option values and a step's options checked against a plugin's table. */
#include "helpers.h"
#include "config/options.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- durations */

static const struct {
    const char *text;
    int64_t ms;
} good_durations[] = {
    { "0", 0 },
    { "30", 30000 },
    { "0s", 0 },
    { "250ms", 250 },
    { "30s", 30000 },
    { "5m", 300000 },
    { "6h", 21600000 },
    { "1d", 86400000 },
    { "1h30m", 5400000 },
    { "1m30s", 90000 },
    { "1d2h3m4s5ms", 93784005 },
    { "90m", 5400000 },
    { "007s", 7000 },
    { "9223372036854775807ms", INT64_MAX },
    { "9223372036854775s", INT64_C(9223372036854775000) },
    { "9223372036854775s807ms", INT64_MAX },
};

static const char *const bad_durations[] = {
    "", "s", "ms", "-5s", "-5", "+5s", "1.5h", "5 s", " 5s", "5s ", "5S", "5sec", "5x", "1h30", "30m1h",
    "1s1s", "5mm", "1ms1s", "h1", "1e3s", "0x10s",
};

static const char *const overflow_durations[] = {
    "9223372036854775808ms",  /* INT64_MAX + 1 */
    "9223372036854776s",      /* INT64_MAX / 1000 + 1 */
    "9223372036854776",       /* the same as a bare number */
    "106751991168d",          /* INT64_MAX ms is 106751991167 days and a bit */
    "9223372036854775s808ms", /* each part fits, the sum does not */
    "99999999999999999999999h",
};

Test(options, durations_good)
{
    for (size_t i = 0; i < sizeof good_durations / sizeof *good_durations; i++) {
        int64_t ms = -1;
        cr_expect_eq(duration_parse(good_durations[i].text, &ms), 0, "'%s' refused",
                     good_durations[i].text);
        cr_expect_eq(ms, good_durations[i].ms, "'%s' gave %lld, want %lld", good_durations[i].text,
                     (long long)ms, (long long)good_durations[i].ms);
    }
}

Test(options, durations_bad)
{
    for (size_t i = 0; i < sizeof bad_durations / sizeof *bad_durations; i++) {
        int64_t ms = 12345;
        cr_expect_eq(duration_parse(bad_durations[i], &ms), -1, "'%s' accepted as %lld",
                     bad_durations[i], (long long)ms);
        char err[512];
        opt_value v;
        cr_expect_eq(opt_parse(RC_OPT_DURATION, bad_durations[i], &v, err, sizeof err), -1);
        char want[128];
        snprintf(want, sizeof want, "got '%s'", bad_durations[i]);
        cr_expect(strstr(err, "expects a duration") && strstr(err, want), "'%s': %s",
                  bad_durations[i], err);
    }
}

Test(options, durations_overflow)
{
    for (size_t i = 0; i < sizeof overflow_durations / sizeof *overflow_durations; i++) {
        int64_t ms = 12345;
        char err[512];
        opt_value v;
        cr_expect_eq(duration_parse(overflow_durations[i], &ms), -1, "'%s' accepted as %lld",
                     overflow_durations[i], (long long)ms);
        cr_expect_eq(opt_parse(RC_OPT_DURATION, overflow_durations[i], &v, err, sizeof err), -1);
        cr_expect(strstr(err, "too long"), "'%s': %s", overflow_durations[i], err);
    }
}

Test(options, duration_messages)
{
    char err[512];
    opt_value v;
    cr_assert_eq(opt_parse(RC_OPT_DURATION, "-5s", &v, err, sizeof err), -1);
    cr_assert_str_eq(err, "expects a duration of 0 or more, got '-5s'");
    cr_assert_eq(opt_parse(RC_OPT_DURATION, "soon", &v, err, sizeof err), -1);
    cr_assert_str_eq(err, "expects a duration (whole numbers with units d, h, m, s, ms, largest "
                          "first, e.g. 30s or 1h30m), got 'soon'");
    cr_assert_eq(opt_parse(RC_OPT_DURATION, "1h30m", &v, err, sizeof err), 0, "%s", err);
    cr_assert_eq(v.i, 5400000);
    cr_assert_eq(v.type, RC_OPT_DURATION);
}

/* Help and messages print ranges with it: the largest unit first, nothing zero shown. */
Test(options, duration_format)
{
    static const struct { int64_t ms; const char *text; } cases[] = {
        { 0, "0s" }, { 1, "1ms" }, { 999, "999ms" }, { 1000, "1s" }, { 1500, "1s500ms" },
        { 90000, "1m30s" }, { 3600000, "1h" }, { 86400000, "1d" }, { 86400001, "1d1ms" },
        { INT64_C(31536000000), "365d" }, { 93784005, "1d2h3m4s5ms" }, { -1, "-" },
        { INT64_MAX, "106751991167d7h12m55s807ms" },
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        duration_format(cases[i].ms, out, sizeof out);
        cr_expect_str_eq(out, cases[i].text, "%lld", (long long)cases[i].ms);
        /* What it prints parses back to the same value. */
        int64_t back = -1;
        if (cases[i].ms >= 0)
            cr_expect(duration_parse(out, &back) == 0 && back == cases[i].ms, "%s", out);
    }
    char tiny[4];
    duration_format(93784005, tiny, sizeof tiny);
    cr_assert_str_eq(tiny, "1d2", "cut, never overrun");
}

/* ------------------------------------------------------- the other types */

Test(options, integers)
{
    static const struct {
        const char *text;
        int64_t v;
    } good[] = {
        { "0", 0 }, { "42", 42 }, { "-42", -42 }, { "+7", 7 }, { "010", 10 }, { "-0", 0 },
        { "9223372036854775807", INT64_MAX }, { "-9223372036854775808", INT64_MIN },
    };
    static const char *const bad[] = { "", "abc", "12abc", "1.5", "0x10", " 1", "1 ", "+", "-",
                                       "1e3", "--1", "1_000" };
    char err[512];
    opt_value v;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        cr_expect_eq(opt_parse(RC_OPT_INT, good[i].text, &v, err, sizeof err), 0, "'%s': %s",
                     good[i].text, err);
        cr_expect_eq(v.i, good[i].v, "'%s'", good[i].text);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_eq(opt_parse(RC_OPT_INT, bad[i], &v, err, sizeof err), -1, "'%s' accepted", bad[i]);
        char want[128];
        snprintf(want, sizeof want, "expects an integer, got '%s'", bad[i]);
        cr_expect_str_eq(err, want);
    }
    cr_assert_eq(opt_parse(RC_OPT_INT, "9223372036854775808", &v, err, sizeof err), -1);
    cr_assert_str_eq(err, "expects an integer from -9223372036854775808 to 9223372036854775807, "
                          "got '9223372036854775808'");
    cr_assert_eq(opt_parse(RC_OPT_INT, "-9223372036854775809", &v, err, sizeof err), -1);
    cr_assert(strstr(err, "from -9223372036854775808"), "%s", err);
    /* Text after too many digits is a syntax error, not a range error. */
    cr_assert_eq(opt_parse(RC_OPT_INT, "99999999999999999999x", &v, err, sizeof err), -1);
    cr_assert_str_eq(err, "expects an integer, got '99999999999999999999x'");
}

Test(options, booleans)
{
    static const char *const yes[] = { "true", "TRUE", "True", "yes", "YES", "on", "On" };
    static const char *const no[] = { "false", "FALSE", "no", "No", "off", "OFF" };
    static const char *const bad[] = { "", "1", "0", "y", "n", "truee", "enabled" };
    char err[512];
    opt_value v;
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        cr_expect_eq(opt_parse(RC_OPT_BOOL, yes[i], &v, err, sizeof err), 0, "%s", yes[i]);
        cr_expect_eq(v.b, 1, "%s", yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        v.b = 7;
        cr_expect_eq(opt_parse(RC_OPT_BOOL, no[i], &v, err, sizeof err), 0, "%s", no[i]);
        cr_expect_eq(v.b, 0, "%s", no[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_expect_eq(opt_parse(RC_OPT_BOOL, bad[i], &v, err, sizeof err), -1, "'%s'", bad[i]);
    cr_assert_eq(opt_parse(RC_OPT_BOOL, "maybe", &v, err, sizeof err), -1);
    cr_assert_str_eq(err, "expects a boolean (true/false, yes/no, on/off), got 'maybe'");
}

Test(options, doubles)
{
    static const struct {
        const char *text;
        double v;
    } good[] = { { "0", 0 }, { "2.25", 2.25 }, { "-1.5", -1.5 }, { "1e3", 1000 }, { ".5", 0.5 },
                 { "+3", 3 }, { "5.", 5 } };
    static const char *const bad[] = { "", "abc", "1.5x", "0x10", "inf", "-inf", "nan", "NAN",
                                       " 1", "1 ", "1e", ".", "1,5" };
    char err[512];
    opt_value v;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        cr_expect_eq(opt_parse(RC_OPT_DOUBLE, good[i].text, &v, err, sizeof err), 0, "'%s': %s",
                     good[i].text, err);
        cr_expect_eq(v.d, good[i].v, "'%s'", good[i].text);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_eq(opt_parse(RC_OPT_DOUBLE, bad[i], &v, err, sizeof err), -1, "'%s' accepted",
                     bad[i]);
        char want[128];
        snprintf(want, sizeof want, "expects a number, got '%s'", bad[i]);
        cr_expect_str_eq(err, want);
    }
    cr_assert_eq(opt_parse(RC_OPT_DOUBLE, "1e999", &v, err, sizeof err), -1);
    cr_assert_str_eq(err, "expects a finite number, got '1e999'");
}

Test(options, strings_and_names)
{
    char err[512];
    opt_value v;
    cr_assert_eq(opt_parse(RC_OPT_STRING, "any thing: at all", &v, err, sizeof err), 0);
    cr_assert_str_eq(v.s, "any thing: at all");
    opt_value_free(&v);
    cr_assert_null(v.s);
    cr_assert_eq(opt_parse((rc_opt_type)9, "x", &v, err, sizeof err), -1);
    cr_assert_str_eq(opt_type_name(RC_OPT_STRING), "string");
    cr_assert_str_eq(opt_type_name(RC_OPT_INT), "int");
    cr_assert_str_eq(opt_type_name(RC_OPT_BOOL), "bool");
    cr_assert_str_eq(opt_type_name(RC_OPT_DOUBLE), "double");
    cr_assert_str_eq(opt_type_name(RC_OPT_DURATION), "duration");
}

/* ----------------------------------------------------------- the table */

static const rc_option sample[] = {
    { "max_attempts", RC_OPT_INT, "3", "tries" },
    { "label", RC_OPT_STRING, "hello", "" },
    { "ratio", RC_OPT_DOUBLE, "0.5", "" },
    { "dry", RC_OPT_BOOL, "no", "" },
    { "pause", RC_OPT_DURATION, "1m30s", "" },
    { "table", RC_OPT_STRING, NULL, "required" },
    RC_OPTIONS_END,
};

static const rc_option no_options[] = { RC_OPTIONS_END };

Test(options, table_check)
{
    char err[512];
    cr_assert_eq(opt_table_check(sample, err, sizeof err), 0, "%s", err);
    cr_assert_eq(opt_table_check(no_options, err, sizeof err), 0, "%s", err);
    cr_assert_eq(opt_table_check(NULL, err, sizeof err), 0, "%s", err);

    static const rc_option bad_default[] = { { "limit", RC_OPT_INT, "lots", "" }, RC_OPTIONS_END };
    cr_assert_eq(opt_table_check(bad_default, err, sizeof err), -1);
    cr_assert_str_eq(err, "option 'limit': default expects an integer, got 'lots'");

    static const rc_option bad_type[] = { { "x", (rc_opt_type)42, "1", "" }, RC_OPTIONS_END };
    cr_assert_eq(opt_table_check(bad_type, err, sizeof err), -1);
    cr_assert_str_eq(err, "option 'x': unknown type 42");

    static const rc_option dup[] = { { "x", RC_OPT_INT, "1", "" }, { "y", RC_OPT_INT, "1", "" },
                                     { "x", RC_OPT_BOOL, "on", "" }, RC_OPTIONS_END };
    cr_assert_eq(opt_table_check(dup, err, sizeof err), -1);
    cr_assert_str_eq(err, "option 'x' is declared twice");

    static const rc_option noname[] = { { "x", RC_OPT_INT, "1", "" }, { NULL, RC_OPT_INT, "1", "" },
                                        RC_OPTIONS_END };
    cr_assert_eq(opt_table_check(noname, err, sizeof err), -1);
    cr_assert_str_eq(err, "option 2 has no name (end the table with RC_OPTIONS_END)");

    static const rc_option badname[] = { { "a b", RC_OPT_INT, "1", "" }, RC_OPTIONS_END };
    cr_assert_eq(opt_table_check(badname, err, sizeof err), -1);
    cr_assert(strstr(err, "option 1: name 'a b'"), "%s", err);

    static const rc_option empty_name[] = { { "", RC_OPT_INT, "1", "" }, RC_OPTIONS_END };
    cr_assert_eq(opt_table_check(empty_name, err, sizeof err), -1);
}

Test(options, names_list)
{
    char out[256];
    opt_names(sample, out, sizeof out);
    cr_assert_str_eq(out, "max_attempts, label, ratio, dry, pause, table");
    opt_names(no_options, out, sizeof out);
    cr_assert_str_eq(out, "");
    char small[10];
    opt_names(sample, small, sizeof small);
    cr_assert_eq(strlen(small), 9, "truncated, still terminated: '%s'", small);
}

/* ------------------------------------------------------ a step's options */

static yt_node *steps_yaml(const char *text)
{
    char err[1024];
    yt_node *root = NULL;
    cr_assert_eq(yt_load_string(text, "p.yaml", &root, err, sizeof err), 0, "%s", err);
    return root;
}

/* Build with map = root's "options" value; returns the message or NULL on success. */
static const char *build(const rc_option *defs, const char *text, opt_set *out)
{
    static char err[2048];
    yt_node *root = steps_yaml(text);
    int rc = opt_set_build(defs, yt_get(root, "options"), "p.yaml", "s1", out, err, sizeof err);
    yt_free(root);
    if (rc == 0)
        return NULL;
    cr_assert_null(out->values, "nothing left to free on failure");
    return err;
}

Test(options, set_defaults_and_given_values)
{
    opt_set s;
    const char *e = build(sample, "options:\n  table: jobs\n  max_attempts: 5\n  dry: on\n", &s);
    cr_assert_null(e, "%s", e);
    cr_assert_eq(s.n, 6);
    cr_assert_eq(opt_set_get(&s, "max_attempts", RC_OPT_INT)->i, 5);
    cr_assert_str_eq(opt_set_get(&s, "table", RC_OPT_STRING)->s, "jobs");
    cr_assert_eq(opt_set_get(&s, "dry", RC_OPT_BOOL)->b, 1);
    /* defaults */
    cr_assert_str_eq(opt_set_get(&s, "label", RC_OPT_STRING)->s, "hello");
    cr_assert_eq(opt_set_get(&s, "ratio", RC_OPT_DOUBLE)->d, 0.5);
    cr_assert_eq(opt_set_get(&s, "pause", RC_OPT_DURATION)->i, 90000);
    /* by name and type only */
    cr_assert_null(opt_set_get(&s, "max_attempts", RC_OPT_STRING));
    cr_assert_null(opt_set_get(&s, "nope", RC_OPT_INT));
    cr_assert_null(opt_set_get(NULL, "table", RC_OPT_STRING));
    opt_set_free(&s);
    opt_set_free(&s); /* twice is harmless */
}

Test(options, set_unknown_option_lists_valid_ones)
{
    opt_set s;
    cr_assert_str_eq(build(sample, "step: x\noptions:\n  table: t\n  max_atempts: 5\n", &s),
                     "p.yaml:4:3: step 's1': unknown option 'max_atempts'; valid options: "
                     "max_attempts, label, ratio, dry, pause, table");
    cr_assert_str_eq(build(no_options, "options: { foo: 1 }\n", &s),
                     "p.yaml:1:12: step 's1': unknown option 'foo'; plugin takes no options");
    cr_assert_str_eq(build(NULL, "options: { foo: 1 }\n", &s),
                     "p.yaml:1:12: step 's1': unknown option 'foo'; plugin takes no options");
}

Test(options, set_wrong_type_names_option)
{
    opt_set s;
    cr_assert_str_eq(build(sample, "options:\n  table: t\n  max_attempts: abc\n", &s),
                     "p.yaml:3:17: step 's1': option 'max_attempts' expects an integer, got 'abc'");
    cr_assert_str_eq(build(sample, "options:\n  table: t\n  dry: maybe\n", &s),
                     "p.yaml:3:8: step 's1': option 'dry' expects a boolean (true/false, yes/no, "
                     "on/off), got 'maybe'");
    cr_assert_str_eq(build(sample, "options: { table: t, ratio: much }\n", &s),
                     "p.yaml:1:29: step 's1': option 'ratio' expects a number, got 'much'");
    const char *e = build(sample, "options: { table: t, pause: 5 minutes }\n", &s);
    cr_assert(strstr(e, "p.yaml:1:29: step 's1': option 'pause' expects a duration"), "%s", e);
    cr_assert_str_eq(build(sample, "options:\n  table: t\n  max_attempts: { a: 1 }\n", &s),
                     "p.yaml:3:17: step 's1': option 'max_attempts' expects an integer, got a mapping");
    cr_assert_str_eq(build(sample, "options:\n  table: [a, b]\n", &s),
                     "p.yaml:2:10: step 's1': option 'table' expects a string, got a list");
}

Test(options, set_required_missing)
{
    opt_set s;
    cr_assert_str_eq(build(sample, "x: 1\noptions:\n  max_attempts: 4\n", &s),
                     "p.yaml:3:3: step 's1': missing required option 'table' (a string)");
    cr_assert_str_eq(build(sample, "x: 1\noptions: {}\n", &s),
                     "p.yaml:2:10: step 's1': missing required option 'table' (a string)");
    /* No map at all: nothing to point at but the file. */
    cr_assert_str_eq(build(sample, "x: 1\n", &s),
                     "p.yaml: step 's1': missing required option 'table' (a string)");
}

Test(options, set_options_must_be_mapping)
{
    opt_set s;
    cr_assert_str_eq(build(sample, "options: [a]\n", &s),
                     "p.yaml:1:10: step 's1': 'options' expects a mapping, got a list");
}

Test(options, set_without_options_takes_defaults)
{
    opt_set s;
    static const rc_option all_defaults[] = { { "n", RC_OPT_INT, "7", "" }, RC_OPTIONS_END };
    cr_assert_null(build(all_defaults, "x: 1\n", &s));
    cr_assert_eq(opt_set_get(&s, "n", RC_OPT_INT)->i, 7);
    opt_set_free(&s);
    cr_assert_null(build(NULL, "x: 1\n", &s));
    cr_assert_eq(s.n, 0);
    opt_set_free(&s);
}
