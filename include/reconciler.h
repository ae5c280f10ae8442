/* SPDX-License-Identifier: MIT */
/*
 * reconciler.h - the one header a reconciler step plugin includes, and its
 * author's whole documentation.
 *
 * WHAT A PLUGIN IS
 *   A shared object NAME.so in a plugin folder (plugin_dir). It exports
 *   exactly one symbol, reconciler_plugin(), which returns a pointer to a
 *   constant rc_plugin descriptor (write it with RC_PLUGIN or
 *   RC_PLUGIN_CHECK below). The core reaches the plugin only through that
 *   descriptor; the plugin reaches the core only through the rc_ctx it is
 *   handed, whose function table (rc_api) carries the database, the log, the
 *   run's clock, the dry-run flag, the step's options and the result sink. No
 *   core symbol is resolved by the dynamic linker: a plugin links against
 *   nothing of ours. Build it with
 *       cc -std=c11 -Iinclude -fPIC -shared -fvisibility=hidden -o NAME.so NAME.c
 *
 * WHERE AND WHEN YOUR CODE RUNS (the process and thread model)
 *   - Steps run in a step worker: a separate process (this same binary,
 *     started with fork + exec for the run, so it inherits no thread or
 *     library state), never in the process that holds the run lock, the run
 *     history and the HTTP API. The supervisor process hands the worker its
 *     assignment (what to run, on which database, at which T), reads each
 *     step's outcome as it finishes, and finishes the run's records itself.
 *   - init(), run() and fini() are called once per step per run, in that
 *     order, on one thread, in the worker (twice when the step sets
 *     max_changes: see MAX_CHANGES below): also in dry runs, and also when
 *     the service runs the plugin as a read-only probe for its figures (in
 *     the background, every http.figures_refresh and after each run; see
 *     FIGURES below), in a worker of its own. They are never called by
 *     `validate`.
 *   - check() (ABI 1.1, optional) is called by `validate` and before every
 *     run, before any step writes, with the step's options and no database.
 *   - prepare() (ABI 1.2, optional) is called by `validate --db URL`, and in
 *     a run just before init(), with a database on which nothing can be
 *     written: compile your statements there (db_prepare).
 *   - A crash, abort() or exit() in your code costs only your step: the step
 *     is recorded failed with what happened ("crashed: signal 11
 *     (Segmentation fault)", "exited with status 0 before reporting"), the
 *     run goes on in a fresh worker (unless the step says on_error: abort),
 *     and the run lock, history and log row are finished by the supervisor.
 *   - A step that runs longer than its timeout (steps[].timeout, default
 *     10m), or a run longer than schedule.max_run_time, or a process asked to
 *     stop: interrupted() becomes true; return at your next chunk. A worker
 *     that has not returned after a short grace is killed, and on MySQL its
 *     connection is killed on the server (KILL), so no statement keeps locks.
 *     Chunks are whole: a killed step leaves whole chunks applied, and the
 *     next run converges. Keep your own transactions short for that reason.
 *   - Do not create threads that call rc_api, do not fork, do not install
 *     signal handlers, do not call setlocale (the core writes numbers in the
 *     C locale anyway), and write to the log rather than to stdout or stderr.
 *
 * MAX_CHANGES (steps[].max_changes, the core's cap on a step's writes)
 *   When a step sets it, a real run runs the step twice: first a rehearsal,
 *   in which dry_run() is 0 and every write really runs but inside a
 *   transaction the core rolls back (db_commit and each chunk's commit roll
 *   back instead; a db_exec outside a transaction runs in one of its own),
 *   while the core adds up the rows each write matched; then, if that sum is
 *   within the cap, the real run, in which the core still refuses (rolls
 *   back) a write that would take the sum past the cap. A write refused for
 *   the cap fails like a database error (db_error() says why), and the step
 *   fails whatever run() returns. So: do not keep state between runs
 *   outside the database, and write only to transactional (InnoDB, SQLite)
 *   tables; DDL or a MyISAM table cannot be rolled back.
 *
 * OWNERSHIP
 *   Strings the core returns (now_text, db_driver, db_error, opt_string) are
 *   owned by the core: never free them. now_text and db_driver stay valid for
 *   the whole step; opt_string's until fini() returns; db_error's until the
 *   next database call. Strings and values you pass in (SQL text, params,
 *   result keys and values, log and fail messages) are read during the call
 *   only, and copied where kept (result_string copies its value). Row values
 *   a db_query callback receives are valid during that call only.
 *
 * COMPATIBILITY (the same rules as SQLite's extension table)
 *   - RC_ABI_MAJOR changes when a public struct changes incompatibly; the
 *     core refuses a plugin built for another major.
 *   - RC_ABI_MINOR grows when entries are appended to rc_api or rc_plugin.
 *     Entries are only ever appended, never moved; this header pins every
 *     offset (the layout checks at its end), so a plugin built with flags
 *     that change the layout (-fshort-enums, a #pragma pack) fails to
 *     compile instead of loading wrong.
 *   - A plugin built for an older minor keeps loading (a 1.0 plugin simply
 *     has no check(), a 1.1 plugin no prepare(), a 1.2 plugin never calls
 *     db_chunked_by(), a 1.3 plugin has no min_abi_minor, a 1.4 plugin
 *     declares no figures).
 *   - A plugin built for a newer minor than the core's (ABI 1.4 on): it
 *     says in rc_plugin.min_abi_minor the lowest core minor it needs, and a
 *     core of at least 1.4 loads it when that is not above its own minor
 *     (refusing it otherwise, naming both). RC_PLUGIN* fill the field with
 *     RC_PLUGIN_NEEDS_MINOR, which defaults to 4: every entry up to 1.4 is
 *     in every core that reads the field (older cores refuse any newer
 *     minor). An entry appended later says its minor ("ABI 1.5"); a plugin
 *     that calls one defines RC_PLUGIN_NEEDS_MINOR to that minor before
 *     including this header, or checks RC_API_HAS(ctx, entry) first.
 *   - Sizes: rc_api and rc_ctx start with their size as the core built them
 *     (rc_api.size tells which entries exist: RC_API_HAS), and rc_plugin
 *     carries its size as its third field (after the two ABI numbers), so
 *     the core can tell which fields a descriptor has. The small value
 *     structs (rc_option, rc_value, rc_chunk_stmt, rc_chunk_key, rc_figure)
 *     have no size field: they are frozen, and a need they cannot meet gets a new
 *     struct and a new entry.
 *
 * WHICH rc_api CALLS EACH CALLBACK MAY MAKE
 *   Every call takes the ctx the callback was handed, during that callback
 *   only (never a ctx kept from another call, never from another thread).
 *   init() and run() in a dry run (or an API probe) and in a real run
 *   (also the rehearsal of MAX_CHANGES):
 *                               check()   prepare()  dry run   real run
 *     log, fail, fail_option    yes       yes        yes       yes
 *     opt_*                     yes       yes        yes       yes
 *     interrupted               yes       yes        yes       yes
 *     dry_run                   1         1          1         0
 *     now, now_text             0, ""     T          T         T
 *     format_time               UTC       yes        yes       yes
 *     db_driver                 ""        yes        yes       yes
 *     db_query, db_prepare      refused   yes        yes       yes
 *     db_begin, db_commit,
 *       db_rollback             refused   yes        yes       yes
 *     db_exec, db_chunked,
 *       db_chunked_by           refused   refused    refused   yes
 *     db_error, db_retryable    yes       yes        yes       yes
 *     result_*                  dropped   dropped    yes       yes
 *   "refused": the call fails (RC_ERROR, db_error() says why) and the step's
 *   error is set; "dropped": accepted, and not part of any result. fini()
 *   has no ctx: it may free its state and release what the plugin itself
 *   opened (files, memory), and must call nothing in rc_api (a ctx kept
 *   from init() or run() is gone). fini() is not called when init() failed,
 *   nor when the worker is killed (timeout, stop): keep nothing there that
 *   the process's end would not clean up.
 *
 * ARGUMENTS, NULL AND COUNTS (every entry)
 *   - ctx: the ctx handed to the current callback; never NULL.
 *   - Format strings (log, fail, fail_option): NULL prints "(no message)"
 *     for fail and fail_option; log's must not be NULL.
 *   - Names (opt_*): NULL or an undeclared name is a plugin bug (above).
 *   - SQL text (db_exec, db_query, db_prepare, db_chunked's find_sql and
 *     stmts[].sql): NULL fails the call ("no SQL text given").
 *   - Parameters (params, find_params, stmts[].params): NULL only when the
 *     count beside it is 0, else the call fails; db_exec and db_query take
 *     as many as the driver does (SQLite 32766, MySQL 65535); chunked
 *     statements and finds at most RC_CHUNK_PARAMS_MAX (32), bounds and
 *     batch included.
 *   - db_query's fn: NULL fails the call; user is passed through as is.
 *   - affected (db_exec): may be NULL.
 *   - format_time: out may be NULL or outlen 0 (nothing written); an outlen
 *     below RC_TIME_TEXT_SIZE gets "".
 *   - result_* keys: NULL, empty or not valid UTF-8 is refused (RC_ERROR);
 *     result_string's value may be NULL (reports null).
 *   - db_chunked / db_chunked_by: stmts NULL with nstmts > 0 fails the
 *     call (nstmts 0 runs the finds only); key (db_chunked_by) NULL, ncols
 *     outside 1..RC_CHUNK_KEY_MAX, nbind outside 1..RC_CHUNK_BIND_MAX or a
 *     NULL first/bind fail the call with why; batch >= 1.
 *
 * Minimal plugin:
 *
 *     #include <reconciler.h>
 *     static const rc_option options[] = { RC_OPTIONS_END };
 *     static int run(rc_ctx *ctx, void *state) {
 *         int64_t n = 0;
 *         (void)state;
 *         if (rc_count(ctx, "SELECT COUNT(*) FROM orders", NULL, 0, &n) != RC_OK)
 *             return RC_ERROR;                 // the db error is already recorded
 *         return rc_result_int(ctx, "orders.total", n);
 *     }
 *     RC_PLUGIN("example", "Counts orders", "1.0.0", options, NULL, run, NULL)
 */
