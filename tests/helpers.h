/* SPDX-License-Identifier: MIT */
/* helpers.h - shared test helpers: temp dirs, test databases, running the CLI. */
#ifndef RC_TEST_HELPERS_H
#define RC_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <criterion/criterion.h>
#include "db/db.h"

/* The build folder the tests run from (RECONCILER_BUILD, default "build"). */
const char *th_build(void);

/*
 * The absolute path of BUILD/sub (which must exist), in a buffer that the
 * next call overwrites: pipeline files elsewhere must find plugins there.
 */
const char *th_build_path(const char *sub);

/* A fresh empty folder for this test (under BUILD/tmp); same path per test process. */
const char *th_tmpdir(void);

/* path = dir/name; returns a static-per-call malloc'd string the caller frees. */
char *th_path(const char *dir, const char *name);

/* Write text to path (creating it); fails the test on error. */
void th_write(const char *path, const char *text);

/* Read a whole file (malloc'd, NUL-terminated) or NULL. */
char *th_read(const char *path);

/*
 * 1 when needle occurs in the bytes of path or of path-wal (SQLite keeps
 * recent writes there), 0 when not, -1 when neither file exists.
 */
int th_file_contains(const char *path, const char *needle);

/*
 * A fresh database for this test: for DB_MYSQL a new database on the harness's
 * MariaDB (a test fails, not skips, when the harness is absent); for DB_SQLITE
 * a new file in th_tmpdir(). url (malloc'd, password-free) and password
 * (static or NULL) describe how to reach it.
 */
typedef struct th_db {
    db_kind kind;
    char *url;
    const char *password;
    db *conn;
} th_db;
void th_db_create(db_kind kind, th_db *out);
void th_db_destroy(th_db *t);
/* Connect and apply sql/<driver>/ migrations. */
void th_db_migrate(th_db *t);

/*
 * Define a test that runs once per driver: DB_TEST(suite, name) { ... uses
 * `kind` ... } expands into suite/name_sqlite and suite/name_mysql.
 */
#define DB_TEST(suite, name, ...)                                                  \
    static void suite##_##name##_body(db_kind kind);                               \
    Test(suite, name##_sqlite, ##__VA_ARGS__) { suite##_##name##_body(DB_SQLITE); } \
    Test(suite, name##_mysql, ##__VA_ARGS__) { suite##_##name##_body(DB_MYSQL); }  \
    static void suite##_##name##_body(db_kind kind)

/* One scalar from a query as int64 (fails the test on error). */
int64_t th_count(db *d, const char *sql);

/* A processing_jobs row (job_type 'test') with these columns (NULL: SQL NULL); its id. */
int64_t th_job(db *d, const char *status, int attempts, const char *locked_by,
               const char *locked_until);

/*
 * Run BUILD/reconciler with args (NULL-terminated), extra environment
 * "K=V" strings (NULL-terminated, may be NULL). Captures stdout and stderr
 * (malloc'd) and returns the exit status (or 128+signal).
 */
int th_run_cli(const char *const *args, const char *const *env, char **out, char **err);
/* The same for any program. */
int th_run_prog(const char *bin, const char *const *args, const char *const *env, char **out,
                char **err);

/*
 * A pipeline ready to run: a fresh migrated database of kind, a pipeline file
 * with the given steps (YAML lines under "steps:") and plugin_dir
 * BUILD/<plugdir>, loaded and built, and a history store.
 */
#include "config/config.h"
#include "engine/history.h"
#include "engine/runner.h"
typedef struct rig {
    th_db t;
    config *cfg;
    pipeline *p;
    history *h;
    char *yaml;
} rig;
void rig_up(rig *r, db_kind kind, const char *plugdir, const char *steps_yaml);
void rig_down(rig *r);

/*
 * Run r once; returns the status, *res the result (caller decrefs). Fails the
 * test when a step worker's LeakSanitizer report (make asan) is among what the
 * run wrote to stderr.
 */
run_status rig_run(rig *r, const char *reference_time, int dry_run, json_t **res);
/* The same without that check; *said (malloc'd) is all the run and its workers wrote to
 * stderr, which is not passed on (rig_run passes it on to the test's stderr). */
run_status rig_run_said(rig *r, const char *reference_time, int dry_run, json_t **res,
                        char **said);

/* A checksum of every row of table (ordered by its first column). */
uint64_t th_checksum(db *d, const char *table);

/* text written to th_tmpdir()/name and loaded; when it does not load, the test fails with why. */
config *th_config_text(const char *name, const char *text);

#endif
