/* cmd_run.c - `reconciler run` and `reconciler validate`. */
#include "cli/cli.h"
#include "base/json.h"
#include "base/log.h"
#include "base/stop.h"
#include "base/util.h"
#include "db/connect.h"
#include "engine/runlock.h"
#include "engine/history.h"
#include "engine/run.h"
#include "engine/runner.h"
#include "service/service.h"
#include "service/webhook.h"
#include "trace/exporter.h"
#include "trace/run_trace.h"
#include "trace/settings.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_request();
}

static void print_human(const json_t *r)
{
    char *summary = runner_summary(r);
    printf("%s\n", summary ? summary : "reconciliation run");
    free(summary);

    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(r, "steps"), i, s) {
        printf("  %-16s %-8s %6lld ms", json_string_value(json_object_get(s, "name")),
               json_string_value(json_object_get(s, "status")),
               (long long)json_integer_value(json_object_get(s, "durationMs")));
        const char *err = json_string_value(json_object_get(s, "error"));
        if (err)
            printf("  error: %s", err);
        printf("\n");
    }
    char *results = json_dumps(json_object_get(r, "results"), JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    if (results)
        printf("results: %s\n", results);
    free(results);
}

static const char run_help[] =
    "Usage: reconciler run [--once [--job NAME] [--dry-run] [--json]] [-c FILE] [--db URL]\n"
    "Without --once: run as a service (each job's startup run, then its runs on its\n"
    "schedule, and the HTTP API on http.listen) until SIGTERM/SIGINT;\n"
    "SIGHUP re-reads the pipeline file.\n"
    "With --once: run every job with on_startup (a file of top-level steps: its one\n"
    "job, reconcile), in file order, once each, and exit.\n\n"
    "      --once           one run of each such job, then exit (trigger \"startup\")\n"
    "      --job NAME       with --once: only this job, whatever its on_startup\n"
    "      --dry-run        with --once: report what would change; write nothing\n"
    "      --json           with --once: print only the result JSON on stdout (a list\n"
    "                       of results when several jobs ran)\n"
    CLI_COMMON_HELP
    "\nExit codes (the first job that did not succeed decides): 0 every step ok (service: stopped by a signal), 1 a step failed,\n"
    "2 usage/config/plugin error, 3 database unreachable, 4 another instance held\n"
    "the run lock for all of schedule.lock_wait, 5 history store error.\n";

/* Read the pipeline file again with the command line's overrides (a SIGHUP reload). */
static int reload_config(void *user, config **out)
{
    return cli_load_config(user, 1, out) == EXIT_OK ? 0 : -1;
}

/* tracing: the pipeline's tracing: keys over the OTEL_* variables (trace/settings.h). */
static trace_exporter *start_tracing(const config *cfg)
{
    trace_settings s;
    trace_overrides o = { cfg->tracing_enabled, cfg->tracing_endpoint, cfg->tracing_headers_env,
                          cfg->tracing_service_name };
    trace_settings_load(&o, &s);
    trace_exporter *e = trace_exporter_start(&s);
    trace_settings_free(&s);
    return e;
}

/* tracing: the run's spans to the exporter, unless the caller's trace is not sampled. */
static void export_trace(trace_exporter *e, trace_run *tr)
{
    trace_batch b = { 0 };
    if (!e || !tr || !trace_run_sampled(tr))
        return;
    trace_run_take(tr, &b);
    trace_exporter_enqueue(e, &b);
}

/* One job's run of `run --once`: its own run lock and trace; the result in *result. */
static int run_job_once(config *cfg, pipeline *p, history *h, db **d, trace_exporter *tx,
                        const cfg_job *job, int dry_run, json_t **result)
{
    /* A real run takes the job's run lock, waiting for another instance's run to
     * end; a dry run writes nothing and needs none. */
    runlock *rl = dry_run ? NULL : runlock_open_job(cfg, job);
    run_env env = { cfg, p, h, rl, d };
    /* tracing: the run is a trace, under a TRACEPARENT's when one is given. */
    trace_run_info ti = { cfg->path, "startup", NULL, dry_run, 0 };
    trace_run *tr = trace_run_from_env(&ti, trace_now_ns());
    run_spec spec = { .trigger = "startup", .dry_run = dry_run, .wait_ms = job->lock_wait_ms,
                      .trace = tr, .job = job };
    int rc = run_execute(&env, &spec, result);
    export_trace(tx, tr);
    trace_run_free(tr);
    runlock_close(rl);
    return rc;
}

