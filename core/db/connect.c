/* SPDX-License-Identifier: MIT */
/* connect.c - see connect.h. */
#include "db/connect.h"
#include "base/exitcode.h"
#include "base/log.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * "FILE:LINE:COL: database.url 'mysql://bot:***@h/db': why", or "--db ...:
 * why" when --db gave it. The URL is shown redacted, and only when it looks
 * like one: a bare word there may be the password itself.
 */
int connect_parse_url(const config *cfg, db_url *u, char *err, size_t errlen)
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

int connect_preflight(const config *cfg, char *err, size_t errlen)
{
    db_url u = { 0 };
    char *password = NULL;
    int rc = connect_parse_url(cfg, &u, err, errlen);
    if (rc == EXIT_OK && config_password(cfg, &password, err, errlen) != 0)
        rc = EXIT_USAGE;
    util_free_secret(password);
    db_url_free(&u);
    return rc;
}

static int seconds(int override_s, int64_t configured_ms)
{
    return override_s > 0 ? override_s : (int)((configured_ms + 999) / 1000);
}

int connect_open(const config *cfg, const connect_timeouts *t, db **out, char *err,
                 size_t errlen)
{
    static const connect_timeouts none;
    char *password = NULL;
    db_url u = { 0 };
    int rc = EXIT_USAGE;
    *out = NULL;

    if (!t)
        t = &none;
    if (connect_parse_url(cfg, &u, err, errlen) != EXIT_OK)
        goto out;
    if (config_password(cfg, &password, err, errlen) != 0)
        goto out;
    db_options o = {
        .password = password,
        .time_zone = cfg->db_time_zone,
        .connect_timeout_s = seconds(t->connect_s, cfg->db_connect_timeout_ms),
        .read_timeout_s = seconds(t->read_s, cfg->db_read_timeout_ms),
        .write_timeout_s = seconds(t->write_s, cfg->db_write_timeout_ms),
        .busy_timeout_ms = t->busy_ms,
    };
    if (db_open(&u, &o, out, err, errlen) != DB_OK) {
        rc = EXIT_DATABASE;
        goto out;
    }
    rc = EXIT_OK;
out:
    util_free_secret(password); /* not left lying in freed heap memory */
    db_url_free(&u);
    return rc;
}

int connect_check(const config *cfg, const connect_timeouts *t, db **d, char *err,
                  size_t errlen)
{
    if (*d && db_ping(*d) != 0) {
        log_info("the database connection was lost (%s); reconnecting", db_errmsg(*d));
        db_close(*d);
        *d = NULL;
    }
    return *d ? EXIT_OK : connect_open(cfg, t, d, err, errlen);
}

config *connect_config_dup(const config *cfg)
{
    config *c = xcalloc(1, sizeof *c);
    c->path = cfg->path ? xstrdup(cfg->path) : NULL;
    c->dir = cfg->dir ? xstrdup(cfg->dir) : NULL;
    /* The connection's settings are what a step worker is handed: the key table's CFG_WORKER. */
    config_copy_keys(c, cfg, CFG_WORKER);
    return c;
}
