/* SPDX-License-Identifier: MIT */
/*
 * db.c - see db.h. The driver-independent half of the database layer: URLs,
 * the handle and its last error, dispatch to the driver, time text, and the
 * few helpers (db_now, db_table_exists) that are plain queries.
 */
#include "db/db_impl.h"
#include "base/stop.h"
#include "base/util.h"

#include <ctype.h>
#include <stdatomic.h>
#include <strings.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Our own errors (not the driver's) carry this code. */
#define DB_OWN_ERROR (-1)

/* ------------------------------------------------------- statement cache */

void stmt_cache_init(stmt_cache *c, void (*finalize)(void *stmt))
{
    memset(c, 0, sizeof *c);
    c->finalize = finalize;
}

static void slot_empty(stmt_cache *c, size_t i)
{
    free(c->sql[i]);
    c->sql[i] = NULL;
    c->stmt[i] = NULL;
    c->used[i] = 0;
}

void *stmt_cache_take(stmt_cache *c, const char *sql)
{
    for (size_t i = 0; i < DB_STMT_CACHE; i++) {
        if (c->used[i] && strcmp(c->sql[i], sql) == 0) {
            void *stmt = c->stmt[i];
            slot_empty(c, i);
            return stmt;
        }
    }
    return NULL;
}

void stmt_cache_give(stmt_cache *c, const char *sql, void *stmt)
{
    size_t victim = 0;
    for (size_t i = 0; i < DB_STMT_CACHE; i++) {
        if (c->used[i] && strcmp(c->sql[i], sql) == 0) {
            /* A nested run of the same text prepared a twin: keep one. */
            c->finalize(stmt);
            return;
        }
        if (c->used[i] < c->used[victim])
            victim = i;
    }
    char *key = xstrdup(sql);
    if (c->used[victim]) {
        c->finalize(c->stmt[victim]);
        slot_empty(c, victim);
    }
    c->sql[victim] = key;
    c->stmt[victim] = stmt;
    c->used[victim] = ++c->tick;
}

void stmt_cache_clear(stmt_cache *c)
{
    for (size_t i = 0; i < DB_STMT_CACHE; i++) {
        if (c->used[i])
            c->finalize(c->stmt[i]);
        slot_empty(c, i);
    }
}

/* ---------------------------------------------------------- stop cuts */

static _Atomic int64_t cut_grace_ms;   /* 0: off */
static _Atomic int64_t stop_seen_ms;   /* when a wait first saw the stop */

int64_t db_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void db_cut_waits_on_stop(int64_t grace_ms)
{
    atomic_store(&cut_grace_ms, grace_ms > 0 ? grace_ms : 0);
    if (grace_ms > 0)
        db_mysql_watch_start();
}

/*
 * The stop's time is when a waiter first noticed it (the signal handler may
 * only set a flag): the watcher looks every 100 ms, so that is at most that
 * late. A wait that began after the stop gets the grace from its own start.
 */
int db_stop_cuts(int64_t since_ms)
{
    int64_t grace = atomic_load(&cut_grace_ms);
    if (!grace || !since_ms || !stop_requested())
        return 0;
    int64_t now = db_mono_ms(), none = 0;
    atomic_compare_exchange_strong(&stop_seen_ms, &none, now);
    int64_t from = atomic_load(&stop_seen_ms);
    return now - (since_ms > from ? since_ms : from) >= grace;
}

/* ------------------------------------------------------------- errors */

void db_set_error(db *d, int code, const char *fmt, ...)
{
    va_list ap;
    int off;
    d->errcode = code ? code : DB_OWN_ERROR;
    if (code > 0)
        off = snprintf(d->errmsg, sizeof d->errmsg, "%s error %d: ", d->drv->name, code);
    else
        off = snprintf(d->errmsg, sizeof d->errmsg, "%s: ", d->drv->name);
    if (off < 0 || (size_t)off >= sizeof d->errmsg)
        off = 0;
    va_start(ap, fmt);
    vsnprintf(d->errmsg + off, sizeof d->errmsg - (size_t)off, fmt, ap);
    va_end(ap);
}

void db_clear_error(db *d)
{
    d->errcode = 0;
    d->errmsg[0] = '\0';
}

const char *db_errmsg(const db *d)
{
    return d ? d->errmsg : "no database connection";
}

int db_errcode(const db *d)
{
    return d ? d->errcode : 0;
}

int db_retryable(const db *d)
{
    return d && d->errcode > 0 && d->drv->retryable(d->errcode);
}

int db_lost(const db *d)
{
    return d && d->errcode > 0 && d->drv->lost(d->errcode);
}

/* ---------------------------------------------------------------- URLs */

static int errf(char *err, size_t errlen, const char *fmt, ...) RC_PRINTF(3, 4);
static int errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Copy [s, s+len) with %XX decoded into a new string; NULL on bad encoding. */
static char *pct_decode(const char *s, size_t len)
{
    char *out = xmalloc(len + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
        int lo = i + 2 < len ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        *o++ = (char)(hi * 16 + lo);
        i += 2;
    }
    *o = '\0';
    return out;
}

