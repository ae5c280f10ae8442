/*
 * reconciler.h - the one header a reconciler step plugin includes.
 *
 * A plugin is a shared object NAME.so in a plugin directory. It exports exactly
 * one symbol, reconciler_plugin(), which returns a pointer to a constant
 * rc_plugin descriptor. The core reaches the plugin only through that
 * descriptor; the plugin reaches the core only through the rc_ctx it is handed,
 * whose function table (rc_api) carries the database, the log, the run's clock,
 * the dry-run flag, the step's options and the result sink. No core symbol is
 * resolved by the dynamic linker, so plugins link against nothing of ours.
 *
 * Compatibility rules (the same as SQLite's extension table):
 *   - RC_ABI_MAJOR changes when a public struct changes incompatibly; the core
 *     refuses a plugin built for another major.
 *   - RC_ABI_MINOR grows when entries are appended to rc_api or rc_plugin.
 *     Entries are only ever appended. The core refuses a plugin built for a
 *     newer minor than its own, since that plugin may call entries it lacks.
 *   - Every public struct starts with its size so that the reader can tell
 *     which fields the writer knew about.
 *
 * Minimal plugin:
 *
 *     #include <reconciler.h>
 *     static int run(rc_ctx *ctx, void *state) {
 *         (void)state;
 *         int64_t n = 0;
 *         if (rc_count(ctx, "SELECT COUNT(*) FROM orders", NULL, 0, &n) != RC_OK)
 *             return RC_ERROR;                 // the db error is already recorded
 *         return rc_result_int(ctx, "orders.total", n);
 *     }
 *     static const rc_option options[] = { RC_OPTIONS_END };
 *     RC_PLUGIN("example", "Counts orders", "1.0.0", options, NULL, run, NULL);
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
#define RC_ABI_MINOR 0

/* The name of the one symbol a plugin exports. */
#define RC_PLUGIN_SYMBOL "reconciler_plugin"

/* Return codes of every rc_api function that can fail, and of run()/init(). */
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
 * a bad default is a plugin error, never a surprise at run time.
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
    double d;       /* RC_DOUBLE */
    const char *s;  /* RC_TEXT: NUL-terminated; owned by whoever made the value */
} rc_value;

static inline rc_value rc_null(void) { rc_value v = { RC_NULL, 0, 0.0, NULL }; return v; }
static inline rc_value rc_int(int64_t i) { rc_value v = { RC_INT, i, 0.0, NULL }; return v; }
static inline rc_value rc_double(double d) { rc_value v = { RC_DOUBLE, 0, d, NULL }; return v; }
static inline rc_value rc_text(const char *s) { rc_value v = { RC_TEXT, 0, 0.0, s }; return v; }

/*
 * Called once per result row. cols[] and the strings in it are valid only
 * during the call. Return 0 to go on, non-zero to stop reading rows early
 * (which is not an error).
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
 * The core's function table. Entries are appended only; a plugin that wants
 * an entry newer than 1.0 checks ctx->api->size first.
 */
