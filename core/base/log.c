/* SPDX-License-Identifier: MIT */
/* log.c - see log.h. */
#include "base/log.h"
#include "base/text.h"
#include "base/json.h"
#include "base/util.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Atomics: a reload changes them while HTTP threads log. */
static _Atomic int g_level = RC_LOG_INFO;
static _Atomic int g_format = LOG_TEXT;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

/* The run's trace on the thread that makes it (trace/context.h: 32 and 16 hex digits). */
static _Thread_local char t_trace_id[33], t_span_id[17];
static _Thread_local int64_t t_run_id;
static _Thread_local char t_job[128];

void log_set_run(int64_t run_id)
{
    t_run_id = run_id;
}

void log_set_job(const char *job)
{
    snprintf(t_job, sizeof t_job, "%s", job ? job : "");
}

void log_set_trace(const char *trace_id, const char *span_id)
{
    snprintf(t_trace_id, sizeof t_trace_id, "%s", trace_id ? trace_id : "");
    snprintf(t_span_id, sizeof t_span_id, "%s", trace_id && span_id ? span_id : "");
}

void log_setup(rc_log_level level, log_format format)
{
    g_level = level;
    g_format = format;
}

void log_get(rc_log_level *level, log_format *format)
{
    *level = (rc_log_level)g_level;
    *format = (log_format)g_format;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

static void emit(rc_log_level level, const char *step, const json_t *fields, const char *fmt,
                 va_list ap)
{
    if ((int)level > g_level)
        return;
    char msg[2048], ts[32];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* A message may quote a server or a plugin, and the cut above may split a
     * character: make it valid UTF-8, or jansson would drop the whole line. */
    text_repair_buf(msg, sizeof msg);
    util_iso_time(util_wall_ms(), ts, sizeof ts);

    if (g_format == LOG_JSON) {
        json_t *o = jx(json_pack("{s:s, s:s, s:s}", "ts", ts, "level", level_names[level],
                                 "msg", msg));
        if (t_run_id)
            json_object_set_new(o, "run_id", jx(json_integer(t_run_id)));
        if (t_job[0])
            json_object_set_new(o, "job", jx_text(t_job));
        if (step)
            json_object_set_new(o, "step", jx_text(step));
        if (fields) {
            const char *k;
            json_t *v;
            json_object_foreach((json_t *)fields, k, v)
                if (!json_object_get(o, k)) /* never over ts, level, msg */
                    json_object_set(o, k, v);
        }
        if (t_trace_id[0]) {
            json_object_set_new(o, "trace_id", jx_text(t_trace_id));
            json_object_set_new(o, "span_id", jx_text(t_span_id));
        }
        char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (line)
            fprintf(stderr, "%s\n", line);
        free(line);
        json_decref(o);
    } else if (step) {
        fprintf(stderr, "%s %-5s [%s] %s\n", ts, level_names[level], step, msg);
    } else {
        fprintf(stderr, "%s %-5s %s\n", ts, level_names[level], msg);
    }
}

void log_vmsg(rc_log_level level, const char *step, const char *fmt, va_list ap)
{
    emit(level, step, NULL, fmt, ap);
}

void log_fields(rc_log_level level, const char *step, const json_t *fields, const char *fmt,
                ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(level, step, fields, fmt, ap);
    va_end(ap);
}

void log_msg(rc_log_level level, const char *step, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, step, fmt, ap);
    va_end(ap);
}