static int has_prefix_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * Whether the text of a port ([s, s+len), after "HOST:") may be shown: only
 * when it is all digits. Anything else there may be a password written in
 * the wrong place ("USER@HOST:PASSWORD/DB", and passwords may start with a
 * digit), so neither the redactor nor a message shows it.
 */
static int port_shown(const char *s, size_t len)
{
    size_t d = 0;
    while (d < len && isdigit((unsigned char)s[d]))
        d++;
    return d == len;
}

static int parse_sqlite(const char *path, const char *base_dir, db_url *out, char *err,
                        size_t errlen)
{
    out->kind = DB_SQLITE;
    if (!*path)
        return errf(err, errlen, "database URL sqlite: has no file path (sqlite:PATH)");
    int relative = path[0] != '/' && strcmp(path, ":memory:") != 0;
    out->path = relative && base_dir && *base_dir ? xasprintf("%s/%s", base_dir, path)
                                                  : xstrdup(path);
    return 0;
}

/* "HOST", "HOST:PORT", ":PORT", "[V6]" or "[V6]:PORT"; an empty host stays NULL. */
static int parse_hostport(const char *s, size_t len, db_url *out, char *err, size_t errlen)
{
    const char *end = s + len, *host = s, *host_end, *colon;
    if (len && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return errf(err, errlen, "database URL: '[' of an IPv6 host without ']'");
        host = s + 1;
        host_end = close;
        colon = close + 1 < end ? close + 1 : NULL;
        if (colon && *colon != ':')
            return errf(err, errlen, "database URL: unexpected text after the IPv6 host");
    } else {
        colon = memchr(s, ':', len);
        host_end = colon ? colon : end;
    }
    if (host_end > host && !(out->host = pct_decode(host, (size_t)(host_end - host))))
        return errf(err, errlen, "database URL: bad %%-encoding in the host");
    if (!colon)
        return 0;
    const char *p = colon + 1;
    unsigned long port = 0;
    size_t digits = (size_t)(end - p);
    for (const char *q = p; q < end; q++)
        port = isdigit((unsigned char)*q) && port <= 65535 ? port * 10 + (unsigned)(*q - '0')
                                                          : 100000;
    if ((digits == 0 || digits > 5 || port < 1 || port > 65535) && port_shown(p, digits))
        return errf(err, errlen, "database URL: bad port '%.*s' (expected 1 to 65535)",
                    (int)(digits > 32 ? 32 : digits), p);
    if (digits == 0 || digits > 5 || port < 1 || port > 65535)
        return errf(err, errlen, "database URL: bad port after the host: not a number from 1 "
                    "to 65535 (not shown: a password there would be); write "
                    "mysql://USER@HOST:PORT/DB");
    out->port = (unsigned)port;
    return 0;
}

/* "user[:password]" before the '@'. Never quotes the password. */
static int parse_userinfo(const char *s, size_t len, db_url *out, char *err, size_t errlen)
{
    const char *colon = memchr(s, ':', len);
    size_t ulen = colon ? (size_t)(colon - s) : len;
    if (ulen == 0)
        return errf(err, errlen, "database URL: missing user name (mysql://USER@HOST/DB)");
    if (!(out->user = pct_decode(s, ulen)))
        return errf(err, errlen, "database URL: bad %%-encoding in the user name");
    if (colon && !(out->password = pct_decode(colon + 1, len - ulen - 1)))
        return errf(err, errlen, "database URL: bad %%-encoding in the password");
    return 0;
}

/* "socket=/path" pairs joined by '&'. Only a parameter's name is ever quoted. */
static int parse_query(const char *q, db_url *out, char *err, size_t errlen)
{
    while (*q) {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        size_t klen = eq ? (size_t)(eq - q) : len;
        if (klen == 6 && strncmp(q, "socket", 6) == 0 && eq) {
            free(out->socket);
            out->socket = pct_decode(eq + 1, len - klen - 1);
            if (!out->socket || !*out->socket)
                return errf(err, errlen, "database URL: bad or empty socket= path");
        } else if (eq) {
            return errf(err, errlen, "database URL: unknown parameter '%.*s' "
                        "(only socket=PATH is known)", (int)(klen > 64 ? 64 : klen), q);
        } else if (len) {
            /* A lone word may be a password: not quoted. */
            return errf(err, errlen, "database URL: a parameter without '=' after '?' "
                        "(only socket=PATH is known)");
        }
        q += len + (q[len] == '&');
    }
    return 0;
}

/*
 * After "mysql://". The user part ends at the *last* '@', so a password may
 * hold '@', ':', '/' or '?' unencoded (a '@' elsewhere must be written %40).
 * After that '@' only the port (see port_shown) and parameter values may be
 * a password put in the wrong place; messages quote neither.
 */
