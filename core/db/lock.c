/* SPDX-License-Identifier: MIT */
/*
 * lock.c - see lock.h. Every time is computed in SQL, on the database clock:
 * instances on hosts whose clocks disagree still agree on when a lease ends.
 * MySQL uses UTC_TIMESTAMP(3), never NOW(3): NOW() follows the session's
 * time_zone, and two instances with different database.time_zone settings
 * must still read each other's leases right.
 */
#include "db/lock.h"
#include "db/db_impl.h" /* db_set_error, for the fence's message */

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* The SQL of one operation in both dialects. */
typedef struct dialect {
    const char *ensure, *take, *extend, *release_now, *release_hold, *peek, *fence;
    const char *fence_renew; /* NULL: the fence never renews (lock_fence) */
} dialect;

#define SQ_NOW "strftime('%Y-%m-%d %H:%M:%f', 'now')"

static const dialect mysql_sql = {
    /* A fresh row is free (lock_until in the past). ON DUPLICATE KEY rather
     * than INSERT IGNORE, which would also turn real errors (a value too long
     * for its column, a broken table) into warnings. */
    "INSERT INTO reconciler_locks (name, holder, locked_at, lock_until) "
    "VALUES (?, '', '1970-01-01 00:00:01.000', '1970-01-01 00:00:01.000') "
    "ON DUPLICATE KEY UPDATE name = name",
    /* The one statement that decides: the row lock serialises racers, and
     * each re-reads the committed row, so at most one matches (matched rows,
     * CLIENT_FOUND_ROWS, = 1 means ours, even when nothing changed). */
    "UPDATE reconciler_locks SET holder = ?, locked_at = UTC_TIMESTAMP(3), "
    "lock_until = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND "
    "WHERE name = ? AND (holder = ? OR lock_until <= UTC_TIMESTAMP(3))",
    /* Only a live lease is renewed: one that ended stays ended, so that a
     * lease live at a fence was live at every instant before it (lock_fence). */
    "UPDATE reconciler_locks SET lock_until = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND "
    "WHERE name = ? AND holder = ? AND lock_until > UTC_TIMESTAMP(3)",
    "UPDATE reconciler_locks SET lock_until = UTC_TIMESTAMP(3) WHERE name = ? AND holder = ?",
    "UPDATE reconciler_locks SET lock_until = GREATEST(UTC_TIMESTAMP(3), "
    "locked_at + INTERVAL ? MICROSECOND) WHERE name = ? AND holder = ?",
    "SELECT holder, CAST(lock_until AS CHAR), lock_until > UTC_TIMESTAMP(3) FROM reconciler_locks "
    "WHERE name = ?",
    "UPDATE reconciler_locks SET fences = fences + 1 "
    "WHERE name = ? AND holder = ? AND lock_until > UTC_TIMESTAMP(3)",
    /* The server queues writers: the heartbeat is never starved here. */
    NULL,
};

/* SQLite: 'now' is the same for every use within one statement, and a
 * write takes the database lock, so the UPDATE decides alone here too. */
static const dialect sqlite_sql = {
    "INSERT OR IGNORE INTO reconciler_locks (name, holder, locked_at, lock_until) "
    "VALUES (?, '', '1970-01-01 00:00:01.000', '1970-01-01 00:00:01.000')",
    "UPDATE reconciler_locks SET holder = ?, locked_at = " SQ_NOW ", "
    "lock_until = strftime('%Y-%m-%d %H:%M:%f', 'now', ?) "
    "WHERE name = ? AND (holder = ? OR lock_until <= " SQ_NOW ")",
    "UPDATE reconciler_locks SET lock_until = strftime('%Y-%m-%d %H:%M:%f', 'now', ?) "
    "WHERE name = ? AND holder = ? AND lock_until > " SQ_NOW,
    "UPDATE reconciler_locks SET lock_until = " SQ_NOW " WHERE name = ? AND holder = ?",
    "UPDATE reconciler_locks SET lock_until = MAX(" SQ_NOW ", "
    "strftime('%Y-%m-%d %H:%M:%f', locked_at, ?)) WHERE name = ? AND holder = ?",
    "SELECT holder, lock_until, lock_until > " SQ_NOW " FROM reconciler_locks WHERE name = ?",
    "UPDATE reconciler_locks SET fences = fences + 1 WHERE name = ? AND holder = ? "
    "AND lock_until > " SQ_NOW,
    "UPDATE reconciler_locks SET fences = fences + 1, lock_until = MAX(lock_until, "
    "strftime('%Y-%m-%d %H:%M:%f', 'now', ?)) WHERE name = ? AND holder = ? "
    "AND lock_until > " SQ_NOW,
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
    /* Clamped so that ms * 1000 cannot overflow: a year is ample. */
    const int64_t cap = INT64_C(366) * 86400 * 1000;
    ms = ms < -cap ? -cap : ms > cap ? cap : ms;
    if (db_get_kind(d) == DB_MYSQL) {
        s->v = rc_int(ms * 1000);
    } else {
        /* The sign apart: -500 ms is "-0.500", which ms / 1000 alone loses. */
        int64_t a = ms < 0 ? -ms : ms;
        snprintf(s->text, sizeof s->text, "%c%" PRId64 ".%03d seconds", ms < 0 ? '-' : '+',
                 a / 1000, (int)(a % 1000));
        s->v = rc_text(s->text);
    }
}

