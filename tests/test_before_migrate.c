/* SPDX-License-Identifier: MIT */
/*
 * test_before_migrate.c - commands before `reconciler migrate` say so once:
 * `jobs` shows the list (schedules need no table), its paused column "?",
 * and one warning says why and what to do ("run `reconciler migrate`"), not
 * one per job; `validate --db` passes the statements and warns that the
 * database lacks this version's migrations. After migrate, no warning. The
 * real binary, both drivers.
 */
#include "helpers.h"
#include "th_fixture.h"
#include "th_svc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* `migrate` of s's file, which must succeed. */
static void migrate(svc *s, const char *const *env)
{
    char *out = NULL, *err = NULL;
    const char *const args[] = { "migrate", "-c", s->yaml, NULL };
    int rc = th_run_cli(args, env, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    free(out);
    free(err);
}

DB_TEST(before_migrate, jobs_warns_once, .timeout = 60, SVC_FIXTURE)
{
    char *out = NULL, *err = NULL;
    fx_db_empty(kind);
    svc *s = fx_svc("", "", "  - plugin: fixture\n");
    /* Two jobs: still one warning. */
    char *text = th_read(s->yaml), *steps = strstr(text, "\nsteps:\n"), *yaml = NULL;
    cr_assert_not_null(steps);
    *steps = '\0';
    cr_assert_neq(asprintf(&yaml, "%s\njobs:\n  a:\n    steps:\n      - plugin: fixture\n"
                           "  b:\n    steps:\n      - plugin: fixture\n", text), -1);
    th_write(s->yaml, yaml);
    free(yaml);
    free(text);
    char *pw = password_env(s);
    const char *const env[] = { pw, NULL };
    const char *const args[] = { "jobs", "-c", s->yaml, NULL };

    int rc = th_run_cli(args, env, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(out, "\na "), "%s", out);
    cr_assert_not_null(strstr(out, "\nb "), "%s", out);
    cr_assert_eq(count_of(err, "run `reconciler migrate`"), 1, "%s", err);
    free(out);
    free(err);

    migrate(s, env);
    rc = th_run_cli(args, env, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_null(strstr(err, "warning"), "%s", err);
    cr_assert_eq(count_of(out, " no"), 2, "%s", out);
    free(out);
    free(err);
    free(pw);
}

DB_TEST(before_migrate, validate_db_warns, .timeout = 60, SVC_FIXTURE)
{
    char *out = NULL, *err = NULL;
    fx_db_empty(kind);
    svc *s = fx_svc("", "", "  - plugin: fixture\n");
    char *pw = password_env(s);
    const char *const env[] = { pw, NULL };
    const char *const args[] = { "validate", "--db", "-c", s->yaml, NULL };

    int rc = th_run_cli(args, env, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_eq(count_of(err, "run `reconciler migrate`"), 1, "%s", err);
    cr_assert_not_null(strstr(out, "(statements prepared)"), "%s", out);
    cr_assert_not_null(strstr(out, "1 warning above"), "%s", out);
    free(out);
    free(err);

    migrate(s, env);
    rc = th_run_cli(args, env, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_null(strstr(err, "warning"), "%s", err);
    cr_assert_null(strstr(out, "warning"), "%s", out);
    free(out);
    free(err);
    free(pw);
}