#ifndef RECONCILER_H
#define RECONCILER_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RC_ABI_MAJOR 1
#define RC_ABI_MINOR 6

/*
 * The lowest core minor this plugin needs (rc_plugin.min_abi_minor, ABI
 * 1.4): define it before including this header to raise it, e.g. when the
 * plugin calls an entry appended after 1.4. 4 is the default and the
 * lowest that means anything: a core older than 1.4 does not read the field
 * and refuses every newer minor anyway.
 */
#ifndef RC_PLUGIN_NEEDS_MINOR
#define RC_PLUGIN_NEEDS_MINOR 4
#endif
#if RC_PLUGIN_NEEDS_MINOR > RC_ABI_MINOR
#error "RC_PLUGIN_NEEDS_MINOR is above this header's RC_ABI_MINOR: use a newer reconciler.h"
#endif

/*
 * The size of a buffer for a time as text, "YYYY-MM-DD HH:MM:SS" and its NUL
 * (format_time's out, now_text's string).
 */
#define RC_TIME_TEXT_SIZE 20

/* The name of the one symbol a plugin exports. */
#define RC_PLUGIN_SYMBOL "reconciler_plugin"

/* Return codes of every rc_api function that can fail, and of init()/run()/check(). */
#define RC_OK 0
#define RC_ERROR (-1)

#if defined(__GNUC__)
#define RC_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define RC_EXPORT __attribute__((visibility("default")))
#else
#define RC_PRINTF(fmt, args)
#define RC_EXPORT
#endif

/* ---------------------------------------------------------------- options */

/*
 * Option types. The core parses the pipeline file's value (and the default
 * below) with the same rules:
 *   RC_OPT_STRING   any scalar
 *   RC_OPT_INT      a decimal integer that fits in int64_t
 *   RC_OPT_BOOL     true/false, yes/no, on/off
 *   RC_OPT_DOUBLE   a finite decimal number
 *   RC_OPT_DURATION a number with a unit, ms s m h d, or several ("1h30m");
 *                   a bare integer means seconds
 * Ranges and combinations are the plugin's to check, in check().
 */
