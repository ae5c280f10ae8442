/* SPDX-License-Identifier: MIT */
/*
 * test_url.c - database URLs never show a password: the redactor on every
 * shape a password can hide in, the parser's messages, and `validate` and
 * `run --once` end to end on malformed URLs (exit 2, FILE:LINE:COL of
 * database.url, or --db).
 */
#include "helpers.h"
#include "db/db.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define RUN(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ------------------------------------------------------------ redactor */

static const struct { const char *url, *shown; } redactions[] = {
    /* Well-formed. */
    { "mysql://bot:PW@h:3306/db", "mysql://bot:***@h:3306/db" },
    { "mysql://bot@h:3306/db", "mysql://bot@h:3306/db" },
    { "mysql://bot@/db?socket=/run/mysqld/mysqld.sock", "mysql://bot@/db?socket=/run/mysqld/mysqld.sock" },
    { "mysql://bot:p@ss:w?x@h/db?socket=/s", "mysql://bot:***@h/db?socket=/s" },
    { "mariadb://bot:PW@[::1]:3306/db", "mariadb://bot:***@[::1]:3306/db" },
    { "postgres://u:PW@h/d", "postgres://u:***@h/d" },
    { "mysql:///bot:PW@h/db", "mysql:///bot:***@h/db" },
    /* User-info without "//" or without a scheme. */
    { "mysql:/bot:PW@/bot", "mysql:***@/bot" },
    { "mysql:bot:PW@h/db", "mysql:***@h/db" },
    { "mysql:/PW@h/db", "mysql:***@h/db" },
    { "bot:PW@localhost/bot", "bot:***@localhost/bot" },
    /* "USER:X" with no '@': X unless it is all digits (a port). */
    { "mysql://bot:PW", "mysql://bot:***" },
    { "mysql://bot:PW/db", "mysql://bot:***" },
    { "mysql:/bot:PW/db", "mysql:/bot:***" },
    { "mysql:PW", "mysql:***" },
    { "bot:PW", "bot:***" },
    { "bot:1a", "bot:***" },
    { "mysql://h:3306/db", "mysql://h:3306/db" },
    { "mysql://[::1]:3306/db", "mysql://[::1]:3306/db" },
    { "bot:1234", "bot:1234" },
    /* After the '@': a port that does not read as one. */
    { "mysql://bot@host:PW/db", "mysql://bot@host:***" },
    { "mysql://bot@host:1hunter2/db", "mysql://bot@host:***" },
    { "mysql://bot@[::1]:PW/db", "mysql://bot@[::1]:***" },
    { "mysql://bot@h:12a/db", "mysql://bot@h:***" },
    { "mysql://bot@h:99999/db", "mysql://bot@h:99999/db" },
    /* Query values, but socket's. */
    { "mysql://bot@h/db?password=PW", "mysql://bot@h/db?password=***" },
    { "mysql://bot@h/db?socket=/s&password=PW&x=", "mysql://bot@h/db?socket=/s&password=***&x=" },
    { "mysql://bot@h/db?PW", "mysql://bot@h/db?***" },
    { "mysql://bot@h/db?password=P@W", "mysql://bot@h/db?password=***" },
    { "mysql://bot/db?pass=PW", "mysql://bot/db?pass=***" },
    /* No password here: shown as it is. */
    { "sqlite:/var/x:y@z.db", "sqlite:/var/x:y@z.db" },
    { "SQLite:a:b@c?d=e", "SQLite:a:b@c?d=e" },
    { "mysql://bot@h/db", "mysql://bot@h/db" },
    { "", "" },
};

Test(url_redact, every_shape)
{
    char out[256];
    for (size_t i = 0; i < sizeof redactions / sizeof *redactions; i++) {
        db_url_redact(redactions[i].url, out, sizeof out);
        cr_expect_str_eq(out, redactions[i].shown, "%s", redactions[i].url);
        cr_expect_null(strstr(out, "PW"), "%s: %s", redactions[i].url, out);
    }
    db_url_redact(NULL, out, sizeof out);
    cr_assert_str_eq(out, "");
}

