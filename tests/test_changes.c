/* SPDX-License-Identifier: MIT */
/* test_changes.c - change records (reconciler_change_rows): one per changed row,
 * written with the change, on both drivers, through real runs. */
#include "helpers.h"
#include "db/changes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define T "2030-06-15 12:00:00"
#define T_MINUS_1H "2030-06-15 11:00:00"
#define T_PLUS_1H "2030-06-15 13:00:00"

typedef struct record {
    char step[64], table[64], key[32];
    json_t *changes;
} record;

typedef struct records {
    size_t n;
    record r[64];
} records;

static int record_row(void *user, const rc_value *c, size_t n)
{
    records *rs = user;
    cr_assert_eq(n, 4);
    cr_assert_lt(rs->n, 64);
    record *r = &rs->r[rs->n++];
    snprintf(r->step, sizeof r->step, "%s", c[0].s);
    snprintf(r->table, sizeof r->table, "%s", c[1].s);
    snprintf(r->key, sizeof r->key, "%s", c[2].s);
    r->changes = json_loads(c[3].s, 0, NULL);
    cr_assert_not_null(r->changes, "%s", c[3].s);
    return 0;
}

static void read_records(db *d, records *rs)
{
    rs->n = 0;
    cr_assert_eq(db_query(d, "SELECT step, table_name, row_key, changes FROM reconciler_change_rows "
                          "ORDER BY id", NULL, 0, record_row, rs), 0, "%s", db_errmsg(d));
}

static void free_records(records *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        json_decref(rs->r[i].changes);
}

static const record *find(const records *rs, int64_t id)
{
    char key[32];
    const record *hit = NULL;
    snprintf(key, sizeof key, "%lld", (long long)id);
    for (size_t i = 0; i < rs->n; i++) {
        if (strcmp(rs->r[i].key, key) == 0) {
            cr_assert_null(hit, "row %s has two records", key);
            hit = &rs->r[i];
        }
    }
    return hit;
}

/* [before, after] of column col in r, as text ("null" for NULL). */
static void expect(const record *r, const char *col, const char *before, const char *after)
{
    json_t *pair = json_object_get(r->changes, col);
    cr_assert(json_is_array(pair), "row %s: no %s in its record", r->key, col);
    json_t *b = json_array_get(pair, 0), *a = json_array_get(pair, 1);
    if (before)
        cr_assert_str_eq(json_string_value(b) ? json_string_value(b) : "?", before, "%s", col);
    else
        cr_assert(json_is_null(b), "row %s: %s was NULL before", r->key, col);
    if (after)
        cr_assert_str_eq(json_string_value(a) ? json_string_value(a) : "?", after, "%s", col);
    else
        cr_assert(json_is_null(a), "row %s: %s is NULL after", r->key, col);
}

static json_t *step0(json_t *res)
{
    return json_array_get(json_object_get(res, "steps"), 0);
}

