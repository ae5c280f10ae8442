/* SPDX-License-Identifier: MIT */
/*
 * test_durations.c - durations as people read them ("2m", not "120000 ms"):
 * cli_duration at each unit's boundaries, and `history` printing a
 * two-minute run that way (the real binary on a real SQLite history file).
 */
#include "helpers.h"
#include "cli/cli.h"
#include "th_fixture.h"
#include "th_svc.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* Both sides of each unit's boundary, and the round figures a person expects. */
Test(durations, each_unit_from_its_boundary)
{
    static const struct { int64_t ms; const char *text; } cases[] = {
        { -5, "0 ms" },        { 0, "0 ms" },        { 999, "999 ms" },
        { 1000, "1.0s" },      { 4250, "4.2s" },     { 9999, "9.9s" },
        { 10000, "10s" },      { 59999, "59s" },     { 60000, "1m" },
        { 120000, "2m" },      { 125000, "2m 5s" },  { 3599999, "59m 59s" },
        { 3600000, "1h" },     { 3780000, "1h 3m" }, { 86399999, "23h 59m" },
        { 86400000, "1d 0h" }, { 176400000, "2d 1h" },
    };
    char out[32];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cli_duration(cases[i].ms, out, sizeof out);
        cr_expect_str_eq(out, cases[i].text, "%lld ms", (long long)cases[i].ms);
    }
}

/* A run that took two minutes is "2m" in `history`, never "120000 ms". */
Test(durations, history_prints_two_minutes_as_2m, .timeout = 30, SVC_FIXTURE)
{
    char *out = NULL, *err = NULL;
    fx_db(DB_SQLITE);
    svc *s = fx_svc("", "", "  - plugin: fixture\n");
    int rc = run_once(s, 0, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    free(out);
    free(err);

    /* The run as if it had taken two minutes (its step 1m 30s). */
    sqlite3 *h = NULL;
    cr_assert_eq(sqlite3_open(s->hist, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h, "UPDATE runs SET duration_ms = 120000; "
                                 "UPDATE run_steps SET duration_ms = 90000;", NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(h));
    sqlite3_close(h);

    const char *const hist[] = { "history", "-c", s->yaml, NULL };
    rc = th_run_cli(hist, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(out, " 2m "), "%s", out);
    cr_assert_null(strstr(out, "120000"), "%s", out);
    cr_assert_null(strstr(out, " ms"), "%s", out);
    free(out);
    free(err);
}