static int parse_mysql(const char *rest, db_url *out, char *err, size_t errlen)
{
    out->kind = DB_MYSQL;
    const char *at = strrchr(rest, '@');
    if (!at)
        return errf(err, errlen, "database URL: missing user name (no '@'; "
                    "mysql://USER@HOST/DB)");
    if (parse_userinfo(rest, (size_t)(at - rest), out, err, errlen) != 0)
        return -1;
    const char *hp = at + 1, *slash = strchr(hp, '/');
    if (!slash)
        return errf(err, errlen, "database URL: missing database name (mysql://USER@HOST/DB)");
    const char *qmark = strchr(slash, '?');
    size_t dblen = qmark ? (size_t)(qmark - slash - 1) : strlen(slash + 1);
    if (parse_hostport(hp, (size_t)(slash - hp), out, err, errlen) != 0)
        return -1;
    if (dblen == 0)
        return errf(err, errlen, "database URL: missing database name (mysql://USER@HOST/DB)");
    if (!(out->database = pct_decode(slash + 1, dblen)))
        return errf(err, errlen, "database URL: bad %%-encoding in the database name");
    if (strchr(out->database, '/'))
        return errf(err, errlen, "database URL: bad database name '%s' (no '/' allowed)",
                    out->database);
    return qmark ? parse_query(qmark + 1, out, err, errlen) : 0;
}

/* "scheme:" at the start of url, if it looks like one: its length, else 0. */
static size_t scheme_len(const char *url)
{
    size_t i = 0;
    if (!isalpha((unsigned char)url[0]))
        return 0;
    while (isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '-' || url[i] == '.')
        i++;
    return url[i] == ':' && i <= 16 ? i : 0;
}

int db_url_parse(const char *url, const char *base_dir, db_url *out, char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if (!url || !*url)
        return errf(err, errlen, "empty database URL (expected mysql://USER@HOST/DB or "
                    "sqlite:PATH)");
    if (has_prefix_ci(url, "sqlite:")) {
        rc = parse_sqlite(url + 7, base_dir, out, err, errlen);
    } else if (has_prefix_ci(url, "mysql://")) {
        rc = parse_mysql(url + 8, out, err, errlen);
    } else if (has_prefix_ci(url, "mariadb://")) {
        rc = parse_mysql(url + 10, out, err, errlen);
    } else if (has_prefix_ci(url, "mysql:") || has_prefix_ci(url, "mariadb:")) {
        rc = errf(err, errlen, "database URL: the scheme needs two slashes: "
                  "mysql://USER@HOST/DB");
    } else {
        /* Quote the scheme only when there is one: a bare word may be a password. */
        size_t n = scheme_len(url);
        if (n && (strncmp(url + n, "://", 3) == 0 || !strchr(url, '@')))
            rc = errf(err, errlen, "database URL: unknown scheme '%.*s' (expected mysql:// "
                      "or sqlite:)", (int)n, url);
        else
            rc = errf(err, errlen, "not a database URL (expected mysql://USER@HOST/DB or "
                      "sqlite:PATH)");
    }
    if (rc != 0)
        db_url_free(out);
    return rc;
}

void db_url_free(db_url *u)
{
    if (!u)
        return;
    free(u->user);
    if (u->password)
        explicit_bzero(u->password, strlen(u->password)); /* not left in freed memory */
    free(u->password);
    free(u->host);
    free(u->socket);
    free(u->database);
    free(u->path);
    memset(u, 0, sizeof *u);
}

/* Mark [from, to) of url as secret. */
static void mask_span(unsigned char *m, size_t from, size_t to)
{
    if (to > from)
        memset(m + from, 1, to - from);
}

/*
 * The authority at url + from ("HOST:PORT", "USER:X" or "[V6]:PORT", up to
 * '/', '?' or the end): what follows its ':' is masked unless it reads as a
 * port. strict: only all digits is a port (before any '@' a short word with a
 * digit first is as likely a password). A masked part runs to the query, as a
 * password may hold '/'.
 */
static void mask_authority(const char *url, size_t from, int strict, unsigned char *m)
{
    const char *a = url + from, *end = a + strcspn(a, "/?"), *colon;
    if (*a == '[') {
        const char *close = memchr(a, ']', (size_t)(end - a));
        colon = close && close + 1 < end && close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = memchr(a, ':', (size_t)(end - a));
    }
    if (!colon)
        return;
    size_t xlen = (size_t)(end - colon - 1);
    size_t digits = strspn(colon + 1, "0123456789");
    if (strict ? digits >= xlen : port_shown(colon + 1, xlen))
        return;
    mask_span(m, (size_t)(colon + 1 - url), (size_t)(colon + 1 - url) + strcspn(colon + 1, "?"));
}

/* The query at url + from (just after its '?'): every value but socket's, and lone words. */
static void mask_query(const char *url, size_t from, unsigned char *m)
{
    for (size_t i = from; url[i];) {
        size_t len = strcspn(url + i, "&");
        const char *eq = memchr(url + i, '=', len);
        if (!eq)
            mask_span(m, i, i + len);
        else if (!(eq - (url + i) == 6 && strncmp(url + i, "socket", 6) == 0))
            mask_span(m, (size_t)(eq + 1 - url), i + len);
        i += len + (url[i + len] == '&');
    }
}