DB_TEST(changes, leases_records_each_changed_row_once)
{
    rig r;
    rig_up(&r, kind, "plugins", "  - plugin: leases\n");
    db *d = r.t.conn;
    int64_t requeue = th_job(d, "processing", 0, "w1", T_MINUS_1H);
    int64_t fail = th_job(d, "processing", 3, "w1", T_MINUS_1H);
    int64_t orphan = th_job(d, "processing", 1, "w2", NULL);
    int64_t stale = th_job(d, "completed", 1, "w5", T_MINUS_1H);
    int64_t live = th_job(d, "processing", 0, "w3", T_PLUS_1H);
    int64_t idle = th_job(d, "completed", 1, NULL, NULL);
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    json_t *s = step0(res);
    cr_assert_eq(json_integer_value(json_object_get(s, "rowsChanged")) > 0, 1);
    cr_assert_eq(json_integer_value(json_object_get(s, "changesRecorded")), 4);
    cr_assert_eq(json_integer_value(json_object_get(s, "unrecordedChanges")), 0);

    records rs;
    read_records(d, &rs);
    cr_assert_eq(rs.n, 4, "one record per changed row, got %zu", rs.n);
    cr_assert_null(find(&rs, live));
    cr_assert_null(find(&rs, idle));
    const record *a = find(&rs, requeue), *b = find(&rs, fail), *c = find(&rs, orphan),
                 *e = find(&rs, stale);
    cr_assert(a && b && c && e);
    cr_assert_str_eq(a->step, "leases");
    cr_assert_str_eq(a->table, "processing_jobs");
    expect(a, "status", "processing", "retry");
    expect(a, "locked_by", "w1", NULL);
    expect(b, "status", "processing", "failed");
    expect(c, "status", "processing", "retry");
    expect(c, "locked_by", "w2", NULL);
    expect(e, "locked_by", "w5", NULL);
    cr_assert_null(json_object_get(e->changes, "status"), "status did not change");
    free_records(&rs);
    json_decref(res);

    /* Nothing left to do: the second run changes nothing and records nothing. */
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_rows"), 4);
    json_decref(res);
    rig_down(&r);
}

DB_TEST(changes, dry_run_records_nothing)
{
    rig r;
    rig_up(&r, kind, "plugins", "  - plugin: leases\n");
    db *d = r.t.conn;
    th_job(d, "processing", 0, "w1", T_MINUS_1H);
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, T, 1, &res), RUN_SUCCESS);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_rows"), 0);
    cr_assert_eq(json_integer_value(json_object_get(step0(res), "changesRecorded")), 0);
    json_decref(res);
    rig_down(&r);
}

DB_TEST(changes, record_changes_false_records_nothing)
{
    rig r;
    rig_up(&r, kind, "plugins", "  - plugin: leases\n    record_changes: false\n");
    db *d = r.t.conn;
    th_job(d, "processing", 0, "w1", T_MINUS_1H);
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM processing_jobs WHERE status = 'retry'"), 1);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_rows"), 0);
    cr_assert_eq(json_integer_value(json_object_get(step0(res), "unrecordedChanges")), 0);
    json_decref(res);
    rig_down(&r);
}

/* Many chunks: records and changed rows match one to one, each chunk's in its transaction. */
DB_TEST(changes, many_chunks_one_record_per_row)
{
    rig r;
    rig_up(&r, kind, "plugins", "  - plugin: leases\n    options:\n      batch_size: 7\n");
    db *d = r.t.conn;
    for (int i = 0; i < 100; i++)
        th_job(d, "processing", i % 5, "w", i % 2 ? T_MINUS_1H : NULL);
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    int64_t changed = th_count(d, "SELECT COUNT(*) FROM processing_jobs WHERE status <> "
                                  "'processing'");
    cr_assert_eq(changed, 100);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_rows"), changed);
    cr_assert_eq(th_count(d, "SELECT COUNT(DISTINCT row_key) FROM reconciler_change_rows"), changed);
    cr_assert_eq(json_integer_value(json_object_get(step0(res), "changesRecorded")), changed);
    json_decref(res);
    rig_down(&r);
}

/*
 * One chunk of 1203 changed rows: three sets (500, 500, 203), a key row for
 * each record, and the list pages across the sets' edges by keyset: every
 * record once, ids falling, 7 at a time; one row's history is its own record.
 */
