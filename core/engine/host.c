/* SPDX-License-Identifier: MIT */
/* host.c - see host.h. Every rc_api entry lives here. */
#include "engine/host.h"
#include "db/chunk.h"
#include "db/changes.h"
#include "base/log.h"
#include "engine/dotkey.h"
#include "base/text.h"
#include "base/json.h"
#include "base/stop.h"
#include "base/util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static step_run *SR(rc_ctx *ctx)
{
    return (step_run *)ctx->core;
}

/*
 * The offset format_time() writes with: the zone of the step running on this
 * thread (format_time has no ctx to ask). Steps and probes run in step
 * workers, one at a time on one thread; but check() contexts are bound in
 * the calling process (validate, a run's start in the service, the tests),
 * on whichever thread calls: thread-local, so that one binding cannot change
 * the offset another thread writes with.
 */
static _Thread_local int tl_offset_s;

/* Errors come from plugins and servers: any bytes, any length. Keep them as
 * valid UTF-8, cut at a character boundary, so they survive into JSON. */
static void set_error(step_run *sr, const char *msg, int by_plugin)
{
    if (sr->error_set_by_plugin && !by_plugin)
        return;
    free(sr->error);
    sr->error = text_repair(msg, HOST_ERROR_MAX);
    sr->error_set_by_plugin |= by_plugin;
}

static void h_log(rc_ctx *ctx, rc_log_level level, const char *fmt, ...)
{
    char who[96];
    va_list ap;
    /* A rehearsal's "changed 3 rows" was rolled back: the log must say so. */
    snprintf(who, sizeof who, "%s%s", ctx->step, SR(ctx)->rehearsal ? ", rehearsal" : "");
    va_start(ap, fmt);
    log_vmsg(level, who, fmt, ap);
    va_end(ap);
}

static void h_fail(rc_ctx *ctx, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt ? fmt : "(no message)", ap) < 0)
        msg = NULL;
    va_end(ap);
    set_error(SR(ctx), msg ? msg : "step failed (its message could not be formatted)", 1);
    free(msg);
}

static void h_fail_option(rc_ctx *ctx, const char *option, const char *fmt, ...)
{
    step_run *sr = SR(ctx);
    char *msg = NULL, *full;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt ? fmt : "(no message)", ap) < 0)
        msg = NULL;
    va_end(ap);
    /* The value's own position; a default stands where the step does. */
    const opt_value *v = NULL;
    for (size_t i = 0; option && i < sr->ps->opts.n; i++)
        if (strcmp(sr->ps->opts.defs[i].name, option) == 0)
            v = &sr->ps->opts.values[i];
    int line = v && v->line ? v->line : sr->ps->cfg->line;
    int col = v && v->line ? v->col : sr->ps->cfg->col;
    full = xasprintf("%s:%d:%d: step '%s': option '%s' %s%s", sr->file ? sr->file : "(pipeline)",
                     line, col, ctx->step, option ? option : "(none)", msg ? msg : "is wrong",
                     v && !v->line ? " (the default)" : "");
    set_error(sr, full, 1);
    free(full);
    free(msg);
}

/*
 * Options: asking for an undeclared name or the wrong type is a plugin bug.
 * It fails the step loudly, with a message that names the option, rather
 * than letting a silent 0 reach a WHERE clause.
 */
static const opt_value *opt(rc_ctx *ctx, const char *name, rc_opt_type t)
{
    const opt_value *v = opt_set_get(&SR(ctx)->ps->opts, name ? name : "", t);
    if (!v && !SR(ctx)->misused) {
        char *msg = xasprintf("plugin bug: it asked for option '%s' as %s, which its options "
                              "table does not declare", name ? name : "(null)", opt_type_name(t));
        log_msg(RC_LOG_ERROR, ctx->step, "%s", msg);
        set_error(SR(ctx), msg, 1);
        SR(ctx)->misused = 1;
        free(msg);
    }
    return v;
}

int host_misused(const step_run *sr)
{
    return sr->misused;
}