/*
 * Redaction marks bytes of url as secret, then writes each run of them as
 * "***". The rules cover well-formed URLs and the malformed ones a parse
 * error shows: user-info after its first ':' up to the last '@' (with or
 * without a scheme or "//"); with no '@', "USER:X" where X is not a port;
 * a port that does not read as one; query values except socket's. An
 * sqlite: URL is a path and holds no password.
 */
void db_url_redact(const char *url, char *out, size_t outlen)
{
    if (!out || !outlen)
        return;
    out[0] = '\0';
    if (!url)
        return;
    if (has_prefix_ci(url, "sqlite:")) {
        snprintf(out, outlen, "%s", url);
        return;
    }
    size_t len = strlen(url), n = scheme_len(url), o = 0;
    unsigned char *m = xcalloc(len + 1, 1);
    /* Where the authority starts: after "SCHEME://", else at the start. */
    size_t start = n && strncmp(url + n, "://", 3) == 0 ? n + 3 : 0;
    const char *at = strrchr(url + start, '@');
    if (at) {
        size_t ai = (size_t)(at - url);
        const char *colon = memchr(url + start, ':', ai - start);
        if (colon)
            mask_span(m, (size_t)(colon + 1 - url), ai);
        mask_authority(url, ai + 1, 0, m);
        const char *q = strchr(at + 1, '?');
        if (q)
            mask_query(url, (size_t)(q + 1 - url), m);
        /* A '?' before the '@' that is not in the password starts a query
         * whose value holds the '@' ("?password=p@ss"). */
        q = memchr(url + start, '?', ai - start);
        if (q && !m[q - url])
            mask_query(url, (size_t)(q + 1 - url), m);
    } else {
        /* "USER:X" may stand at the start ("bot:pw") or after a scheme and
         * any slashes ("mysql://bot:pw", "mysql:/bot:pw"). */
        mask_authority(url, 0, 1, m);
        if (n)
            mask_authority(url, n + 1 + strspn(url + n + 1, "/"), 1, m);
        const char *q = strchr(url + start, '?');
        if (q)
            mask_query(url, (size_t)(q + 1 - url), m);
    }
    for (size_t i = 0; i < len && o + 1 < outlen; i++) {
        if (!m[i]) {
            out[o++] = url[i];
            continue;
        }
        for (const char *p = "***"; *p && o + 1 < outlen; p++)
            out[o++] = *p;
        while (i + 1 < len && m[i + 1])
            i++;
    }
    out[o] = '\0';
    free(m);
}

/* ---------------------------------------------------------- dispatch */

int db_open(const db_url *url, const db_options *opt, db **out, char *err, size_t errlen)
{
    static const db_options defaults;
    const db_driver *drv = NULL;
    *out = NULL;
    if (url && url->kind == DB_MYSQL)
        drv = &db_mysql_driver;
    else if (url && url->kind == DB_SQLITE)
        drv = &db_sqlite_driver;
    if (!drv)
        return errf(err, errlen, "unknown database kind"), DB_ERROR;
    db *d = xcalloc(1, sizeof *d);
    d->drv = drv;
    int rc = drv->open(d, url, opt ? opt : &defaults, err, errlen);
    if (rc != DB_OK) {
        free(d);
        return rc;
    }
    *out = d;
    return DB_OK;
}

void db_close(db *d)
{
    if (!d)
        return;
    d->drv->close(d);
    free(d);
}

db_kind db_get_kind(const db *d)
{
    return d->drv->kind;
}

const char *db_driver_name(const db *d)
{
    return d->drv->name;
}

/* Misuse that would otherwise crash inside a driver. */
static int bad_args(db *d, const char *sql, const rc_value *params, size_t n)
{
    if (!sql) {
        db_set_error(d, DB_OWN_ERROR, "no SQL text given");
        return 1;
    }
    if (n && !params) {
        db_set_error(d, DB_OWN_ERROR, "%zu parameters announced but none given", n);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------ guards */

/*
 * The first word of sql, upper-cased into out (at most outlen - 1 letters),
 * after blanks and comments; "(" for a parenthesis, "" for nothing. -1 for a
 * MySQL executable comment ("/" "*!..." or "/" "*M!..."): text the server runs and a
 * reader does not see, so no guard can judge it.
 */
static int first_word(const char *sql, char *out, size_t outlen, const char **after)
{
    const char *p = sql;
    for (;;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (p[0] == '/' && p[1] == '*') {
            if (p[2] == '!' || (p[2] == 'M' && p[3] == '!'))
                return -1;
            const char *end = strstr(p + 2, "*/");
            p = end ? end + 2 : p + strlen(p);
        } else if ((p[0] == '-' && p[1] == '-') || p[0] == '#') {
            p += strcspn(p, "\n");
        } else {
            break;
        }
    }
    size_t n = 0;
    if (*p == '(') {
        snprintf(out, outlen, "(");
        if (after)
            *after = p + 1;
        return 0;
    }
    while (isalpha((unsigned char)p[n]) && n + 1 < outlen) {
        out[n] = (char)toupper((unsigned char)p[n]);
        n++;
    }
    out[n] = '\0';
    if (after)
        *after = p + n;
    return 0;
}

static int word_in(const char *w, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(w, list[i]) == 0)
            return 1;
    return 0;
}

/* Does s hold needle, ignoring case? */
static int holds_ci(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++)
        if (strncasecmp(s, needle, n) == 0)
            return 1;
    return 0;
}

