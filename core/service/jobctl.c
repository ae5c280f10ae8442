/* SPDX-License-Identifier: MIT */
/* jobctl.c - see jobctl.h. */
#include "service/jobctl.h"
#include "base/util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void jobctl_init(jobctl *j, const char *name)
{
    pthread_condattr_t ca;
    memset(j, 0, sizeof *j);
    snprintf(j->name, sizeof j->name, "%s", name);
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
}

void jobctl_destroy(jobctl *j)
{
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
}

jobctl *jobctl_find(jobctl *jobs, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(jobs[i].name, name) == 0)
            return &jobs[i];
    return NULL;
}

int jobctl_request(jobctl *j, int dry_run, int64_t *running_id)
{
    int rc;
    pthread_mutex_lock(&j->mu);
    *running_id = j->running_id;
    if (j->stopping)
        rc = -1;
    else if (j->requested || j->running)
        rc = 0;
    else {
        j->requested = 1;
        j->requested_dry = dry_run;
        pthread_cond_broadcast(&j->cv);
        rc = 1;
    }
    pthread_mutex_unlock(&j->mu);
    return rc;
}

void jobctl_hand_manual(jobctl *j, int64_t run_id, int dry_run)
{
    pthread_mutex_lock(&j->mu);
    j->has_manual = 1;
    j->manual_id = run_id;
    j->manual_dry = dry_run;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

int jobctl_take_manual(jobctl *j, int64_t *run_id, int *dry_run)
{
    pthread_mutex_lock(&j->mu);
    int got = j->has_manual;
    *run_id = j->manual_id;
    *dry_run = j->manual_dry;
    j->has_manual = 0;
    pthread_mutex_unlock(&j->mu);
    return got;
}

int jobctl_take_request(jobctl *j, int *dry_run)
{
    pthread_mutex_lock(&j->mu);
    int got = j->requested;
    *dry_run = got && j->requested_dry;
    j->requested = j->requested_dry = 0;
    /* It counts as running from now: a second request gets 409 at once. */
    if (got) {
        j->running = 1;
        j->running_id = 0;
    }
    pthread_mutex_unlock(&j->mu);
    return got;
}

void jobctl_wait(jobctl *j, int64_t due_ms)
{
    int64_t left = due_ms - util_wall_ms();
    if (left <= 0)
        return;
    if (left > 1000)
        left = 1000;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += left / 1000;
    ts.tv_nsec += (long)(left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&j->mu);
    if (!j->requested && !j->has_manual && !j->stopping)
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
    pthread_mutex_unlock(&j->mu);
}

void jobctl_stop(jobctl *j)
{
    pthread_mutex_lock(&j->mu);
    j->stopping = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

void jobctl_set_running(jobctl *j, int running, int64_t running_id)
{
    pthread_mutex_lock(&j->mu);
    j->running = running;
    j->running_id = running ? running_id : 0;
    pthread_mutex_unlock(&j->mu);
}

void jobctl_set_next(jobctl *j, int64_t next_ms)
{
    pthread_mutex_lock(&j->mu);
    j->next_ms = next_ms;
    pthread_mutex_unlock(&j->mu);
}

void jobctl_set_phase(jobctl *j, int64_t phase_ms)
{
    pthread_mutex_lock(&j->mu);
    j->phase_ms = phase_ms;
    pthread_mutex_unlock(&j->mu);
}

void jobctl_set_paused(jobctl *j, int paused)
{
    pthread_mutex_lock(&j->mu);
    j->paused = paused;
    pthread_mutex_unlock(&j->mu);
}

void jobctl_get(jobctl *j, jobctl_view *out)
{
    pthread_mutex_lock(&j->mu);
    out->requested = j->requested;
    out->running = j->running;
    out->running_id = j->running_id;
    out->next_ms = j->next_ms;
    out->phase_ms = j->phase_ms;
    out->paused = j->paused;
    pthread_mutex_unlock(&j->mu);
}
