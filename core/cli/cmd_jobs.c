/* SPDX-License-Identifier: MIT */
/* cmd_jobs.c - `reconciler jobs`, `reconciler pause JOB`, `reconciler resume JOB`. */
#include "cli/cli.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"
#include "db/connect.h"
#include "db/jobstate.h"
#include "engine/history.h"
#include "service/jobinfo.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char jobs_help[] =
    "Usage: reconciler jobs [--json] [-c FILE] [--db URL]\n"
    "List the pipeline file's jobs: schedule, zone, next fire time, last run,\n"
    "and (when the database answers) paused state and run lock holder.\n\n"
    "      --json           print the jobs as JSON (as GET /v1/jobs)\n"
    CLI_COMMON_HELP;

static const char pause_help[] =
    "Usage: reconciler pause JOB [--reason TEXT] [-c FILE] [--db URL]\n"
    "       reconciler resume JOB [-c FILE] [--db URL]\n"
    "Pause a job, or resume it, for every instance: the state is kept in the bot's\n"
    "database (reconciler_job_pauses, migration 007), with who (this user and host),\n"
    "when and why. A paused job's slots are recorded as skipped (reason paused); a\n"
    "run going on when the pause comes finishes.\n\n"
    "      --reason TEXT    why (shown by `reconciler jobs` and GET /v1/jobs)\n"
    CLI_COMMON_HELP;

/* The history store for reading, or NULL when there is none yet. */
static history *open_history(const config *cfg)
{
    struct stat sb;
    char err[1024];
    history *h = NULL;
    if (stat(cfg->history_path, &sb) != 0 || sb.st_size == 0)
        return NULL;
    if (history_open_read(cfg->history_path, &h, err, sizeof err) != 0)
        log_warn("jobs: %s (last runs are not shown)", err);
    return h;
}

static const char *text_at(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    return json_is_string(v) ? json_string_value(v) : "-";
}

static void print_job(const json_t *j)
{
    const json_t *sch = json_object_get(j, "schedule");
    char what[160];
    if (json_is_null(sch) || !sch)
        snprintf(what, sizeof what, "-");
    else if (json_is_string(json_object_get(sch, "cron")))
        snprintf(what, sizeof what, "cron %s", text_at(sch, "cron", NULL));
    else
        snprintf(what, sizeof what, "every %s", text_at(sch, "every", NULL));
    const json_t *p = json_object_get(j, "paused");
    const char *paused = json_is_true(json_object_get(p, "paused")) ? "paused"
                         : json_is_object(p) && !json_object_get(p, "error") ? "no" : "?";
    printf("%-16s %-28s %-16s %-25s %-8s %s%s%s\n", text_at(j, "job", NULL), what,
           json_is_object(sch) ? text_at(sch, "timeZone", NULL) : "-",
           json_string_value(json_array_get(json_object_get(j, "next"), 0))
               ? json_string_value(json_array_get(json_object_get(j, "next"), 0)) : "-",
           text_at(j, "lastRun", "status"), paused,
           json_is_true(json_object_get(p, "paused")) ? " by " : "",
           json_is_true(json_object_get(p, "paused")) ? text_at(p, "by", NULL) : "");
}

int cmd_jobs(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "json", no_argument, NULL, 'j' }, CLI_COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
    };
    cli_common common = { 0 };
    config *cfg = NULL;
    history *h = NULL;
    db *d = NULL;
    int as_json = 0, ch, rc;
    char err[2048];

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (cli_common_opt(ch, optarg, &common))
            continue;
        switch (ch) {
        case 'j': as_json = 1; break;
        case 'h': fputs(jobs_help, stdout); return EXIT_OK;
        default: fputs(jobs_help, stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("jobs: unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if ((rc = cli_load_config(&common, 0, &cfg)) != EXIT_OK)
        return rc;
    h = open_history(cfg);
    /* Without the database the list still shows schedules and runs: pause and lock are "?". */
    connect_timeouts t = { 5, 5, 5, 0 };
    if (cfg->db_url && connect_open(cfg, &t, &d, err, sizeof err) != EXIT_OK) {
        log_warn("jobs: %s (paused state and lock holders are not shown)", err);
        d = NULL;
    }
    json_t *list = jx(json_array());
    int64_t now = util_wall_ms();
    for (size_t i = 0; i < cfg->n_jobs; i++)
        json_array_append_new(list, jobinfo_describe(cfg, &cfg->jobs[i], h, d, 0, now));
    if (as_json) {
        char *text = util_json_dump(list, 1);
        printf("%s\n", text ? text : "[]");
        free(text);
    } else {
        printf("%-16s %-28s %-16s %-25s %-8s %s\n", "JOB", "SCHEDULE", "ZONE", "NEXT",
               "LAST", "PAUSED");
        size_t i;
        json_t *j;
        const char *why = NULL;
        json_array_foreach(list, i, j) {
            print_job(j);
            if (!why)
                why = json_string_value(json_object_get(json_object_get(j, "paused"), "error"));
        }
        /* "?" says little: why once (before migrate: "run `reconciler migrate`"), not per job. */
        if (why)
            cli_warn("jobs: the paused state is not known (\"?\"): %s", why);
    }
    json_decref(list);
    db_close(d);
    history_close(h);
    config_free(cfg);
    return EXIT_OK;
}

/* pause and resume: one row of reconciler_job_pauses. */
static int set_pause(int argc, char **argv, int paused)
{
    static const struct option longopts[] = {
        { "reason", required_argument, NULL, 'r' }, CLI_COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
    };
    const char *cmd = paused ? "pause" : "resume", *reason = NULL;
    cli_common common = { 0 };
    config *cfg = NULL;
    db *d = NULL;
    int ch, rc;
    char err[2048], actor[400];

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (cli_common_opt(ch, optarg, &common))
            continue;
        switch (ch) {
        case 'r':
            if (!paused) {
                cli_error("resume: --reason goes with pause");
                return EXIT_USAGE;
            }
            reason = optarg;
            break;
        case 'h': fputs(pause_help, stdout); return EXIT_OK;
        default: fputs(pause_help, stderr); return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        cli_error("%s: name one job (reconciler %s JOB)", cmd, cmd);
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    if ((rc = cli_load_config(&common, 1, &cfg)) != EXIT_OK)
        return rc;
    if (!cfg_job_find(cfg, name)) {
        char names[1024] = "";
        for (size_t i = 0; i < cfg->n_jobs; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     cfg->jobs[i].name);
        cli_error("%s: %s has no job '%s'; its jobs: %s", cmd, cfg->path, name, names);
        rc = EXIT_USAGE;
        goto out;
    }
    if ((rc = cli_connect(cfg, &d)) != EXIT_OK)
        goto out;
    jobinfo_cli_actor(actor, sizeof actor);
    if (jobpause_set(d, name, paused, actor, reason, err, sizeof err) != 0) {
        cli_error("%s: %s", cmd, err);
        rc = EXIT_DATABASE;
        goto out;
    }
    printf("job %s %s by %s%s%s\n", name, paused ? "paused" : "resumed", actor,
           reason ? ": " : "", reason ? reason : "");
    rc = EXIT_OK;
out:
    db_close(d);
    config_free(cfg);
    return rc;
}

int cmd_pause(int argc, char **argv)
{
    return set_pause(argc, argv, 1);
}

int cmd_resume(int argc, char **argv)
{
    return set_pause(argc, argv, 0);
}
