/* SPDX-License-Identifier: MIT */
/*
 * test_changes_keys.c - change records of rows whose keys are awkward text
 * (digits and ':' as the MariaDB capture writes them, multibyte characters,
 * spaces), in chunks of several rows: each changed row gets one
 * record under its own key, none is counted unrecorded; on both drivers
 * (MariaDB reads the keys back from @rc_changed, SQLite from RETURNING).
 * And the record's own text (written by changes.c, not by jansson) is JSON
 * whatever the values hold: quotes, control characters, decimals.
 */
#include "helpers.h"

#include <stdlib.h>
#include <string.h>

#define T "2030-06-15 12:00:00"

static const char *const keys[] = { "7", "12:3", "3:ab", "x", "ü:2", "日本:語", "1:1:1",
                                    "longer key with spaces" };
#define NKEYS (sizeof keys / sizeof *keys)

static int count_row(void *user, const rc_value *cols, size_t n)
{
    *(int64_t *)user = n >= 1 && cols[0].type == RC_INT ? cols[0].i : -1;
    return 0;
}

DB_TEST(changes_keys, awkward_text_keys_each_get_their_record)
{
    rig r;
    rig_up(&r, kind, "plugins",
           "  - plugin: sql\n    name: bump\n    options:\n      table: user_sessions\n"
           "      key: user_id\n      set: \"follow_up_attempts = 9\"\n"
           "      where: \"follow_up_attempts < 5\"\n      result: bumped\n"
           "      batch_size: 4\n");
    db *d = r.t.conn;
    for (size_t i = 0; i < NKEYS; i++) {
        rc_value p[] = { rc_text(keys[i]) };
        cr_assert_eq(db_exec(d, "INSERT INTO user_sessions (user_id, follow_up_attempts, "
                             "last_activity) VALUES (?, 1, '2030-01-01 00:00:00')", p, 1, NULL),
                     0, "%s", db_errmsg(d));
    }
    /* One row the step leaves alone: no record for it. */
    cr_assert_eq(db_exec(d, "INSERT INTO user_sessions (user_id, follow_up_attempts, "
                         "last_activity) VALUES ('9:untouched', 7, '2030-01-01 00:00:00')",
                         NULL, 0, NULL), 0, "%s", db_errmsg(d));
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    json_t *s = json_array_get(json_object_get(res, "steps"), 0);
    cr_assert_eq(json_integer_value(json_object_get(s, "changesRecorded")), (json_int_t)NKEYS,
                 "%lld records", (long long)json_integer_value(json_object_get(s, "changesRecorded")));
    cr_assert_eq(json_integer_value(json_object_get(s, "unrecordedChanges")), 0);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_rows"), (int64_t)NKEYS);
    for (size_t i = 0; i < NKEYS; i++) {
        int64_t n = 0;
        rc_value p[] = { rc_text(keys[i]) };
        cr_assert_eq(db_query(d, "SELECT COUNT(*) FROM reconciler_change_rows WHERE table_name = "
                              "'user_sessions' AND row_key = ? AND changes = "
                              "'{\"follow_up_attempts\":[1,9]}'", p, 1, count_row, &n), 0,
                     "%s", db_errmsg(d));
        cr_assert_eq(n, 1, "key '%s': %lld records", keys[i], (long long)n);
    }
    json_decref(res);
    rig_down(&r);
}

static int text_row(void *user, const rc_value *cols, size_t n)
{
    if (n >= 1 && cols[0].type == RC_TEXT)
        *(char **)user = strdup(cols[0].s);
    return 0;
}

static json_t *only_record(db *d)
{
    char *text = NULL;
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_rows"), 1);
    cr_assert_eq(db_query(d, "SELECT changes FROM reconciler_change_rows", NULL, 0, text_row, &text),
                 0, "%s", db_errmsg(d));
    cr_assert_not_null(text);
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    cr_assert_not_null(j, "not JSON: %s (%s)", text, e.text);
    free(text);
    return j;
}

/* The record's text is JSON whatever the values hold: quotes, backslashes, control characters. */
DB_TEST(changes_keys, values_with_quotes_and_control_characters_stay_json)
{
    static const char awkward[] = "say \"hi\" \\ back\nnew line\ttab \x01 ctl \xc3\xbc end";
    rig r;
    rig_up(&r, kind, "plugins",
           "  - plugin: sql\n    name: tidy\n    options:\n      table: processing_jobs\n"
           "      set: \"last_error = 'tidied'\"\n"
           "      where: \"status = 'failed'\"\n      result: tidied\n");
    db *d = r.t.conn;
    rc_value p[] = { rc_text(awkward) };
    cr_assert_eq(db_exec(d, "INSERT INTO processing_jobs (job_type, status, attempts, last_error) "
                         "VALUES ('t', 'failed', 1, ?)", p, 1, NULL), 0, "%s", db_errmsg(d));
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    json_t *ch = only_record(d);
    json_t *pair = json_object_get(ch, "last_error");
    cr_assert_str_eq(json_string_value(json_array_get(pair, 0)), awkward);
    cr_assert_str_eq(json_string_value(json_array_get(pair, 1)), "tidied");
    json_decref(ch);
    json_decref(res);
    rig_down(&r);
}

/* A DECIMAL arrives as a double: written as a JSON number, 2 as 2.0. */
DB_TEST(changes_keys, decimals_are_json_numbers)
{
    rig r;
    rig_up(&r, kind, "plugins",
           "  - plugin: sql\n    name: price\n    options:\n      table: orders\n"
           "      set: \"total_amount = 2\"\n"
           "      where: \"processing_status = 'pending'\"\n      result: priced\n");
    db *d = r.t.conn;
    cr_assert_eq(db_exec(d, "INSERT INTO orders (order_number, processing_status, total_amount) "
                         "VALUES ('O1', 'pending', 1.5)", NULL, 0, NULL), 0, "%s", db_errmsg(d));
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    json_t *ch = only_record(d);
    json_t *pair = json_object_get(ch, "total_amount");
    cr_assert(json_is_number(json_array_get(pair, 0)) && json_is_number(json_array_get(pair, 1)));
    cr_assert_float_eq(json_number_value(json_array_get(pair, 0)), 1.5, 1e-9);
    cr_assert_float_eq(json_number_value(json_array_get(pair, 1)), 2.0, 1e-9);
    json_decref(ch);
    json_decref(res);
    rig_down(&r);
}
