/* SPDX-License-Identifier: MIT */
/*
 * snapshot.h - the pipeline in force, as readers see it: a reference-counted,
 * read-only {config, pipeline}. A reader (an HTTP handler, a run) takes a
 * reference under a short mutex and keeps it while it works, with no lock
 * held; a reload builds a new snapshot and swaps it in, and the old one is
 * freed when its last reader lets go. So a slow database under the dashboard
 * never holds up a reload, and a reload never waits for a reader.
 */
#ifndef RC_SNAPSHOT_H
#define RC_SNAPSHOT_H

#include <pthread.h>
#include <stdatomic.h>
#include "config/config.h"
#include "engine/pipeline.h"

typedef struct snapshot {
    config *cfg;   /* owned */
    pipeline *p;   /* owned; built from cfg */
    atomic_int refs;
} snapshot;

typedef struct snapshots {
    pthread_mutex_t mu; /* held only to swap or copy the pointer and count */
    snapshot *cur;
} snapshots;

/* Start with cfg and p (taken). */
void snapshots_init(snapshots *s, config *cfg, pipeline *p);
/* Drop the current one (freed once no reader holds it). */
void snapshots_destroy(snapshots *s);

/* A reference to the snapshot in force; give it back with snapshot_release. */
snapshot *snapshots_hold(snapshots *s);
void snapshot_release(snapshot *snap); /* accepts NULL */

/* Put cfg and p (taken) in force; readers of the old one keep it until they let go. */
void snapshots_swap(snapshots *s, config *cfg, pipeline *p);

#endif
