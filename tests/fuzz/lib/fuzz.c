/* SPDX-License-Identifier: MIT */
/* fuzz.c - see fuzz.h. */
#include "fuzz.h"
#include "base/log.h"
#include "base/text.h"
#include "base/util.h"
#include "config/config.h"
#include "config/options.h"
#include "engine/pipeline.h"
#include "engine/runner.h"

#include <string.h>

char *fz_cstr(const uint8_t *data, size_t size)
{
    return xstrndup((const char *)data, size);
}

void fz_split(const uint8_t *data, size_t size, char sep, char **a, char **b)
{
    const uint8_t *at = memchr(data, sep, size);
    size_t alen = at ? (size_t)(at - data) : size;
    *a = fz_cstr(data, alen);
    *b = at ? fz_cstr(at + 1, size - alen - 1) : xstrdup("");
}

void fz_quiet(void)
{
    log_setup(RC_LOG_ERROR, LOG_TEXT);
}

const rc_plugin *fz_plugin(const char *name)
{
    for (size_t i = 0; i < fz_n_builtins; i++)
        if (strcmp(fz_builtins[i].name, name) == 0)
            return fz_builtins[i].entry();
    return NULL;
}

/* A plugin that is not built in: one option of every type, "need" required. */
static const rc_option any_options[] = {
    { "text", RC_OPT_STRING, "x", "a string" },
    { "count", RC_OPT_INT, "0", "an int" },
    { "flag", RC_OPT_BOOL, "false", "a bool" },
    { "ratio", RC_OPT_DOUBLE, "0.5", "a double" },
    { "wait", RC_OPT_DURATION, "1s", "a duration" },
    { "dotted.name", RC_OPT_INT, "1", "a name with a dot" },
    { "need", RC_OPT_STRING, NULL, "required" },
    RC_OPTIONS_END
};

static int no_run(rc_ctx *ctx, void *state)
{
    (void)ctx;
    (void)state;
    return RC_OK;
}

static const rc_plugin any_plugin = { RC_ABI_MAJOR, RC_ABI_MINOR, (uint32_t)sizeof(rc_plugin),
                                      "any", "not built in", "0", any_options, NULL, no_run,
                                      NULL, NULL };

static void assert_in(const char *what, int64_t v, int64_t lo, int64_t hi)
{
    FZ_ASSERT(v >= lo && v <= hi, "%s = %lld, outside %lld..%lld", what, (long long)v,
              (long long)lo, (long long)hi);
}

#define S_MS INT64_C(1000)
#define D_MS INT64_C(86400000)

/* What config.h documents for a configuration that loaded. */
static void assert_checked(const config *c)
{
    assert_in("connect_timeout", c->db_connect_timeout_ms, 0, D_MS);
    assert_in("read_timeout", c->db_read_timeout_ms, 0, D_MS);
    assert_in("write_timeout", c->db_write_timeout_ms, 0, D_MS);
    assert_in("keep_runs", c->history_keep_runs, 1, 1000000);
    assert_in("interval", c->schedule_interval_ms, S_MS, 365 * D_MS);
    assert_in("jitter", c->schedule_jitter_ms, 0, D_MS);
    FZ_ASSERT(c->schedule_jitter_ms < c->schedule_interval_ms, "jitter not below interval");
    assert_in("lock_wait", c->schedule_lock_wait_ms, 0, D_MS);
    assert_in("lock_ttl", c->schedule_lock_ttl_ms, 3 * S_MS, 3600 * S_MS);
    assert_in("max_run_time", c->schedule_max_run_time_ms, S_MS, D_MS);
    FZ_ASSERT(c->history_path && c->history_path[0] == '/', "history.path not resolved");
    FZ_ASSERT(c->n_plugin_dirs >= 1, "no plugin_dir");
    for (size_t i = 0; i < c->n_plugin_dirs; i++)
        FZ_ASSERT(c->plugin_dirs[i][0] == '/', "plugin_dir '%s' not resolved", c->plugin_dirs[i]);
    FZ_ASSERT(log_level_parse(c->log_level) >= 0, "log.level '%s'", c->log_level);
    FZ_ASSERT(!strcmp(c->log_format, "text") || !strcmp(c->log_format, "json"), "log.format");
    FZ_ASSERT(c->n_steps >= 1, "no steps");
    for (size_t i = 0; i < c->n_steps; i++) {
        const cfg_step *s = &c->steps[i];
        FZ_ASSERT(text_name_ok(s->name, 0) && text_name_ok(s->plugin, 0), "step %zu's names", i);
        assert_in("steps[].timeout", s->timeout_ms, S_MS, D_MS);
        FZ_ASSERT(s->on_error == CFG_ON_ERROR_CONTINUE || s->on_error == CFG_ON_ERROR_ABORT,
                  "on_error %d", (int)s->on_error);
        FZ_ASSERT(s->enabled == 0 || s->enabled == 1, "enabled %d", s->enabled);
        FZ_ASSERT(s->options && s->options->kind == YT_MAP, "step %zu has no options map", i);
        for (size_t j = 0; j < i; j++)
            FZ_ASSERT(strcmp(s->name, c->steps[j].name) != 0, "two steps named '%s'", s->name);
    }
}