/* A guarded db_query's statement: 0 when it reads, else -1 with the error. */
static int query_refused(db *d, const char *sql)
{
    static const char *const reads[] = { "SELECT", "WITH", "VALUES", "TABLE", "SHOW", "(", NULL };
    char w[16];
    if (first_word(sql, w, sizeof w, NULL) != 0) {
        db_set_error(d, DB_OWN_ERROR, "db_query refused an executable comment (/*! ... */): "
                     "db_query only reads; write with db_exec or db_chunked");
        return -1;
    }
    if (word_in(w, reads))
        return 0;
    db_set_error(d, DB_OWN_ERROR, "db_query refused a statement that starts with '%s': "
                 "db_query only reads (SELECT, WITH, VALUES, TABLE, SHOW); write with "
                 "db_exec or db_chunked", w[0] ? w : "(no word)");
    return -1;
}

/*
 * A guarded db_exec's statement: what would end or change a transaction
 * behind the guard's back is refused (db.h). 0 or -1 with the error.
 */
static int exec_refused(db *d, const char *sql)
{
    static const char *const tx_words[] = { "BEGIN", "START", "COMMIT", "ROLLBACK", "END",
                                            "SAVEPOINT", "RELEASE", "XA", "ATTACH", "DETACH",
                                            NULL };
    /* MySQL commits the open transaction before these: past the fence. */
    static const char *const implicit_commit[] = { "ALTER", "TRUNCATE", "RENAME", "GRANT",
                                                   "REVOKE", "LOCK", "UNLOCK", "ANALYZE",
                                                   "OPTIMIZE", "REPAIR", "FLUSH", "INSTALL",
                                                   "UNINSTALL", "LOAD", NULL };
    char w[16], w2[16];
    const char *rest;
    if (first_word(sql, w, sizeof w, &rest) != 0) {
        db_set_error(d, DB_OWN_ERROR, "db_exec refused an executable comment (/*! ... */) "
                     "during a run: no guard can read what it runs");
        return -1;
    }
    const char *why = NULL;
    if (word_in(w, tx_words))
        why = "it ends or changes the transaction the core manages (use db_begin, db_commit, "
              "db_rollback)";
    else if (strcmp(w, "SET") == 0 && (holds_ci(rest, "transaction") ||
                                       holds_ci(rest, "read_only") || holds_ci(rest, "tx_")))
        why = "it changes the session's transaction mode, which the core sets (a dry run and a "
              "rehearsal are read-only on the server)";
    else if (strcmp(w, "PRAGMA") == 0 && holds_ci(rest, "query_only"))
        why = "it changes query_only, which the core sets (a dry run is read-only)";
    else if (d->drv->kind == DB_MYSQL && (word_in(w, implicit_commit) ||
             ((strcmp(w, "CREATE") == 0 || strcmp(w, "DROP") == 0) &&
              (first_word(rest, w2, sizeof w2, NULL) != 0 || strcmp(w2, "TEMPORARY") != 0))))
        why = "MySQL commits the open transaction before it, past the run lock's fence "
              "(only CREATE/DROP TEMPORARY TABLE are allowed)";
    if (!why)
        return 0;
    db_set_error(d, DB_OWN_ERROR, "db_exec refused a statement that starts with '%s' during a "
                 "run: %s", w, why);
    return -1;
}

/* A write the server or the authorizer refused to a guarded session: say why. */
static void explain_read_only(db *d, const char *call)
{
    int code = d->errcode;
    int ro = d->drv->kind == DB_MYSQL ? code == 1792 /* ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION */
                                      : (code & 0xff) == 8 /* SQLITE_READONLY */ ||
                                        (code & 0xff) == 23 /* SQLITE_AUTH */;
    if (!ro)
        return;
    char was[sizeof d->errmsg / 2]; /* cut: room for the explanation */
    snprintf(was, sizeof was, "%.*s", (int)sizeof was - 1, d->errmsg);
    snprintf(d->errmsg, sizeof d->errmsg, "%s: the database refused a write (%s): %s",
             call, was, d->guard == DB_GUARD_READ_ONLY && strcmp(call, "db_query") != 0
                 ? "a dry run is read-only on the server"
                 : "db_query is read-only (it cannot write, lock rows or call what writes); "
                   "write with db_exec or db_chunked");
}

