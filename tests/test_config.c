/* SPDX-License-Identifier: MIT */
/* test_config.c - the pipeline file: keys, defaults, every refusal with its FILE:LINE:COL. */
#include "helpers.h"
#include "config/config.h"
#include "config/options.h"
#include "base/paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STEP "steps:\n  - plugin: leases\n"

/* Write text as name in the test's folder; returns the path (malloc'd). */
static char *write_cfg(const char *name, const char *text)
{
    char *path = th_path(th_tmpdir(), name);
    th_write(path, text);
    return path;
}

static config *load_ok(const char *text)
{
    char err[2048];
    config *c = NULL;
    char *path = write_cfg("p.yaml", text);
    cr_assert_eq(config_load(path, &c, err, sizeof err), 0, "%s\n--- for:\n%s", err, text);
    free(path);
    return c;
}

/* text must be refused with exactly PATH + want. */
static void refuses(const char *text, const char *want)
{
    char err[2048], full[2048];
    config *c = (config *)1;
    char *path = write_cfg("p.yaml", text);
    cr_assert_eq(config_load(path, &c, err, sizeof err), -1, "accepted:\n%s", text);
    cr_assert_null(c);
    snprintf(full, sizeof full, "%s%s", path, want);
    cr_assert_str_eq(err, full, "\ngot:  %s\nwant: %s\n--- for:\n%s", err, full, text);
    free(path);
}

/* The absolute form of the test's folder, as config resolves against it. */
static const char *abs_tmpdir(void)
{
    static char abs[PATH_MAX];
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    return abs;
}

static void assert_path(const char *got, const char *rel)
{
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s/%s", abs_tmpdir(), rel);
    cr_assert_str_eq(got, want);
}

/* ------------------------------------------------------------ defaults */

Test(config, defaults_fill_every_key)
{
    config *c = load_ok(STEP);
    cr_assert_null(c->db_url, "url is optional in the file: --db may give it");
    cr_assert_null(c->db_password_env);
    cr_assert_null(c->db_password_file);
    cr_assert_eq(c->db_connect_timeout_ms, 10000);
    cr_assert_eq(c->db_read_timeout_ms, 300000);
    cr_assert_eq(c->db_write_timeout_ms, 60000);
    cr_assert_str_eq(c->db_time_zone, "server");
    cr_assert_eq(c->db_url_line, 0, "no url in the file: no position");
    assert_path(c->history_path, "var/history.db");
    cr_assert_eq(c->history_keep_runs, 1000);
    cr_assert_eq(c->n_plugin_dirs, 1);
    /* The compiled-in folder, as it stands (absolute: not the file's folder);
     * for the in-tree build, this build's own plugins (tools/make/install.mk). */
    char built[PATH_MAX], *rel = th_path(th_build(), "plugins");
    cr_assert_not_null(realpath(rel, built), "%s", rel);
    free(rel);
    cr_assert_str_eq(rc_default_plugin_dir, built);
    cr_assert_str_eq(c->plugin_dirs[0], rc_default_plugin_dir);
    cr_assert_eq(c->schedule_on_startup, 1);
    cr_assert_eq(c->schedule_interval_ms, 6 * 3600 * 1000);
    cr_assert_eq(c->schedule_jitter_ms, 30000);
    cr_assert_eq(c->schedule_lock_wait_ms, 60000);
    cr_assert_str_eq(c->http_listen, "127.0.0.1:3006");
    cr_assert_null(c->http_token_env);
    cr_assert_str_eq(c->log_level, "info");
    cr_assert_str_eq(c->log_format, "text");
    cr_assert_str_eq(c->dir, abs_tmpdir());
    char *path = th_path(th_tmpdir(), "p.yaml");
    cr_assert_str_eq(c->path, path, "the path as given");
    free(path);

    cr_assert_eq(c->n_steps, 1);
    const cfg_step *s = &c->steps[0];
    cr_assert_str_eq(s->plugin, "leases");
    cr_assert_str_eq(s->name, "leases", "name defaults to the plugin");
    cr_assert_eq(s->on_error, CFG_ON_ERROR_CONTINUE);
    cr_assert_eq(s->enabled, 1);
    cr_assert_eq(s->line, 2);
    cr_assert_eq(s->col, 5);
    /* No options: an empty mapping at the step, for messages about required options. */
    cr_assert_not_null(s->options);
    cr_assert_eq(s->options->kind, YT_MAP);
    cr_assert_eq(s->options->n, 0);
    cr_assert_eq(s->options->line, 2);
    cr_assert_eq(s->options->col, 5);
    config_free(c);
    config_free(NULL);
}