static const char *h_opt_string(rc_ctx *ctx, const char *name)
{
    const opt_value *v = opt(ctx, name, RC_OPT_STRING);
    return v ? v->s : NULL;
}

static int64_t h_opt_int(rc_ctx *ctx, const char *name)
{
    const opt_value *v = opt(ctx, name, RC_OPT_INT);
    return v ? v->i : 0;
}

static int h_opt_bool(rc_ctx *ctx, const char *name)
{
    const opt_value *v = opt(ctx, name, RC_OPT_BOOL);
    return v ? v->b : 0;
}

static double h_opt_double(rc_ctx *ctx, const char *name)
{
    const opt_value *v = opt(ctx, name, RC_OPT_DOUBLE);
    return v ? v->d : 0.0;
}

static int64_t h_opt_duration_ms(rc_ctx *ctx, const char *name)
{
    const opt_value *v = opt(ctx, name, RC_OPT_DURATION);
    return v ? v->i : 0;
}

static int64_t h_now(rc_ctx *ctx)
{
    return SR(ctx)->clock.unix_s;
}

static const char *h_now_text(rc_ctx *ctx)
{
    return SR(ctx)->clock.text;
}

/* With the session's offset at T: T - n days reads as DATE_SUB(NOW(), INTERVAL n DAY). */
static void h_format_time(int64_t unix_seconds, char *out, size_t outlen)
{
    db_format_time(unix_seconds + tl_offset_s, out, outlen);
}

static int h_dry_run(rc_ctx *ctx)
{
    return SR(ctx)->dry_run;
}

int host_should_stop(const step_run *sr)
{
    (void)sr;
    return stop_requested();
}

static int h_interrupted(rc_ctx *ctx)
{
    return host_should_stop(SR(ctx));
}

static int chunk_stop(void *arg)
{
    return host_should_stop(arg);
}

static const char *h_db_driver(rc_ctx *ctx)
{
    return SR(ctx)->d ? db_driver_name(SR(ctx)->d) : "";
}

/* A database failure becomes the step's error unless the plugin said why. */
static int db_result(rc_ctx *ctx, int rc)
{
    if (rc != 0) {
        char msg[1100];
        snprintf(msg, sizeof msg, "database: %s", db_errmsg(SR(ctx)->d));
        set_error(SR(ctx), msg, 0);
        return RC_ERROR;
    }
    return RC_OK;
}

/*
 * Naming: call_refused() and nested_tx_refused() ask whether a call is
 * refused (1, with why recorded) or may go on (0); refuse_over_cap() and
 * refuse_result() always refuse, record why and return RC_ERROR.
 *
 * May this call reach the database? Not in check() (no connection), and not
 * to write in a dry run: the safety net under every step. A refusal is the
 * step's error and db_error()'s answer, as a database failure would be.
 */
static int call_refused(rc_ctx *ctx, const char *call, int writes)
{
    step_run *sr = SR(ctx);
    sr->refusal[0] = '\0';
    if (!sr->d)
        snprintf(sr->refusal, sizeof sr->refusal, "%s refused in check(): there is no database "
                 "before a run", call);
    else if (writes && sr->dry_run)
        snprintf(sr->refusal, sizeof sr->refusal, "%s refused in a dry run: count with "
                 "db_query instead", call);
    if (!sr->refusal[0])
        return 0;
    set_error(sr, sr->refusal, 0);
    return 1;
}

/* Are this step's writes counted (a cap, or a rehearsal)? */
static int writes_counted(const step_run *sr)
{
    return sr->cap >= 0 || sr->rehearsal;
}

/*
 * Would `more` rows take the step past its cap? Then remember it: the step
 * fails (runner.c words the message), and every later write is refused.
 */
static int passes_cap(step_run *sr, int64_t more)
{
    int64_t sum = sr->changes + sr->pending + more;
    if (sr->cap < 0 || sum <= sr->cap)
        return 0;
    sr->over_cap = 1;
    sr->found = sum;
    return 1;
}