typedef enum rc_opt_type {
    RC_OPT_STRING = 1,
    RC_OPT_INT = 2,
    RC_OPT_BOOL = 3,
    RC_OPT_DOUBLE = 4,
    RC_OPT_DURATION = 5
} rc_opt_type;

/*
 * One entry of a plugin's options table. The table ends with RC_OPTIONS_END.
 * default_value is text as it would stand in the pipeline file; NULL makes the
 * option required. The core checks every default when it loads the plugin, so
 * a bad default is a plugin error, never a surprise at run time. Names are 1
 * to 64 letters, digits, '_', '.' or '-'.
 */
typedef struct rc_option {
    const char *name;
    rc_opt_type type;
    const char *default_value;
    const char *description;
} rc_option;

#define RC_OPTIONS_END { NULL, (rc_opt_type)0, NULL, NULL }

/* ----------------------------------------------------------------- values */

/* A bound parameter or a column of a result row. */
typedef enum rc_value_type {
    RC_NULL = 0,
    RC_INT = 1,
    RC_DOUBLE = 2,
    RC_TEXT = 3
} rc_value_type;

typedef struct rc_value {
    rc_value_type type;
    int64_t i;      /* RC_INT */
    double d;       /* RC_DOUBLE (DECIMAL columns arrive as doubles too) */
    const char *s;  /* RC_TEXT: NUL-terminated; owned by whoever made the value */
} rc_value;

static inline rc_value rc_null(void) { rc_value v = { RC_NULL, 0, 0.0, NULL }; return v; }
static inline rc_value rc_int(int64_t i) { rc_value v = { RC_INT, i, 0.0, NULL }; return v; }
static inline rc_value rc_double(double d) { rc_value v = { RC_DOUBLE, 0, d, NULL }; return v; }
static inline rc_value rc_text(const char *s) { rc_value v = { RC_TEXT, 0, 0.0, s }; return v; }

/*
 * Called once per result row. cols[] and the strings in it are valid only
 * during the call. Return 0 to go on, non-zero to stop reading rows early
 * (which is not an error). On MySQL the rows stream over the connection:
 * run no statement from inside the callback (it fails with a clear error);
 * read first, then write.
 */
typedef int (*rc_row_fn)(void *user, const rc_value *cols, size_t ncols);

/* ---------------------------------------------------------------- context */

typedef enum rc_log_level {
    RC_LOG_ERROR = 0,
    RC_LOG_WARN = 1,
    RC_LOG_INFO = 2,
    RC_LOG_DEBUG = 3
} rc_log_level;

typedef struct rc_ctx rc_ctx;

/* One statement of a chunked write; see rc_api.db_chunked. */
typedef struct rc_chunk_stmt {
    const char *sql;
    const rc_value *params; /* bound before the two chunk bounds; may be NULL */
    size_t n;
    int64_t affected;       /* rows matched, summed over chunks */
} rc_chunk_stmt;

/*
 * A chunk key of several columns, for rc_api.db_chunked_by (ABI 1.3): the
 * order an index holds, e.g. (locked_until, id) over an index on
 * locked_until (InnoDB appends the primary key to every index).
 */
#define RC_CHUNK_KEY_MAX 4
/* How often one bound may be bound: a key of 4 columns needs 4 + 3 + 2 + 1 = 10. */
#define RC_CHUNK_BIND_MAX 10
/* Parameters of one chunked statement or find, the bounds (and batch) included. */
#define RC_CHUNK_PARAMS_MAX 32
typedef struct rc_chunk_key {
    size_t ncols;               /* the key's columns, as the find selects them:
                                   1..RC_CHUNK_KEY_MAX (4) */
    const rc_value *first;      /* ncols values, together below every candidate's key */
    const unsigned char *bind;  /* how one bound is bound, in placeholder order: indexes
                                   into the key's columns, e.g. {0, 0, 1} for
                                   "(locked_until > ? OR (locked_until = ? AND id > ?))" */
    size_t nbind;               /* 1..RC_CHUNK_BIND_MAX (10); every column appears
                                   at least once */
} rc_chunk_key;

/*
 * ABI 1.6: what one statement of a chunked write changes, so that the core
 * can write a change record for every row it changes (docs/internals.md
 * "Change records"). The statement must be an UPDATE of table whose WHERE
 * clause is where (its placeholders last in the statement, the chunk's
 * bounds included; the first of them is the statement's where_param-th,
 * counted from 0). In the chunk's transaction the core reads key_column and
 * columns of the rows that match where, under row locks, before the
 * statement, and the same columns of those rows after it. A struct of its
 * own, frozen like rc_chunk_stmt, so that 1.5 plugins are untouched.
 */
typedef struct rc_change_decl {
    const char *table;          /* a plain table name */
    const char *key_column;     /* a column that names one row of table */
    const char *const *columns; /* the columns the statement sets */
    size_t ncolumns;            /* 1..RC_CHANGE_COLUMNS_MAX */
    const char *where;          /* the statement's WHERE clause, without WHERE */
    size_t where_param;         /* its first placeholder's index in the statement */
} rc_change_decl;

/* The most columns one rc_change_decl may name. */
#define RC_CHANGE_COLUMNS_MAX 16

/*
 * The core's function table. Entries are appended only (see COMPATIBILITY).
 * Every entry is documented as NAME / ARGUMENTS / RETURNS / NOTES.
 */
