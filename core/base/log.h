/* SPDX-License-Identifier: MIT */
/*
 * log.h - the core's log: one line per event on stderr, as text
 * ("2026-11-29T03:00:00.123Z info [leases] 12 leases repaired") or as JSON
 * ({"ts":...,"level":...,"step":...,"msg":...}) for machines.
 */
#ifndef RC_LOG_H
#define RC_LOG_H

#include <stdarg.h>
#include <stdint.h>
#include "reconciler.h"

typedef enum log_format { LOG_TEXT = 0, LOG_JSON = 1 } log_format;

void log_setup(rc_log_level level, log_format format);
/* The settings in force (a step worker logs as its supervisor does). */
void log_get(rc_log_level *level, log_format *format);
/* Parse "error", "warn", "info", "debug"; -1 when unknown. */
int log_level_parse(const char *s);

/*
 * The trace this thread's lines belong to: JSON lines then carry "trace_id"
 * and "span_id" (text lines stay as they are). NULL trace_id: none. Per
 * thread: a run's lines get its ids, an HTTP thread's beside it do not.
 */
void log_set_trace(const char *trace_id, const char *span_id);

/*
 * The run this thread's lines belong to: JSON lines then carry "run_id"
 * (0: none). Per thread, like the trace.
 */
void log_set_run(int64_t run_id);

/*
 * The job this thread's lines belong to: JSON lines then carry "job" (NULL:
 * none). Per thread, like the run; set and cleared with it.
 */
void log_set_job(const char *job);

/*
 * A line with fields: JSON lines carry each field of `fields` (an object:
 * "status", "duration_ms", "rows_changed" ...) beside "msg"; text lines are
 * the message alone. fields may be NULL; it is not consumed.
 */
struct json_t;
void log_fields(rc_log_level level, const char *step, const struct json_t *fields,
                const char *fmt, ...) RC_PRINTF(4, 5);

void log_msg(rc_log_level level, const char *step, const char *fmt, ...) RC_PRINTF(3, 4);
void log_vmsg(rc_log_level level, const char *step, const char *fmt, va_list ap);

#define log_error(...) log_msg(RC_LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(RC_LOG_WARN, NULL, __VA_ARGS__)
#define log_info(...) log_msg(RC_LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_msg(RC_LOG_DEBUG, NULL, __VA_ARGS__)

#endif