DB_TEST(changes, a_large_chunk_is_sets_and_pages_across_them)
{
    rig r;
    rig_up(&r, kind, "plugins", "  - plugin: leases\n    options:\n      batch_size: 5000\n");
    db *d = r.t.conn;
    for (int i = 0; i < 1203; i++) /* orphans: each is requeued */
        th_job(d, "processing", 0, "w", NULL);
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    cr_assert_eq(json_integer_value(json_object_get(step0(res), "changesRecorded")), 1203);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_sets"), 3);
    cr_assert_eq(th_count(d, "SELECT MAX(nrecords) FROM reconciler_change_sets"), 500);
    cr_assert_eq(th_count(d, "SELECT SUM(nrecords) FROM reconciler_change_sets"), 1203);
    /* The run writes the sets only; their key rows come after it. */
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_keys"), 0);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_sets WHERE keyed = 0"), 3);

    unsigned char *seen = calloc(1204, 1);
    changes_filter f = { .limit = 7 };
    int64_t last = INT64_MAX, n = 0;
    for (;;) {
        json_t *l = changes_list(d, &f);
        cr_assert_not_null(l, "%s", db_errmsg(d));
        size_t k = json_array_size(l);
        for (size_t i = 0; i < k; i++) {
            json_t *c = json_array_get(l, i);
            int64_t id = json_integer_value(json_object_get(c, "id"));
            long key = atol(json_string_value(json_object_get(c, "key")));
            cr_assert_lt(id, last, "ids fall");
            cr_assert(key >= 1 && key <= 1203 && !seen[key], "key %ld", key);
            seen[key] = 1;
            last = id;
            n++;
        }
        json_decref(l);
        if (k < 7)
            break;
        f.before = last;
    }
    cr_assert_eq(n, 1203);
    free(seen);

    /* One row's, at each set's edge and inside one: before the sets are keyed and after. */
    static const char *const keys[] = { "1", "500", "501", "1000", "1001", "1203", "777" };
    for (int keyed = 0; keyed < 2; keyed++) {
        if (keyed) {
            cr_assert_eq(changes_key_sets(d, 2), 2, "%s", db_errmsg(d));
            cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_keys"), 1000);
            cr_assert_eq(changes_key_sets(d, 100), 1, "%s", db_errmsg(d));
            cr_assert_eq(changes_key_sets(d, 100), 0, "%s", db_errmsg(d));
        }
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            changes_filter g = { .table = "processing_jobs", .key = keys[i], .limit = 10 };
            json_t *l = changes_list(d, &g);
            cr_assert_not_null(l, "%s", db_errmsg(d));
            cr_assert_eq(json_array_size(l), 1, "key %s", keys[i]);
            cr_assert_str_eq(json_string_value(json_object_get(json_array_get(l, 0), "key")),
                             keys[i]);
            json_decref(l);
        }
    }
    /* Keyed: a key row for every record, each naming the record's own set. */
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_keys"), 1203);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_sets WHERE keyed = 0"), 0);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_rows v JOIN "
                             "reconciler_change_keys k ON k.table_name = v.table_name AND "
                             "k.row_key = v.row_key AND k.set_id = (v.id - v.id % 65536) / 65536"), 1203);
    json_decref(res);
    rig_down(&r);
}

/*
 * One row's history over three runs: the first two runs' sets keyed, the
 * third's not yet. Its records come newest first from both, one page at a
 * time down to the first (a page of 1: each page's edge falls between the
 * two sources), and whole in one page.
 */