typedef struct rc_api {
    uint32_t size; /* sizeof(rc_api) as the core was built */

    /*
     * log - write a line on the core's log (stderr, text or JSON), prefixed
     *   with the step's name.
     * ARGUMENTS level; fmt and args as printf.
     * RETURNS nothing.
     * NOTES foreign text in the message (a value read from the database) is
     *   made valid UTF-8; lines are cut at about 2 KiB.
     */
    void (*log)(rc_ctx *ctx, rc_log_level level, const char *fmt, ...) RC_PRINTF(3, 4);

    /*
     * fail - record why the step failed: the message goes to the result's
     *   errors[] and the step's "error" field. Return RC_ERROR from run()
     *   (or check()) afterwards.
     * ARGUMENTS fmt and args as printf.
     * RETURNS nothing.
     * NOTES a database failure is recorded automatically; fail() overrides
     *   it. Messages are kept up to 4 KiB, cut at a character boundary.
     */
    void (*fail)(rc_ctx *ctx, const char *fmt, ...) RC_PRINTF(2, 3);

    /*
     * opt_string, opt_int, opt_bool, opt_double, opt_duration_ms - the step's
     *   options, already parsed against the plugin's table and defaulted.
     * ARGUMENTS name: an option the table declares, asked for with its type.
     * RETURNS the value (durations in milliseconds). opt_string's string is
     *   the core's, valid until fini() returns.
     * NOTES asking for a name the table does not declare, or with another
     *   type, is a plugin bug and fails the step loudly (its error names the
     *   option), whatever run() returns; the call returns NULL/0.
     */
    const char *(*opt_string)(rc_ctx *ctx, const char *name);
    int64_t (*opt_int)(rc_ctx *ctx, const char *name);
    int (*opt_bool)(rc_ctx *ctx, const char *name);
    double (*opt_double)(rc_ctx *ctx, const char *name);
    int64_t (*opt_duration_ms)(rc_ctx *ctx, const char *name);

    /*
     * now, now_text, format_time - the run's reference time T, read once
     *   per run from the database's own clock, so that every step and every
     *   host agrees on it.
     * RETURNS now(): T in Unix seconds (UTC). now_text(): T as the database
     *   session writes it, "YYYY-MM-DD HH:MM:SS" in the session's time zone
     *   (database.time_zone): compare the bot's datetimes with this text.
     *   The core's string, valid for the whole step.
     * ARGUMENTS format_time: unix_seconds, out (at least RC_TIME_TEXT_SIZE,
     *   20, bytes; a shorter outlen gets ""), outlen.
     * NOTES format_time writes any Unix time with the session's offset at T,
     *   so format_time(now() - n * 86400) is exactly what
     *   DATE_SUB(NOW(), INTERVAL n DAY) gives. Call it on the thread run()
     *   was called on. In check() there is no T yet: now() is 0.
     */
    int64_t (*now)(rc_ctx *ctx);
    const char *(*now_text)(rc_ctx *ctx);
    void (*format_time)(int64_t unix_seconds, char *out, size_t outlen);

    /*
     * dry_run - is this a dry run?
     * RETURNS non-zero in a dry run (and in API probes).
     * NOTES in a dry run db_exec() and db_chunked() refuse to run, fail, and
     *   set db_error() to why: count what you would change with db_query().
     */
    int (*dry_run)(rc_ctx *ctx);

    /*
     * interrupted - must the step stop?
     * RETURNS non-zero once the process was asked to stop, the step's
     *   timeout or the run's limit passed, or the run lock may be lost.
     * NOTES return from run() at your next chunk (db_chunked already stops
     *   between chunks). A step that returns RC_OK after this is recorded
     *   "interrupted", never "ok".
     */
    int (*interrupted)(rc_ctx *ctx);

    /*
     * db_driver - which SQL dialect: for the few statements that differ.
     * RETURNS "mysql" or "sqlite" (the core's string, valid for the step).
     */
    const char *(*db_driver)(rc_ctx *ctx);

    /*
     * db_exec - run one statement with '?' placeholders bound to
     *   params[0..n-1]. Values are never pasted into SQL.
     * ARGUMENTS sql; params (may be NULL when n is 0); affected (may be
     *   NULL): rows the statement matched.
     * RETURNS RC_OK or RC_ERROR; on error db_error() says why (driver, code,
     *   message) and the step's error is set, unless fail() set one.
     * NOTES refused in a dry run and in check().
     */
    int (*db_exec)(rc_ctx *ctx, const char *sql, const rc_value *params, size_t n,
                   int64_t *affected);

    /*
     * db_query - run a query and call fn for each row.
     * RETURNS RC_OK (also when fn stopped early) or RC_ERROR as db_exec.
     * NOTES allowed in dry runs; refused in check().
     */
    int (*db_query)(rc_ctx *ctx, const char *sql, const rc_value *params, size_t n,
                    rc_row_fn fn, void *user);

    /*
     * db_begin, db_commit, db_rollback - a transaction on the step's
     *   connection.
     * RETURNS RC_OK or RC_ERROR as db_exec.
     * NOTES keep transactions short: live workers share these tables, and a
     *   step killed mid-transaction is rolled back. db_rollback keeps the
     *   error that made you roll back in db_error(). Prefer db_chunked.
     */
    int (*db_begin)(rc_ctx *ctx);
    int (*db_commit)(rc_ctx *ctx);
    int (*db_rollback)(rc_ctx *ctx);

    /*
     * db_error - why the last database call failed.
     * RETURNS "driver error CODE: message", or "" when it did not fail. The
     *   core's string, valid until the next database call.
     */
    const char *(*db_error)(rc_ctx *ctx);

    /*
     * db_retryable - is the last database error worth retrying the whole
     *   transaction for (deadlock, lock wait timeout, SQLITE_BUSY)?
     * RETURNS non-zero when it is.
     */
    int (*db_retryable)(rc_ctx *ctx);

    /*
     * result_int, result_double, result_bool, result_string - report a
     *   figure for the result JSON.
     * ARGUMENTS key: a dotted key nests ("jobs.byStatus.retry"); value.
     * RETURNS RC_OK, or RC_ERROR (logged, and the step's error says why)
     *   when the key is empty or not valid UTF-8, passes through a value
     *   already set ("a.b" when "a" is a number), or the value is one JSON
     *   cannot hold: a double that is NaN or infinite, a string that is not
     *   valid UTF-8.
     * NOTES setting a key twice keeps the last value. result_string copies
     *   its value; NULL reports null.
     */
    int (*result_int)(rc_ctx *ctx, const char *key, int64_t value);
    int (*result_double)(rc_ctx *ctx, const char *key, double value);
    int (*result_bool)(rc_ctx *ctx, const char *key, int value);
    int (*result_string)(rc_ctx *ctx, const char *key, const char *value);

    /*
     * db_chunked - chunked writes, the safe way to change many rows beside
     *   live workers. Placeholders are positional, so the chunk's bounds are
     *   bound *after* the caller's parameters. Repeatedly:
     *   1. find the next chunk: run find_sql with parameters
     *      [find_params..., lo, batch]; it must select the key column of the
     *      candidate rows in ascending order, e.g.
     *        SELECT id FROM t WHERE <cond> AND id > ? ORDER BY id LIMIT ?
     *      The last key read is the chunk's upper bound hi. No rows: done.
     *   2. in one short transaction, run every stmts[i].sql with parameters
     *      [stmts[i].params..., lo, hi], e.g.
     *        UPDATE t SET a = ? WHERE <cond> AND id > ? AND id <= ?
     *      Each statement must re-check its own condition, so that a row a
     *      worker changed since step 1 is left alone. Rows matched are added
     *      to stmts[i].affected (the caller zeroes it first).
     *   3. lo = hi; a find that returned fewer than batch rows was the last.
     * ARGUMENTS first: the lo of the first chunk (rc_int(0) for positive
     *   integer ids, rc_text("") for text keys); batch >= 1; at most 30
     *   parameters per statement.
     * RETURNS RC_OK (also when a stop request ended the loop between chunks:
     *   interrupted() tells), or RC_ERROR as db_exec.
     * NOTES a deadlock or lock wait timeout rolls the chunk back and retries
     *   it (up to 5 times, with jittered backoff). A kill at any moment leaves
     *   whole chunks applied. Refused in a dry run and in check().
     */
    int (*db_chunked)(rc_ctx *ctx, const char *find_sql, const rc_value *find_params,
                      size_t find_n, rc_value first, int64_t batch,
                      struct rc_chunk_stmt *stmts, size_t nstmts);

    /* ------------------------------------------------------ ABI 1.1 */

    /*
     * fail_option - like fail(), for an option whose value is wrong: the
     *   message names the pipeline file's FILE:LINE:COL of that value (or of
     *   the step, for a default), so `validate` points at it.
     * ARGUMENTS option: a declared option's name; fmt and args as printf.
     * RETURNS nothing; return RC_ERROR from check() afterwards.
     */
    void (*fail_option)(rc_ctx *ctx, const char *option, const char *fmt, ...) RC_PRINTF(3, 4);

    /* ------------------------------------------------------ ABI 1.2 */

    /*
     * db_prepare - have the database compile sql without running it, so that
     *   a syntax error, an unknown table or column is found before anything
     *   is read or written.
     * ARGUMENTS sql: one statement with '?' placeholders (nothing is bound).
     * RETURNS RC_OK, or RC_ERROR with db_error() saying why (the step's error
     *   is set as for db_exec, unless fail() or fail_option() set one).
     * NOTES allowed in prepare(), run() and dry runs; refused in check().
     *   MySQL checks tables and columns at prepare time too; so does SQLite.
     */
    int (*db_prepare)(rc_ctx *ctx, const char *sql);

    /* ------------------------------------------------------ ABI 1.3 */

    /*
     * db_chunked_by - db_chunked with a key of several columns, so that the
     *   chunks can follow an index whose first column is not unique (an index
     *   on a time column holds (time, primary key) order). The same loop as
     *   db_chunked, with each bound bound as key->bind says. Repeatedly:
     *   1. run find_sql with [find_params..., lo (nbind values), batch]; it
     *      must select the key->ncols key columns, in ascending key order:
     *        SELECT locked_until, id FROM t WHERE <cond>
     *          AND (locked_until > ? OR (locked_until = ? AND id > ?))
     *          ORDER BY locked_until, id LIMIT ?
     *      with bind = {0, 0, 1}. The last row read is the upper bound hi.
     *   2. in one short transaction, run every stmts[i].sql with
     *      [stmts[i].params..., lo (nbind values), hi (nbind values)], e.g.
     *        UPDATE t SET ... WHERE <cond>
     *          AND (locked_until > ? OR (locked_until = ? AND id > ?))
     *          AND (locked_until < ? OR (locked_until = ? AND id <= ?))
     *   3. lo = hi; a find that returned fewer than batch rows was the last.
     * ARGUMENTS key: the columns, the first lo and the binding (see
     *   rc_chunk_key); key->first together must lie below every candidate
     *   ("0000-00-00 00:00:00" and 0 for a MySQL DATETIME and a positive id);
     *   a key value the find returns must not be NULL. batch >= 1; at most
     *   32 parameters per statement, the bounds included.
     * RETURNS RC_OK or RC_ERROR, as db_chunked.
     * NOTES as db_chunked: retries (counted in the step's retries), the
     *   max_changes cap, stop requests between chunks, refused in a dry run
     *   and in check(). db_chunked(first) is db_chunked_by with ncols 1,
     *   bind {0}.
     */
    int (*db_chunked_by)(rc_ctx *ctx, const char *find_sql, const rc_value *find_params,
                         size_t find_n, const rc_chunk_key *key, int64_t batch,
                         struct rc_chunk_stmt *stmts, size_t nstmts);

    /* ------------------------------------------------------ ABI 1.6 */

    /*
     * declare_changes - declare what the statements of the next
     *   db_chunked / db_chunked_by call change: decls[i] belongs to its
     *   stmts[i] (n may be below its nstmts; a decl whose table is NULL
     *   declares nothing). The core copies decls and every string it
     *   points to before returning, so they may live on the caller's stack
     *   or be reused at once. That call consumes the declaration. The rows a
     *   statement without one changes are counted in the step's
     *   unrecordedChanges (every write of a plugin built for 1.5 and below).
     * RETURNS RC_OK, or RC_ERROR when a declaration is malformed (why in
     *   db_error and the step's error).
     * NOTES define RC_PLUGIN_NEEDS_MINOR 6, or ask RC_API_HAS first.
     */
    int (*declare_changes)(rc_ctx *ctx, const rc_change_decl *decls, size_t n);
} rc_api;