typedef struct rc_api {
    uint32_t size; /* sizeof(rc_api) as the core was built */

    /* Log a line on the core's log, prefixed with the step name. */
    void (*log)(rc_ctx *ctx, rc_log_level level, const char *fmt, ...) RC_PRINTF(3, 4);

    /*
     * Record why the step failed. The message goes to the result's errors[]
     * and the step's "error" field; return RC_ERROR from run() afterwards.
     * A database failure is recorded automatically; fail() overrides it.
     */
    void (*fail)(rc_ctx *ctx, const char *fmt, ...) RC_PRINTF(2, 3);

    /*
     * The step's options, already checked against the plugin's table and
     * filled with defaults. Asking for a name the table does not declare, or
     * with the wrong type, is a programming error: it logs and returns
     * NULL/0. Strings stay valid until the step's fini() returns.
     */
    const char *(*opt_string)(rc_ctx *ctx, const char *name);
    int64_t (*opt_int)(rc_ctx *ctx, const char *name);
    int (*opt_bool)(rc_ctx *ctx, const char *name);
    double (*opt_double)(rc_ctx *ctx, const char *name);
    int64_t (*opt_duration_ms)(rc_ctx *ctx, const char *name);

    /*
     * The run's reference time T, read once per run from the database's own
     * clock, so that every step and every host agrees on it. now() is Unix
     * seconds (UTC); now_text() is "YYYY-MM-DD HH:MM:SS" (UTC), the form in
     * which both drivers store and compare datetimes. format_time() writes
     * that form for any Unix time into out (at least 20 bytes).
     */
    int64_t (*now)(rc_ctx *ctx);
    const char *(*now_text)(rc_ctx *ctx);
    void (*format_time)(int64_t unix_seconds, char *out, size_t outlen);

    /*
     * Non-zero in a dry run. In a dry run db_exec() refuses to run and fails:
     * a step counts what it would change with db_query() instead.
     */
    int (*dry_run)(rc_ctx *ctx);

    /* Non-zero once the process was asked to stop: return at the next chunk. */
    int (*interrupted)(rc_ctx *ctx);

    /* "mysql" or "sqlite": for the few statements whose SQL differs. */
    const char *(*db_driver)(rc_ctx *ctx);

    /*
     * Run one statement with '?' placeholders bound to params[0..n-1].
     * Values are never pasted into SQL. *affected (may be NULL) receives the
     * number of rows the statement matched. Returns RC_OK or RC_ERROR; on
     * error db_error() says why (driver, code, message).
     */
    int (*db_exec)(rc_ctx *ctx, const char *sql, const rc_value *params, size_t n,
                   int64_t *affected);

    /* Run a query and call fn for each row; RC_OK or RC_ERROR. */
    int (*db_query)(rc_ctx *ctx, const char *sql, const rc_value *params, size_t n,
                    rc_row_fn fn, void *user);

    /* Transactions: keep them short; live workers share these tables. */
    int (*db_begin)(rc_ctx *ctx);
    int (*db_commit)(rc_ctx *ctx);
    int (*db_rollback)(rc_ctx *ctx);

    /* The last database error as "driver error CODE: message", or "". */
    const char *(*db_error)(rc_ctx *ctx);

    /*
     * Non-zero when the last database error is worth retrying the whole
     * transaction for (deadlock, lock wait timeout, SQLITE_BUSY).
     */
    int (*db_retryable)(rc_ctx *ctx);

    /*
     * Report a number for the result JSON. A dotted key ("jobs.byStatus.retry")
     * nests. Setting a key twice keeps the last value. RC_ERROR when the key
     * is empty or clashes with a value already set (setting "a.b" when "a" is
     * a number).
     */
    int (*result_int)(rc_ctx *ctx, const char *key, int64_t value);
    int (*result_double)(rc_ctx *ctx, const char *key, double value);
    int (*result_bool)(rc_ctx *ctx, const char *key, int value);
    int (*result_string)(rc_ctx *ctx, const char *key, const char *value);

    /*
     * Chunked writes, the safe way to change many rows beside live workers.
     * Placeholders are positional, so the chunk's bounds are bound *after*
     * the caller's parameters. Repeatedly:
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
     * first is the lo of the first chunk (rc_int(0) for positive integer ids,
     * rc_text("") for text keys). A deadlock or lock wait timeout rolls the
     * chunk back and retries it (up to 5 times, with jittered backoff). A
     * stop request ends the loop between chunks (RC_OK; interrupted() tells).
     * A kill at any moment leaves whole chunks applied. Refused in a dry run,
     * like db_exec. At most 30 parameters per statement. RC_OK or RC_ERROR.
     */
    int (*db_chunked)(rc_ctx *ctx, const char *find_sql, const rc_value *find_params,
                      size_t find_n, rc_value first, int64_t batch,
                      struct rc_chunk_stmt *stmts, size_t nstmts);
} rc_api;

/* What a plugin is handed. The core owns it; it lives while the step runs. */
struct rc_ctx {
    uint32_t size;       /* sizeof(rc_ctx) as the core was built */
    const rc_api *api;
    const char *step;    /* this step's name from the pipeline file */
    void *core;          /* opaque to plugins */
};

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
     * init (optional): set *state for run(); RC_OK or RC_ERROR.
     * run (required): do the step; RC_OK or RC_ERROR (after ctx->api->fail).
     * fini (optional): free state; called whenever init succeeded.
     */
    int (*init)(rc_ctx *ctx, void **state);
    int (*run)(rc_ctx *ctx, void *state);
    void (*fini)(void *state);
} rc_plugin;

typedef const rc_plugin *(*rc_plugin_entry_fn)(void);

/*
 * Define the descriptor and the exported entry point in one line. Build the
 * plugin with -fvisibility=hidden; only this symbol is exported.
 */
#define RC_PLUGIN(name_, desc_, version_, options_, init_, run_, fini_)          \
    RC_EXPORT const rc_plugin *reconciler_plugin(void);                           \
    RC_EXPORT const rc_plugin *reconciler_plugin(void)                            \
    {                                                                             \
        static const rc_plugin desc = { RC_ABI_MAJOR, RC_ABI_MINOR,               \
                                        (uint32_t)sizeof(rc_plugin), name_,       \
                                        desc_, version_, options_, init_, run_,   \
                                        fini_ };                                  \
        return &desc;                                                             \
    }

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

/* Read a single integer (e.g. a COUNT(*)) into *out; NULL reads as 0. */
static inline int rc__count_row(void *user, const rc_value *cols, size_t ncols)
{
    int64_t *out = (int64_t *)user;
    if (ncols > 0 && cols[0].type == RC_INT)
        *out = cols[0].i;
    else if (ncols > 0 && cols[0].type == RC_DOUBLE)
        *out = (int64_t)cols[0].d;
    return 1;
}

static inline int rc_count(rc_ctx *ctx, const char *sql, const rc_value *params, size_t n,
                           int64_t *out)
{
    *out = 0;
    return ctx->api->db_query(ctx, sql, params, n, rc__count_row, out);
}

static inline int rc_result_int(rc_ctx *ctx, const char *key, int64_t v)
{
    return ctx->api->result_int(ctx, key, v);
}

#ifdef __cplusplus
}
#endif

#endif /* RECONCILER_H */
