/* test_text.c - the one integer parser and the one name rule every caller shares. */
#include "helpers.h"
#include "text.h"

#include <string.h>

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
