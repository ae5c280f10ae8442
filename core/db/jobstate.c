/* SPDX-License-Identifier: MIT */
/*
 * jobstate.c - see jobstate.h. Times are the database's (UTC), as the run
 * lock's: claimed_at and paused_at say when on one clock for every instance.
 */
#include "db/jobstate.h"

#include <stdio.h>
#include <string.h>

#define MY_NOW "UTC_TIMESTAMP(3)"
#define SQ_NOW "strftime('%Y-%m-%d %H:%M:%f', 'now')"

static int is_mysql(db *d)
{
    return db_get_kind(d) == DB_MYSQL;
}

static int fail(db *d, const char *table, const char *what, char *err, size_t errlen)
{
    if (!err || !errlen)
        return -1;
    snprintf(err, errlen, "%s: %s: %s", table, what, db_errmsg(d));
    if (!db_lost(d) && !db_retryable(d) && db_table_exists(d, table) == 0)
        snprintf(err, errlen, "table %s is missing: run `reconciler migrate`", table);
    return -1;
}

typedef struct text_out {
    char *buf;
    size_t len;
    int found;
} text_out;

static int first_text(void *user, const rc_value *c, size_t n)
{
    text_out *t = user;
    t->found = 1;
    if (t->buf && t->len)
        snprintf(t->buf, t->len, "%s", n >= 1 && c[0].type == RC_TEXT ? c[0].s : "");
    return 1;
}

int jobslot_taken(db *d, const char *job, int64_t slot, char *by, size_t bylen, char *err,
                  size_t errlen)
{
    text_out t = { by, bylen, 0 };
    rc_value p[] = { rc_text(job), rc_int(slot) };
    if (db_query(d, "SELECT claim FROM reconciler_job_slots WHERE job = ? AND scheduled_for = ?",
                 p, 2, first_text, &t) != 0)
        return fail(d, "reconciler_job_slots", "read", err, errlen);
    return t.found;
}

int jobslot_claim(db *d, const char *job, int64_t slot, const char *claim, const char *kind,
                  const char *status, const char *reason, char *by, size_t bylen, char *err,
                  size_t errlen)
{
    char who[JOBSTATE_CLAIM_MAX + 1] = "";
    rc_value p[] = { rc_text(job), rc_int(slot), rc_text(claim), rc_text(kind), rc_text(status),
                     reason ? rc_text(reason) : rc_null() };
    /* Nothing happens when the slot has its row: ON DUPLICATE KEY rather than INSERT IGNORE,
     * which would also hide real errors. Whose the row is, is read back: the one answer. */
    const char *sql = is_mysql(d)
        ? "INSERT INTO reconciler_job_slots (job, scheduled_for, claim, kind, status, reason, "
          "claimed_at) VALUES (?, ?, ?, ?, ?, ?, " MY_NOW ") ON DUPLICATE KEY UPDATE job = job"
        : "INSERT OR IGNORE INTO reconciler_job_slots (job, scheduled_for, claim, kind, status, "
          "reason, claimed_at) VALUES (?, ?, ?, ?, ?, ?, " SQ_NOW ")";
    if (db_exec(d, sql, p, 6, NULL) != 0)
        return fail(d, "reconciler_job_slots", "claim", err, errlen);
    int got = jobslot_taken(d, job, slot, who, sizeof who, err, errlen);
    if (got < 0)
        return -1;
    if (by && bylen)
        snprintf(by, bylen, "%s", who);
    return got == 1 && strcmp(who, claim) == 0;
}

int jobslot_reclaim_paused(db *d, const char *job, int64_t slot, const char *claim,
                           const char *kind, char *err, size_t errlen)
{
    int64_t n = 0;
    rc_value p[] = { rc_text(claim), rc_text(kind), rc_text(job), rc_int(slot) };
    if (db_exec(d, "UPDATE reconciler_job_slots SET claim = ?, kind = ?, status = 'claimed', "
                "reason = NULL WHERE job = ? AND scheduled_for = ? AND status = 'skipped' AND "
                "reason = 'paused'", p, 4, &n) != 0)
        return fail(d, "reconciler_job_slots", "reclaim a paused slot", err, errlen);
    return n == 1;
}