/* What a plugin is handed. The core owns it; it lives while the call lasts. */
struct rc_ctx {
    uint32_t size;       /* sizeof(rc_ctx) as the core was built */
    const rc_api *api;
    const char *step;    /* this step's name from the pipeline file */
    void *core;          /* opaque to plugins */
};

/*
 * Does the core's table have entry (a member name of rc_api)? Always true
 * for the entries of minor RC_PLUGIN_NEEDS_MINOR and below; ask it before
 * calling a newer one.
 */
#define RC_API_HAS(ctx, entry)                                                      \
    ((ctx)->api->size >= offsetof(rc_api, entry) + sizeof((ctx)->api->entry))

/* ---------------------------------------------------------------- figures */

/*
 * ABI 1.5: the figures a plugin computes, declared so that the service can
 * serve them without knowing the plugin. The service runs every plugin that
 * declares figures (as a pipeline step or a bundled probe) read-only in the
 * background (a probe: dry_run() is 1), keeps the last results, exports
 * every declared figure on /metrics under its name with its help text, and
 * builds the dashboard and queue JSON from them through a mapping
 * (http.dashboard_figures, http.queue_figures) that names figures, never
 * result keys. A mapping that names a figure no plugin declares is an error
 * of `validate`, with the mapping's FILE:LINE:COL.
 *
 *   name   the figure's name: 1 to 64 of [a-z0-9_], starting with a letter,
 *          not starting with "reconciler_" (the core's own metrics); unique
 *          over every loaded plugin. /metrics exports it as is.
 *   key    the result key run() reports it under ("queue.total"): a number
 *          or a boolean (1/0); with label, an object of numbers
 *          ("queue.byStatus" = {"pending": 3, ...}).
 *   type   RC_FIGURE_GAUGE (a level) or RC_FIGURE_COUNTER (only grows).
 *   unit   what it counts ("jobs", "seconds", "" for none); shown in docs.
 *   help   one line for /metrics' # HELP.
 *   label  NULL: one value; else the label name the members of key's
 *          object are exported under (name{label="pending"} 3).
 *
 * The table ends with RC_FIGURES_END. A 1.4 core ignores the table, so a
 * plugin that declares figures still loads there (RC_PLUGIN_NEEDS_MINOR
 * may stay 4).
 */