Test(config, every_key_given)
{
    config *c = load_ok("database:\n"
                        "  url: \"mysql://bot@db:3306/bot\"\n"
                        "  password_env: BOT_PW\n"
                        "  password_file: secrets/pw\n"
                        "  connect_timeout: 5s\n"
                        "  read_timeout: 10m\n"
                        "  write_timeout: 1m30s\n"
                        "  time_zone: Europe/Berlin\n"
                        "history:\n"
                        "  path: /srv/h.db\n"
                        "  keep_runs: 7\n"
                        "plugin_dir: [/usr/lib/rc, mine]\n"
                        "schedule:\n"
                        "  on_startup: no\n"
                        "  interval: 15m\n"
                        "  jitter: 0\n"
                        "  lock_wait: 2m\n"
                        "http:\n"
                        "  listen: 0.0.0.0:8080\n"
                        "  token_env: API_TOKEN\n"
                        "log:\n"
                        "  level: debug\n"
                        "  format: json\n"
                        "steps:\n"
                        "  - plugin: leases\n"
                        "    name: leases-fast\n"
                        "    options: { max_attempts: 5 }\n"
                        "    on_error: abort\n"
                        "    enabled: false\n"
                        "  - plugin: metrics\n");
    cr_assert_str_eq(c->db_url, "mysql://bot@db:3306/bot");
    cr_assert_str_eq(c->db_password_env, "BOT_PW");
    assert_path(c->db_password_file, "secrets/pw");
    cr_assert_eq(c->db_connect_timeout_ms, 5000);
    cr_assert_eq(c->db_read_timeout_ms, 600000);
    cr_assert_eq(c->db_write_timeout_ms, 90000);
    cr_assert_str_eq(c->db_time_zone, "Europe/Berlin");
    cr_assert_eq(c->db_url_line, 2, "where the url's value stands");
    cr_assert_eq(c->db_url_col, 8);
    cr_assert_str_eq(c->history_path, "/srv/h.db");
    cr_assert_eq(c->history_keep_runs, 7);
    cr_assert_eq(c->n_plugin_dirs, 2);
    cr_assert_str_eq(c->plugin_dirs[0], "/usr/lib/rc");
    assert_path(c->plugin_dirs[1], "mine");
    cr_assert_eq(c->schedule_on_startup, 0);
    cr_assert_eq(c->schedule_interval_ms, 900000);
    cr_assert_eq(c->schedule_jitter_ms, 0);
    cr_assert_eq(c->schedule_lock_wait_ms, 120000);
    cr_assert_str_eq(c->http_listen, "0.0.0.0:8080");
    cr_assert_str_eq(c->http_token_env, "API_TOKEN");
    cr_assert_str_eq(c->log_level, "debug");
    cr_assert_str_eq(c->log_format, "json");
    cr_assert_eq(c->n_steps, 2);
    const cfg_step *s = &c->steps[0];
    cr_assert_str_eq(s->name, "leases-fast");
    cr_assert_str_eq(s->plugin, "leases");
    cr_assert_eq(s->on_error, CFG_ON_ERROR_ABORT);
    cr_assert_eq(s->enabled, 0);
    cr_assert_eq(s->line, 25);
    cr_assert_str_eq(yt_get(s->options, "max_attempts")->scalar, "5");
    cr_assert_eq(s->options->line, 27);
    cr_assert_eq(s->options->col, 14);
    cr_assert_str_eq(c->steps[1].name, "metrics");
    cr_assert_eq(c->steps[1].line, 30);
    cr_assert_eq(c->steps[1].enabled, 1);
    config_free(c);
}

Test(config, null_values_keep_defaults)
{
    config *c = load_ok("history:\n"
                        "http:\n"
                        "  listen: \"~\"\n"
                        "  token_env: ~\n"
                        "database:\n"
                        "  password_env: null\n"
                        "log:\n"
                        "  level:\n"
                        STEP
                        "    options: ~\n");
    cr_assert_eq(c->history_keep_runs, 1000);
    cr_assert_str_eq(c->http_listen, "~", "a quoted ~ is text");
    cr_assert_null(c->http_token_env);
    cr_assert_null(c->db_password_env);
    cr_assert_str_eq(c->log_level, "info");
    cr_assert_eq(c->steps[0].options->kind, YT_MAP, "options: ~ is no options");
    cr_assert_eq(c->steps[0].options->n, 0);
    cr_assert_eq(c->steps[0].options->line, 10);
    cr_assert_eq(c->steps[0].options->col, 5);
    config_free(c);
}

/* ------------------------------------------------------- unknown keys */

Test(config, unknown_top_level_key)
{
    refuses(STEP "databse:\n  url: x\n",
            ":3:1: unknown key 'databse'; valid keys: database, history, plugin_dir, schedule, "
            "http, log, tracing, steps, jobs, notify");
}

Test(config, dotted_key_is_not_a_shortcut)
{
    refuses("database.url: x\n" STEP,
            ":1:1: unknown key 'database.url'; valid keys: database, history, plugin_dir, "
            "schedule, http, log, tracing, steps, jobs, notify");
}