int db_set_guard(db *d, db_guard g)
{
    db_clear_error(d);
    if (d->in_tx) {
        db_set_error(d, DB_OWN_ERROR, "the guard cannot change inside a transaction");
        return -1;
    }
    if (g == d->guard)
        return 0;
    if (d->drv->set_read_only(d, g != DB_GUARD_OFF) != 0)
        return -1;
    d->guard = g;
    return 0;
}

db_guard db_get_guard(const db *d)
{
    return d->guard;
}

int db_in_transaction(const db *d)
{
    return d->in_tx;
}

void db_set_fence(db *d, db_fence_fn fn, void *arg)
{
    d->fence = fn;
    d->fence_arg = arg;
}

/* ---------------------------------------------------------- statements */

int db_exec(db *d, const char *sql, const rc_value *params, size_t n, int64_t *affected)
{
    int64_t dummy;
    db_clear_error(d);
    if (!affected)
        affected = &dummy;
    *affected = 0;
    if (bad_args(d, sql, params, n))
        return -1;
    if (d->guard != DB_GUARD_OFF && exec_refused(d, sql) != 0)
        return -1;
    /*
     * A run's session writes only in transactions (db.h): one of its own,
     * so that the fence runs before it commits.
     */
    if (d->guard == DB_GUARD_WRITE_TX && !d->in_tx) {
        if (db_begin(d) != 0)
            return -1;
        if (d->drv->exec(d, sql, params, n, affected) != 0 || db_commit(d) != 0) {
            explain_read_only(d, "db_exec");
            db_rollback(d);
            *affected = 0;
            return -1;
        }
        return 0;
    }
    if (d->drv->exec(d, sql, params, n, affected) != 0) {
        if (d->guard != DB_GUARD_OFF)
            explain_read_only(d, "db_exec");
        return -1;
    }
    return 0;
}

int db_query_core(db *d, const char *sql, const rc_value *params, size_t n, rc_row_fn fn,
                  void *user)
{
    db_clear_error(d);
    if (bad_args(d, sql, params, n) || !fn)
        return -1;
    return d->drv->query(d, sql, params, n, fn, user) == 0 ? 0 : -1;
}

typedef struct counted_rows {
    rc_row_fn fn;
    void *user;
    int64_t n;
} counted_rows;

static int count_row(void *user, const rc_value *cols, size_t n)
{
    counted_rows *c = user;
    c->n++;
    return c->fn(c->user, cols, n);
}

int db_exec_rows(db *d, const char *sql, const rc_value *params, size_t n, rc_row_fn fn,
                 void *user, int64_t *affected)
{
    counted_rows c = { fn, user, 0 };
    db_clear_error(d);
    *affected = 0;
    if (bad_args(d, sql, params, n) || !fn)
        return -1;
    if (d->guard != DB_GUARD_OFF && exec_refused(d, sql) != 0)
        return -1;
    /* The chunk's transaction is open: its fence covers the write. */
    if (d->guard == DB_GUARD_WRITE_TX && !d->in_tx) {
        db_set_error(d, DB_OWN_ERROR, "db_exec_rows outside a transaction during a run");
        return -1;
    }
    if (d->drv->query(d, sql, params, n, count_row, &c) != 0)
        return -1;
    *affected = c.n;
    return 0;
}

/* "ROLLBACK TO" undoes a write hidden in a query inside a read-write transaction. */
#define QUERY_SAVEPOINT "rc_query"

int db_query(db *d, const char *sql, const rc_value *params, size_t n, rc_row_fn fn, void *user)
{
    db_clear_error(d);
    if (bad_args(d, sql, params, n))
        return -1;
    if (!fn) {
        db_set_error(d, DB_OWN_ERROR, "db_query without a row callback");
        return -1;
    }
    if (d->guard == DB_GUARD_OFF)
        return d->drv->query(d, sql, params, n, fn, user) == 0 ? 0 : -1;
    if (query_refused(d, sql) != 0)
        return -1;
    int savepoint = d->drv->kind == DB_MYSQL && d->in_tx && d->tx_rw;
    if (savepoint && d->drv->exec_script(d, "SAVEPOINT " QUERY_SAVEPOINT) != 0)
        return -1;
    d->query_depth++;
    int rc = d->drv->query(d, sql, params, n, fn, user);
    d->query_depth--;
    if (rc != 0)
        explain_read_only(d, "db_query");
    if (savepoint) {
        /* Keep the query's error, if any, over the rollback's. */
        int code = d->errcode;
        char first[sizeof d->errmsg];
        memcpy(first, d->errmsg, sizeof first);
        if (d->drv->exec_script(d, "ROLLBACK TO SAVEPOINT " QUERY_SAVEPOINT) != 0)
            return -1;
        d->errcode = code;
        memcpy(d->errmsg, first, sizeof first);
    }
    return rc == 0 ? 0 : -1;
}