typedef enum rc_figure_type {
    RC_FIGURE_GAUGE = 1,
    RC_FIGURE_COUNTER = 2
} rc_figure_type;

typedef struct rc_figure {
    const char *name;
    const char *key;
    rc_figure_type type;
    const char *unit;
    const char *help;
    const char *label;
} rc_figure;

#define RC_FIGURES_END { NULL, NULL, (rc_figure_type)0, NULL, NULL, NULL }

/* ------------------------------------------------------------- descriptor */

typedef struct rc_plugin {
    uint32_t abi_major;   /* RC_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor;   /* RC_ABI_MINOR the plugin was built with */
    uint32_t size;        /* sizeof(rc_plugin) the plugin was built with */

    const char *name;        /* required; must equal the file's base name */
    const char *description; /* one line */
    const char *version;     /* the plugin's own version */
    const rc_option *options; /* may be NULL: no options */

    /*
     * init (optional): set *state for run(); RC_OK or RC_ERROR (after fail).
     * run (required): do the step; RC_OK or RC_ERROR (after ctx->api->fail).
     * fini (optional): free state; called whenever init succeeded (or when
     *   there is no init), after run().
     */
    int (*init)(rc_ctx *ctx, void **state);
    int (*run)(rc_ctx *ctx, void *state);
    void (*fini)(void *state);

    /*
     * ABI 1.1. check (optional): are the step's option values acceptable
     * together (ranges, combinations)? Called by `validate` and before every
     * run, before any step writes, with no database (db_* calls are refused)
     * and no T. RC_OK, or RC_ERROR after fail_option() or fail(): the run
     * does not start and `validate` exits 2 with the option's FILE:LINE:COL.
     */
    int (*check)(rc_ctx *ctx);

    /*
     * ABI 1.2. prepare (optional): have the database compile the statements
     * the step will run (db_prepare), so that an SQL error is reported with
     * the option's FILE:LINE:COL (fail_option) instead of half-way through.
     * Called by `validate --db URL` and, in a run, before init(), with a
     * database and T, in a dry run's mode: db_query and db_prepare work,
     * db_exec and db_chunked are refused. RC_OK, or RC_ERROR after
     * fail_option() or fail(): `validate` exits 2, a run fails the step.
     */
    int (*prepare)(rc_ctx *ctx);

    /*
     * ABI 1.4. The lowest core minor the plugin needs (RC_PLUGIN_NEEDS_MINOR):
     * a core whose minor is below abi_minor loads the plugin when this is
     * not above its own. 0 (a descriptor written by hand that leaves it
     * out) is taken as abi_minor: the plugin needs everything it was built
     * with. It may not be above abi_minor.
     */
    uint32_t min_abi_minor;

    /*
     * ABI 1.5. figures (optional, may be NULL): the figures the plugin
     * computes (see rc_figure), ending with RC_FIGURES_END.
     */
    const rc_figure *figures;
} rc_plugin;

typedef const rc_plugin *(*rc_plugin_entry_fn)(void);

/*
 * Define the descriptor and the exported entry point in one line (no ';'
 * after it). Build the plugin with -fvisibility=hidden; only this symbol is
 * exported. RC_PLUGIN_CHECK also names a check() callback, RC_PLUGIN_PREPARE
 * a check() and a prepare() callback (either may be NULL), RC_PLUGIN_FIGURES
 * those and a table of declared figures (ABI 1.5; may be NULL). min_abi_minor is
 * RC_PLUGIN_NEEDS_MINOR (see COMPATIBILITY).
 */
#define RC_PLUGIN_FIGURES(name_, desc_, version_, options_, init_, run_, fini_, check_,  \
                          prepare_, figures_)                                             \
    RC_EXPORT const rc_plugin *reconciler_plugin(void);                               \
    RC_EXPORT const rc_plugin *reconciler_plugin(void)                                \
    {                                                                                 \
        static const rc_plugin desc = { RC_ABI_MAJOR, RC_ABI_MINOR,                   \
                                        (uint32_t)sizeof(rc_plugin), name_,           \
                                        desc_, version_, options_, init_, run_,       \
                                        fini_, check_, prepare_,                      \
                                        RC_PLUGIN_NEEDS_MINOR, figures_ };            \
        return &desc;                                                                 \
    }