/*
 * -1 with err. The missing table gets its own message, since that is what a
 * user can fix; the check is skipped after a lost connection or a deadlock,
 * whose error state the caller still needs (the check would clear it).
 */
static int fail(db *d, const char *what, char *err, size_t errlen)
{
    if (!err || !errlen)
        return -1;
    snprintf(err, errlen, "run lock: %s: %s", what, db_errmsg(d));
    if (!db_lost(d) && !db_retryable(d) && db_table_exists(d, "reconciler_locks") == 0)
        snprintf(err, errlen, "table reconciler_locks is missing: run `reconciler migrate`");
    return -1;
}

/*
 * Host and pid say who it is; the random part keeps two ids apart when they
 * repeat (containers that all run as pid 1 under one hostname, a restart
 * that gets its old pid back while its old lease still runs).
 */
void lock_holder_id(char *out, size_t outlen)
{
    char host[HOST_NAME_MAX + 1] = "";
    uint32_t r = 0;
    if (gethostname(host, sizeof host) != 0 || !host[0])
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = ((uint32_t)getpid() * 2654435761u) ^ (uint32_t)ts.tv_nsec;
    }
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

static int64_t host_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int lock_clock_skew(db *d, int64_t *skew_ms, int64_t *uncertainty_ms, char *err, size_t errlen)
{
    *skew_ms = *uncertainty_ms = 0;
    if (db_get_kind(d) != DB_MYSQL)
        return 0;
    /* UTC arithmetic only: no session time zone (and no DST fold) on the way. */
    int64_t db_ms = 0, t0 = host_ms();
    if (db_query(d, "SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', "
                    "UTC_TIMESTAMP(6)) DIV 1000", NULL, 0, rc__count_row, &db_ms) != 0)
        return fail(d, "read the database clock", err, errlen);
    int64_t t1 = host_ms();
    *skew_ms = db_ms - (t0 + t1) / 2;
    *uncertainty_ms = (t1 - t0 + 1) / 2;
    return 0;
}

int lock_check_skew(db *d, int64_t max_ms, int64_t *skew_ms, char *err, size_t errlen)
{
    int64_t skew = 0, unc = 0;
    if (skew_ms)
        *skew_ms = 0;
    if (max_ms <= 0)
        return 1;
    if (lock_clock_skew(d, &skew, &unc, err, errlen) != 0)
        return -1;
    if (skew_ms)
        *skew_ms = skew;
    int64_t off = skew < 0 ? -skew : skew;
    if (off - unc <= max_ms)
        return 1;
    if (err && errlen)
        snprintf(err, errlen, "the database clock is %" PRId64 ".%03d s %s this host's (+/- %"
                 PRId64 " ms), more than schedule.max_clock_skew (%" PRId64 " ms): leases "
                 "written on one database node and judged on another could end early. Fix "
                 "the clocks (NTP) on the database nodes and this host",
                 off / 1000, (int)(off % 1000), skew > 0 ? "ahead of" : "behind", unc, max_ms);
    return 0;
}

int lock_peek(db *d, const char *name, lock_info *info, char *err, size_t errlen)
{
    lock_info scratch;
    peek_state st = { info ? info : &scratch, 0, 0 };
    memset(st.info, 0, sizeof *st.info);
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
    /* Only for the message: the row may have changed since. */
    if (other && lock_peek(d, name, other, err, errlen) < 0)
        return -1;
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

int lock_fence(db *d, void *ident)
{
    const lock_ident *id = ident;
    const dialect *q = sql_of(d);
    int64_t n = 0;
    int rc;
    if (q->fence_renew && id->ttl_ms > 0) {
        span ttl;
        span_of(d, id->ttl_ms, &ttl);
        rc_value p[] = { ttl.v, rc_text(id->name), rc_text(id->holder) };
        rc = db_exec(d, q->fence_renew, p, 3, &n);
    } else {
        rc_value p[] = { rc_text(id->name), rc_text(id->holder) };
        rc = db_exec(d, q->fence, p, 2, &n);
    }
    if (rc != 0) {
        /* A binary newer than the schema: say what fixes it. */
        if (strstr(db_errmsg(d), "fences"))
            db_set_error(d, -1, "the run lock's fence: reconciler_locks has no column "
                         "'fences': run `reconciler migrate` (migration 005)");
        return -1;
    }
    return n == 1;
}
