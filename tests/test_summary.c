/* SPDX-License-Identifier: MIT */
/*
 * test_summary.c - the run summary a person reads on a terminal
 * (cli_print_result, what `run --once` and `trigger` print): one summary
 * line with the totals, a table of steps with columns sized to the longest
 * name, each step's figures, "would change" for a dry run and "changed"
 * for a real one, durations as "2m".
 */
#include "helpers.h"
#include "cli/cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What cli_print_result prints for r, read back from a temporary file. */
static char *printed(const json_t *r)
{
    char *path = th_path(th_tmpdir(), "summary.txt");
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    cr_assert_geq(saved, 0);
    cr_assert_not_null(freopen(path, "w", stdout));
    cli_print_result(r);
    fflush(stdout);
    cr_assert_geq(dup2(saved, STDOUT_FILENO), 0);
    close(saved);
    char *text = th_read(path);
    free(path);
    return text;
}

/* Three steps of different name lengths, one with nested figures, one failed. */
static json_t *result(int dry)
{
    json_t *r = json_pack(
        "{s:I, s:s, s:s, s:b, s:I, s:I, s:[{s:s, s:s, s:I, s:I, s:{s:I, s:I}},"
        " {s:s, s:s, s:I, s:I, s:{s:{s:I}}}, {s:s, s:s, s:I, s:I, s:{}, s:s}]}",
        "runId", (json_int_t)12, "trigger", "manual", "status", "partial", "dryRun", dry,
        "durationMs", (json_int_t)120000, "rowsChanged", (json_int_t)7, "steps",
        "name", "leases", "status", "ok", "durationMs", (json_int_t)3500, "rowsChanged",
        (json_int_t)5, "results", "leasesRepaired", (json_int_t)5, "jobsFailed", (json_int_t)0,
        "name", "a_third_party_step", "status", "ok", "durationMs", (json_int_t)90000,
        "rowsChanged", (json_int_t)2, "results", "acme", "invoicesFixed", (json_int_t)2,
        "name", "orders", "status", "failed", "durationMs", (json_int_t)40, "rowsChanged",
        (json_int_t)0, "results", "error", "no such table: orders");
    cr_assert_not_null(r);
    return r;
}

/* The line of out that starts (after its indent) with word, or NULL. */
static const char *line_of(const char *out, const char *word)
{
    for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, "  ", 2) == 0 && strncmp(p + 2, word, strlen(word)) == 0)
            return p;
    }
    return NULL;
}

Test(summary, dry_run_says_would_change)
{
    json_t *r = result(1);
    char *out = printed(r);
    /* One summary line, with the totals. */
    cr_assert_not_null(strstr(out, "reconciliation run 12 (manual, dry run): partial in 2m; "
                                   "steps: 2 ok, 1 failed, 0 skipped; would change 7 rows\n"),
                       "%s", out);
    const char *head = line_of(out, "step");
    cr_assert_not_null(head, "%s", out);
    cr_assert_not_null(strstr(head, "would change"), "%s", out);
    cr_assert_null(strstr(out, "changed"), "a dry run says what it would change: %s", out);

    /* Columns sized to the longest name: every row's status starts where the header's does. */
    size_t col = strlen("  a_third_party_step  ");
    cr_assert_eq(strncmp(head + col, "status", 6), 0, "%s", out);
    cr_assert_eq(strncmp(line_of(out, "leases") + col, "ok", 2), 0, "%s", out);
    cr_assert_eq(strncmp(line_of(out, "orders") + col, "failed", 6), 0, "%s", out);

    /* Each step's figures (a third-party step's nested ones too) and durations. */
    const char *l = line_of(out, "leases");
    cr_assert_not_null(strstr(l, "3.5s"), "%s", out);
    cr_assert_not_null(strstr(l, "leasesRepaired"), "%s", out);
    const char *t = line_of(out, "a_third_party_step");
    cr_assert_not_null(strstr(t, "1m 30s"), "%s", out);
    cr_assert_not_null(strstr(t, "invoicesFixed"), "%s", out);
    cr_assert_not_null(strstr(out, "error in orders: no such table: orders\n"), "%s", out);
    cr_assert_null(strstr(out, "120000"), "%s", out);
    free(out);
    json_decref(r);
}

Test(summary, real_run_says_changed)
{
    json_t *r = result(0);
    char *out = printed(r);
    cr_assert_not_null(strstr(out, "reconciliation run 12 (manual): partial in 2m; "
                                   "steps: 2 ok, 1 failed, 0 skipped; changed 7 rows\n"),
                       "%s", out);
    cr_assert_not_null(strstr(line_of(out, "step"), "rows changed"), "%s", out);
    cr_assert_null(strstr(out, "would change"), "%s", out);
    free(out);
    json_decref(r);
}
