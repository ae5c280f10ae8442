/* SPDX-License-Identifier: MIT */
/* cli.c - what the commands share: config loading, connecting, messages. */
#include "cli/cli.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/util.h"
#include "db/connect.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* With --log-format json every stderr line is a JSON object: a log pipeline loses none. */
static int json_logs(void)
{
    rc_log_level lv;
    log_format fmt;
    log_get(&lv, &fmt);
    return fmt == LOG_JSON;
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (json_logs()) {
        log_vmsg(RC_LOG_ERROR, NULL, fmt, ap);
    } else {
        fputs("reconciler: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (json_logs()) {
        log_vmsg(RC_LOG_WARN, NULL, fmt, ap);
    } else {
        fputs("reconciler: warning: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
}

void cli_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (json_logs()) {
        log_vmsg(RC_LOG_INFO, NULL, fmt, ap);
    } else {
        fputs("reconciler: note: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
}

void cli_json_logs_asked(const cli_common *c)
{
    if (c->log_format && strcmp(c->log_format, "json") == 0)
        log_setup(RC_LOG_INFO, LOG_JSON);
}

void cli_say(const char *msg)
{
    if (json_logs())
        log_error("%s", msg);
    else
        fprintf(stderr, "%s\n", msg);
}

int cli_common_opt(int ch, const char *arg, cli_common *c)
{
    switch (ch) {
    case 'c': c->config_path = arg; return 1;
    case OPT_DB: c->db_url = arg; return 1;
    case OPT_LOG_LEVEL: c->log_level = arg; return 1;
    case OPT_LOG_FORMAT: c->log_format = arg; return 1;
    default: return 0;
    }
}

/*
 * --log-level and --log-format beat the file: checked, and written into cfg,
 * so that cfg holds the settings in force (config_log_apply applies them,
 * a reload too, once its whole file is accepted).
 */
static int log_overrides(config *cfg, const cli_common *c, char *err, size_t errlen)
{
    if (c->log_level && log_level_parse(c->log_level) < 0) {
        snprintf(err, errlen, "unknown log level '%s'; valid levels: error, warn, info, debug",
                 c->log_level);
        return EXIT_USAGE;
    }
    if (c->log_format && strcmp(c->log_format, "text") != 0 && strcmp(c->log_format, "json") != 0) {
        snprintf(err, errlen, "unknown log format '%s'; valid formats: text, json", c->log_format);
        return EXIT_USAGE;
    }
    if (c->log_level) {
        free(cfg->log_level);
        cfg->log_level = xstrdup(c->log_level);
    }
    if (c->log_format) {
        free(cfg->log_format);
        cfg->log_format = xstrdup(c->log_format);
    }
    return EXIT_OK;
}

int cli_read_config(const cli_common *c, int need_db, config **out, char *err, size_t errlen)
{
    const char *path = c->config_path;
    *out = NULL;

    if (!path)
        path = getenv("RECONCILER_CONFIG");
    if (!path || !*path)
        path = rc_default_config;
    config *cfg;
    if (config_load(path, &cfg, err, errlen) != 0)
        return EXIT_USAGE;
    if (c->db_url) {
        free(cfg->db_url);
        cfg->db_url = xstrdup(c->db_url);
        cfg->db_url_line = cfg->db_url_col = 0; /* messages about it say --db */
    }
    if (need_db && !cfg->db_url) {
        snprintf(err, errlen, "%s: database.url is not set: set it in the file or pass --db URL",
                 path);
        config_free(cfg);
        return EXIT_USAGE;
    }
    int rc = log_overrides(cfg, c, err, errlen);
    if (rc != EXIT_OK) {
        config_free(cfg);
        return rc;
    }
    *out = cfg;
    return EXIT_OK;
}

int cli_load_config_err(const cli_common *c, int need_db, config **out, char *err,
                        size_t errlen)
{
    int rc = cli_read_config(c, need_db, out, err, errlen);
    if (rc == EXIT_OK)
        config_log_apply(*out);
    return rc;
}

int cli_load_config(const cli_common *c, int need_db, config **out)
{
    char err[2048];
    int rc = cli_load_config_err(c, need_db, out, err, sizeof err);
    if (rc == EXIT_OK)
        return rc;
    /* --log-format json: a log pipeline reads this line too (the file's own format is
     * unknown when the file is what failed). */
    if (c->log_format && strcmp(c->log_format, "json") == 0) {
        cli_json_logs_asked(c);
        log_error("%s", err);
    } else if (strncmp(err, "unknown log", 11) == 0 || strstr(err, "database.url is not set")) {
        cli_error("%s", err);
    } else {
        fprintf(stderr, "%s\n", err);
    }
    return rc;
}

int cli_connect(const config *cfg, db **out)
{
    char err[2048];
    int rc = connect_open(cfg, NULL, out, err, sizeof err);
    if (rc != EXIT_OK)
        cli_error("%s", err);
    return rc;
}

void cli_duration(int64_t ms, char *out, size_t n)
{
    int64_t s = ms / 1000;
    if (ms < 1000)
        snprintf(out, n, "%lld ms", (long long)(ms < 0 ? 0 : ms));
    else if (s < 10)
        snprintf(out, n, "%lld.%llds", (long long)s, (long long)(ms % 1000 / 100));
    else if (s < 60)
        snprintf(out, n, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(out, n, s % 60 ? "%lldm %llds" : "%lldm", (long long)(s / 60),
                 (long long)(s % 60));
    else if (s < 86400)
        snprintf(out, n, (s % 3600) / 60 ? "%lldh %lldm" : "%lldh", (long long)(s / 3600),
                 (long long)((s % 3600) / 60));
    else
        snprintf(out, n, "%lldd %lldh", (long long)(s / 86400), (long long)((s % 86400) / 3600));
}
