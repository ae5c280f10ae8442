/* lock.c - see lock.h. Every time is computed in SQL, on the database clock. */
#include "lock.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* The SQL of one operation in both dialects. */
typedef struct dialect {
    const char *ensure, *take, *extend, *release_now, *release_hold, *peek;
} dialect;

#define SQ_NOW "strftime('%Y-%m-%d %H:%M:%f', 'now')"

static const dialect mysql_sql = {
    /* A fresh row is free (lock_until in the past). ON DUPLICATE KEY rather
     * than INSERT IGNORE, which would also turn real errors into warnings. */
    "INSERT INTO reconciler_locks (name, holder, locked_at, lock_until) "
    "VALUES (?, '', '1970-01-01 00:00:01', '1970-01-01 00:00:01') "
    "ON DUPLICATE KEY UPDATE name = name",
    /* The one statement that decides: matched rows (CLIENT_FOUND_ROWS) = 1 means ours. */
    "UPDATE reconciler_locks SET holder = ?, locked_at = NOW(3), "
    "lock_until = NOW(3) + INTERVAL ? MICROSECOND "
    "WHERE name = ? AND (holder = ? OR lock_until <= NOW(3))",
    "UPDATE reconciler_locks SET lock_until = NOW(3) + INTERVAL ? MICROSECOND "
    "WHERE name = ? AND holder = ?",
    "UPDATE reconciler_locks SET lock_until = NOW(3) WHERE name = ? AND holder = ?",
    "UPDATE reconciler_locks SET lock_until = GREATEST(NOW(3), locked_at + INTERVAL ? MICROSECOND) "
    "WHERE name = ? AND holder = ?",
    "SELECT holder, CAST(lock_until AS CHAR), lock_until > NOW(3) FROM reconciler_locks "
    "WHERE name = ?",
};

/* SQLite: 'now' is the same for every use within one statement. */
static const dialect sqlite_sql = {
    "INSERT OR IGNORE INTO reconciler_locks (name, holder, locked_at, lock_until) "
    "VALUES (?, '', '1970-01-01 00:00:01.000', '1970-01-01 00:00:01.000')",
    "UPDATE reconciler_locks SET holder = ?, locked_at = " SQ_NOW ", "
    "lock_until = strftime('%Y-%m-%d %H:%M:%f', 'now', ?) "
    "WHERE name = ? AND (holder = ? OR lock_until <= " SQ_NOW ")",
    "UPDATE reconciler_locks SET lock_until = strftime('%Y-%m-%d %H:%M:%f', 'now', ?) "
    "WHERE name = ? AND holder = ?",
    "UPDATE reconciler_locks SET lock_until = " SQ_NOW " WHERE name = ? AND holder = ?",
    "UPDATE reconciler_locks SET lock_until = MAX(" SQ_NOW ", "
    "strftime('%Y-%m-%d %H:%M:%f', locked_at, ?)) WHERE name = ? AND holder = ?",
    "SELECT holder, lock_until, lock_until > " SQ_NOW " FROM reconciler_locks WHERE name = ?",
};

static const dialect *sql_of(db *d)
{
    return db_get_kind(d) == DB_MYSQL ? &mysql_sql : &sqlite_sql;
}

/*
 * A duration as the bound value the dialect adds: microseconds for MySQL's
 * INTERVAL, a modifier like "+1.500 seconds" for SQLite's strftime.
 */
typedef struct span {
    char text[48];
    rc_value v;
} span;

static void span_of(db *d, int64_t ms, span *s)
{
    if (db_get_kind(d) == DB_MYSQL) {
        s->v = rc_int(ms * 1000);
    } else {
        snprintf(s->text, sizeof s->text, "%+" PRId64 ".%03d seconds", ms / 1000,
                 (int)(ms % 1000 < 0 ? -(ms % 1000) : ms % 1000));
        s->v = rc_text(s->text);
    }
}

static int fail(db *d, const char *what, char *err, size_t errlen)
{
    if (db_table_exists(d, "reconciler_locks") == 0)
        snprintf(err, errlen, "table reconciler_locks is missing: run `reconciler migrate`");
    else
        snprintf(err, errlen, "run lock: %s: %s", what, db_errmsg(d));
    return -1;
}

void lock_holder_id(char *out, size_t outlen)
{
    char host[64] = "";
    uint32_t r = 0;
    if (gethostname(host, sizeof host) != 0 || !host[0])
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    if (getrandom(&r, sizeof r, 0) != sizeof r)
        r = (uint32_t)getpid() * 2654435761u;
    snprintf(out, outlen, "%s:%ld:%08" PRIx32, host, (long)getpid(), r);
}

typedef struct peek_state {
    lock_info *info;
    int held;
    int found;
} peek_state;

static int peek_row(void *user, const rc_value *c, size_t n)
{
    peek_state *st = user;
    if (n < 3)
        return 1;
    st->found = 1;
    snprintf(st->info->holder, sizeof st->info->holder, "%s", c[0].type == RC_TEXT ? c[0].s : "");
    snprintf(st->info->until, sizeof st->info->until, "%s", c[1].type == RC_TEXT ? c[1].s : "");
    st->held = c[2].type == RC_INT ? c[2].i != 0 : c[2].type == RC_DOUBLE ? c[2].d != 0 : 0;
    return 1;
}

int lock_peek(db *d, const char *name, lock_info *info, char *err, size_t errlen)
{
    lock_info scratch;
    peek_state st = { info ? info : &scratch, 0, 0 };
    rc_value p[] = { rc_text(name) };
    if (db_query(d, sql_of(d)->peek, p, 1, peek_row, &st) != 0)
        return fail(d, "read", err, errlen);
    return st.found && st.held;
}

int lock_try(db *d, const char *name, const char *holder, int64_t ttl_ms, lock_info *other,
             char *err, size_t errlen)
{
    const dialect *q = sql_of(d);
    int64_t n = 0;
    span ttl;
    span_of(d, ttl_ms, &ttl);

    rc_value e[] = { rc_text(name) };
    if (db_exec(d, q->ensure, e, 1, NULL) != 0)
        return fail(d, "create its row", err, errlen);
    rc_value p[] = { rc_text(holder), ttl.v, rc_text(name), rc_text(holder) };
    if (db_exec(d, q->take, p, 4, &n) != 0)
        return fail(d, "take", err, errlen);
    if (n == 1)
        return 1;
    if (other) {
        memset(other, 0, sizeof *other);
        /* Only for the message: the row may have changed since. */
        if (lock_peek(d, name, other, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int lock_extend(db *d, const char *name, const char *holder, int64_t ttl_ms, char *err,
                size_t errlen)
{
    int64_t n = 0;
    span ttl;
    span_of(d, ttl_ms, &ttl);
    rc_value p[] = { ttl.v, rc_text(name), rc_text(holder) };
    if (db_exec(d, sql_of(d)->extend, p, 3, &n) != 0)
        return fail(d, "renew", err, errlen);
    return n == 1;
}

int lock_release(db *d, const char *name, const char *holder, int64_t hold_ms, char *err,
                 size_t errlen)
{
    int64_t n = 0;
    int rc;
    if (hold_ms > 0) {
        span hold;
        span_of(d, hold_ms, &hold);
        rc_value p[] = { hold.v, rc_text(name), rc_text(holder) };
        rc = db_exec(d, sql_of(d)->release_hold, p, 3, &n);
    } else {
        rc_value p[] = { rc_text(name), rc_text(holder) };
        rc = db_exec(d, sql_of(d)->release_now, p, 2, &n);
    }
    if (rc != 0)
        return fail(d, "release", err, errlen);
    return n == 1;
}
