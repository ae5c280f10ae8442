/* SPDX-License-Identifier: MIT */
/*
 * test_numbers.c - doubles survive being stored: every JSON the core writes
 * reads back as the same doubles (DBL_MAX included), and one bad value in a
 * stored run (a number an older version wrote with too few digits, or a
 * result that is not JSON at all) never makes the run unreadable.
 */
#include "helpers.h"
#include "base/json.h"
#include "th_fixture.h"
#include "th_svc.h"

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each double, dumped alone and together, reads back as itself. */
Test(numbers, dump_reads_back_as_the_same_double)
{
    static const double v[] = { DBL_MAX, -DBL_MAX, DBL_MIN, 0.1 + 0.2, 0.3, 1.0 / 3.0,
                                5e-324, 12.34, 1e21 };
    json_t *all = json_array();
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        json_t *one = json_pack("{s:f}", "x", v[i]);
        char *text = util_json_dump(one, 0);
        json_t *back = json_loads(text, 0, NULL);
        cr_assert_not_null(back, "%.17g written as %s does not read back", v[i], text);
        cr_assert_eq(json_real_value(json_object_get(back, "x")), v[i], "%.17g became %s", v[i],
                     text);
        json_decref(back);
        free(text);
        json_decref(one);
        json_array_append_new(all, json_real(v[i]));
    }
    char *text = util_json_dump(all, 1);
    json_t *back = json_loads(text, 0, NULL);
    cr_assert_not_null(back, "%s", text);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        cr_assert_eq(json_real_value(json_array_get(back, i)), v[i], "%s", text);
    json_decref(back);
    free(text);
    json_decref(all);
    /* No more digits than needed: 0.3 alone is still "0.3". */
    json_t *third = json_pack("{s:f}", "x", 0.3);
    text = util_json_dump(third, 0);
    cr_assert_str_eq(text, "{\"x\":0.3}");
    free(text);
    json_decref(third);
}

/* What an older version wrote (15 digits): read back, the number kept as its text. */
Test(numbers, stored_overflow_is_salvaged_not_lost)
{
    size_t n = 99;
    json_t *j = util_json_load_stored("{\"a\": 1.79769313486232e+308, \"b\": \"1e999\", "
                                      "\"c\": [-1e400, 2.5]}", &n);
    cr_assert_not_null(j);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(json_string_value(json_object_get(j, "a")), "1.79769313486232e+308");
    cr_assert_str_eq(json_string_value(json_object_get(j, "b")), "1e999", "strings untouched");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "c"), 0)), "-1e400");
    cr_assert_float_eq(json_real_value(json_array_get(json_object_get(j, "c"), 1)), 2.5, 0);
    json_decref(j);
    j = util_json_load_stored("{\"a\": 1}", &n);
    cr_assert_eq(n, 0);
    json_decref(j);
    cr_assert_null(util_json_load_stored("{not json", &n));
}

/* `history --run ID` (JSON on stdout), its exit code in *rc. */
static json_t *history_run(svc *s, int64_t id, int *rc)
{
    char ids[32], *out = NULL, *err = NULL;
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *const args[] = { "history", "--run", ids, "-c", s->yaml, NULL };
    *rc = th_run_cli(args, NULL, &out, &err);
    json_t *j = *rc == 0 ? json_loads(out, 0, NULL) : NULL;
    cr_assert(*rc != 0 || j, "history --run %s is not JSON: %s", ids, out);
    free(out);
    free(err);
    return j;
}

static double ratio_of(json_t *run)
{
    json_t *v = json_object_get(json_object_get(json_object_get(run, "results"), "fixture"),
                                "ratio");
    cr_assert(json_is_real(v), "results.fixture.ratio is not a number: %s",
              json_dumps(run, JSON_COMPACT));
    return json_real_value(v);
}