DB_TEST(changes, one_row_pages_across_keyed_and_unkeyed_sets)
{
    rig r;
    rig_up(&r, kind, "plugins",
           "  - plugin: sql\n    name: bump\n    options:\n      table: user_sessions\n"
           "      key: user_id\n      set: \"follow_up_attempts = follow_up_attempts + 1\"\n"
           "      where: \"follow_up_attempts < 100\"\n      result: bumped\n"
           "      batch_size: 2\n");
    db *d = r.t.conn;
    for (int i = 0; i < 5; i++) {
        char sql[200];
        snprintf(sql, sizeof sql, "INSERT INTO user_sessions (user_id, follow_up_attempts, "
                 "last_activity) VALUES ('u%d', 0, '2030-01-01 00:00:00')", i);
        cr_assert_eq(db_exec(d, sql, NULL, 0, NULL), 0, "%s", db_errmsg(d));
    }
    for (int run = 0; run < 3; run++) {
        json_t *res = NULL;
        cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
        json_decref(res);
        if (run == 1)
            cr_assert_eq(changes_key_sets(d, 1000), 6, "%s", db_errmsg(d));
    }
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_sets WHERE keyed = 0"), 3);
    changes_filter f = { .table = "user_sessions", .key = "u2", .limit = 1 };
    int64_t want = 3; /* follow_up_attempts went 0 -> 1 -> 2 -> 3 */
    for (;;) {
        json_t *l = changes_list(d, &f);
        cr_assert_not_null(l, "%s", db_errmsg(d));
        if (json_array_size(l) == 0) {
            json_decref(l);
            break;
        }
        json_t *c = json_array_get(l, 0);
        json_t *v = json_object_get(json_object_get(c, "changes"), "follow_up_attempts");
        cr_assert_str_eq(json_string_value(json_object_get(c, "key")), "u2");
        cr_assert_eq(json_integer_value(json_array_get(v, 1)), want, "page for %lld",
                     (long long)want);
        cr_assert_eq(json_integer_value(json_array_get(v, 0)), want - 1);
        want--;
        f.before = json_integer_value(json_object_get(c, "id"));
        json_decref(l);
    }
    cr_assert_eq(want, 0, "records missed down to %lld", (long long)want);
    changes_filter all = { .table = "user_sessions", .key = "u2", .limit = 10 };
    json_t *l = changes_list(d, &all);
    cr_assert_eq(json_array_size(l), 3);
    json_decref(l);
    rig_down(&r);
}

/* A plugin built for 1.5 loads and runs; what its chunks change is counted, not lost. */
DB_TEST(changes, abi_1_5_plugin_writes_are_unrecorded_changes)
{
    rig r;
    rig_up(&r, kind, "tests/plugins", "  - plugin: old15\n");
    db *d = r.t.conn;
    for (int i = 0; i < 5; i++)
        th_job(d, "pending", 0, "w", T_MINUS_1H);
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    json_t *s = step0(res);
    cr_assert_eq(json_integer_value(json_object_get(s, "rowsChanged")), 5);
    cr_assert_eq(json_integer_value(json_object_get(s, "unrecordedChanges")), 5);
    cr_assert_eq(json_integer_value(json_object_get(s, "changesRecorded")), 0);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_rows"), 0);
    json_decref(res);
    rig_down(&r);
}

/* The sql step declares its update: set's columns, before and after, per row. */
DB_TEST(changes, sql_step_records_its_update)
{
    rig r;
    rig_up(&r, kind, "plugins",
           "  - plugin: sql\n    name: park\n    options:\n      table: processing_jobs\n"
           "      set: \"status = 'failed', `attempts` = attempts + 1\"\n"
           "      where: \"status = 'pending'\"\n      result: parked\n"
           "      batch_size: 2\n");
    db *d = r.t.conn;
    int64_t a = th_job(d, "pending", 1, NULL, NULL);
    int64_t b = th_job(d, "pending", 2, NULL, NULL);
    th_job(d, "completed", 0, NULL, NULL);
    int64_t c = th_job(d, "pending", 0, NULL, NULL);
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    cr_assert_eq(json_integer_value(json_object_get(step0(res), "changesRecorded")), 3);
    cr_assert_eq(json_integer_value(json_object_get(step0(res), "unrecordedChanges")), 0);
    records rs;
    read_records(d, &rs);
    cr_assert_eq(rs.n, 3);
    const int64_t ids[] = { a, b, c }, att[] = { 1, 2, 0 };
    for (int i = 0; i < 3; i++) {
        const record *x = find(&rs, ids[i]);
        cr_assert_not_null(x);
        cr_assert_str_eq(x->step, "park");
        expect(x, "status", "pending", "failed");
        json_t *p = json_object_get(x->changes, "attempts");
        cr_assert_eq(json_integer_value(json_array_get(p, 0)), att[i]);
        cr_assert_eq(json_integer_value(json_array_get(p, 1)), att[i] + 1);
    }
    free_records(&rs);
    json_decref(res);
    rig_down(&r);
}

