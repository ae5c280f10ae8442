/* SPDX-License-Identifier: MIT */
/* test_cli.c - the reconciler binary end to end: commands, output, exit codes. */
#include "helpers.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const char *plugin_dir(void)
{
    return th_build_path("tests/plugins");
}

/* A pipeline file in the test's folder; extra lines go after the steps. */
static char *write_pipeline(const char *url, const char *steps)
{
    char *text = NULL;
    cr_assert_neq(asprintf(&text, "database:\n  url: \"%s\"\n  connect_timeout: 3s\n"
                           "history:\n  path: var/history.db\nplugin_dir: %s\nsteps:\n%s",
                           url, plugin_dir(), steps), -1);
    char *path = th_path(th_tmpdir(), "pipeline.yaml");
    th_write(path, text);
    free(text);
    return path;
}

#define RUN(...) ((const char *const[]){ __VA_ARGS__, NULL })

Test(cli, version_and_help)
{
    char *out, *err;
    cr_assert_eq(th_run_cli(RUN("--version"), NULL, &out, &err), 0);
    cr_assert(strstr(out, "reconciler ") && strstr(out, "plugin ABI 1."), "%s", out);
    free(out); free(err);
    cr_assert_eq(th_run_cli(RUN("--help"), NULL, &out, &err), 0);
    cr_assert(strstr(out, "Commands:") && strstr(out, "migrate"), "%s", out);
    free(out); free(err);
    const char *cmds[] = { "run", "validate", "migrate", "history", "plugins", "new-plugin" };
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(th_run_cli(RUN(cmds[i], "--help"), NULL, &out, &err), 0, "%s --help", cmds[i]);
        cr_assert(strstr(out, "Usage: reconciler"), "%s: %s", cmds[i], out);
        free(out); free(err);
    }
}

Test(cli, usage_errors_exit_2)
{
    char *err;
    cr_assert_eq(th_run_cli(RUN("frobnicate"), NULL, NULL, &err), 2);
    cr_assert(strstr(err, "unknown command 'frobnicate'"), "%s", err);
    free(err);
    cr_assert_eq(th_run_cli(RUN("run", "--bogus"), NULL, NULL, &err), 2);
    free(err);
    cr_assert_eq(th_run_cli(RUN("history", "-n", "0", "-c", "x.yaml"), NULL, NULL, &err), 2);
    cr_assert(strstr(err, ">= 1"), "%s", err);
    free(err);
    cr_assert_eq(th_run_cli(RUN("run", "--once", "-c", "/nonexistent/p.yaml"), NULL, NULL, &err), 2);
    cr_assert(strstr(err, "/nonexistent/p.yaml"), "%s", err);
    free(err);
}

