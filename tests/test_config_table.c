/* SPDX-License-Identifier: MIT */
/*
 * test_config_table.c - the key table's scopes (config.h: CFG_BOUND,
 * CFG_WORKER) drive the reload's keeping of bound keys, the copy a thread
 * keeps of the connection's settings, and the worker hand-off, with no code
 * per key: these tests go through the table, not through named fields, where
 * they can.
 */
#include "helpers.h"
#include "config/config.h"
#include "db/connect.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Two files that differ in every bound and worker key, and in reloadable ones. */
static const char running_text[] =
    "database:\n  url: \"sqlite:a.db\"\n  password_env: A_PW\n  password_file: a.pw\n"
    "  connect_timeout: 5s\n  read_timeout: 50s\n  write_timeout: 7s\n  time_zone: \"+01:00\"\n"
    "history:\n  path: a-history.db\n  keep_runs: 10\n"
    "schedule:\n  on_startup: true\n  interval: 1h\n"
    "http:\n  listen: 127.0.0.1:4001\n  token_env: A_TOKEN\n"
    "log:\n  level: info\n"
    "steps:\n  - plugin: leases\n";
static const char next_text[] =
    "\n\n"
    "database:\n  password_env: B_PW\n  url: \"sqlite:b.db\"\n  password_file: b.pw\n"
    "  connect_timeout: 6s\n  read_timeout: 60s\n  write_timeout: 8s\n  time_zone: server\n"
    "history:\n  path: b-history.db\n  keep_runs: 20\n"
    "schedule:\n  on_startup: false\n  interval: 2h\n  jitter: 1s\n"
    "http:\n  listen: 127.0.0.1:4002\n  token_env: B_TOKEN\n"
    "log:\n  level: debug\n"
    "steps:\n  - plugin: leases\n  - plugin: metrics\n";

/* The table's own rules hold: every key with a scope has a plain field. */
Test(config_table, rules_hold)
{
    char err[512] = "";
    cr_assert_eq(config_table_check(err, sizeof err), 0, "%s", err);
}

typedef struct seen {
    char keys[1024];
    int n;
} seen;

static void note_changed(void *user, const char *key)
{
    seen *s = user;
    snprintf(s->keys + strlen(s->keys), sizeof s->keys - strlen(s->keys), "%s%s",
             s->n++ ? "," : "", key);
}

/* A reload keeps every bound key's running value and names each it kept; the rest is new. */
Test(config_table, reload_keeps_bound_keys_and_names_them)
{
    config *run = th_config_text("run.yaml", running_text);
    config *next = th_config_text("next.yaml", next_text);
    seen s = { "", 0 };
    config_keep_bound(next, run, note_changed, &s);
    cr_assert_str_eq(s.keys, "database.url,database.password_env,database.password_file,"
                             "database.connect_timeout,database.read_timeout,"
                             "database.write_timeout,database.time_zone,history.path,"
                             "schedule.on_startup,http.listen,http.token_env",
                     "%s", s.keys);
    /* The running values, and the url's position in the running file with it. */
    cr_assert_str_eq(next->db_url, run->db_url);
    cr_assert_eq(next->db_url_line, run->db_url_line);
    cr_assert_eq(next->db_url_col, run->db_url_col);
    cr_assert_str_eq(next->db_password_file, run->db_password_file);
    cr_assert_eq(next->db_read_timeout_ms, 50000);
    cr_assert_str_eq(next->db_time_zone, "+01:00");
    cr_assert_str_eq(next->history_path, run->history_path);
    cr_assert_eq(next->schedule_on_startup, 1);
    cr_assert_str_eq(next->http_listen, "127.0.0.1:4001");
    /* Reloadable keys take the new file's values. */
    cr_assert_eq(next->history_keep_runs, 20, "history.keep_runs is reloadable");
    cr_assert_eq(next->schedule_interval_ms, 2 * 3600 * 1000);
    cr_assert_str_eq(next->log_level, "debug");
    cr_assert_eq(next->n_steps, 2);

    /* The other side: the same file again changes nothing and names nothing. */
    config *again = th_config_text("again.yaml", running_text);
    seen none = { "", 0 };
    config_keep_bound(again, run, note_changed, &none);
    cr_assert_eq(none.n, 0, "%s", none.keys);
    config_free(again);
    config_free(run);
    config_free(next);
}