/* A write refused because the cap was passed: the step's error and db_error(). */
static int refuse_over_cap(rc_ctx *ctx, const char *call)
{
    step_run *sr = SR(ctx);
    snprintf(sr->refusal, sizeof sr->refusal, "%s refused: the step's writes matched %lld "
             "rows, more than steps[].max_changes (%lld); rolled back", call,
             (long long)sr->found, (long long)sr->cap);
    set_error(sr, sr->refusal, 0);
    return RC_ERROR;
}

/*
 * A transaction begun inside the plugin's open one: MySQL would commit the
 * open one first, and with it a rehearsal's writes. Refused while writes
 * are counted.
 */
static int nested_tx_refused(rc_ctx *ctx, const char *call)
{
    step_run *sr = SR(ctx);
    if (!writes_counted(sr) || !sr->in_tx)
        return 0;
    snprintf(sr->refusal, sizeof sr->refusal, "%s refused: a transaction is already open "
             "(db_begin); end it first", call);
    set_error(sr, sr->refusal, 0);
    return 1;
}

/*
 * A statement outside the plugin's own transaction, while writes are
 * counted: in a transaction of its own, so that it can be rolled back when
 * it passes the cap, or always in a rehearsal.
 */
static int counted_exec(rc_ctx *ctx, const char *sql, const rc_value *params, size_t n,
                        int64_t *affected)
{
    step_run *sr = SR(ctx);
    int64_t got = 0;
    if (db_begin(sr->d) != 0)
        return db_result(ctx, -1);
    if (db_exec(sr->d, sql, params, n, &got) != 0) {
        db_rollback(sr->d);
        return db_result(ctx, -1);
    }
    if (passes_cap(sr, got)) {
        db_rollback(sr->d);
        return refuse_over_cap(ctx, "db_exec");
    }
    if ((sr->rehearsal ? db_rollback(sr->d) : db_commit(sr->d)) != 0) {
        db_rollback(sr->d);
        return db_result(ctx, -1);
    }
    sr->changes += got;
    sr->rows_changed += got;
    if (affected)
        *affected = got;
    return RC_OK;
}

static int exec_write(rc_ctx *ctx, const char *sql, const rc_value *params, size_t n,
                      int64_t *affected)
{
    step_run *sr = SR(ctx);
    int64_t rows = 0;
    if (affected)
        *affected = 0;
    if (call_refused(ctx, "db_exec", 1))
        return RC_ERROR;
    if (sr->over_cap)
        return refuse_over_cap(ctx, "db_exec");
    if (!writes_counted(sr)) {
        int rc = db_exec(sr->d, sql, params, n, &rows);
        if (rc == 0 && rows > 0)
            sr->rows_changed += rows;
        if (affected)
            *affected = rows;
        return db_result(ctx, rc);
    }
    if (!sr->in_tx)
        return counted_exec(ctx, sql, params, n, affected);
    if (db_exec(sr->d, sql, params, n, &rows) != 0)
        return db_result(ctx, -1);
    sr->pending += rows;
    if (passes_cap(sr, 0)) {
        /* The whole transaction goes: its commit is refused too. */
        db_rollback(sr->d);
        sr->in_tx = 0;
        sr->pending = 0;
        return refuse_over_cap(ctx, "db_exec");
    }
    sr->rows_changed += rows;
    if (affected)
        *affected = rows;
    return RC_OK;
}

/* db_exec's writes name no table and key: the core cannot record them, so it counts them. */
static int h_db_exec(rc_ctx *ctx, const char *sql, const rc_value *params, size_t n,
                     int64_t *affected)
{
    step_run *sr = SR(ctx);
    int64_t was = sr->rows_changed;
    int rc = exec_write(ctx, sql, params, n, affected);
    if (sr->record_changes && sr->rows_changed > was)
        sr->unrecorded += sr->rows_changed - was;
    return rc;
}

static int h_db_query(rc_ctx *ctx, const char *sql, const rc_value *params, size_t n,
                      rc_row_fn fn, void *user)
{
    if (call_refused(ctx, "db_query", 0))
        return RC_ERROR;
    return db_result(ctx, db_query(SR(ctx)->d, sql, params, n, fn, user));
}