Test(url_redact, cut_to_the_buffer)
{
    char out[20];
    memset(out, 'x', sizeof out);
    db_url_redact("mysql://bot:PW@h/db?password=PW", out, 16);
    cr_assert_str_eq(out, "mysql://bot:***");
    cr_assert_eq(out[16], 'x', "nothing past the size given");
    db_url_redact("mysql://bot:PW@h", out, 13);
    cr_assert_str_eq(out, "mysql://bot:", "\"***\" cut rather than the password shown");
    db_url_redact("mysql://bot:PW@h", out, 0); /* nothing written, no crash */
}

/* ---------------------------------------------------- parser messages */

/* Each is refused, and the message quotes no part of the password. */
Test(url_parse, errors_quote_no_password)
{
    static const char *const urls[] = {
        "mysql:/bot:Pw-s3cret@/bot", "bot:Pw-s3cret@localhost/bot", "mysql://bot:Pw-s3cret",
        "mysql://bot@host:Pw-s3cret/db", "mysql://bot@host/db?password=Pw-s3cret",
        "mysql://bot@host/db?Pw-s3cret", "mysql://bot@host/db?password=Pw@s3cret",
        "mysql:bot:Pw-s3cret@h/db", "Pw-s3cret", "mariadb:/bot:Pw-s3cret@h/db",
        "mysql://bot@host:1s3cret/db", "mysql://bot:Pw-s3cret@host:bad/db",
    };
    for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
        char err[256] = "";
        db_url u;
        cr_assert_eq(db_url_parse(urls[i], NULL, &u, err, sizeof err), -1, "%s accepted", urls[i]);
        cr_assert(err[0], "%s: no message", urls[i]);
        cr_expect_null(strstr(err, "s3cret"), "%s: %s", urls[i], err);
        cr_expect_null(strstr(err, "Pw"), "%s: %s", urls[i], err);
    }
}

Test(url_parse, messages_say_what_is_wrong)
{
    static const struct { const char *url, *want; } cases[] = {
        { "mysql:/bot:pw@/bot", "database URL: the scheme needs two slashes: mysql://USER@HOST/DB" },
        { "mariadb:bot@h/db", "database URL: the scheme needs two slashes" },
        { "mysql://bot@host:pw/db", "database URL: bad port after the host: not a number from 1 "
                                    "to 65535 (not shown: a password there would be); write "
                                    "mysql://USER@HOST:PORT/DB" },
        { "mysql://bot@h:99999/d", "database URL: bad port '99999' (expected 1 to 65535)" },
        { "mysql://bot@h:12a/d", "database URL: bad port after the host: not a number from 1 "
                                 "to 65535 (not shown: a password there would be); write "
                                 "mysql://USER@HOST:PORT/DB" },
        { "mysql://bot@h:123456/d", "database URL: bad port '123456' (expected 1 to 65535)" },
        { "mysql://bot@h/d?password=x", "database URL: unknown parameter 'password' (only "
                                        "socket=PATH is known)" },
        { "mysql://bot@h/d?pw", "database URL: a parameter without '=' after '?' (only "
                                "socket=PATH is known)" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char err[512] = "";
        db_url u;
        cr_assert_eq(db_url_parse(cases[i].url, NULL, &u, err, sizeof err), -1, "%s", cases[i].url);
        cr_expect(strstr(err, cases[i].want), "%s:\ngot  %s\nwant %s", cases[i].url, err,
                  cases[i].want);
    }
}

/* ------------------------------------------------------ through the CLI */

static const char *fixture_plugins(void)
{
    return th_build_path("tests/plugins");
}

/* A pipeline whose database.url value stands at line 3, column 8. */
static char *pipeline_with_url(const char *url)
{
    char *text = NULL;
    cr_assert_neq(asprintf(&text, "database:\n  connect_timeout: 1s\n  url: '%s'\n"
                           "history:\n  path: var/history.db\nplugin_dir: %s\n"
                           "steps:\n  - plugin: fixture\n", url, fixture_plugins()), -1);
    char *path = th_path(th_tmpdir(), "pipeline.yaml");
    th_write(path, text);
    free(text);
    return path;
}

static const char *const malformed[] = {
    "mysql:/bot:Pw-s3cret@/bot",
    "bot:Pw-s3cret@localhost/bot",
    "mysql://bot:Pw-s3cret",
    "mysql://bot@host:Pw-s3cret/db",
    "mysql://bot@host/db?password=Pw-s3cret",
    "mysql://bot@host/db?password=Pw@s3cret",
    "mysql://bot@host/db?Pw-s3cret",
    "Pw-s3cret",
};

static void assert_hidden(const char *url, const char *out, const char *err)
{
    cr_expect_null(strstr(err, "s3cret"), "%s: stderr: %s", url, err);
    cr_expect_null(strstr(err, "Pw"), "%s: stderr: %s", url, err);
    cr_expect_null(strstr(out, "s3cret"), "%s: stdout: %s", url, out);
}

Test(url_cli, malformed_url_in_the_file, .timeout = 60)
{
    const char *const env[] = { "RECONCILER_DB_PASSWORD=", NULL };
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++) {
        char *cfg = pipeline_with_url(malformed[i]), *out, *err, where[PATH_MAX + 64];
        snprintf(where, sizeof where, "%s:3:8: database.url", cfg);
        const char *const *cmds[] = { RUN("validate", "-c", cfg), RUN("run", "--once", "-c", cfg) };
        for (size_t c = 0; c < 2; c++) {
            int rc = th_run_cli(cmds[c], env, &out, &err);
            cr_expect_eq(rc, 2, "%s %s: exit %d: %s", cmds[c][0], malformed[i], rc, err);
            cr_expect(strstr(err, where), "%s %s: no %s in: %s", cmds[c][0], malformed[i], where,
                      err);
            assert_hidden(malformed[i], out, err);
            free(out);
            free(err);
        }
        free(cfg);
    }
}