/* -n and --run read whole decimal numbers only; a syntax error and a range error differ. */
Test(cli, history_numbers_are_strict)
{
    static const struct { const char *opt, *arg, *want; } cases[] = {
        { "-n", "abc", "history: -n wants a whole (decimal) number of runs >= 1, got 'abc'" },
        { "-n", " 5", "history: -n wants a whole (decimal) number of runs >= 1, got ' 5'" },
        { "-n", "0x10", "history: -n wants a whole (decimal) number of runs >= 1, got '0x10'" },
        { "-n", "5 ", "history: -n wants a whole (decimal) number of runs >= 1, got '5 '" },
        { "-n", "0", "history: -n wants a number of runs >= 1, got '0'" },
        { "-n", "-3", "history: -n wants a number of runs >= 1, got '-3'" },
        { "-n", "99999999999999999999", "history: -n wants a number of runs >= 1, got "
                                        "'99999999999999999999'" },
        { "--run", "1x", "history: --run wants a run id (a whole decimal number) >= 1, got '1x'" },
        { "--run", "0", "history: --run wants a run id >= 1, got '0'" },
        { "--run", "9223372036854775808", "history: --run wants a run id >= 1, got "
                                          "'9223372036854775808'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *err, want[256];
        cr_assert_eq(th_run_cli(RUN("history", cases[i].opt, cases[i].arg, "-c", "x.yaml"), NULL,
                                NULL, &err), 2, "%s %s", cases[i].opt, cases[i].arg);
        snprintf(want, sizeof want, "reconciler: %s\n", cases[i].want);
        cr_expect_str_eq(err, want);
        free(err);
    }
}

/* validate refuses what would overflow or misbehave at run time: exit 2 with the position. */
Test(cli, validate_refuses_out_of_range_schedules)
{
    static const struct { const char *yaml, *want; } cases[] = {
        { "schedule:\n  interval: 106751991167d7h12m55s\n",
          ":10:13: 'schedule.interval' must be from 1s to 365d, got '106751991167d7h12m55s'" },
        { "schedule:\n  interval: 1s\n",
          ":10:13: 'schedule.interval' (1s) must be longer than 'schedule.jitter', which is 30s "
          "by default: set schedule.jitter below 1s (0s turns it off)" },
        { "schedule:\n  interval: 1m\n  jitter: 1m\n",
          ":11:11: 'schedule.jitter' (1m) must be less than 'schedule.interval' (1m): lower the "
          "jitter or lengthen the interval" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *steps = NULL, *err, *out;
        cr_assert_neq(asprintf(&steps, "  - plugin: fixture\n%s", cases[i].yaml), -1);
        char *cfg = write_pipeline("sqlite:bot.db", steps);
        char want[PATH_MAX + 512];
        snprintf(want, sizeof want, "%s%s", cfg, cases[i].want);
        cr_expect_eq(th_run_cli(RUN("validate", "-c", cfg), NULL, &out, &err), 2, "%s", err);
        cr_expect(strncmp(err, want, strlen(want)) == 0, "got  %s\nwant %s", err, want);
        free(out); free(err); free(cfg); free(steps);
    }
}

Test(cli, run_once_json_on_sqlite)
{
    th_db t;
    th_db_create(DB_SQLITE, &t);
    th_db_migrate(&t);
    char *cfg = write_pipeline(t.url, "  - plugin: fixture\n    options: { value: 42 }\n");
    char *out, *err;
    int rc = th_run_cli(RUN("run", "--once", "--json", "-c", cfg), NULL, &out, &err);
    cr_assert_eq(rc, 0, "stderr: %s", err);
    json_error_t je;
    json_t *res = json_loads(out, 0, &je);
    cr_assert_not_null(res, "stdout is only the JSON: %s (%s)", je.text, out);
    cr_assert_str_eq(json_string_value(json_object_get(res, "status")), "success");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(res, "results"),
                                    "fixture"), "value")), 42);
    cr_assert(strstr(err, "fixture ran with value 42"), "logs go to stderr: %s", err);
    json_decref(res);
    free(out); free(err);

    /* Second run: history shows both, newest first; -n limits. */
    cr_assert_eq(th_run_cli(RUN("run", "--once", "-c", cfg), NULL, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "success"), "human summary: %s", out);
    free(out); free(err);
    cr_assert_eq(th_run_cli(RUN("history", "--json", "-n", "1", "-c", cfg), NULL, &out, &err), 0, "%s", err);
    json_t *page = json_loads(out, 0, NULL), *list = json_object_get(page, "runs");
    cr_assert_eq(json_array_size(list), 1, "%s", out);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(list, 0), "runId")), 2);
    json_decref(page);
    free(out); free(err);
    cr_assert_eq(th_run_cli(RUN("history", "-c", cfg), NULL, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "startup") && strstr(out, "fixture=ok"), "%s", out);
    free(out); free(err);
    cr_assert_eq(th_run_cli(RUN("history", "--run", "1", "-c", cfg), NULL, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "\"runId\": 1"), "%s", out);
    free(out); free(err);
    free(cfg);
    th_db_destroy(&t);
}

Test(cli, failing_step_exits_1)
{
    th_db t;
    th_db_create(DB_SQLITE, &t);
    th_db_migrate(&t); /* a real run takes the run lock, a row of reconciler_locks */
    char *cfg = write_pipeline(t.url, "  - plugin: fixture\n    options: { fail: true }\n");
    char *out, *err;
    cr_assert_eq(th_run_cli(RUN("run", "--once", "--json", "-c", cfg), NULL, &out, &err), 1, "%s", err);
    json_t *res = json_loads(out, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(res, "status")), "failed");
    json_decref(res);
    free(out); free(err); free(cfg);
    th_db_destroy(&t);
}

/* A database without reconciler_locks (never migrated): exit 3, and the message says what to do. */
Test(cli, run_once_needs_the_lock_table)
{
    th_db t;
    th_db_create(DB_SQLITE, &t);
    char *cfg = write_pipeline(t.url, "  - plugin: fixture\n");
    char *out, *err;
    cr_assert_eq(th_run_cli(RUN("run", "--once", "-c", cfg), NULL, &out, &err), 3, "%s", err);
    cr_assert_not_null(strstr(err, "run `reconciler migrate` first"), "%s", err);
    free(out); free(err);
    /* A dry run takes no lock, but its steps need the tables too: the same one message. */
    cr_assert_eq(th_run_cli(RUN("run", "--once", "--dry-run", "-c", cfg), NULL, &out, &err), 3, "%s", err);
    cr_assert_not_null(strstr(err, "run `reconciler migrate` first"), "%s", err);
    free(out); free(err); free(cfg);
    th_db_destroy(&t);
}