#define RC_PLUGIN_PREPARE(name_, desc_, version_, options_, init_, run_, fini_, check_,  \
                          prepare_)                                                       \
    RC_PLUGIN_FIGURES(name_, desc_, version_, options_, init_, run_, fini_, check_,     \
                      prepare_, NULL)
#define RC_PLUGIN_CHECK(name_, desc_, version_, options_, init_, run_, fini_, check_)  \
    RC_PLUGIN_PREPARE(name_, desc_, version_, options_, init_, run_, fini_, check_, NULL)
#define RC_PLUGIN(name_, desc_, version_, options_, init_, run_, fini_)                \
    RC_PLUGIN_CHECK(name_, desc_, version_, options_, init_, run_, fini_, NULL)

/* ---------------------------------------------------------- layout checks */

/*
 * The layout the core was built with. A plugin compiled with flags that
 * change it (-fshort-enums, a #pragma pack, another data model) stops here
 * at compile time instead of loading and reading the wrong bytes. Offsets
 * are in pointers (P): every field of rc_api, rc_ctx and rc_plugin is a
 * uint32_t or a pointer; rc_value and rc_chunk_stmt hold 64-bit integers
 * and are pinned for 64-bit targets (the core builds only there).
 */
#if defined(__cplusplus)
#define RC__STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define RC__STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#elif defined(__GNUC__)
#define RC__STATIC_ASSERT(cond, msg) __extension__ _Static_assert(cond, msg)
#else
#define RC__CAT2(a, b) a##b
#define RC__CAT(a, b) RC__CAT2(a, b)
#define RC__STATIC_ASSERT(cond, msg) \
    typedef char RC__CAT(rc__layout_check_, __LINE__)[(cond) ? 1 : -1]
#endif