/* Each step's options against its plugin's table, then check(): what validate does. */
static int check_steps(const config *c, char *err, size_t errlen)
{
    pipeline p = { .cfg = c };
    plugin *pl = xcalloc(c->n_steps, sizeof *pl);
    int rc = -1;

    p.steps = xcalloc(c->n_steps, sizeof *p.steps);
    for (size_t i = 0; i < c->n_steps; i++) {
        const rc_plugin *d = fz_plugin(c->steps[i].plugin);
        pl[i].name = c->steps[i].plugin;
        pl[i].desc = d ? d : &any_plugin;
        /* What the loader checks of every table before using it. */
        FZ_ASSERT(opt_table_check(pl[i].desc->options, err, errlen) == 0, "%s", err);
        p.steps[i].cfg = &c->steps[i];
        p.steps[i].plugin = &pl[i];
        if (opt_set_build(pl[i].desc->options, c->steps[i].options, c->path, c->steps[i].name,
                          &p.steps[i].opts, err, errlen) != 0)
            goto out;
        p.n = i + 1;
        const opt_set *o = &p.steps[i].opts;
        for (size_t k = 0; k < o->n; k++) {
            FZ_ASSERT(o->values[k].type == o->defs[k].type, "option '%s' has another type",
                      o->defs[k].name);
            FZ_ASSERT(o->values[k].type != RC_OPT_STRING || o->values[k].s,
                      "string option '%s' is NULL", o->defs[k].name);
        }
    }
    rc = runner_check(&p, err, errlen);
out:
    for (size_t i = 0; i < p.n; i++)
        opt_set_free(&p.steps[i].opts);
    free(p.steps);
    free(pl);
    return rc;
}

/*
 * A refusal names the file, and a position in it when it has one:
 * "FILE:LINE:COL: ..." with LINE a line of text and COL at most one past
 * the end of the longest line, or "FILE: ..." for what has no place.
 */
static void assert_message(const char *path, const char *text, const char *err)
{
    size_t plen = strlen(path), lines = 1, longest = 0, cur = 0;
    int line = 0, col = 0, used = 0;
    FZ_ASSERT(strncmp(err, path, plen) == 0 && err[plen] == ':',
              "the message does not start with the file: %s", err);
    if (err[plen + 1] == ' ')
        return;
    /* Lines as libyaml counts them, at most: '\r' and NEL, LS, PS break lines too. */
    for (const char *p = text; *p; p++) {
        int brk = *p == '\n' || *p == '\r' || strncmp(p, "\xc2\x85", 2) == 0 ||
                  strncmp(p, "\xe2\x80\xa8", 3) == 0 || strncmp(p, "\xe2\x80\xa9", 3) == 0;
        cur = *p == '\n' ? 0 : cur + 1;
        lines += brk;
        longest = cur > longest ? cur : longest;
    }
    FZ_ASSERT(sscanf(err + plen, ":%d:%d:%n", &line, &col, &used) == 2 && used > 0,
              "no LINE:COL after the file: %s", err);
    FZ_ASSERT(line >= 1 && (size_t)line <= lines, "line %d of %zu: %s", line, lines, err);
    FZ_ASSERT(col >= 1 && (size_t)col <= longest + 1, "column %d, longest line %zu: %s", col,
              longest, err);
}

int fz_check_pipeline(const char *path, const char *text, char *err, size_t errlen)
{
    config *c = NULL, *again = NULL;
    err[0] = '\0';
    if (config_load_text(path, text, &c, err, errlen) != 0) {
        FZ_ASSERT(!c, "a refused file left a config");
        assert_message(path, text, err);
        return -1;
    }
    assert_checked(c);
    /* A step worker builds its pipeline from the text the supervisor loaded. */
    FZ_ASSERT(config_load_text(path, c->text, &again, err, errlen) == 0, "reload: %s", err);
    FZ_ASSERT(again->n_steps == c->n_steps, "reload has another step count");
    for (size_t i = 0; i < c->n_steps; i++)
        FZ_ASSERT(strcmp(again->steps[i].name, c->steps[i].name) == 0, "reload renamed a step");
    config_free(again);
    int rc = check_steps(c, err, errlen);
    if (rc != 0)
        assert_message(path, text, err);
    config_free(c);
    return rc;
}

char *fz_yaml_quote(const char *text)
{
    size_t n = strlen(text), o = 0;
    char *out = xmalloc(4 * n + 3);
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            o += (size_t)sprintf(out + o, "\\x%02x", *p);
        else if (*p == '"' || *p == '\\')
            o += (size_t)sprintf(out + o, "\\%c", *p);
        else
            out[o++] = (char)*p;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}