static int h_db_prepare(rc_ctx *ctx, const char *sql)
{
    if (call_refused(ctx, "db_prepare", 0))
        return RC_ERROR;
    return db_result(ctx, db_prepare(SR(ctx)->d, sql));
}

static int h_db_begin(rc_ctx *ctx)
{
    step_run *sr = SR(ctx);
    if (call_refused(ctx, "db_begin", 0))
        return RC_ERROR;
    if (sr->over_cap)
        return refuse_over_cap(ctx, "db_begin");
    if (nested_tx_refused(ctx, "db_begin"))
        return RC_ERROR;
    if (db_begin(sr->d) != 0)
        return db_result(ctx, -1);
    sr->in_tx = 1;
    sr->pending = 0;
    return RC_OK;
}

/* In a rehearsal a commit rolls back: the rows are counted, never kept. */
static int h_db_commit(rc_ctx *ctx)
{
    step_run *sr = SR(ctx);
    if (call_refused(ctx, "db_commit", 0))
        return RC_ERROR;
    if (sr->over_cap)
        return refuse_over_cap(ctx, "db_commit");
    int rc = sr->rehearsal ? db_rollback(sr->d) : db_commit(sr->d);
    if (rc == 0)
        sr->changes += sr->pending;
    sr->in_tx = 0;
    sr->pending = 0;
    return db_result(ctx, rc);
}

static int h_db_rollback(rc_ctx *ctx)
{
    step_run *sr = SR(ctx);
    if (call_refused(ctx, "db_rollback", 0))
        return RC_ERROR;
    sr->in_tx = 0;
    sr->pending = 0;
    return db_result(ctx, db_rollback(sr->d));
}

static const char *h_db_error(rc_ctx *ctx)
{
    step_run *sr = SR(ctx);
    return sr->refusal[0] ? sr->refusal : sr->d ? db_errmsg(sr->d) : "";
}

static int h_db_retryable(rc_ctx *ctx)
{
    return SR(ctx)->d && !SR(ctx)->refusal[0] && db_retryable(SR(ctx)->d);
}

/* A value the result cannot hold: the step learns why (log and error). */
static int refuse_result(rc_ctx *ctx, const char *key, const char *why)
{
    char msg[512];
    snprintf(msg, sizeof msg, "result '%.200s': %s", key ? key : "(null)", why);
    text_repair_buf(msg, sizeof msg);
    log_msg(RC_LOG_ERROR, ctx->step, "%s", msg);
    set_error(SR(ctx), msg, 0);
    /* A figure the run cannot report: the step fails with it, whatever it returns. */
    if (!SR(ctx)->result_refused)
        SR(ctx)->result_refused = xstrdup(msg);
    return RC_ERROR;
}

static int put(rc_ctx *ctx, const char *key, json_t *v)
{
    char err[512];
    if (!key || !text_valid(key, strlen(key))) {
        json_decref(v);
        return refuse_result(ctx, key ? "(a key that is not valid UTF-8)" : NULL,
                      key ? "the key is not valid UTF-8" : "the key is NULL");
    }
    if (dotkey_set(SR(ctx)->results, key, jx(v), err, sizeof err) != 0) {
        text_repair_buf(err, sizeof err);
        log_msg(RC_LOG_ERROR, ctx->step, "%s", err);
        set_error(SR(ctx), err, 0);
        if (!SR(ctx)->result_refused)
            SR(ctx)->result_refused = xstrdup(err);
        return RC_ERROR;
    }
    return RC_OK;
}

static int h_result_int(rc_ctx *ctx, const char *key, int64_t value)
{
    return put(ctx, key, json_integer(value));
}

static int h_result_double(rc_ctx *ctx, const char *key, double value)
{
    if (!isfinite(value))
        return refuse_result(ctx, key, isnan(value) ? "NaN is not a number JSON can hold"
                                             : "an infinite value is not a number JSON can hold");
    return put(ctx, key, json_real(value));
}