Test(config, unknown_nested_key)
{
    refuses("database:\n  url: x\n  pasword_env: PW\n" STEP,
            ":3:3: unknown key 'pasword_env' in 'database'; valid keys: url, password_env, "
            "password_file, connect_timeout, read_timeout, write_timeout, time_zone");
    refuses(STEP "log: { level: info, colour: yes }\n",
            ":3:21: unknown key 'colour' in 'log'; valid keys: level, format");
}

Test(config, unknown_step_key)
{
    refuses(STEP "    option: { a: 1 }\n",
            ":3:5: unknown key 'option' in a step; valid keys: plugin, name, options, on_error, "
            "enabled, timeout, max_changes, record_changes, memory_limit");
}

/* ------------------------------------------------------- wrong types */

Test(config, section_of_wrong_type)
{
    refuses("database:\n  - url: x\n" STEP, ":2:3: 'database' expects a mapping, got a list");
    refuses(STEP "history: var/h.db\n", ":3:10: 'history' expects a mapping, got a scalar");
}

Test(config, scalar_key_of_wrong_type)
{
    refuses(STEP "http:\n  listen: [a, b]\n", ":4:11: 'http.listen' expects one value (string), got a list");
    refuses("database: { url: { host: x } }\n" STEP,
            ":1:18: 'database.url' expects one value (string), got a mapping");
}

Test(config, int_bool_duration_of_wrong_type)
{
    refuses(STEP "history:\n  keep_runs: many\n",
            ":4:14: 'history.keep_runs' expects an integer, got 'many'");
    refuses(STEP "history:\n  keep_runs: 99999999999999999999\n",
            ":4:14: 'history.keep_runs' expects an integer from -9223372036854775808 to "
            "9223372036854775807, got '99999999999999999999'");
    refuses(STEP "schedule:\n  on_startup: sometimes\n",
            ":4:15: 'schedule.on_startup' expects a boolean (true/false, yes/no, on/off), "
            "got 'sometimes'");
    refuses(STEP "database:\n  connect_timeout: 10 seconds\n",
            ":4:20: 'database.connect_timeout' expects a duration (whole numbers with units d, h, "
            "m, s, ms, largest first, e.g. 30s or 1h30m), got '10 seconds'");
    refuses(STEP "schedule: { jitter: -5s }\n",
            ":3:21: 'schedule.jitter' expects a duration of 0 or more, got '-5s'");
    refuses(STEP "    enabled: nope\n",
            ":3:14: 'enabled' expects a boolean (true/false, yes/no, on/off), got 'nope'");
}

/* ----------------------------------------------------------- ranges */

/*
 * Every int and duration key has a maximum: the value at each bound loads,
 * one past it is refused naming the key, the range and the text given.
 */
static void bounds(const char *yaml_fmt, const char *key, const char *range, const char *col,
                   const char *lo_ok, const char *lo_bad, const char *hi_ok, const char *hi_bad)
{
    char text[512], want[512];
    const char *ok[] = { lo_ok, hi_ok }, *bad[] = { lo_bad, hi_bad };
    for (int i = 0; i < 2; i++) {
        snprintf(text, sizeof text, yaml_fmt, ok[i]);
        config_free(load_ok(text));
        if (!bad[i])
            continue;
        snprintf(text, sizeof text, yaml_fmt, bad[i]);
        snprintf(want, sizeof want, "%s: '%s' must be %s, got '%s'", col, key, range, bad[i]);
        refuses(text, want);
    }
}

Test(config, keep_runs_boundary)
{
    bounds(STEP "history: { keep_runs: %s }\n", "history.keep_runs", "from 1 to 1000000", ":3:23",
           "1", "0", "1000000", "1000001");
    refuses(STEP "history: { keep_runs: -1 }\n",
            ":3:23: 'history.keep_runs' must be from 1 to 1000000, got '-1'");
    config *c = load_ok(STEP "history: { keep_runs: 1000000 }\n");
    cr_assert_eq(c->history_keep_runs, 1000000);
    config_free(c);
}

Test(config, interval_bounds)
{
    /* jitter 0s: the default 30s would not be less than a short interval. */
    bounds(STEP "schedule:\n  jitter: 0s\n  interval: %s\n", "schedule.interval",
           "from 1s to 365d", ":5:13", "1s", "999ms", "365d", "365d1ms");
    refuses(STEP "schedule:\n  interval: 0\n",
            ":4:13: 'schedule.interval' must be from 1s to 365d, got '0'");
    config *c = load_ok(STEP "schedule:\n  interval: 90\n");
    cr_assert_eq(c->schedule_interval_ms, 90000, "a bare number is seconds");
    config_free(c);
    c = load_ok(STEP "schedule:\n  interval: 365d\n");
    cr_assert_eq(c->schedule_interval_ms, INT64_C(365) * 86400000);
    config_free(c);
}