/* A worker takes the supervisor's worker keys over its text's, and nothing else. */
Test(config_table, worker_keys_travel_by_name)
{
    config *sup = th_config_text("sup.yaml", running_text);
    config *wrk = th_config_text("wrk.yaml", next_text);
    char err[512] = "";
    json_t *keys = config_keys_json(sup, CFG_WORKER);
    /* Through text, as over the pipe. */
    char *line = json_dumps(keys, JSON_COMPACT);
    json_t *back = json_loads(line, 0, NULL);
    cr_assert_not_null(back, "%s", line);
    cr_assert_eq(config_keys_take(wrk, back, CFG_WORKER, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(wrk->db_url, "sqlite:a.db");
    cr_assert_eq(wrk->db_url_line, sup->db_url_line);
    cr_assert_eq(wrk->db_url_col, sup->db_url_col);
    cr_assert_str_eq(wrk->db_password_env, "A_PW");
    cr_assert_str_eq(wrk->db_password_file, sup->db_password_file);
    cr_assert_eq(wrk->db_connect_timeout_ms, 5000);
    cr_assert_eq(wrk->db_write_timeout_ms, 7000);
    cr_assert_str_eq(wrk->db_time_zone, "+01:00");
    /* Bound but not for workers: the worker's own file says them. */
    cr_assert_str_neq(wrk->history_path, sup->history_path);
    cr_assert_str_eq(wrk->http_listen, "127.0.0.1:4002");
    cr_assert_eq(wrk->n_steps, 2);
    /* What a thread copies of the connection's settings is the same set. */
    config *dup = connect_config_dup(sup);
    cr_assert_str_eq(dup->db_url, sup->db_url);
    cr_assert_eq(dup->db_url_line, sup->db_url_line);
    cr_assert_eq(dup->db_read_timeout_ms, 50000);
    cr_assert_str_eq(dup->db_time_zone, "+01:00");
    cr_assert_null(dup->history_path);
    config_free(dup);
    free(line);
    json_decref(back);
    json_decref(keys);
    config_free(sup);
    config_free(wrk);
}

/* A key missing or of another type is refused with its name; the config is left as it was. */
Test(config_table, worker_keys_refuse_by_name)
{
    config *sup = th_config_text("sup.yaml", running_text);
    config *wrk = th_config_text("wrk.yaml", next_text);
    char err[512];
    static const struct {
        const char *key, *value_json, *want;
    } bad[] = {
        { "database.connect_timeout", "\"6s\"",
          "'keys.values' 'database.connect_timeout' must be an integer in its range, got a string" },
        { "database.read_timeout", "-1",
          "'keys.values' 'database.read_timeout' must be an integer in its range, got an integer" },
        { "database.url", "42", "'keys.values' 'database.url' must be a string or null, got an integer" },
        { "database.time_zone", NULL, "'keys.values' has no 'database.time_zone'" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *keys = config_keys_json(sup, CFG_WORKER);
        json_t *values = json_object_get(keys, "values");
        if (bad[i].value_json)
            json_object_set_new(values, bad[i].key, json_loads(bad[i].value_json,
                                                               JSON_DECODE_ANY, NULL));
        else
            json_object_del(values, bad[i].key);
        err[0] = '\0';
        cr_assert_eq(config_keys_take(wrk, keys, CFG_WORKER, err, sizeof err), -1,
                     "%s accepted", bad[i].key);
        cr_assert_str_eq(err, bad[i].want);
        /* Checked before anything was taken. */
        cr_assert_str_eq(wrk->db_url, "sqlite:b.db");
        cr_assert_eq(wrk->db_connect_timeout_ms, 6000);
        json_decref(keys);
    }
    json_t *keys = config_keys_json(sup, CFG_WORKER);
    json_object_set_new(json_object_get(keys, "at"), "database.url", json_string("2:8"));
    cr_assert_eq(config_keys_take(wrk, keys, CFG_WORKER, err, sizeof err), -1);
    cr_assert_str_eq(err, "'keys.at' 'database.url' must be [line, column], got a string");
    json_decref(keys);
    config_free(sup);
    config_free(wrk);
}