Test(cli, config_and_plugin_errors_exit_2)
{
    char *err;
    char *cfg = write_pipeline("sqlite:bot.db", "  - plugin: fixture\n    options: { nope: 1 }\n");
    cr_assert_eq(th_run_cli(RUN("validate", "-c", cfg), NULL, NULL, &err), 2);
    cr_assert(strstr(err, "/pipeline.yaml:9:16: step 'fixture': unknown option 'nope'") && strstr(err, "value"), "%s", err);
    free(err);
    cr_assert_eq(th_run_cli(RUN("run", "--once", "-c", cfg), NULL, NULL, &err), 2);
    free(err);
    free(cfg);

    cfg = write_pipeline("sqlite:bot.db", "  - plugin: badabi\n");
    cr_assert_eq(th_run_cli(RUN("validate", "-c", cfg), NULL, NULL, &err), 2);
    cr_assert(strstr(err, "badabi.so: plugin ABI major version 99 instead of 1"), "%s", err);
    free(err);
    free(cfg);

    cfg = write_pipeline("sqlite:bot.db", "  - plugin: fixture\n");
    char *out;
    cr_assert_eq(th_run_cli(RUN("validate", "-c", cfg), NULL, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "ok, 1 step: fixture (fixture 1.2.3)"), "%s", out);
    free(out); free(err);
    /* validate connects to nothing: the database file was not created. */
    char *bot = th_path(th_tmpdir(), "bot.db");
    cr_assert_null(th_read(bot));
    free(bot);
    free(cfg);
}

Test(cli, plugins_lists_and_reports_bad_files)
{
    char *out, *err;
    char *cfg = write_pipeline("sqlite:bot.db", "  - plugin: fixture\n");
    cr_assert_eq(th_run_cli(RUN("plugins", "-c", cfg), NULL, &out, &err), 2);
    cr_assert(strstr(out, "fixture 1.2.3") && strstr(out, "count_jobs") &&
              strstr(out, "default 7"), "%s", out);
    cr_assert(strstr(err, "misnamed.so") && strstr(err, "nosym.so"), "%s", err);
    free(out); free(err); free(cfg);
}

Test(cli, unreachable_mysql_exits_3)
{
    char *dir = th_path(th_tmpdir(), "nosock");
    char *url = NULL;
    cr_assert_neq(asprintf(&url, "mysql://bot@/bot?socket=%s", dir), -1);
    char *cfg = write_pipeline(url, "  - plugin: fixture\n");
    char *out, *err;
    const char *const env[] = { "RECONCILER_DB_PASSWORD=Sup3r-Secret-pw", NULL };
    cr_assert_eq(th_run_cli(RUN("run", "--once", "-c", cfg), env, &out, &err), 3, "%s", err);
    cr_assert(strstr(err, "cannot reach"), "%s", err);
    cr_assert_null(strstr(err, "Sup3r-Secret-pw"));
    cr_assert_null(strstr(out, "Sup3r-Secret-pw"));
    free(out); free(err); free(cfg); free(url); free(dir);
}

Test(cli, mysql_run_with_password_never_shows_it)
{
    th_db t;
    th_db_create(DB_MYSQL, &t);
    char *cfg = write_pipeline(t.url, "  - plugin: fixture\n");
    char *out, *err, *env1 = NULL;
    /* Without the password: access denied is a database error (3). */
    cr_assert_eq(th_run_cli(RUN("migrate", "-c", cfg), NULL, &out, &err), 3, "%s", err);
    free(out); free(err);
    cr_assert_neq(asprintf(&env1, "RECONCILER_DB_PASSWORD=%s", t.password), -1);
    const char *const env[] = { env1, NULL };
    cr_assert_eq(th_run_cli(RUN("migrate", "-c", cfg), env, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "applied"), "%s", out);
    free(out); free(err);
    cr_assert_eq(th_run_cli(RUN("migrate", "-c", cfg), env, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "0 migrations applied"), "second migrate applies nothing: %s", out);
    free(out); free(err);
    cr_assert_eq(th_run_cli(RUN("run", "--once", "--json", "--log-level", "debug", "-c", cfg), env,
                            &out, &err), 0, "%s", err);
    cr_assert_null(strstr(out, t.password));
    cr_assert_null(strstr(err, t.password));
    char *hist = th_path(th_tmpdir(), "var/history.db");
    cr_assert_eq(th_file_contains(hist, "fixture"), 1, "the check can see what is stored");
    cr_assert_eq(th_file_contains(hist, t.password), 0, "the password is not stored");
    free(hist);
    free(out); free(err); free(env1); free(cfg);
    th_db_destroy(&t);
}