/* The largest duration that counts in milliseconds parsed, then overflowed at run time. */
Test(config, huge_interval_is_refused_not_overflowed)
{
    refuses(STEP "schedule:\n  interval: 106751991167d7h12m55s\n",
            ":4:13: 'schedule.interval' must be from 1s to 365d, got '106751991167d7h12m55s'");
    refuses(STEP "schedule:\n  lock_wait: 106751991167d7h12m55s807ms\n",
            ":4:14: 'schedule.lock_wait' must be at most 1d, got '106751991167d7h12m55s807ms'");
}

Test(config, jitter_lock_wait_and_timeouts_are_bounded)
{
    bounds(STEP "schedule: { interval: 2d, jitter: %s }\n", "schedule.jitter", "at most 1d",
           ":3:35", "0", NULL, "1d", "1d1ms");
    bounds(STEP "schedule: { lock_wait: %s }\n", "schedule.lock_wait", "at most 1d", ":3:24",
           "0", NULL, "1d", "1d1ms");
    bounds(STEP "database: { connect_timeout: %s }\n", "database.connect_timeout", "at most 1d",
           ":3:30", "0", NULL, "1d", "1d1ms");
    bounds(STEP "database: { read_timeout: %s }\n", "database.read_timeout", "at most 1d",
           ":3:27", "0", NULL, "1d", "1d1ms");
    bounds(STEP "database: { write_timeout: %s }\n", "database.write_timeout", "at most 1d",
           ":3:28", "0", NULL, "1d", "1d1ms");
    config *c = load_ok(STEP "database: { read_timeout: 1d, connect_timeout: 0 }\n");
    cr_assert_eq(c->db_read_timeout_ms, 86400000);
    cr_assert_eq(c->db_connect_timeout_ms, 0);
    config_free(c);
}

Test(config, lock_ttl_boundaries)
{
    config *c = load_ok(STEP);
    cr_assert_eq(c->schedule_lock_ttl_ms, 30000, "default 30s");
    config_free(c);
    bounds(STEP "schedule: { lock_ttl: %s }\n", "schedule.lock_ttl", "from 3s to 1h", ":3:23",
           "3s", "2999ms", "1h", "1h1ms");
    c = load_ok(STEP "schedule: { lock_ttl: 3s }\n");
    cr_assert_eq(c->schedule_lock_ttl_ms, 3000);
    config_free(c);
}

/* ------------------------------------------------- jitter and interval */

Test(config, jitter_must_be_less_than_interval)
{
    /* Given both: positioned at the jitter, naming both values. */
    refuses(STEP "schedule:\n  interval: 10s\n  jitter: 10s\n",
            ":5:11: 'schedule.jitter' (10s) must be less than 'schedule.interval' (10s): lower "
            "the jitter or lengthen the interval");
    refuses(STEP "schedule: { jitter: 2m, interval: 90 }\n",
            ":3:21: 'schedule.jitter' (2m) must be less than 'schedule.interval' (1m30s): lower "
            "the jitter or lengthen the interval");
    /* A jitter over the default interval of 6h. */
    refuses(STEP "schedule: { jitter: 1d }\n",
            ":3:21: 'schedule.jitter' (1d) must be less than 'schedule.interval' (6h): lower "
            "the jitter or lengthen the interval");
    config *c = load_ok(STEP "schedule:\n  interval: 10s\n  jitter: 9s999ms\n");
    cr_assert_eq(c->schedule_jitter_ms, 9999);
    config_free(c);
    c = load_ok(STEP "schedule:\n  interval: 1s\n  jitter: 0s\n");
    cr_assert_eq(c->schedule_interval_ms, 1000);
    cr_assert_eq(c->schedule_jitter_ms, 0);
    config_free(c);
}

Test(config, default_jitter_needs_an_interval_over_30s)
{
    /* Not given (or null): positioned at the interval, naming the default jitter. */
    refuses(STEP "schedule:\n  interval: 1s\n",
            ":4:13: 'schedule.interval' (1s) must be longer than 'schedule.jitter', which is "
            "30s by default: set schedule.jitter below 1s (0s turns it off)");
    refuses(STEP "schedule:\n  interval: 30s\n  jitter: ~\n",
            ":4:13: 'schedule.interval' (30s) must be longer than 'schedule.jitter', which is "
            "30s by default: set schedule.jitter below 30s (0s turns it off)");
    config *c = load_ok(STEP "schedule:\n  interval: 30s1ms\n");
    cr_assert_eq(c->schedule_jitter_ms, 30000);
    config_free(c);
}

/* ------------------------------------------------------- time zone */

