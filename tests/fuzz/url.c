/* SPDX-License-Identifier: MIT */
/*
 * url.c - the database URL: db_url_parse, db_url_redact and the message
 * connect_parse_url builds from them (FILE:LINE:COL, the URL redacted, why).
 * Properties: no crash, leak or undefined behaviour; the redaction cut to
 * any buffer size is a terminated prefix of the whole one; a password the
 * URL carries never shows, neither in the redacted URL nor in a message.
 *
 * "The password" is what parse_mysql takes for it: after "mysql://" (or
 * "mariadb://"), from the first ':' up to the last '@'. Two checks:
 *   - as fuzzed: the password's text and its decoded value are not in the
 *     redacted URL, unless they also stand in the URL outside the password
 *     (a password "a" in mysql://a:a@h/d) or hold a '*' (the mask's own);
 *   - marked: every byte of the password that is not one of the URL's
 *     separators is replaced by 0x01, a byte no message template holds;
 *     then no 0x01 may appear in the redaction or in any message (when the
 *     URL held none, not even as "%01", before).
 */
#include "fuzz.h"
#include "base/exitcode.h"
#include "base/util.h"
#include "config/config.h"
#include "db/connect.h"
#include "db/db.h"

#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MARK '\x01'

/* [*from, *to) of url is its password, as parse_mysql reads it: 1, else 0. */
static int password_span(const char *url, size_t *from, size_t *to)
{
    size_t skip = strncasecmp(url, "mysql://", 8) == 0     ? 8
                : strncasecmp(url, "mariadb://", 10) == 0 ? 10
                                                          : 0;
    if (!skip)
        return 0;
    const char *rest = url + skip, *at = strrchr(rest, '@');
    const char *colon = at ? memchr(rest, ':', (size_t)(at - rest)) : NULL;
    if (!colon || colon + 1 == at)
        return 0;
    *from = (size_t)(colon + 1 - url);
    *to = (size_t)(at - url);
    return 1;
}

/* Is needle in url outside [from, to)? */
static int elsewhere(const char *url, size_t from, size_t to, const char *needle)
{
    char *before = xstrndup(url, from);
    int found = strstr(before, needle) || strstr(url + to, needle);
    free(before);
    return found;
}

/* The whole redaction, and cut to every size up to it: terminated prefixes. */
static void redact(const char *url, char *out, size_t outlen)
{
    char cut[64];
    db_url_redact(url, out, outlen);
    FZ_ASSERT(strlen(out) < outlen, "not terminated");
    for (size_t n = 1; n < sizeof cut - 1; n++) {
        memset(cut, 'X', sizeof cut);
        db_url_redact(url, cut, n);
        FZ_ASSERT(memchr(cut, '\0', n), "not terminated within %zu bytes", n);
        FZ_ASSERT(cut[n] == 'X', "wrote past %zu bytes", n);
        FZ_ASSERT(strncmp(cut, out, strlen(cut)) == 0, "a cut is not a prefix");
    }
}

/* Parse url as database.url of a file, then as --db: messages and the URL. */
static void parse(const char *url, db_url *u, char *err, size_t errlen, char *err_db,
                  size_t err_dblen)
{
    config c = { .path = "fuzz.yaml", .dir = "/fuzz", .db_url = (char *)url,
                 .db_url_line = 4, .db_url_col = 8 };
    db_url u2 = { 0 };
    int rc = connect_parse_url(&c, u, err, errlen);
    FZ_ASSERT(rc == EXIT_OK || rc == EXIT_USAGE, "exit code %d", rc);
    if (rc != EXIT_OK)
        FZ_ASSERT(strncmp(err, "fuzz.yaml:4:8: database.url", 27) == 0, "message: %s", err);
    c.db_url_line = c.db_url_col = 0;
    err_db[0] = '\0';
    FZ_ASSERT(connect_parse_url(&c, &u2, err_db, err_dblen) == rc, "--db parses otherwise");
    db_url_free(&u2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = fz_cstr(data, size);
    char shown[1024], err[2048], err_db[2048];
    db_url u = { 0 };
    size_t from, to;

    redact(url, shown, sizeof shown);
    err[0] = '\0';
    parse(url, &u, err, sizeof err, err_db, sizeof err_db);
    if (u.kind == DB_MYSQL)
        FZ_ASSERT(u.user && *u.user && u.database && *u.database, "a MySQL URL without user or db");
    if (u.kind == DB_SQLITE)
        FZ_ASSERT(u.path && *u.path, "an SQLite URL without a path");

    if (password_span(url, &from, &to) && strlen(url) < sizeof shown) {
        char *raw = xstrndup(url + from, to - from);
        if (!strchr(raw, '*') && !elsewhere(url, from, to, raw))
            FZ_ASSERT(!strstr(shown, raw), "password '%s' in '%s'", raw, shown);
        if (u.password && *u.password && !strchr(u.password, '*') &&
            !elsewhere(url, from, to, u.password))
            FZ_ASSERT(!strstr(shown, u.password), "password '%s' in '%s'", u.password, shown);
        free(raw);

        /* Marked: the password's plain bytes become MARK (its separators stay). */
        /* Skipped when MARK is already there, or comes out of decoding ("%01" in the database
         * name shows decoded in a message, and is no password). */
        if (!strchr(url, MARK) && !strstr(url, "%01")) {
            char *marked = xstrdup(url);
            for (size_t i = from; i < to; i++)
                if (!strchr(":@/?&=%[]", marked[i]))
                    marked[i] = MARK;
            db_url m = { 0 };
            redact(marked, shown, sizeof shown);
            FZ_ASSERT(!strchr(shown, MARK), "the password shows in '%s'", shown);
            parse(marked, &m, err, sizeof err, err_db, sizeof err_db);
            FZ_ASSERT(!strchr(err, MARK) && !strchr(err_db, MARK), "the password shows in '%s'",
                      err);
            db_url_free(&m);
            free(marked);
        }
    }
    db_url_free(&u);
    free(url);
    return 0;
}