int db_prepare(db *d, const char *sql)
{
    db_clear_error(d);
    if (bad_args(d, sql, NULL, 0))
        return -1;
    /*
     * MySQL refuses even to compile a write in a read-only session. A
     * compile runs nothing: it gets a read-write transaction that is rolled
     * back at once, whatever the guard.
     */
    if (d->guard == DB_GUARD_OFF || d->in_tx || d->drv->kind != DB_MYSQL)
        return d->drv->prepare(d, sql) == 0 ? 0 : -1;
    if (d->drv->begin(d, DB_TX_READ_WRITE) != 0)
        return -1;
    int rc = d->drv->prepare(d, sql);
    int code = d->errcode;
    char first[sizeof d->errmsg];
    memcpy(first, d->errmsg, sizeof first);
    if (d->drv->rollback(d) != 0)
        return -1;
    d->errcode = code;
    memcpy(d->errmsg, first, sizeof first);
    return rc == 0 ? 0 : -1;
}

int db_begin(db *d)
{
    db_clear_error(d);
    int mode = d->guard == DB_GUARD_OFF     ? DB_TX_PLAIN
               : d->guard == DB_GUARD_WRITE_TX ? DB_TX_READ_WRITE
                                               : DB_TX_READ_ONLY;
    if (d->drv->begin(d, mode) != 0)
        return -1;
    d->in_tx = 1;
    d->tx_rw = mode != DB_TX_READ_ONLY;
    return 0;
}

/* The fence (db.h), in the transaction about to commit: 0, or -1 with the error. */
static int run_fence(db *d)
{
    if (!d->fence || !d->tx_rw || d->guard == DB_GUARD_OFF)
        return 0;
    int live = d->fence(d, d->fence_arg);
    if (live == 1)
        return 0;
    if (live == 0)
        db_set_error(d, DB_OWN_ERROR, "lease lost: the run lock's lease is no longer this "
                     "run's on the database clock (it ended, or another instance took it); "
                     "the transaction was rolled back, nothing of it was written");
    return -1;
}

int db_commit(db *d)
{
    db_clear_error(d);
    if (run_fence(d) != 0) {
        db_rollback(d);
        return -1;
    }
    if (d->drv->commit(d) != 0)
        return -1;
    d->in_tx = d->tx_rw = 0;
    return 0;
}

/*
 * Unlike every other call, rollback keeps the last error: callers roll back
 * *because* of an error and then ask db_retryable()/db_errmsg() about it
 * (chunk.c does). If the rollback fails too, both are told, under the
 * original code.
 */
int db_rollback(db *d)
{
    int code = d->errcode;
    char first[sizeof d->errmsg];
    memcpy(first, d->errmsg, sizeof first);
    /* Whatever happens, the transaction is over for us (a failed rollback
     * means the server dropped it, or the connection is gone). */
    d->in_tx = d->tx_rw = 0;
    if (d->drv->rollback(d) == 0) {
        d->errcode = code;
        memcpy(d->errmsg, first, sizeof first);
        return 0;
    }
    if (code) {
        char second[sizeof d->errmsg];
        memcpy(second, d->errmsg, sizeof second);
        memcpy(d->errmsg, first, sizeof first);
        size_t off = strlen(d->errmsg);
        snprintf(d->errmsg + off, sizeof d->errmsg - off, "; then the rollback failed: %s",
                 second);
        d->errcode = code;
    }
    return -1;
}

int db_exec_script(db *d, const char *script)
{
    db_clear_error(d);
    if (bad_args(d, script, NULL, 0))
        return -1;
    return d->drv->exec_script(d, script) == 0 ? 0 : -1;
}

/* --------------------------------------------------------------- time */

void db_format_time(int64_t unix_s, char *out, size_t outlen)
{
    struct tm tm;
    time_t t = (time_t)unix_s;
    if (!out || !outlen)
        return;
    if (!gmtime_r(&t, &tm)) {
        out[0] = '\0';
        return;
    }
    /* strftime leaves out undefined when it does not fit: make that "". */
    if (strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        out[0] = '\0';
}

/* n decimal digits at s, or -1. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int days_in_month(int year, int month)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/*
 * Exactly "YYYY-MM-DD HH:MM:SS", optionally with a fraction (".123", as a
 * DATETIME(3) reads back) that is dropped. Anything else is refused: this
 * also parses a user's --reference-time, where a guess would be worse.
 */
int db_parse_time(const char *text, int64_t *unix_s)
{
    if (!text || strlen(text) < 19 || text[4] != '-' || text[7] != '-' || text[10] != ' ' ||
        text[13] != ':' || text[16] != ':')
        return -1;
    int y = digits(text, 4), mo = digits(text + 5, 2), d = digits(text + 8, 2);
    int h = digits(text + 11, 2), mi = digits(text + 14, 2), s = digits(text + 17, 2);
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        s < 0 || s > 59 || d > days_in_month(y, mo))
        return -1;
    const char *tail = text + 19;
    if (*tail == '.') {
        size_t n = strspn(tail + 1, "0123456789");
        if (n == 0)
            return -1;
        tail += 1 + n;
    }
    if (*tail)
        return -1;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                     .tm_hour = h, .tm_min = mi, .tm_sec = s };
    errno = 0;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 && errno)
        return -1;
    if (unix_s)
        *unix_s = (int64_t)t;
    return 0;
}