Test(config, time_zone_forms)
{
    static const char *const good[] = {
        "server", "+00:00", "-05:30", "+5:30", "+14:00", "-14:59", "+0:00", "UTC",
        "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "Etc/GMT-14",
        "EST5EDT", "z",
    };
    char text[256];
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        snprintf(text, sizeof text, STEP "database:\n  time_zone: \"%s\"\n", good[i]);
        config *c = load_ok(text);
        cr_assert_str_eq(c->db_time_zone, good[i]);
        config_free(c);
    }
    /* A name of 64 characters is the longest. */
    char name[80];
    memset(name, 'a', 64);
    name[64] = '\0';
    snprintf(text, sizeof text, STEP "database:\n  time_zone: %s\n", name);
    config_free(load_ok(text));
    name[64] = 'a';
    name[65] = '\0';
    const char *const bad[] = {
        "", "+15:00", "-15:00", "+14:60", "+1:5", "+01:5", "+001:00", "01:00", "+01:00x",
        "+01", "5", "Europe Berlin", "/UTC", "_utc", "9zone", "Europe/Berlin;", "UTC\\u00e9", name,
    };
    static const char rule[] = "must be server (the database server's default zone), a UTC "
        "offset +HH:MM or -HH:MM (hours 0 to 14), or a zone name such as Europe/Berlin or UTC "
        "(letters, digits, '_', '+', '-', '/', at most 64, starting with a letter)";
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char want[512], shown[128];
        snprintf(text, sizeof text, STEP "database:\n  time_zone: \"%s\"\n", bad[i]);
        /* As the message quotes it: the YAML escape read as UTF-8. */
        snprintf(shown, sizeof shown, "%s", strcmp(bad[i], "UTC\\u00e9") ? bad[i] : "UTC\xc3\xa9");
        snprintf(want, sizeof want, ":4:14: 'database.time_zone' %s; got '%s'", rule, shown);
        refuses(text, want);
    }
}

Test(config, url_position_is_kept)
{
    config *c = load_ok(STEP "database:\n  password_env: X\n  url:   'sqlite:x.db'\n");
    cr_assert_eq(c->db_url_line, 5);
    cr_assert_eq(c->db_url_col, 10);
    config_free(c);
    c = load_ok(STEP "database: { url: ~ }\n");
    cr_assert_null(c->db_url);
    cr_assert_eq(c->db_url_line, 0);
    config_free(c);
}

Test(config, enums_list_valid_values)
{
    refuses(STEP "log: { level: verbose }\n",
            ":3:15: 'log.level' must be one of error, warn, info, debug; got 'verbose'");
    refuses(STEP "log:\n  format: xml\n", ":4:11: 'log.format' must be one of text, json; got 'xml'");
    refuses(STEP "    on_error: stop\n", ":3:15: 'on_error' must be one of continue, abort; got 'stop'");
    refuses(STEP "    on_error: Abort\n", ":3:15: 'on_error' must be one of continue, abort; got 'Abort'");
}

/* ------------------------------------------------------------ steps */

Test(config, steps_required_and_a_non_empty_list)
{
    refuses("database:\n  url: x\n", ":1:1: missing required key 'steps' (one job) or 'jobs'");
    refuses("database:\n  url: x\nsteps:\n", ":1:1: missing required key 'steps' (one job) or 'jobs'");
    refuses("steps:\n  plugin: leases\n", ":2:3: 'steps' expects a list of steps, got a mapping");
    refuses("steps: leases\n", ":1:8: 'steps' expects a list of steps, got a scalar");
    refuses("steps: []\n", ":1:8: 'steps' is empty; list at least one step");
}

Test(config, step_shape)
{
    refuses("steps:\n  - plugin: a\n  - leases\n",
            ":3:5: a step must be a mapping such as '- plugin: NAME', not a scalar");
    refuses("steps:\n  - name: x\n    enabled: true\n", ":2:5: missing required key 'plugin' in a step");
    refuses("steps:\n  - plugin: ~\n", ":2:5: missing required key 'plugin' in a step");
    refuses("steps:\n  - plugin: a\n    options: [1, 2]\n",
            ":3:14: 'options' expects a mapping, got a list");
    refuses("steps:\n  - plugin: [a]\n", ":2:13: 'plugin' expects one value (string), got a list");
}

Test(config, step_names_follow_the_rule)
{
    refuses("steps:\n  - plugin: ../evil\n",
            ":2:13: 'plugin' must be 1 to 64 letters, digits, '_' or '-'; got '../evil'");
    refuses("steps:\n  - plugin: a\n    name: \"two words\"\n",
            ":3:11: 'name' must be 1 to 64 letters, digits, '_' or '-'; got 'two words'");
    refuses("steps:\n  - plugin: \"\"\n", ":2:13: 'plugin' must be 1 to 64 letters, digits, '_' or '-'; got ''");
    char long_name[66], text[256];
    memset(long_name, 'x', 65);
    long_name[65] = '\0';
    snprintf(text, sizeof text, "steps:\n  - plugin: %s\n", long_name);
    char want[256];
    snprintf(want, sizeof want, ":2:13: 'plugin' must be 1 to 64 letters, digits, '_' or '-'; got '%s'",
             long_name);
    refuses(text, want);
    long_name[64] = '\0'; /* 64 is the most allowed */
    snprintf(text, sizeof text, "steps:\n  - plugin: %s\n  - plugin: Ok_name-2\n", long_name);
    config *c = load_ok(text);
    cr_assert_str_eq(c->steps[0].name, long_name);
    cr_assert_str_eq(c->steps[1].name, "Ok_name-2");
    config_free(c);
}

