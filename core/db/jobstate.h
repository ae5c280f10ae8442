/* SPDX-License-Identifier: MIT */
/*
 * jobstate.h - the jobs' state every instance shares, in the bot's database
 * beside the run lock (migration 007): the slots claimed or skipped
 * (reconciler_job_slots) and the paused jobs (reconciler_job_pauses).
 *
 * A slot is a fire time a job was scheduled for, as Unix seconds: the same
 * value on every instance whatever its clock's error, since each computes it
 * from the job's calendar, not from when it woke. The table's primary key
 * (job, scheduled_for) makes a slot claimed once; the run lock around the
 * claim makes claims of one job take turns.
 *
 * Every function takes an open connection and, on error, writes a message
 * naming the table to err (errlen bytes, may be 0) and returns -1.
 */
#ifndef RC_JOBSTATE_H
#define RC_JOBSTATE_H

#include <stddef.h>
#include <stdint.h>
#include "db/db.h"

#define JOBSTATE_CLAIM_MAX 200

/*
 * Claim slot of job: a row (kind "scheduled"/"catch_up"/"skipped", status
 * "claimed" or "skipped", reason or NULL) unless the slot has one. claim is
 * the caller's unique token (holder id and a random part). 1: the row is
 * ours; 0: another claim has it (*by, when non-NULL, gets that claim); -1.
 */
int jobslot_claim(db *d, const char *job, int64_t slot, const char *claim, const char *kind,
                  const char *status, const char *reason, char *by, size_t bylen, char *err,
                  size_t errlen);

/* Is slot of job claimed or skipped already? 1 (and *by), 0 no, -1. */
int jobslot_taken(db *d, const char *job, int64_t slot, char *by, size_t bylen, char *err,
                  size_t errlen);

/*
 * Take over a slot recorded as skipped because the job was paused, to run it after all
 * (a resume with missed: run_once): one UPDATE that only one claim can win. 1 ours now,
 * 0 not (not a paused slot, or another claim won), -1.
 */
int jobslot_reclaim_paused(db *d, const char *job, int64_t slot, const char *claim,
                           const char *kind, char *err, size_t errlen);

/* Our claimed slot ended: its status (the run's) and run id. 0 or -1. */
int jobslot_done(db *d, const char *job, int64_t slot, const char *claim, const char *status,
                 int64_t run_id, char *err, size_t errlen);

/* The newest slot of job in the table: 1 and *slot, 0 none, -1. */
int jobslot_latest(db *d, const char *job, int64_t *slot, char *err, size_t errlen);

/* Delete job's rows for slots before `before` (retention). 0 or -1. */
int jobslot_prune(db *d, const char *job, int64_t before, char *err, size_t errlen);

/* A job's pause as the table holds it. */
typedef struct job_pause {
    int paused;
    char by[256];     /* "api 127.0.0.1 token ops" / "cli user" */
    char at[32];      /* "YYYY-MM-DD HH:MM:SS.mmm" UTC, the database's clock */
    char reason[501]; /* "" when none was given */
} job_pause;

/* 1 paused (with *out), 0 not (*out: the last resume's by/at, or empty), -1. */
int jobpause_get(db *d, const char *job, job_pause *out, char *err, size_t errlen);

/* Pause (paused 1) or resume (0) job, by whom and why (reason may be NULL). 0 or -1. */
int jobpause_set(db *d, const char *job, int paused, const char *by, const char *reason,
                 char *err, size_t errlen);

#endif