static int h_result_bool(rc_ctx *ctx, const char *key, int value)
{
    return put(ctx, key, json_boolean(value));
}

/* The value is copied. Text that is not valid UTF-8 is refused, not mangled. */
static int h_result_string(rc_ctx *ctx, const char *key, const char *value)
{
    if (value && !text_valid(value, strlen(value)))
        return refuse_result(ctx, key, "the value is not valid UTF-8");
    return put(ctx, key, value ? json_string(value) : json_null());
}

/* Before each chunk commits: count its rows against the cap; rehearsals roll back. */
static int chunk_verdict(void *arg, const int64_t *counts, size_t n, char *err, size_t errlen)
{
    step_run *sr = arg;
    int64_t sum = 0;
    if (!writes_counted(sr))
        return CHUNK_COMMIT;
    for (size_t i = 0; i < n; i++)
        sum += counts[i];
    if (passes_cap(sr, sum)) {
        snprintf(err, errlen, "refused: the step's writes matched %lld rows, more than "
                 "steps[].max_changes (%lld); the chunk was rolled back",
                 (long long)sr->found, (long long)sr->cap);
        return CHUNK_REFUSE;
    }
    sr->changes += sum;
    return sr->rehearsal ? CHUNK_ROLLBACK : CHUNK_COMMIT;
}

/* tracing: each chunk of the step, for its span (bounded: trace_chunks keeps 100, sums the rest). */
static void chunk_seen(void *arg, int64_t start_ns, int64_t end_ns, int64_t rows, int64_t retries,
                       int failed)
{
    step_run *sr = arg;
    trace_chunk ch = { start_ns, end_ns, rows, retries, failed };
    if (sr->chunks)
        trace_chunks_add(sr->chunks, &ch);
}

void host_forget_decls(step_run *sr)
{
    free(sr->decls);
    sr->decls = NULL;
    sr->ndecls = 0;
}

/* db_chunked and db_chunked_by: one loop, the same refusals, hooks and counts. */
static int chunked(rc_ctx *ctx, const char *call, const char *find_sql,
                   const rc_value *find_params, size_t find_n, const rc_chunk_key *key,
                   int64_t batch, rc_chunk_stmt *stmts, size_t nstmts)
{
    char err[256] = "";
    step_run *sr = SR(ctx);
    int64_t before = 0, after = 0;
    if (call_refused(ctx, call, 1))
        return RC_ERROR;
    if (sr->over_cap)
        return refuse_over_cap(ctx, call);
    if (nested_tx_refused(ctx, call))
        return RC_ERROR;
    /* The declaration is this call's alone, whatever becomes of it. */
    rc_change_decl *decls = sr->decls;
    int no_table = 0;
    size_t ndecls = sr->ndecls;
    sr->decls = NULL;
    sr->ndecls = 0;
    int64_t *was = xcalloc(nstmts ? nstmts : 1, sizeof *was);
    for (size_t i = 0; stmts && i < nstmts; i++) {
        was[i] = stmts[i].affected;
        before += stmts[i].affected;
    }
    /* A rehearsal rolls every chunk back: its records would go with it. */
    changes_meta cm = { decls, ndecls, sr->run_id, sr->job ? sr->job : "", sr->ps->cfg->name,
                        0, 0 };
    int recording = sr->record_changes && !sr->rehearsal;
    /* A database `migrate` has not brought to 009 yet: the writes go on, counted, not recorded. */
    if (recording && db_table_exists(sr->d, "reconciler_change_sets") != 1) {
        if (!sr->warned_no_table)
            log_warn("step %s: no table reconciler_change_sets (run `reconciler migrate`): its "
                     "changes are counted in unrecordedChanges, not recorded", sr->ps->cfg->name);
        sr->warned_no_table = 1;
        recording = 0;
        for (size_t i = 0; i < ndecls && i < nstmts; i++)
            if (decls[i].table)
                no_table = 1;
    }
    chunk_hooks hooks = { chunk_stop, chunk_verdict, sr, recording ? &cm : NULL, chunk_seen };
    int rc = chunk_run(sr->d, find_sql, find_params, find_n, key, batch, stmts, nstmts, &hooks,
                       &sr->retries, err, sizeof err);
    /* Whole chunks that were applied count, also when a later one failed. */
    for (size_t i = 0; stmts && i < nstmts; i++) {
        after += stmts[i].affected;
        int declared = i < ndecls && decls[i].table && !no_table;
        if ((recording || no_table) && !declared && !sr->rehearsal)
            sr->unrecorded += stmts[i].affected - was[i];
    }
    free(was);
    changes_meta_done(&cm);
    free(decls);
    sr->changes_recorded += cm.written;
    sr->unrecorded += cm.missed; /* rows changed whose before-values were never read */
    if (after > before)
        sr->rows_changed += after - before;
    if (rc == 0)
        return RC_OK;
    if (err[0]) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s: %s", call, err);
        set_error(sr, msg, 0);
        return RC_ERROR;
    }
    return db_result(ctx, -1);
}