Test(config, duplicate_step_names)
{
    refuses("steps:\n  - plugin: a\n  - plugin: b\n    name: a\n",
            ":3:5: two steps are named 'a' (lines 2 and 3); give one of them another 'name'");
    refuses("steps:\n  - plugin: leases\n\n  - plugin: leases\n",
            ":4:5: two steps are named 'leases' (lines 2 and 4); give one of them another 'name'");
    refuses("steps: [{ plugin: a }, { plugin: b, name: a }]\n",
            ":1:24: two steps are named 'a' (both on line 1); give one of them another 'name'");
    config *c = load_ok("steps:\n  - plugin: leases\n  - plugin: leases\n    name: leases2\n");
    cr_assert_eq(c->n_steps, 2);
    cr_assert_str_eq(c->steps[1].plugin, "leases");
    cr_assert_str_eq(c->steps[1].name, "leases2");
    config_free(c);
}

Test(config, step_without_options_points_required_option_at_step)
{
    static const rc_option defs[] = { { "table", RC_OPT_STRING, NULL, "" }, RC_OPTIONS_END };
    char err[2048], want[2048];
    opt_set s;
    config *c = load_ok("steps:\n  - plugin: a\n  - plugin: b\n    name: bee\n");
    cr_assert_eq(opt_set_build(defs, c->steps[1].options, c->path, c->steps[1].name, &s, err,
                               sizeof err), -1);
    snprintf(want, sizeof want, "%s:3:5: step 'bee': missing required option 'table' (a string)",
             c->path);
    cr_assert_str_eq(err, want);
    config_free(c);
}

/* ------------------------------------------------- errors from the YAML */

Test(config, yaml_errors_carry_the_path)
{
    refuses(STEP "log: { level: info }\nlog: { level: warn }\n",
            ":4:1: duplicate key 'log' (lines 3 and 4)");
    refuses("database: &db { url: x }\n" STEP, ":1:11: anchors (&db) are not allowed in this file");
    refuses("database:\n  url: [x\n" STEP,
            ":3:6: did not find expected ',' or ']' (while parsing a flow sequence, which starts "
            "at 2:8)");
    refuses("- steps\n", ":1:1: the top level must be a mapping (key: value lines), not a list");
}

Test(config, empty_file)
{
    refuses("", ":1:1: the file is empty; a pipeline needs at least 'steps'");
    refuses("# all commented out\n# steps:\n", ":1:1: the file is empty; a pipeline needs at least 'steps'");
}

Test(config, missing_file_names_path_and_reason)
{
    char err[2048], want[2048];
    config *c = (config *)1;
    char *path = th_path(th_tmpdir(), "nope.yaml");
    cr_assert_eq(config_load(path, &c, err, sizeof err), -1);
    cr_assert_null(c);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    cr_assert_str_eq(err, want);
    free(path);
}

/* ------------------------------------------------------------ paths */

Test(config, relative_paths_resolve_against_the_files_folder)
{
    char err[2048], want[PATH_MAX + 64];
    char *sub = th_path(th_tmpdir(), "conf");
    cr_assert_eq(mkdir(sub, 0755), 0);
    char *path = th_path(sub, "p.yaml");
    th_write(path, "database:\n  password_file: ../secret/pw\n"
                   "history: { path: h.db }\nplugin_dir: ../plugins\n" STEP);
    config *c;
    cr_assert_eq(config_load(path, &c, err, sizeof err), 0, "%s", err);
    snprintf(want, sizeof want, "%s/conf", abs_tmpdir());
    cr_assert_str_eq(c->dir, want);
    cr_assert_eq(c->dir[0], '/', "absolute");
    snprintf(want, sizeof want, "%s/conf/h.db", abs_tmpdir());
    cr_assert_str_eq(c->history_path, want);
    snprintf(want, sizeof want, "%s/conf/../secret/pw", abs_tmpdir());
    cr_assert_str_eq(c->db_password_file, want);
    snprintf(want, sizeof want, "%s/conf/../plugins", abs_tmpdir());
    cr_assert_eq(c->n_plugin_dirs, 1);
    cr_assert_str_eq(c->plugin_dirs[0], want);
    config_free(c);
    free(path);
    free(sub);
}

