/* SPDX-License-Identifier: MIT */
/* test_dotkey.c - dotted result keys. */
#include "helpers.h"
#include "engine/dotkey.h"

#include <string.h>

Test(dotkey, dotted_keys_nest)
{
    char err[256];
    json_t *o = json_object();
    cr_assert_eq(dotkey_set(o, "jobs.byStatus.retry", json_integer(3), err, sizeof err), 0, "%s", err);
    cr_assert_eq(dotkey_set(o, "jobs.byStatus.failed", json_integer(1), err, sizeof err), 0, "%s", err);
    cr_assert_eq(dotkey_set(o, "leasesRepaired", json_integer(5), err, sizeof err), 0, "%s", err);
    cr_assert_eq(dotkey_set(o, "leasesRepaired", json_integer(6), err, sizeof err), 0, "%s", err);
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(s, "{\"jobs\":{\"byStatus\":{\"failed\":1,\"retry\":3}},\"leasesRepaired\":6}");
    free(s);
    json_decref(o);
}

Test(dotkey, refuses_bad_keys)
{
    char err[256];
    json_t *o = json_object();
    cr_assert_eq(dotkey_set(o, "", json_integer(1), err, sizeof err), -1);
    cr_assert_eq(dotkey_set(o, "a..b", json_integer(1), err, sizeof err), -1);
    cr_assert(strstr(err, "empty part"), "%s", err);
    cr_assert_eq(dotkey_set(o, "a.", json_integer(1), err, sizeof err), -1);
    cr_assert_eq(dotkey_set(o, "n", json_integer(1), err, sizeof err), 0);
    cr_assert_eq(dotkey_set(o, "n.x", json_integer(1), err, sizeof err), -1);
    cr_assert(strstr(err, "passes through 'n'"), "%s", err);
    json_decref(o);
}