int jobslot_done(db *d, const char *job, int64_t slot, const char *claim, const char *status,
                 int64_t run_id, char *err, size_t errlen)
{
    rc_value p[] = { rc_text(status), run_id ? rc_int(run_id) : rc_null(), rc_text(job),
                     rc_int(slot), rc_text(claim) };
    if (db_exec(d, "UPDATE reconciler_job_slots SET status = ?, run_id = ? WHERE job = ? AND "
                "scheduled_for = ? AND claim = ?", p, 5, NULL) != 0)
        return fail(d, "reconciler_job_slots", "record the run", err, errlen);
    return 0;
}

typedef struct int_out {
    int64_t v;
    int found;
} int_out;

static int first_int(void *user, const rc_value *c, size_t n)
{
    int_out *o = user;
    if (n >= 1 && c[0].type == RC_INT) {
        o->v = c[0].i;
        o->found = 1;
    }
    return 1;
}

int jobslot_latest(db *d, const char *job, int64_t *slot, char *err, size_t errlen)
{
    int_out o = { 0, 0 };
    rc_value p[] = { rc_text(job) };
    if (db_query(d, "SELECT MAX(scheduled_for) FROM reconciler_job_slots WHERE job = ?", p, 1,
                 first_int, &o) != 0)
        return fail(d, "reconciler_job_slots", "read", err, errlen);
    if (o.found)
        *slot = o.v;
    return o.found;
}

int jobslot_prune(db *d, const char *job, int64_t before, char *err, size_t errlen)
{
    rc_value p[] = { rc_text(job), rc_int(before) };
    if (db_exec(d, "DELETE FROM reconciler_job_slots WHERE job = ? AND scheduled_for < ?", p, 2,
                NULL) != 0)
        return fail(d, "reconciler_job_slots", "prune", err, errlen);
    return 0;
}

static int pause_row(void *user, const rc_value *c, size_t n)
{
    job_pause *o = user;
    if (n < 4)
        return 1;
    o->paused = c[0].type == RC_INT ? (int)c[0].i : 0;
    snprintf(o->by, sizeof o->by, "%s", c[1].type == RC_TEXT ? c[1].s : "");
    snprintf(o->at, sizeof o->at, "%s", c[2].type == RC_TEXT ? c[2].s : "");
    snprintf(o->reason, sizeof o->reason, "%s", c[3].type == RC_TEXT ? c[3].s : "");
    return 1;
}

int jobpause_get(db *d, const char *job, job_pause *out, char *err, size_t errlen)
{
    rc_value p[] = { rc_text(job) };
    memset(out, 0, sizeof *out);
    if (db_query(d, is_mysql(d)
                 ? "SELECT paused, paused_by, CAST(paused_at AS CHAR), reason FROM "
                   "reconciler_job_pauses WHERE job = ?"
                 : "SELECT paused, paused_by, paused_at, reason FROM reconciler_job_pauses "
                   "WHERE job = ?", p, 1, pause_row, out) != 0)
        return fail(d, "reconciler_job_pauses", "read", err, errlen);
    return out->paused != 0;
}

int jobpause_set(db *d, const char *job, int paused, const char *by, const char *reason,
                 char *err, size_t errlen)
{
    rc_value p[] = { rc_text(job), rc_int(paused ? 1 : 0), rc_text(by),
                     reason ? rc_text(reason) : rc_null() };
    const char *sql = is_mysql(d)
        ? "INSERT INTO reconciler_job_pauses (job, paused, paused_by, paused_at, reason) "
          "VALUES (?, ?, ?, " MY_NOW ", ?) ON DUPLICATE KEY UPDATE paused = VALUES(paused), "
          "paused_by = VALUES(paused_by), paused_at = VALUES(paused_at), reason = VALUES(reason)"
        : "INSERT INTO reconciler_job_pauses (job, paused, paused_by, paused_at, reason) "
          "VALUES (?, ?, ?, " SQ_NOW ", ?) ON CONFLICT (job) DO UPDATE SET "
          "paused = excluded.paused, paused_by = excluded.paused_by, "
          "paused_at = excluded.paused_at, reason = excluded.reason";
    if (db_exec(d, sql, p, 4, NULL) != 0)
        return fail(d, "reconciler_job_pauses", paused ? "pause" : "resume", err, errlen);
    return 0;
}