#define RC__P sizeof(void *)
#define RC__API_AT(entry, k) \
    RC__STATIC_ASSERT(offsetof(rc_api, entry) == (k) * RC__P, "rc_api." #entry " moved")
/* rc_plugin's pointers start after the three uint32_t, at the next pointer boundary. */
#define RC__PLUGIN_PTRS ((12 + RC__P - 1) / RC__P * RC__P)
#define RC__PLUGIN_AT(field, k)                                                       \
    RC__STATIC_ASSERT(offsetof(rc_plugin, field) == RC__PLUGIN_PTRS + (k) * RC__P,     \
                      "rc_plugin." #field " moved")

RC__STATIC_ASSERT(sizeof(rc_opt_type) == sizeof(int),
                  "rc_opt_type is not int-sized (-fshort-enums?)");
RC__STATIC_ASSERT(sizeof(rc_value_type) == sizeof(int),
                  "rc_value_type is not int-sized (-fshort-enums?)");
RC__STATIC_ASSERT(sizeof(rc_log_level) == sizeof(int),
                  "rc_log_level is not int-sized (-fshort-enums?)");
RC__STATIC_ASSERT(sizeof(void (*)(void)) == RC__P,
                  "function pointers differ in size from data pointers");

RC__STATIC_ASSERT(offsetof(rc_api, size) == 0, "rc_api.size moved");
RC__API_AT(log, 1);
RC__API_AT(fail, 2);
RC__API_AT(opt_string, 3);
RC__API_AT(opt_int, 4);
RC__API_AT(opt_bool, 5);
RC__API_AT(opt_double, 6);
RC__API_AT(opt_duration_ms, 7);
RC__API_AT(now, 8);
RC__API_AT(now_text, 9);
RC__API_AT(format_time, 10);
RC__API_AT(dry_run, 11);
RC__API_AT(interrupted, 12);
RC__API_AT(db_driver, 13);
RC__API_AT(db_exec, 14);
RC__API_AT(db_query, 15);
RC__API_AT(db_begin, 16);
RC__API_AT(db_commit, 17);
RC__API_AT(db_rollback, 18);
RC__API_AT(db_error, 19);
RC__API_AT(db_retryable, 20);
RC__API_AT(result_int, 21);
RC__API_AT(result_double, 22);
RC__API_AT(result_bool, 23);
RC__API_AT(result_string, 24);
RC__API_AT(db_chunked, 25);
RC__API_AT(fail_option, 26);   /* 1.1 */
RC__API_AT(db_prepare, 27);    /* 1.2 */
RC__API_AT(db_chunked_by, 28); /* 1.3 */
RC__API_AT(declare_changes, 29); /* 1.6 */
RC__STATIC_ASSERT(sizeof(rc_api) == 30 * RC__P, "rc_api grew without a new minor");

RC__STATIC_ASSERT(offsetof(rc_ctx, size) == 0 && offsetof(rc_ctx, api) == RC__P &&
                  offsetof(rc_ctx, step) == 2 * RC__P && offsetof(rc_ctx, core) == 3 * RC__P,
                  "rc_ctx changed");

RC__STATIC_ASSERT(offsetof(rc_plugin, abi_major) == 0, "rc_plugin.abi_major moved");
RC__STATIC_ASSERT(offsetof(rc_plugin, abi_minor) == 4, "rc_plugin.abi_minor moved");
RC__STATIC_ASSERT(offsetof(rc_plugin, size) == 8, "rc_plugin.size moved");
RC__PLUGIN_AT(name, 0);
RC__PLUGIN_AT(description, 1);
RC__PLUGIN_AT(version, 2);
RC__PLUGIN_AT(options, 3);
RC__PLUGIN_AT(init, 4);
RC__PLUGIN_AT(run, 5);
RC__PLUGIN_AT(fini, 6);
RC__PLUGIN_AT(check, 7);         /* 1.1 */
RC__PLUGIN_AT(prepare, 8);       /* 1.2 */
RC__PLUGIN_AT(min_abi_minor, 9); /* 1.4 */
RC__PLUGIN_AT(figures, 10);      /* 1.5 */
RC__STATIC_ASSERT(sizeof(rc_plugin) == RC__PLUGIN_PTRS + 11 * RC__P,
                  "rc_plugin grew without a new minor");

RC__STATIC_ASSERT(offsetof(rc_option, name) == 0 && offsetof(rc_option, type) == RC__P &&
                  offsetof(rc_option, default_value) == 2 * RC__P &&
                  offsetof(rc_option, description) == 3 * RC__P &&
                  sizeof(rc_option) == 4 * RC__P, "rc_option changed");
RC__STATIC_ASSERT(sizeof(rc_figure_type) == sizeof(int),
                  "rc_figure_type is not int-sized (-fshort-enums?)");
RC__STATIC_ASSERT(offsetof(rc_figure, name) == 0 && offsetof(rc_figure, key) == RC__P &&
                  offsetof(rc_figure, type) == 2 * RC__P &&
                  offsetof(rc_figure, unit) == 3 * RC__P &&
                  offsetof(rc_figure, help) == 4 * RC__P &&
                  offsetof(rc_figure, label) == 5 * RC__P &&
                  sizeof(rc_figure) == 6 * RC__P, "rc_figure (1.5) changed");
RC__STATIC_ASSERT(offsetof(rc_chunk_key, ncols) == 0 &&
                  offsetof(rc_chunk_key, first) == RC__P &&
                  offsetof(rc_chunk_key, bind) == 2 * RC__P &&
                  offsetof(rc_chunk_key, nbind) == 3 * RC__P &&
                  sizeof(rc_chunk_key) == 4 * RC__P, "rc_chunk_key (1.3) changed");
RC__STATIC_ASSERT(offsetof(rc_change_decl, table) == 0 &&
                  offsetof(rc_change_decl, key_column) == RC__P &&
                  offsetof(rc_change_decl, columns) == 2 * RC__P &&
                  offsetof(rc_change_decl, ncolumns) == 3 * RC__P &&
                  offsetof(rc_change_decl, where) == 4 * RC__P &&
                  offsetof(rc_change_decl, where_param) == 5 * RC__P &&
                  sizeof(rc_change_decl) == 6 * RC__P, "rc_change_decl (1.6) changed");
#if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu
RC__STATIC_ASSERT(offsetof(rc_value, type) == 0 && offsetof(rc_value, i) == 8 &&
                  offsetof(rc_value, d) == 16 && offsetof(rc_value, s) == 24 &&
                  sizeof(rc_value) == 32, "rc_value changed");
RC__STATIC_ASSERT(offsetof(rc_chunk_stmt, sql) == 0 && offsetof(rc_chunk_stmt, params) == 8 &&
                  offsetof(rc_chunk_stmt, n) == 16 && offsetof(rc_chunk_stmt, affected) == 24 &&
                  sizeof(rc_chunk_stmt) == 32, "rc_chunk_stmt changed");
#endif

/* ------------------------------------------------ conveniences (inline only) */

/*
 * SQLite keeps datetimes as text and compares them as text, so only values in
 * the canonical form "YYYY-MM-DD HH:MM:SS" (optionally with a fraction
 * ".fff") compare correctly with T. A value the bot wrote in another form is
 * misjudged silently: an ISO "2026-11-29T10:00:00Z" sorts after every
 * "2026-11-29 ..." time, and an integer epoch sorts before all text, so a
 * live lease stored as 1795954662 looks expired. RC_SQLITE_TIME_OK(col) is an
 * SQL condition (col a string literal) that is true only for the canonical
 * form; add it to every time comparison on SQLite so that a step never
 * changes a row it cannot judge, and report the rows it left out. MySQL's
 * DATETIME columns always hold the canonical form.
 */
#define RC_SQLITE_TIME_OK(col)                                                     \
    "(typeof(" col ") = 'text' AND " col " GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-" \
    "[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]*' AND (length(" col ") = 19 OR "   \
    "(substr(" col ", 20, 1) = '.' AND length(" col ") > 20 AND substr(" col ", 21) " \
    "NOT GLOB '*[^0-9]*')))"

/*
 * A double as int64_t, cut toward zero: 0, or -1 when it is NaN or outside
 * int64_t's range (converting such a value is undefined behaviour in C).
 * -2^63 is a double exactly; 2^63 is the first double above INT64_MAX.
 */
static inline int rc__double_to_int64(double d, int64_t *out)
{
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        return -1; /* NaN fails both comparisons */
    *out = (int64_t)d;
    return 0;
}

/*
 * Read a single integer (e.g. a COUNT(*)) into *out (an int64_t *). NULL, and
 * a double that is NaN or outside int64_t's range, leave *out as it was.
 */
static inline int rc__count_row(void *user, const rc_value *cols, size_t ncols)
{
    int64_t *out = (int64_t *)user;
    if (ncols > 0 && cols[0].type == RC_INT)
        *out = cols[0].i;
    else if (ncols > 0 && cols[0].type == RC_DOUBLE)
        (void)rc__double_to_int64(cols[0].d, out);
    return 1;
}

/* rc_count's row: as rc__count_row, remembering a double it could not hold. */
typedef struct rc__count_state {
    int64_t *out;
    int unholdable;
    double value;
} rc__count_state;

static inline int rc__count_checked_row(void *user, const rc_value *cols, size_t ncols)
{
    rc__count_state *st = (rc__count_state *)user;
    if (ncols > 0 && cols[0].type == RC_DOUBLE && rc__double_to_int64(cols[0].d, st->out) != 0) {
        st->unholdable = 1;
        st->value = cols[0].d;
        return 1;
    }
    return rc__count_row(st->out, cols, ncols);
}

/*
 * db_query for one integer: RC_OK with *out (0 for no row or NULL; a double
 * cut toward zero), or RC_ERROR: the query failed, or its value is a double
 * that is NaN, infinite or outside int64_t's range (the step's error says so).
 */
static inline int rc_count(rc_ctx *ctx, const char *sql, const rc_value *params, size_t n,
                           int64_t *out)
{
    rc__count_state st = { out, 0, 0.0 };
    *out = 0;
    if (ctx->api->db_query(ctx, sql, params, n, rc__count_checked_row, &st) != RC_OK)
        return RC_ERROR;
    if (st.unholdable) {
        ctx->api->fail(ctx, "rc_count: the query's value %g is not an integer an int64_t "
                       "can hold", st.value);
        return RC_ERROR;
    }
    return RC_OK;
}

static inline int rc_result_int(rc_ctx *ctx, const char *key, int64_t v)
{
    return ctx->api->result_int(ctx, key, v);
}

#ifdef __cplusplus
}
#endif

#endif /* RECONCILER_H */
