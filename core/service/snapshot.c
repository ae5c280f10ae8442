/* SPDX-License-Identifier: MIT */
/* snapshot.c - see snapshot.h. */
#include "service/snapshot.h"
#include "base/util.h"

#include <stdlib.h>

static snapshot *snapshot_new(config *cfg, pipeline *p)
{
    snapshot *snap = xcalloc(1, sizeof *snap);
    snap->cfg = cfg;
    snap->p = p;
    atomic_init(&snap->refs, 1); /* the holder's: snapshots.cur */
    return snap;
}

void snapshot_release(snapshot *snap)
{
    if (!snap || atomic_fetch_sub(&snap->refs, 1) != 1)
        return;
    pipeline_free(snap->p);
    config_free(snap->cfg);
    free(snap);
}

void snapshots_init(snapshots *s, config *cfg, pipeline *p)
{
    pthread_mutex_init(&s->mu, NULL);
    s->cur = snapshot_new(cfg, p);
}

void snapshots_destroy(snapshots *s)
{
    snapshot_release(s->cur);
    s->cur = NULL;
    pthread_mutex_destroy(&s->mu);
}

snapshot *snapshots_hold(snapshots *s)
{
    pthread_mutex_lock(&s->mu);
    snapshot *snap = s->cur;
    atomic_fetch_add(&snap->refs, 1);
    pthread_mutex_unlock(&s->mu);
    return snap;
}

void snapshots_swap(snapshots *s, config *cfg, pipeline *p)
{
    snapshot *fresh = snapshot_new(cfg, p);
    pthread_mutex_lock(&s->mu);
    snapshot *old = s->cur;
    s->cur = fresh;
    pthread_mutex_unlock(&s->mu);
    snapshot_release(old); /* outside the mutex: freeing may take a moment */
}
