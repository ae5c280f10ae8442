/* SPDX-License-Identifier: MIT */
/*
 * figures.h - the live figures, served from a snapshot.
 *
 * The queue, the dashboard, /metrics and the console answer from the last
 * snapshot of the figures, never from the bot's database: one thread
 * refreshes it in the background (every http.figures_refresh, right after
 * each run, and when a request asks for ?fresh=1), by running the probe
 * plugins read-only in one step worker. One refresh at a time (single
 * flight): any number of requests cause at most one probe run. The
 * interval stretches so that refreshes take at most 5% of the wall time,
 * whatever the tables' size. A refresh that fails keeps the previous
 * snapshot, marked stale with the error, and is retried with backoff. Each
 * good snapshot is kept in the history store, so that it is shown (with
 * its age) at once after a restart.
 */
#ifndef RC_FIGURES_H
#define RC_FIGURES_H

#include <jansson.h>
#include <stdint.h>
#include "engine/history.h"
#include "service/snapshot.h"

typedef struct figures figures;

/* The share of wall time refreshes may take: 1/20, 5%. */
#define FIGURES_BUDGET_DIVISOR 20

/*
 * Start the refresh thread: it restores the snapshot kept in h (may be
 * NULL: none kept), then refreshes at once, or, when run_first is set (a
 * startup run comes), as figures_run_begins had been called. snaps and h
 * must outlive it. Never NULL (no thread to spare: the figures stay as
 * restored, and say so).
 */
figures *figures_start(snapshots *snaps, history *h, int run_first);
/* The service stops: requests waiting for ?fresh=1 answer now, no refresh starts. Accepts NULL. */
void figures_halt(figures *f);
/* Stop the thread (a refresh under way is cut short with the process's stop flag) and free. Accepts NULL. */
void figures_stop(figures *f);
/*
 * A run starts: no refresh starts until every run going has ended (a
 * refresh under way finishes). On SQLite (one writer at a time, and a long
 * read holds the writer off) however long they take; on MySQL for at most
 * two refresh periods from the first run's start. Accepts NULL.
 */
void figures_run_begins(figures *f);
/* A run ended: refresh as soon as the budget allows. Accepts NULL. */
void figures_run_ends(figures *f);
/* The pipeline changed (a reload): refresh as soon as the budget allows. Accepts NULL. */
void figures_kick(figures *f);

/* What a request answers from: a copy, the caller's to free (figures_view_free). */
typedef struct figures_view {
    json_t *probes;       /* {"PLUGIN": {its results}, ...}; NULL: no snapshot yet */
    char reference_time[24]; /* the snapshot's T, as the database wrote it; "" when none */
    int64_t as_of_ms;     /* wall ms at which the refresh that made it started; 0: none */
    int64_t age_ms;       /* how old it is now */
    int fresh;            /* see figures_read */
    int stale;            /* the last refresh failed (error says why) */
    int restored;         /* read from the history store at start; no refresh yet */
    int64_t period_ms;    /* the refresh interval in force (stretched by the budget) */
    char error[1024];     /* the last refresh's error, "" after a good one */
} figures_view;

/*
 * The newest snapshot. wait_ms > 0 (?fresh=1): first wait, at most wait_ms,
 * for a refresh that starts after this call, and fresh says whether it
 * succeeded. wait_ms 0: fresh says whether the snapshot is from the last
 * refresh, which succeeded, within two periods. v is always filled.
 */
void figures_read(figures *f, int64_t wait_ms, figures_view *v);
void figures_view_free(figures_view *v);

/*
 * Add asOf (ISO UTC, null when none), ageMs, fresh, stale and lastError
 * (null when none) to obj.
 */
void figures_view_meta(const figures_view *v, json_t *obj);

/* Refreshes started and how many of them failed, since the start (for /v1/service/state). */
typedef struct figures_counts {
    uint64_t started, failed;
    int refreshing;       /* one is under way */
    int waiting;          /* requests waiting for ?fresh=1 */
    int64_t last_took_ms; /* the last refresh's duration, -1: none yet */
} figures_counts;
void figures_counts_read(figures *f, figures_counts *c);

#endif
