/* SPDX-License-Identifier: MIT */
/*
 * th_race.h - a racing worker, as a real worker beside the reconciler: a
 * child process with its own connection that runs one statement per job of
 * its share, in a shuffled order, and records the ids it won (the statement
 * matched the row). Shared by the race, SQL-step and Galera tests, and the
 * figure helper their results are read with.
 */
#ifndef RC_TH_RACE_H
#define RC_TH_RACE_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>
#include "helpers.h"

typedef struct th_racer {
    const char *sql; /* one statement; its one parameter is the job id */
    int jobs;        /* ids 1..jobs ... */
    int mod, share;  /* ... with id % mod == share are this racer's */
    int busy_ms;     /* SQLite's busy timeout (0: the driver's own) */
    int retries;     /* a retryable error (deadlock, certification conflict) is tried again
                        this many times; 0: any error ends the racer with exit 1 */
    int pause_us;    /* between statements: a worker's pace, not a loop's */
    int run_ms;      /* go round the share again until this long has passed (0: once) */
    const char *won; /* the file of the ids won, one a line; NULL: not recorded */
} th_racer;

/* Fork the racer on t's database; its pid. It exits 0, or 1 on an error. */
pid_t th_racer_start(const th_db *t, const th_racer *r);
/* Wait for it: fails the test unless it exited 0. */
void th_racer_wait(pid_t pid, const char *what);

/*
 * The race tests' two workers beside the leases step (test_race.c, test_changes_race.c):
 * on ids 1..jobs with id % 4 == 1 one renews the expired lease, with id % 4 == 2 the other
 * completes the job; the ids each won are written to renewed and completed.
 */
void th_lease_racers(const th_db *t, int jobs, const char *renewed, const char *completed);
/*
 * Run r once after the other while the racers run, each run a success; the test fails
 * when a racer does. The number of runs.
 */
int64_t th_run_beside_racers(rig *r);

/* results.<dotted path> of a run's result as an integer (fails the test when missing). */
int64_t th_figure(json_t *res, const char *path);

#endif