static json_t *cli_json(const char *const *args)
{
    char *out = NULL, *err = NULL;
    int st = th_run_cli(args, NULL, &out, &err);
    cr_assert_eq(st, 0, "exit %d: %s", st, err);
    json_t *j = json_loads(out, 0, NULL);
    cr_assert(json_is_array(j), "%s", out);
    free(out);
    free(err);
    return j;
}

/* `reconciler changes`: one row's records, a run's records in pages by keyset. */
DB_TEST(changes, cli_filters_and_pages)
{
    rig r;
    rig_up(&r, kind, "plugins", "  - plugin: leases\n");
    db *d = r.t.conn;
    int64_t a = th_job(d, "processing", 0, "w1", T_MINUS_1H);
    for (int i = 0; i < 4; i++)
        th_job(d, "processing", 0, "w1", T_MINUS_1H);
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    int64_t run = json_integer_value(json_object_get(res, "runId"));
    json_decref(res);
    cr_assert_gt(run, 0);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM reconciler_change_rows WHERE run_id = "
                             "(SELECT MAX(run_id) FROM reconciler_change_rows)"), 5);

    char key[32], runs[32], before[32];
    snprintf(key, sizeof key, "%lld", (long long)a);
    snprintf(runs, sizeof runs, "%lld", (long long)run);
    const char *one[] = { "changes", "-c", r.yaml, "--table", "processing_jobs", "--key", key,
                          "--json", NULL };
    json_t *j = cli_json(one);
    cr_assert_eq(json_array_size(j), 1);
    json_t *st = json_object_get(json_object_get(json_array_get(j, 0), "changes"), "status");
    cr_assert_str_eq(json_string_value(json_array_get(st, 0)), "processing");
    cr_assert_str_eq(json_string_value(json_array_get(st, 1)), "retry");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(j, 0), "runId")), run);
    json_decref(j);

    const char *page1[] = { "changes", "-c", r.yaml, "--run", runs, "-n", "3", "--json", NULL };
    j = cli_json(page1);
    cr_assert_eq(json_array_size(j), 3);
    int64_t last = json_integer_value(json_object_get(json_array_get(j, 2), "id"));
    cr_assert_gt(json_integer_value(json_object_get(json_array_get(j, 0), "id")), last);
    json_decref(j);
    snprintf(before, sizeof before, "%lld", (long long)last);
    const char *page2[] = { "changes", "-c", r.yaml, "--run", runs, "-n", "3", "--before",
                            before, "--json", NULL };
    j = cli_json(page2);
    cr_assert_eq(json_array_size(j), 2, "the rest: 5 records in all");
    cr_assert_lt(json_integer_value(json_object_get(json_array_get(j, 0), "id")), last);
    json_decref(j);

    const char *nokey[] = { "changes", "-c", r.yaml, "--key", key, NULL };
    char *out = NULL, *err = NULL;
    cr_assert_eq(th_run_cli(nokey, NULL, &out, &err), 2);
    cr_assert(strstr(err, "--key needs --table"), "%s", err);
    free(out);
    free(err);
    const char *text[] = { "changes", "-c", r.yaml, "--step", "leases", NULL };
    cr_assert_eq(th_run_cli(text, NULL, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "status: \"processing\" -> \"retry\""), "%s", out);
    free(out);
    free(err);
    rig_down(&r);
}