Test(config, plugin_dir_as_string_and_as_list)
{
    config *c = load_ok("plugin_dir: /opt/plugins\n" STEP);
    cr_assert_eq(c->n_plugin_dirs, 1);
    cr_assert_str_eq(c->plugin_dirs[0], "/opt/plugins");
    config_free(c);

    c = load_ok("plugin_dir:\n  - one\n  - /abs/two\n  - three/four\n" STEP);
    cr_assert_eq(c->n_plugin_dirs, 3);
    assert_path(c->plugin_dirs[0], "one");
    cr_assert_str_eq(c->plugin_dirs[1], "/abs/two");
    assert_path(c->plugin_dirs[2], "three/four");
    config_free(c);

    refuses("plugin_dir: []\n" STEP, ":1:13: 'plugin_dir' is an empty list; give at least one folder");
    refuses("plugin_dir: { a: b }\n" STEP,
            ":1:13: 'plugin_dir' expects a folder or a list of folders, got a mapping");
    refuses("plugin_dir:\n  - a\n  - [b]\n" STEP, ":3:5: 'plugin_dir' expects a folder, got a list");
    refuses("plugin_dir:\n  - a\n  - ~\n" STEP, ":3:5: 'plugin_dir' must not be empty");
    refuses("plugin_dir: ''\n" STEP, ":1:13: 'plugin_dir' must not be empty");
    refuses("history: { path: \"\" }\n" STEP, ":1:18: 'history.path' must not be empty");
}

Test(config, resolve)
{
    char *p = config_resolve("/a", "b/c");
    cr_assert_str_eq(p, "/a/b/c");
    free(p);
    p = config_resolve("/a/", "b");
    cr_assert_str_eq(p, "/a/b");
    free(p);
    p = config_resolve("/", "b");
    cr_assert_str_eq(p, "/b");
    free(p);
    p = config_resolve("/a", "/etc/x");
    cr_assert_str_eq(p, "/etc/x");
    free(p);
}

/* --------------------------------------------------------- passwords */

static config *pw_config(const char *database_yaml)
{
    unsetenv("RECONCILER_DB_PASSWORD");
    unsetenv("RC_TEST_PW");
    char text[1024];
    snprintf(text, sizeof text, "database:\n%s" STEP, database_yaml);
    return load_ok(text);
}

static char *password_of(const config *c)
{
    char err[1024];
    char *pw = (char *)1;
    cr_assert_eq(config_password(c, &pw, err, sizeof err), 0, "%s", err);
    return pw;
}

Test(config, password_file_wins)
{
    char *f = write_cfg("pw", "from-file\n");
    config *c = pw_config("  password_file: pw\n  password_env: RC_TEST_PW\n");
    setenv("RC_TEST_PW", "from-env", 1);
    setenv("RECONCILER_DB_PASSWORD", "from-default", 1);
    char *pw = password_of(c);
    cr_assert_str_eq(pw, "from-file", "file first, one trailing newline dropped");
    free(pw);

    th_write(f, "two\n\n");
    pw = password_of(c);
    cr_assert_str_eq(pw, "two\n", "only one newline is dropped");
    free(pw);

    th_write(f, "crlf\r\n");
    pw = password_of(c);
    cr_assert_str_eq(pw, "crlf");
    free(pw);

    th_write(f, "no-newline");
    pw = password_of(c);
    cr_assert_str_eq(pw, "no-newline");
    free(pw);
    config_free(c);
    free(f);
}

Test(config, password_env_then_default_variable)
{
    config *c = pw_config("  password_env: RC_TEST_PW\n");
    setenv("RC_TEST_PW", "from-env", 1);
    setenv("RECONCILER_DB_PASSWORD", "from-default", 1);
    char *pw = password_of(c);
    cr_assert_str_eq(pw, "from-env");
    free(pw);
    config_free(c);

    c = pw_config("  url: x\n");
    setenv("RECONCILER_DB_PASSWORD", "from-default", 1);
    pw = password_of(c);
    cr_assert_str_eq(pw, "from-default");
    free(pw);

    unsetenv("RECONCILER_DB_PASSWORD");
    pw = password_of(c);
    cr_assert_null(pw, "none configured");
    config_free(c);
}

Test(config, password_env_named_but_unset_is_an_error_without_secrets)
{
    char err[1024], want[2048];
    config *c = pw_config("  password_env: RC_TEST_PW\n");
    setenv("RECONCILER_DB_PASSWORD", "Sup3r-Secret-pw", 1);
    char *pw = (char *)1;
    cr_assert_eq(config_password(c, &pw, err, sizeof err), -1, "no silent fallback");
    cr_assert_null(pw);
    snprintf(want, sizeof want, "%s: database.password_env names the variable 'RC_TEST_PW', "
             "which is not set", c->path);
    cr_assert_str_eq(err, want);
    cr_assert_null(strstr(err, "Sup3r"));
    config_free(c);
}

