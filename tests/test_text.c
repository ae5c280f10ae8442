/* SPDX-License-Identifier: MIT */
/*
 * test_text.c - text at the edges: foreign text never vanishes (invalid
 * UTF-8 and long messages from plugins reach the result, history, the JSON
 * log and processing_job_logs repaired; values JSON cannot hold are refused
 * loudly), and the one integer parser and the one name rule every caller
 * shares.
 */
#include "helpers.h"
#include "engine/runner.h"
#include "base/text.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define FFFD "\xEF\xBF\xBD"

Test(text, valid_and_invalid)
{
    cr_assert(text_valid("", 0));
    cr_assert(text_valid("plain ascii", 11));
    cr_assert(text_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
    static const char *const bad[] = {
        "\xff", "\xfe", "\xc0\xaf" /* overlong '/' */, "\xe0\x80\xaf" /* overlong */,
        "\xed\xa0\x80" /* surrogate */, "\xf4\x90\x80\x80" /* > U+10FFFF */,
        "\xc3" /* cut */, "\xe2\x82" /* cut */, "\x80" /* lone continuation */,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(text_valid(bad[i], strlen(bad[i])), "case %zu accepted", i);
    cr_assert_not(text_valid("a\0b", 3), "a NUL inside is not text");
}

Test(text, repair_replaces_and_cuts_on_boundaries)
{
    char *r = text_repair("a\xff" "b\xe2\x82" "c", 0);
    cr_assert_str_eq(r, "a" FFFD "b" FFFD FFFD "c");
    free(r);
    r = text_repair(NULL, 0);
    cr_assert_str_eq(r, "");
    free(r);
    /* "é" is two bytes: a cut at 4 bytes keeps "xé" (3) rather than half of the next. */
    r = text_repair("x\xc3\xa9\xc3\xa9", 4);
    cr_assert_str_eq(r, "x\xc3\xa9");
    free(r);
    r = text_repair("x\xc3\xa9\xc3\xa9", 5);
    cr_assert_str_eq(r, "x\xc3\xa9\xc3\xa9", "exactly the limit fits");
    free(r);
    /* A replacement that would not fit whole is dropped. */
    r = text_repair("ab\xff", 4);
    cr_assert_str_eq(r, "ab");
    free(r);

    /* What snprintf leaves when it cuts inside the second "é". */
    char buf[8];
    memcpy(buf, "abcd\xc3\xa9\xc3", 7);
    buf[7] = '\0';
    cr_assert_not(text_valid(buf, strlen(buf)));
    text_repair_buf(buf, sizeof buf);
    cr_assert(text_valid(buf, strlen(buf)), "%s", buf);
    cr_assert_str_eq(buf, "abcd\xc3\xa9");
}

/* The run through the real binary: --json result, JSON log on stderr. */
static int run_cli(rig *r, char **out, char **err)
{
    char *pw = NULL;
    if (r->t.password)
        cr_assert_neq(asprintf(&pw, "RECONCILER_DB_PASSWORD=%s", r->t.password), -1);
    const char *args[] = { "run", "--once", "--json", "--log-format", "json", "-c", r->yaml, NULL };
    const char *env[] = { pw, NULL };
    int rc = th_run_cli(args, env, out, err);
    free(pw);
    return rc;
}

/* Every stderr line is a JSON object; the one about the step carries want. */
static void assert_json_log(const char *err, const char *want)
{
    int found = 0;
    char *copy = strdup(err), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        cr_assert_not_null(o, "log line is not JSON (%s): %s", je.text, line);
        const char *msg = json_string_value(json_object_get(o, "msg"));
        cr_assert_not_null(msg, "%s", line);
        found |= strstr(msg, want) != NULL;
        json_decref(o);
    }
    free(copy);
    cr_assert(found, "no log line holds '%s':\n%s", want, err);
}

static json_t *loads(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    cr_assert_not_null(j, "not JSON (%s): %s", je.text, text);
    return j;
}

/* The failed step, its message (repaired) everywhere the run is recorded. */
static void assert_recorded(rig *r, const char *out, const char *err, const char *want)
{
    json_t *res = loads(out);
    cr_assert_str_eq(json_string_value(json_object_get(res, "status")), "partial", "%s", out);
    json_t *st = json_array_get(json_object_get(res, "steps"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(st, "status")), "failed", "%s", out);
    const char *e = json_string_value(json_object_get(st, "error"));
    cr_assert(e && strstr(e, want), "steps[0].error: %s", out);
    const char *e2 = json_string_value(json_array_get(json_object_get(res, "errors"), 0));
    cr_assert(e2 && strstr(e2, want), "errors[0]: %s", out);
    /* The summary counts it too: "1 ok, 1 failed". */
    assert_json_log(err, "1 ok, 1 failed");
    assert_json_log(err, want);

    cr_assert_eq(th_count(r->t.conn, "SELECT COUNT(*) FROM processing_job_logs WHERE job_id = 0"),
                 1);
    json_decref(res);

    /* History, read back by the CLI. */
    const char *args[] = { "history", "--run", "1", "-c", r->yaml, NULL };
    char *hout = NULL;
    cr_assert_eq(th_run_cli(args, NULL, &hout, NULL), 0);
    json_t *h = loads(hout);
    st = json_array_get(json_object_get(h, "steps"), 0);
    e = json_string_value(json_object_get(st, "error"));
    cr_assert(e && strstr(e, want), "history: %s", hout);
    json_decref(h);
    free(hout);
}

static int details_row(void *user, const rc_value *c, size_t n)
{
    char **out = user;
    if (n >= 1 && c[0].type == RC_TEXT)
        *out = strdup(c[0].s);
    return 1;
}

static void assert_job_log_holds(rig *r, const char *want)
{
    char *details = NULL;
    cr_assert_eq(db_query(r->t.conn, "SELECT details FROM processing_job_logs WHERE job_id = 0",
                          NULL, 0, details_row, &details), 0, "%s", db_errmsg(r->t.conn));
    cr_assert_not_null(details);
    json_t *d = loads(details);
    const char *e = json_string_value(json_object_get(
        json_array_get(json_object_get(d, "steps"), 0), "error"));
    cr_assert(e && strstr(e, want), "details: %s", details);
    json_decref(d);
    free(details);
}

DB_TEST(text, invalid_utf8_failure_is_recorded_repaired)
{
    rig r;
    char *out = NULL, *err = NULL;
    rig_up(&r, kind, "tests/plugins",
           "  - plugin: fixture\n    options: { fail_text: invalid }\n"
           "  - plugin: fixture\n    name: second\n");
    cr_assert_eq(run_cli(&r, &out, &err), 1, "%s", err);
    const char *want = "bad bytes " FFFD FFFD " here, a cut character " FFFD FFFD " and the end";
    assert_recorded(&r, out, err, want);
    assert_job_log_holds(&r, want);
    free(out);
    free(err);
    rig_down(&r);
}

DB_TEST(text, long_failure_is_cut_on_a_character_boundary)
{
    rig r;
    char *out = NULL, *err = NULL;
    rig_up(&r, kind, "tests/plugins",
           "  - plugin: fixture\n    options: { fail_text: long }\n"
           "  - plugin: fixture\n    name: second\n");
    cr_assert_eq(run_cli(&r, &out, &err), 1, "%s", err);
    json_t *res = loads(out);
    const char *e = json_string_value(json_object_get(
        json_array_get(json_object_get(res, "steps"), 0), "error"));
    cr_assert_not_null(e, "%s", out);
    cr_assert(text_valid(e, strlen(e)));
    cr_assert_leq(strlen(e), 4096, "kept at most 4096 bytes, got %zu", strlen(e));
    cr_assert_geq(strlen(e), 4000, "the message is kept, not dropped: %zu bytes", strlen(e));
    cr_assert_eq(e[0], 'x');
    cr_assert_null(strstr(e, FFFD), "a clean cut needs no replacement character");
    json_decref(res);
    assert_recorded(&r, out, err, "x\xc3\xa9\xc3\xa9");
    assert_job_log_holds(&r, "x\xc3\xa9\xc3\xa9");
    free(out);
    free(err);
    rig_down(&r);
}

/* Values JSON cannot hold: the API call fails and the step says why. */
DB_TEST(text, result_values_json_cannot_hold_are_refused)
{
    static const struct { const char *opt, *why; } cases[] = {
        { "utf8", "result 'fixture.bad': the value is not valid UTF-8" },
        { "nan", "result 'fixture.bad': NaN is not a number JSON can hold" },
        { "inf", "result 'fixture.bad': an infinite value is not a number JSON can hold" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rig r;
        char steps[128];
        snprintf(steps, sizeof steps, "  - plugin: fixture\n    options: { bad_result: %s }\n",
                 cases[i].opt);
        rig_up(&r, kind, "tests/plugins", steps);
        json_t *res = NULL;
        cr_assert_eq(rig_run(&r, NULL, 0, &res), RUN_FAILED);
        json_t *st = json_array_get(json_object_get(res, "steps"), 0);
        cr_assert_str_eq(json_string_value(json_object_get(st, "status")), "failed");
        cr_assert_str_eq(json_string_value(json_object_get(st, "error")), cases[i].why,
                         "%s", cases[i].opt);
        json_decref(res);
        rig_down(&r);
    }
}

/* ------------------------------------------------- numbers and names */

Test(text, int_accepts_plain_decimal)
{
    static const struct { const char *s; int64_t v; } good[] = {
        { "0", 0 }, { "42", 42 }, { "-42", -42 }, { "+7", 7 }, { "010", 10 }, { "-0", 0 },
        { "9223372036854775807", INT64_MAX }, { "-9223372036854775808", INT64_MIN },
        { "00000000000000000000000001", 1 },
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        int64_t v = 12345;
        cr_expect_eq(text_int(good[i].s, INT64_MIN, INT64_MAX, &v), TEXT_OK, "'%s'", good[i].s);
        cr_expect_eq(v, good[i].v, "'%s' gave %lld", good[i].s, (long long)v);
    }
}

Test(text, int_refuses_everything_else_as_syntax)
{
    static const char *const bad[] = {
        "", " 1", "1 ", "\t1", "1\n", "+", "-", "--1", "+-1", "0x10", "0X10", "1e3", "1.5",
        "1_000", "1,000", "12abc", "abc", "٣", "99999999999999999999x", "- 1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t v = 12345;
        cr_expect_eq(text_int(bad[i], INT64_MIN, INT64_MAX, &v), TEXT_SYNTAX, "'%s'", bad[i]);
        cr_expect_eq(v, 12345, "'%s': *out untouched", bad[i]);
    }
}

Test(text, int_range_both_sides_of_each_bound)
{
    int64_t v = 0;
    /* The bounds of the caller. */
    cr_assert_eq(text_int("1", 1, 1000, &v), TEXT_OK);
    cr_assert_eq(v, 1);
    cr_assert_eq(text_int("0", 1, 1000, &v), TEXT_RANGE);
    cr_assert_eq(text_int("1000", 1, 1000, &v), TEXT_OK);
    cr_assert_eq(v, 1000);
    cr_assert_eq(text_int("1001", 1, 1000, &v), TEXT_RANGE);
    cr_assert_eq(text_int("-1", 1, 1000, &v), TEXT_RANGE);
    cr_assert_eq(v, 1000, "untouched on refusal");
    /* The bounds of 64 bits. */
    cr_assert_eq(text_int("9223372036854775807", 0, INT64_MAX, &v), TEXT_OK);
    cr_assert_eq(v, INT64_MAX);
    cr_assert_eq(text_int("9223372036854775808", INT64_MIN, INT64_MAX, &v), TEXT_RANGE);
    cr_assert_eq(text_int("-9223372036854775808", INT64_MIN, INT64_MAX, &v), TEXT_OK);
    cr_assert_eq(v, INT64_MIN);
    cr_assert_eq(text_int("-9223372036854775809", INT64_MIN, INT64_MAX, &v), TEXT_RANGE);
    cr_assert_eq(text_int("99999999999999999999999999", INT64_MIN, INT64_MAX, &v), TEXT_RANGE);
}

Test(text, names_one_rule)
{
    char name[80];
    memset(name, 'a', 64);
    name[64] = '\0';
    cr_assert(text_name_ok(name, 0), "64 is the most");
    cr_assert(text_name_ok(name, TEXT_NAME_DOT));
    name[64] = 'a';
    name[65] = '\0';
    cr_assert_not(text_name_ok(name, 0), "65 is one too many");
    cr_assert_not(text_name_ok(name, TEXT_NAME_DOT));
    cr_assert_not(text_name_ok("", 0));
    cr_assert(text_name_ok("a", 0));
    cr_assert(text_name_ok("A-b_C9", 0));
    cr_assert(text_name_ok("9", 0));
    cr_assert_not(text_name_ok("a.b", 0), "a dot nests in result keys");
    cr_assert(text_name_ok("a.b", TEXT_NAME_DOT), "plugin options may have dots");
    static const char *const bad[] = { "a b", "../x", "a/b", "a\\b", "é", "a:b", "a\n", "*" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_not(text_name_ok(bad[i], 0), "'%s'", bad[i]);
        cr_expect_not(text_name_ok(bad[i], TEXT_NAME_DOT), "'%s'", bad[i]);
    }
    cr_assert_str_eq(text_name_rule(0), "1 to 64 letters, digits, '_' or '-'");
    cr_assert_str_eq(text_name_rule(TEXT_NAME_DOT), "1 to 64 letters, digits, '_', '.' or '-'");
}