/* A database not migrated to 009: the step still runs; its changes are counted, not lost. */
DB_TEST(changes, without_the_table_changes_are_counted)
{
    rig r;
    rig_up(&r, kind, "plugins", "  - plugin: leases\n");
    db *d = r.t.conn;
    cr_assert_eq(db_exec(d, "DROP TABLE reconciler_change_sets", NULL, 0, NULL), 0, "%s",
                 db_errmsg(d));
    th_job(d, "processing", 0, "w1", T_MINUS_1H);
    th_job(d, "processing", 0, "w1", T_MINUS_1H);
    json_t *res = NULL;
    cr_assert_eq(rig_run(&r, T, 0, &res), RUN_SUCCESS);
    cr_assert_eq(th_count(d, "SELECT COUNT(*) FROM processing_jobs WHERE status = 'retry'"), 2);
    /* Counted as rowsChanged counts: per statement (SQLite's chunk clears, then requeues). */
    json_t *s = step0(res);
    cr_assert_geq(json_integer_value(json_object_get(s, "unrecordedChanges")), 2);
    cr_assert_eq(json_integer_value(json_object_get(s, "unrecordedChanges")),
                 json_integer_value(json_object_get(s, "rowsChanged")));
    cr_assert_eq(json_integer_value(json_object_get(s, "changesRecorded")), 0);
    json_decref(res);
    rig_down(&r);
}


/* Pruning deletes the records older than the bound, oldest first, at most limit at a time. */
DB_TEST(changes, prune_deletes_old_records_in_chunks)
{
    th_db t;
    th_db_create(kind, &t);
    th_db_migrate(&t);
    /* One record a set, as migration 009 leaves the records of 008. */
    const char *ins = kind == DB_MYSQL
        ? "INSERT INTO reconciler_change_sets (run_id, job, step, table_name, nrecords, records, "
          "at) VALUES (1, '', 's', 't', 1, JSON_ARRAY(JSON_ARRAY(?, JSON_OBJECT())), "
          "NOW(3) - INTERVAL ? HOUR)"
        : "INSERT INTO reconciler_change_sets (run_id, job, step, table_name, nrecords, records, "
          "at) VALUES (1, '', 's', 't', 1, json_array(json_array(?, json_object())), "
          "strftime('%Y-%m-%d %H:%M:%f', 'now', ?))";
    for (int i = 0; i < 10; i++) {
        char key[16], ago[32];
        snprintf(key, sizeof key, "%d", i);
        snprintf(ago, sizeof ago, "-%d hours", i < 5 ? 48 : 1);
        rc_value p[] = { rc_text(key), kind == DB_MYSQL ? rc_int(i < 5 ? 48 : 1) : rc_text(ago) };
        cr_assert_eq(db_exec(t.conn, ins, p, 2, NULL), 0, "%s", db_errmsg(t.conn));
    }
    /* Kept 24 h: the five of 48 h ago go, 3 then 2; the five of 1 h ago stay. */
    cr_assert_eq(changes_prune(t.conn, 86400, 3), 3);
    cr_assert_eq(changes_prune(t.conn, 86400, 3), 2);
    cr_assert_eq(changes_prune(t.conn, 86400, 3), 0);
    cr_assert_eq(th_count(t.conn, "SELECT COUNT(*) FROM reconciler_change_rows"), 5);
    cr_assert_eq(th_count(t.conn, "SELECT MIN(CAST(row_key AS INTEGER)) FROM "
                                   "reconciler_change_rows"), 5);
    th_db_destroy(&t);
}

/* history.changes_keep is bounded: 1h to 3650d, both sides of each bound. */
Test(changes, changes_keep_is_bounded)
{
    static const struct { const char *v; int ok; } cases[] = {
        { "59m", 0 }, { "1h", 1 }, { "30d", 1 }, { "3650d", 1 }, { "3651d", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = NULL, err[1024] = "";
        config *cfg = NULL;
        cr_assert_neq(asprintf(&text, "database:\n  url: \"sqlite:x.db\"\nhistory:\n  "
                               "changes_keep: %s\nsteps:\n  - plugin: leases\n", cases[i].v), -1);
        char *path = th_path(th_tmpdir(), "keep.yaml");
        th_write(path, text);
        int rc = config_load(path, &cfg, err, sizeof err);
        cr_assert_eq(rc == 0, cases[i].ok, "%s: %s", cases[i].v, err);
        if (!cases[i].ok)
            cr_assert(strstr(err, "changes_keep"), "%s", err);
        config_free(cfg);
        free(text);
        free(path);
    }
}