int db_ping(db *d)
{
    db_clear_error(d);
    return d->drv->ping(d) == 0 ? 0 : -1;
}

void db_offset_text(int offset_s, char out[8])
{
    int a = offset_s < 0 ? -offset_s : offset_s;
    snprintf(out, 8, "%c%02d:%02d", offset_s < 0 ? '-' : '+', (a / 3600) % 100, (a / 60) % 60);
}

int db_parse_offset(const char *text, int *offset_s)
{
    if (!text || (text[0] != '+' && text[0] != '-'))
        return -1;
    const char *p = text + 1;
    size_t hlen = strspn(p, "0123456789");
    if (hlen < 1 || hlen > 2 || p[hlen] != ':' || strlen(p + hlen + 1) != 2)
        return -1;
    int h = digits(p, (int)hlen), m = digits(p + hlen + 1, 2);
    if (h < 0 || m < 0 || h > 14 || m > 59 || (h == 14 && m > 0))
        return -1;
    if (offset_s)
        *offset_s = (text[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
    return 0;
}

void db_clock_format(const db_clock *c, int64_t unix_s, char *out, size_t outlen)
{
    db_format_time(unix_s + (c ? c->offset_s : 0), out, outlen);
}

int db_clock_from_text(const char *text, int offset_s, db_clock *out)
{
    int64_t as_utc;
    memset(out, 0, sizeof *out);
    if (db_parse_time(text, &as_utc) != 0)
        return -1;
    out->unix_s = as_utc - offset_s;
    out->offset_s = offset_s;
    db_format_time(as_utc, out->text, sizeof out->text);
    db_offset_text(offset_s, out->zone);
    return 0;
}

typedef struct clock_row {
    char text[64];
    int64_t unix_s;
    int got;
} clock_row;

static int clock_read(void *user, const rc_value *cols, size_t n)
{
    clock_row *c = user;
    if (n >= 2 && cols[0].type == RC_TEXT && cols[1].type == RC_INT) {
        snprintf(c->text, sizeof c->text, "%s", cols[0].s);
        c->unix_s = cols[1].i;
        c->got = 1;
    }
    return 1;
}

/* Offsets beyond this are no clock a database keeps (+14:00 is the largest on Earth). */
#define OFFSET_MAX (15 * 3600)

int db_now(db *d, db_clock *out)
{
    /*
     * One statement, so that both values are the same instant (MySQL fixes
     * NOW() and UNIX_TIMESTAMP() at the statement's start; SQLite's 'now' is
     * the same for every use in one statement). CAST: a DATETIME column type
     * would come back as text anyway, but make it plain text on every server.
     */
    char modifier[32];
    rc_value p[] = { rc_text(modifier) };
    const char *sql;
    size_t np = 0;
    clock_row c = { "", 0, 0 };
    int64_t as_utc;

    if (d->drv->kind == DB_MYSQL) {
        sql = "SELECT CAST(NOW() AS CHAR), UNIX_TIMESTAMP()";
    } else {
        sql = "SELECT strftime('%Y-%m-%d %H:%M:%S', 'now', ?), CAST(strftime('%s', 'now') AS INTEGER)";
        snprintf(modifier, sizeof modifier, "%+d seconds", d->sqlite_offset_s);
        np = 1;
    }
    if (db_query(d, sql, np ? p : NULL, np, clock_read, &c) != 0)
        return -1;
    if (!c.got || db_parse_time(c.text, &as_utc) != 0) {
        db_set_error(d, DB_OWN_ERROR, "the database clock read '%.40s', not a time", c.text);
        return -1;
    }
    int64_t offset = as_utc - c.unix_s;
    if (offset < -OFFSET_MAX || offset > OFFSET_MAX) {
        db_set_error(d, DB_OWN_ERROR, "the database clock reads %s but UNIX_TIMESTAMP() %lld: "
                     "an offset of %lld s from UTC is no time zone", c.text,
                     (long long)c.unix_s, (long long)offset);
        return -1;
    }
    if (out) {
        memset(out, 0, sizeof *out);
        out->unix_s = c.unix_s;
        out->offset_s = (int)offset;
        db_format_time(as_utc, out->text, sizeof out->text);
        db_offset_text(out->offset_s, out->zone);
    }
    return 0;
}

int64_t db_connection_id(db *d)
{
    int64_t id = 0;
    if (d->drv->kind != DB_MYSQL)
        return 0;
    if (db_query(d, "SELECT CONNECTION_ID()", NULL, 0, rc__count_row, &id) != 0)
        return -1;
    return id;
}

int db_table_exists(db *d, const char *table)
{
    const char *sql = d->drv->kind == DB_MYSQL
                          ? "SELECT COUNT(*) FROM information_schema.tables "
                            "WHERE table_schema = DATABASE() AND table_name = ?"
                          : "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?";
    rc_value p[] = { rc_text(table ? table : "") };
    int64_t n = 0;
    if (db_query(d, sql, p, 1, rc__count_row, &n) != 0)
        return -1;
    return n > 0;
}
