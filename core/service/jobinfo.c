/* SPDX-License-Identifier: MIT */
/* jobinfo.c - see jobinfo.h. */
#include "service/jobinfo.h"
#include "base/json.h"
#include "base/util.h"
#include "calendar/zone.h"
#include "config/options.h"
#include "db/jobstate.h"
#include "db/lock.h"
#include "service/schedule.h"

#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static json_t *duration_json(int64_t ms)
{
    char text[32];
    duration_format(ms, text, sizeof text);
    return jx_text(text);
}

static json_t *schedule_json(const cfg_job *j)
{
    if (!cfg_job_scheduled(j))
        return json_null();
    return jx(json_pack("{s:o, s:o, s:s, s:o, s:s, s:o}",
                        "every", j->every_ms ? duration_json(j->every_ms) : json_null(),
                        "cron", j->cron ? jx_text(j->cron) : json_null(),
                        "timeZone", j->cron ? j->time_zone : "UTC",
                        "jitter", duration_json(j->jitter_ms),
                        "missed", j->missed == CFG_MISSED_SKIP ? "skip" : "run_once",
                        "missedWithin", duration_json(j->missed_within_ms)));
}

/* The next fire times, in the job's zone and in UTC. */
static void next_times(const cfg_job *j, int64_t phase_ms, int64_t now_ms, json_t *local,
                       json_t *utc)
{
    cal_zone *z = cal_zone_fixed(0, "UTC");
    const cal_zone *in = j->zone ? j->zone : z;
    char text[CAL_ISO_MAX];
    int64_t t = now_ms;
    for (int i = 0; i < JOBINFO_NEXT && cfg_job_scheduled(j); i++) {
        t = schedule_next_slot(j, phase_ms, t);
        if (t < 0)
            break;
        json_array_append_new(local, jx_text(cal_format_iso(in, t / 1000, text)));
        json_array_append_new(utc, jx_text(cal_format_iso(z, t / 1000, text)));
    }
    cal_zone_free(z);
}

static json_t *brief(const json_t *run)
{
    if (!run)
        return json_null();
    return jx(json_pack("{s:O, s:O, s:O, s:O, s:O, s:O}",
                        "runId", json_object_get(run, "runId"),
                        "status", json_object_get(run, "status"),
                        "trigger", json_object_get(run, "trigger"),
                        "scheduledFor", json_object_get(run, "scheduledFor"),
                        "startedAt", json_object_get(run, "startedAt"),
                        "finishedAt", json_object_get(run, "finishedAt")));
}

/* The newest run that ran, and the newest success, among the job's recent runs. */
static void last_runs(history *h, const cfg_job *j, json_t *out)
{
    const json_t *last = NULL, *ok = NULL;
    json_t *runs = h ? history_list_job(h, j->name, 200) : NULL;
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run) {
        const char *st = json_string_value(json_object_get(run, "status"));
        if (!st || strcmp(st, "running") == 0 || strcmp(st, "skipped") == 0)
            continue;
        if (!last)
            last = run;
        if (!ok && strcmp(st, "success") == 0)
            ok = run;
    }
    json_object_set_new(out, "lastRun", brief(last));
    json_object_set_new(out, "lastSuccess", brief(ok));
    json_decref(runs);
}

static json_t *pause_json(db *d, const cfg_job *j)
{
    job_pause p;
    char err[512];
    int got = jobpause_get(d, j->name, &p, err, sizeof err);
    if (got < 0)
        return jx(json_pack("{s:s}", "error", err));
    return jx(json_pack("{s:b, s:o, s:o, s:o}", "paused", got == 1,
                        "by", p.by[0] ? jx_text(p.by) : json_null(),
                        "at", p.at[0] ? jx_text(p.at) : json_null(),
                        "reason", p.reason[0] ? jx_text(p.reason) : json_null()));
}

static json_t *lock_json(db *d, const cfg_job *j)
{
    lock_info li = { "", "" };
    char err[512];
    int held = lock_peek(d, j->legacy ? LOCK_NAME : j->name, &li, err, sizeof err);
    if (held < 0)
        return jx(json_pack("{s:s}", "error", err));
    return jx(json_pack("{s:b, s:o, s:o}", "held", held == 1,
                        "holder", held == 1 ? jx_text(li.holder) : json_null(),
                        "until", held == 1 ? jx_text(li.until) : json_null()));
}

json_t *jobinfo_describe(const config *cfg, const cfg_job *j, history *h, db *d,
                         int64_t phase_ms, int64_t now_ms)
{
    (void)cfg;
    json_t *local = jx(json_array()), *utc = jx(json_array());
    next_times(j, phase_ms, now_ms, local, utc);
    json_t *out = jx(json_pack("{s:s, s:b, s:b, s:o, s:o, s:o}", "job", j->name,
                               "enabled", j->enabled, "onStartup", j->on_startup,
                               "schedule", schedule_json(j), "next", local, "nextUtc", utc));
    last_runs(h, j, out);
    json_object_set_new(out, "paused", d ? pause_json(d, j) : json_null());
    json_object_set_new(out, "lock", d ? lock_json(d, j) : json_null());
    return out;
}

void jobinfo_cli_actor(char *out, size_t outlen)
{
    char host[HOST_NAME_MAX + 1] = "";
    struct passwd pw, *res = NULL;
    char buf[1024];
    const char *user = getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res
                           ? res->pw_name : "uid";
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    snprintf(out, outlen, "cli %s@%s", user, host);
}