Test(config, password_file_unreadable_names_the_path)
{
    char err[1024], want[2048];
    config *c = pw_config("  password_file: missing-pw\n  password_env: RC_TEST_PW\n");
    setenv("RC_TEST_PW", "Sup3r-Secret-pw", 1);
    char *pw = (char *)1;
    cr_assert_eq(config_password(c, &pw, err, sizeof err), -1);
    cr_assert_null(pw);
    snprintf(want, sizeof want, "%s: database.password_file '%s/missing-pw': No such file or "
             "directory", c->path, abs_tmpdir());
    cr_assert_str_eq(err, want);
    cr_assert_null(strstr(err, "Sup3r"));
    config_free(c);

    /* A file that is plainly not a password: its text is not shown. */
    char *f = write_cfg("big", "");
    FILE *fp = fopen(f, "w");
    cr_assert_not_null(fp);
    for (int i = 0; i < 5000; i++)
        fputc('s', fp);
    cr_assert_eq(fclose(fp), 0);
    c = pw_config("  password_file: big\n");
    cr_assert_eq(config_password(c, &pw, err, sizeof err), -1);
    cr_assert(strstr(err, "is over 4096 bytes") && !strstr(err, "sss"), "%s", err);
    config_free(c);
    free(f);
}

/* ---------------------------------------------------- help and example */

static const char *const every_key[] = {
    "database.url", "database.password_env", "database.password_file",
    "database.connect_timeout", "database.read_timeout", "database.write_timeout",
    "database.time_zone", "history.path", "history.keep_runs", "plugin_dir", "schedule.on_startup",
    "schedule.interval", "schedule.jitter", "schedule.lock_wait", "schedule.max_run_time",
    "schedule.lock_ttl", "schedule.max_clock_skew", "http.listen",
    "http.token_env", "http.max_connections", "http.figures_refresh", "http.figures_wait",
    "http.figure_plugins", "http.dashboard_figures", "http.queue_figures", "log.level", "log.format", "steps", "steps[].plugin", "steps[].name",
    "steps[].options", "steps[].on_error", "steps[].enabled", "steps[].timeout",
    "steps[].max_changes", "steps[].memory_limit",
    "notify", "notify[].url", "notify[].name", "notify[].on", "notify[].format",
    "notify[].secret_env", "notify[].timeout", "notify[].retries", "notify[].backoff",
    "notify[].headers",
};

Test(config, help_lists_every_key)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    config_help(f);
    cr_assert_eq(fclose(f), 0);
    for (size_t i = 0; i < sizeof every_key / sizeof *every_key; i++) {
        char want[64];
        snprintf(want, sizeof want, "  %s ", every_key[i]);
        cr_expect(strstr(text, want), "help lacks %s:\n%s", every_key[i], text);
    }
    /* When to set the time zone, in one line. */
    cr_assert(strstr(text, "leave at server unless the bot's sessions set their own time_zone; "
                           "then set the same zone\n"), "%s", text);
    cr_assert(strstr(text, "error|warn|info|debug") && strstr(text, "continue|abort") &&
              strstr(text, "6h") && strstr(text, "(from 1 to 1000000)") &&
              strstr(text, "(from 1s to 365d)") && strstr(text, "(from 3s to 1h)") &&
              strstr(text, "(required)"), "%s", text);
    /* Every number has its range on its line, from the same table that checks it. */
    size_t numbers = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strstr(line, " int ") && !strstr(line, " duration "))
            continue;
        numbers++;
        cr_expect(strstr(line, " (at most ") || strstr(line, " (from "), "no range: %s", line);
    }
    cr_assert_eq(numbers, 26, "keep_runs, changes_keep, three timeouts, interval, jitter, lock_wait, "
                 "max_run_time, lock_ttl, max_clock_skew, max_connections, figures_refresh, figures_wait, "
                 "steps[].timeout, steps[].max_changes, notify[].timeout, retries, backoff, "
                 "jobs.NAME. every, jitter, missed_within, lock_ttl, max_run_time, lock_wait, "
                 "keep_runs");
    free(text);
}

Test(config, example_file_loads_and_shows_every_key)
{
    char err[2048];
    config *c;
    const char *path = "conf/pipeline.example.yaml";
    cr_assert_eq(config_load(path, &c, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(c->db_url);
    cr_assert(c->n_steps >= 1);
    config_free(c);

    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    for (size_t i = 0; i < sizeof every_key / sizeof *every_key; i++) {
        const char *leaf = strrchr(every_key[i], '.');
        leaf = leaf ? leaf + 1 : every_key[i];
        char want[64];
        snprintf(want, sizeof want, "%s:", leaf);
        cr_expect(strstr(text, want), "the example does not show %s", every_key[i]);
    }
}