/* The result printed as `run --once` prints it. */
static void print_result(const json_t *result, int as_json)
{
    if (as_json) {
        char *text = util_json_dump(result, 1);
        printf("%s\n", text ? text : "{}");
        free(text);
    } else if (json_array_size(json_object_get(result, "steps"))) {
        print_human(result);
    }
}

/*
 * `run --once`: every enabled job with on_startup, in file order (or only the job
 * named), each through run_execute; their results on stdout; the exit code the
 * first that did not succeed gave, else 0.
 */
static int run_once(config *cfg, const char *only, int dry_run, int as_json)
{
    pipeline *p = NULL;
    history *h = NULL;
    db *d = NULL;
    json_t *results = jx(json_array());
    trace_exporter *tx = NULL;
    char err[2048];
    int rc;

    const cfg_job *one = only ? cfg_job_find(cfg, only) : NULL;
    if (only && !one) {
        char names[1024] = "";
        for (size_t i = 0; i < cfg->n_jobs; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     cfg->jobs[i].name);
        cli_error("run: %s has no job '%s'; its jobs: %s", cfg->path, only, names);
        rc = EXIT_USAGE;
        goto out;
    }
    if ((rc = run_prepare(cfg, 0, &p, err, sizeof err)) != EXIT_OK) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    if ((rc = connect_preflight(cfg, err, sizeof err)) != EXIT_OK) {
        cli_error("%s", err);
        goto out;
    }
    if (history_open(cfg->history_path, cfg->history_keep_runs, HISTORY_BUSY_DEFAULT_MS, &h,
                     err, sizeof err) != 0) {
        cli_error("%s", err);
        rc = EXIT_LOCAL;
        goto out;
    }
    int64_t closed;
    /* A run killed before it could record its end is closed now, not left "running". */
    if (history_abandon(h, &closed) != 0)
        log_error("%s", history_error(h));
    struct sigaction sa = { .sa_handler = on_stop_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    tx = start_tracing(cfg);
    for (size_t i = 0; i < cfg->n_jobs && !stop_requested(); i++) {
        const cfg_job *job = &cfg->jobs[i];
        /* --job runs the job asked for whatever its on_startup; a disabled one never runs. */
        if (one ? job != one : !job->on_startup || !job->enabled)
            continue;
        if (!job->enabled) {
            cli_error("run: job '%s' is disabled (enabled: false)", job->name);
            rc = EXIT_USAGE;
            break;
        }
        json_t *result = NULL;
        int got = run_job_once(cfg, p, h, &d, tx, job, dry_run, &result);
        if (rc == EXIT_OK)
            rc = got;
        if (got == EXIT_DATABASE || got == EXIT_LOCKED ||
            !json_array_size(json_object_get(result, "steps")))
            /* It did not run: say why, as the one line a bot's unit log shows. */
            cli_error("%s", json_string_value(json_array_get(json_object_get(result, "errors"), 0)));
        json_array_append_new(results, result);
    }
    /* The exporter sends while the results are printed and webhooks go out; its bound starts now. */
    int64_t trace_deadline = util_mono_ms() + TRACE_ONCE_BUDGET_MS;
    /* One job (a file of top-level steps, or --job): its result as before; several: a list. */
    if (json_array_size(results) == 1 || !as_json) {
        size_t i;
        json_t *r;
        json_array_foreach(results, i, r)
            print_result(r, as_json);
    } else {
        print_result(results, 1);
    }
    fflush(stdout);
    /* The notify: targets are told after the results are out, within a bounded time; their
     * outcome never changes the exit code. */
    if (cfg->n_notify && json_array_size(results)) {
        webhook *wh = webhook_start(h);
        size_t i;
        json_t *r;
        json_array_foreach(results, i, r)
            webhook_after_run(wh, cfg, r, NULL);
        webhook_finish(wh, util_mono_ms() + WEBHOOK_ONCE_BUDGET_MS, 1);
    }
    trace_exporter_stop(tx, stop_requested() ? util_mono_ms() : trace_deadline, NULL);
    tx = NULL;
out:
    trace_exporter_stop(tx, util_mono_ms(), NULL);
    json_decref(results);
    db_close(d);
    history_close(h);
    pipeline_free(p);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "once", no_argument, NULL, 'o' },
        { "dry-run", no_argument, NULL, 'n' },
        { "json", no_argument, NULL, 'j' },
        { "job", required_argument, NULL, 'J' },
        CLI_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 }
    };
    cli_common common = { 0 };
    int once = 0, dry_run = 0, as_json = 0, ch;
    const char *only = NULL;
    config *cfg = NULL;
    int rc;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (cli_common_opt(ch, optarg, &common))
            continue;
        switch (ch) {
        case 'o': once = 1; break;
        case 'n': dry_run = 1; break;
        case 'j': as_json = 1; break;
        case 'J': only = optarg; break;
        case 'h': fputs(run_help, stdout); return EXIT_OK;
        default: fputs(run_help, stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("run: unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (!once && (dry_run || as_json || only)) {
        cli_error("run: --dry-run, --json and --job go with --once (a service's runs are "
                  "real; queue a dry run with POST /v1/reconciliation/run?dryRun=true, a job's "
                  "run with POST /v1/jobs/JOB/run)");
        return EXIT_USAGE;
    }
    if ((rc = cli_load_config(&common, 1, &cfg)) != EXIT_OK)
        return rc;
    if (!once)
        return service_run(cfg, reload_config, &common); /* it takes cfg */
    rc = run_once(cfg, only, dry_run, as_json);
    config_free(cfg);
    return rc;
}

static const char validate_help[] =
    "Usage: reconciler validate [-c FILE] [--db URL]\n"
    "Check the pipeline file, load every step's plugin and check its options.\n"
    "Without --db nothing connects to the database. With --db URL, it also\n"
    "connects and has the database compile every step's statements (plugins\n"
    "with a prepare() callback, such as sql), reading and writing nothing: an\n"
    "SQL error is reported with its option's FILE:LINE:COL (exit 2).\n\n"
    CLI_COMMON_HELP
    "\nThe keys a pipeline file may hold:\n";

int cmd_validate(int argc, char **argv)
{
    static const struct option longopts[] = { CLI_COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
    cli_common common = { 0 };
    config *cfg = NULL;
    pipeline *p = NULL;
    char err[2048];
    db_url u = { 0 };
    db *d = NULL;
    int ch, rc;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (cli_common_opt(ch, optarg, &common))
            continue;
        FILE *f = ch == 'h' ? stdout : stderr;
        fputs(validate_help, f);
        config_help(f);
        return ch == 'h' ? EXIT_OK : EXIT_USAGE;
    }
    if ((rc = cli_load_config(&common, 1, &cfg)) != EXIT_OK)
        goto out;
    if ((rc = connect_parse_url(cfg, &u, err, sizeof err)) != EXIT_OK) {
        cli_error("%s", err);
        goto out;
    }
    /* Every plugin's check() too: a value out of its range is refused here, not mid-run. */
    if ((rc = run_prepare(cfg, 0, &p, err, sizeof err)) != EXIT_OK) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    /* --db: the statements compile against that database (its SQL errors at exit 2). */
    if (common.db_url) {
        db_clock clock;
        if ((rc = cli_connect(cfg, &d)) != EXIT_OK)
            goto out;
        if (db_now(d, &clock) != 0) {
            cli_error("cannot read the database clock: %s", db_errmsg(d));
            rc = EXIT_DATABASE;
            goto out;
        }
        if (runner_prepare(p, d, &clock, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            rc = EXIT_USAGE;
            goto out;
        }
    }
    printf("%s: ok%s, %zu step%s:", cfg->path, d ? " (statements prepared)" : "", p->n,
           p->n == 1 ? "" : "s");
    for (size_t i = 0; i < p->n; i++)
        printf("%s %s (%s %s)", i ? "," : "", p->steps[i].cfg->name, p->steps[i].plugin->name,
               p->steps[i].plugin->desc->version ? p->steps[i].plugin->desc->version : "");
    printf("\n");
    rc = EXIT_OK;
out:
    db_close(d);
    db_url_free(&u);
    pipeline_free(p);
    config_free(cfg);
    return rc;
}