/* Set the stored result of run id in s's history file to text. */
static void overwrite_result(svc *s, int64_t id, const char *text)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_open(s->hist, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    cr_assert_eq(sqlite3_prepare_v2(h, "UPDATE runs SET result = ? WHERE id = ?", -1, &st, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(h));
    sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, id);
    cr_assert_eq(sqlite3_step(st), SQLITE_DONE, "%s", sqlite3_errmsg(h));
    sqlite3_finalize(st);
    sqlite3_close(h);
}

/*
 * A step reports DBL_MAX: the run is stored, `history --run` and the API
 * show it with that very double. Then the stored text is what an older
 * version wrote (15 digits, which overflow), and then not JSON at all: the
 * run is still shown, marked "salvaged".
 */
DB_TEST(numbers, largest_double_is_stored_and_read_back, .timeout = 40, SVC_FIXTURE)
{
    fx_db(kind);
    svc *s = fx_svc("schedule:\n  on_startup: false\n  interval: 1h\n", "",
                    "  - plugin: fixture\n    options:\n      ratio: 1.7976931348623157e308\n");
    char *out = NULL, *err = NULL;
    cr_assert_eq(run_once(s, 1, &out, &err), 0, "%s", err);
    free(out);
    free(err);
    json_t *runs = history_of(s);
    int64_t id = json_integer_value(json_object_get(json_array_get(runs, 0), "runId"));
    json_decref(runs);
    cr_assert_gt(id, 0);

    int rc;
    json_t *run = history_run(s, id, &rc);
    cr_assert_eq(rc, 0);
    cr_assert_eq(ratio_of(run), DBL_MAX);
    cr_assert_null(json_object_get(run, "salvaged"));
    json_decref(run);

    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    run = wait_run(s, id, 5000);
    cr_assert_eq(ratio_of(run), DBL_MAX);
    json_decref(run);

    /* Written with 15 digits, as before: 1.79769313486232e+308 is over DBL_MAX. */
    char *text = NULL;
    cr_assert_neq(asprintf(&text, "{\"runId\": %lld, \"status\": \"success\", \"results\": "
                           "{\"fixture\": {\"ratio\": 1.79769313486232e+308, \"value\": 7}}}",
                           (long long)id), -1);
    overwrite_result(s, id, text);
    free(text);
    run = history_run(s, id, &rc);
    cr_assert_eq(rc, 0, "history --run %lld refused the run", (long long)id);
    json_t *fixture = json_object_get(json_object_get(run, "results"), "fixture");
    cr_assert_str_eq(json_string_value(json_object_get(fixture, "ratio")),
                     "1.79769313486232e+308");
    cr_assert_eq(json_integer_value(json_object_get(fixture, "value")), 7, "the rest is kept");
    cr_assert_not_null(strstr(json_string_value(json_object_get(run, "salvaged")),
                              "out of range"));
    json_decref(run);
    run = wait_run(s, id, 5000);
    cr_assert_not_null(json_object_get(run, "salvaged"));
    json_decref(run);

    /* Not JSON at all: the run's own columns, still under its id. */
    overwrite_result(s, id, "{\"runId\": 1, \"results\": {\"x\": ");
    run = history_run(s, id, &rc);
    cr_assert_eq(rc, 0);
    cr_assert_eq(json_integer_value(json_object_get(run, "runId")), id);
    cr_assert_str_eq(json_string_value(json_object_get(run, "status")), "success");
    cr_assert_not_null(strstr(json_string_value(json_object_get(run, "salvaged")), "not readable"));
    json_decref(run);
    run = wait_run(s, id, 5000);
    cr_assert_eq(json_integer_value(json_object_get(run, "runId")), id);
    json_decref(run);
    /* The list still reads too. */
    int st;
    json_t *list = get_json(s, "/v1/reconciliation/history", &st);
    cr_assert_eq(st, 200, "%s", json_dumps(list, 0));
    cr_assert_eq(json_array_size(json_object_get(list, "runs")), 1);
    json_decref(list);

    svc_term(s);
}