static int h_db_chunked(rc_ctx *ctx, const char *find_sql, const rc_value *find_params,
                        size_t find_n, rc_value first, int64_t batch, rc_chunk_stmt *stmts,
                        size_t nstmts)
{
    static const unsigned char once[] = { 0 };
    rc_chunk_key key = { 1, &first, once, 1 };
    return chunked(ctx, "db_chunked", find_sql, find_params, find_n, &key, batch, stmts,
                   nstmts);
}

static int h_db_chunked_by(rc_ctx *ctx, const char *find_sql, const rc_value *find_params,
                           size_t find_n, const rc_chunk_key *key, int64_t batch,
                           rc_chunk_stmt *stmts, size_t nstmts)
{
    return chunked(ctx, "db_chunked_by", find_sql, find_params, find_n, key, batch, stmts,
                   nstmts);
}

static int h_declare_changes(rc_ctx *ctx, const rc_change_decl *decls, size_t n)
{
    step_run *sr = SR(ctx);
    char err[256];
    host_forget_decls(sr);
    if (n && !decls) {
        set_error(sr, "declare_changes: declarations announced but none given", 0);
        return RC_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        /* where_param is checked against the statement when the chunked call comes. */
        if (decls[i].table && changes_check(&decls[i], (size_t)-1, err, sizeof err) != 0) {
            char msg[300];
            snprintf(msg, sizeof msg, "declare_changes: %s", err);
            set_error(sr, msg, 0);
            return RC_ERROR;
        }
    }
    /* The core's own copy (changes_copy): a plugin may build it on a helper's stack. */
    sr->decls = changes_copy(decls, n);
    sr->ndecls = n;
    return RC_OK;
}

const rc_api host_api = {
    .size = sizeof(rc_api),
    .log = h_log,
    .fail = h_fail,
    .opt_string = h_opt_string,
    .opt_int = h_opt_int,
    .opt_bool = h_opt_bool,
    .opt_double = h_opt_double,
    .opt_duration_ms = h_opt_duration_ms,
    .now = h_now,
    .now_text = h_now_text,
    .format_time = h_format_time,
    .dry_run = h_dry_run,
    .interrupted = h_interrupted,
    .db_driver = h_db_driver,
    .db_exec = h_db_exec,
    .db_query = h_db_query,
    .db_begin = h_db_begin,
    .db_commit = h_db_commit,
    .db_rollback = h_db_rollback,
    .db_error = h_db_error,
    .db_retryable = h_db_retryable,
    .result_int = h_result_int,
    .result_double = h_result_double,
    .result_bool = h_result_bool,
    .result_string = h_result_string,
    .db_chunked = h_db_chunked,
    .fail_option = h_fail_option,
    .db_prepare = h_db_prepare,
    .db_chunked_by = h_db_chunked_by,
    .declare_changes = h_declare_changes,
};

void host_ctx_init(rc_ctx *ctx, step_run *sr)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->size = sizeof *ctx;
    ctx->api = &host_api;
    ctx->step = sr->ps->cfg->name;
    ctx->core = sr;
    tl_offset_s = sr->clock.offset_s;
}
