/* cli.c - what the commands share: config loading, connecting, messages. */
#include "cli.h"
#include "log.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("reconciler: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
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

static int setup_log(const config *cfg, const cli_common *c)
{
    const char *level = c->log_level ? c->log_level : cfg->log_level;
    const char *format = c->log_format ? c->log_format : cfg->log_format;
    int lv = log_level_parse(level ? level : "info");
    if (lv < 0) {
        cli_error("unknown log level '%s'; valid levels: error, warn, info, debug", level);
        return EXIT_USAGE;
    }
    if (format && strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
        cli_error("unknown log format '%s'; valid formats: text, json", format);
        return EXIT_USAGE;
    }
    log_setup((rc_log_level)lv, format && strcmp(format, "json") == 0 ? LOG_JSON : LOG_TEXT);
    return EXIT_OK;
}

int cli_load_config(const cli_common *c, int need_db, config **out)
{
    char err[2048];
    const char *path = c->config_path;
    *out = NULL;

    if (!path)
        path = getenv("RECONCILER_CONFIG");
    if (!path || !*path)
        path = "/etc/reconciler/pipeline.yaml";
    config *cfg;
    if (config_load(path, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return EXIT_USAGE;
    }
    if (c->db_url) {
        free(cfg->db_url);
        cfg->db_url = xstrdup(c->db_url);
        cfg->db_url_line = cfg->db_url_col = 0; /* messages about it say --db */
    }
    if (need_db && !cfg->db_url) {
        cli_error("%s: database.url is not set: set it in the file or pass --db URL", path);
        config_free(cfg);
        return EXIT_USAGE;
    }
    int rc = setup_log(cfg, c);
    if (rc != EXIT_OK) {
        config_free(cfg);
        return rc;
    }
    *out = cfg;
    return EXIT_OK;
}

/*
 * "FILE:LINE:COL: database.url 'mysql://bot:***@h/db': why", or "--db ...:
 * why" when --db gave it. The URL is shown redacted, and only when it looks
 * like one: a bare word there may be the password itself.
 */
static int parse_url(const config *cfg, db_url *u, char *err, size_t errlen)
{
    char why[512], shown[512], where[1024];
    if (db_url_parse(cfg->db_url, cfg->dir, u, why, sizeof why) == 0)
        return EXIT_OK;
    if (cfg->db_url_line > 0)
        snprintf(where, sizeof where, "%s:%d:%d: database.url", cfg->path, cfg->db_url_line,
                 cfg->db_url_col);
    else
        snprintf(where, sizeof where, "%s", cfg->db_url ? "--db" : "database.url");
    if (cfg->db_url && strchr(cfg->db_url, ':')) {
        db_url_redact(cfg->db_url, shown, sizeof shown);
        snprintf(err, errlen, "%s '%s': %s", where, shown, why);
    } else {
        snprintf(err, errlen, "%s: %s", where, why);
    }
    return EXIT_USAGE;
}

int cli_parse_url(const config *cfg, db_url *u)
{
    char err[2048];
    int rc = parse_url(cfg, u, err, sizeof err);
    if (rc != EXIT_OK)
        cli_error("%s", err);
    return rc;
}

int cli_open_db(const config *cfg, db **out, char *err, size_t errlen)
{
    char *password = NULL;
    db_url u = { 0 };
    int rc = EXIT_USAGE;
    *out = NULL;

    if (parse_url(cfg, &u, err, errlen) != EXIT_OK)
        goto out;
    if (config_password(cfg, &password, err, errlen) != 0)
        goto out;
    db_options o = {
        .password = password,
        .time_zone = cfg->db_time_zone,
        .connect_timeout_s = (int)((cfg->db_connect_timeout_ms + 999) / 1000),
        .read_timeout_s = (int)((cfg->db_read_timeout_ms + 999) / 1000),
        .write_timeout_s = (int)((cfg->db_write_timeout_ms + 999) / 1000),
    };
    if (db_open(&u, &o, out, err, errlen) != DB_OK) {
        rc = EXIT_DATABASE;
        goto out;
    }
    rc = EXIT_OK;
out:
    if (password) {
        /* Do not leave the secret lying in freed heap memory. */
        explicit_bzero(password, strlen(password));
        free(password);
    }
    db_url_free(&u);
    return rc;
}

int cli_connect(const config *cfg, db **out)
{
    char err[2048];
    int rc = cli_open_db(cfg, out, err, sizeof err);
    if (rc != EXIT_OK)
        cli_error("%s", err);
    return rc;
}