Test(url_cli, malformed_url_from_db_option_says_db, .timeout = 60)
{
    char *cfg = pipeline_with_url("sqlite:fine.db"), *out, *err;
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++) {
        const char *const *cmds[] = { RUN("validate", "--db", malformed[i], "-c", cfg),
                                      RUN("run", "--once", "--db", malformed[i], "-c", cfg) };
        for (size_t c = 0; c < 2; c++) {
            int rc = th_run_cli(cmds[c], NULL, &out, &err);
            cr_expect_eq(rc, 2, "%s %s: exit %d: %s", cmds[c][0], malformed[i], rc, err);
            cr_expect(strstr(err, "reconciler: --db"), "%s: %s", malformed[i], err);
            cr_expect_null(strstr(err, ":3:8:"), "not the file's position: %s", err);
            assert_hidden(malformed[i], out, err);
            free(out);
            free(err);
        }
    }
    free(cfg);
}

/* What the message looks like whole: position, redacted URL, the parser's reason. */
Test(url_cli, message_shape)
{
    char *cfg = pipeline_with_url("mysql://bot@host:Pw-s3cret/db"), *out, *err, want[PATH_MAX + 256];
    cr_assert_eq(th_run_cli(RUN("validate", "-c", cfg), NULL, &out, &err), 2, "%s", err);
    snprintf(want, sizeof want, "reconciler: %s:3:8: database.url 'mysql://bot@host:***': "
             "database URL: bad port after the host: not a number from 1 to 65535 (not shown: "
             "a password there would be); write mysql://USER@HOST:PORT/DB\n", cfg);
    cr_assert_str_eq(err, want);
    free(out);
    free(err);
    /* A bare word is not shown at all: it may be the password itself. */
    free(cfg);
    cfg = pipeline_with_url("Pw-s3cret");
    cr_assert_eq(th_run_cli(RUN("validate", "-c", cfg), NULL, &out, &err), 2, "%s", err);
    snprintf(want, sizeof want, "reconciler: %s:3:8: database.url: not a database URL (expected "
             "mysql://USER@HOST/DB or sqlite:PATH)\n", cfg);
    cr_assert_str_eq(err, want);
    free(out);
    free(err);
    free(cfg);
}
