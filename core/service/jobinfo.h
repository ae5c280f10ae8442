/* SPDX-License-Identifier: MIT */
/*
 * jobinfo.h - a job as `reconciler jobs` and GET /v1/jobs show it: its
 * schedule and zone, its next fire times, its last run and last success
 * (the local history), whether it is paused and who holds its lock (the
 * bot's database, when a connection is given).
 */
#ifndef RC_JOBINFO_H
#define RC_JOBINFO_H

#include <jansson.h>
#include <stdint.h>
#include "config/config.h"
#include "db/db.h"
#include "engine/history.h"

/*
 * {job, enabled, onStartup, schedule: {every, cron, timeZone, jitter, missed,
 * missedWithin} (null without one), next: [3 ISO 8601 times in the job's zone],
 * nextUtc: [the same in UTC], lastRun, lastSuccess ({runId, status, trigger,
 * scheduledFor, startedAt, finishedAt} or null), paused ({paused, by, at, reason};
 * null without d), lock ({held, holder, until}; null without d)}. h and d may
 * be NULL. phase_ms: the legacy job's grid phase in the running service (0 elsewhere:
 * its grid starts with the service). New reference.
 */
json_t *jobinfo_describe(const config *cfg, const cfg_job *j, history *h, db *d,
                         int64_t phase_ms, int64_t now_ms);

/* How many next fire times jobinfo_describe lists. */
#define JOBINFO_NEXT 3

/* Who pauses or resumes from this process, for reconciler_job_pauses: "cli USER@HOST". */
void jobinfo_cli_actor(char *out, size_t outlen);

#endif
