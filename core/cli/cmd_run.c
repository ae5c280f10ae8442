/* SPDX-License-Identifier: MIT */
/* cmd_run.c - `reconciler run` and `reconciler validate`. */
#include "cli/cli.h"
#include "base/json.h"
#include "base/log.h"
#include "base/stop.h"
#include "base/util.h"
#include "db/connect.h"
#include "db/migrate.h"
#include "engine/runlock.h"
#include "engine/history.h"
#include "engine/run.h"
#include "engine/runner.h"
#include "engine/supervisor.h"
#include "service/service.h"
#include "service/webhook.h"
#include "trace/exporter.h"
#include "trace/run_trace.h"
#include "trace/settings.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_request();
}

/*
 * One summary line, then a table of the steps (columns sized to the names),
 * their non-zero figures, and the errors. A dry run says "would change".
 * Durations read as people say them ("2m", not "120000 ms"); --json has the
 * numbers.
 */
/*
 * A dry run records nothing: say what a real run would record, and which
 * steps did not say (a plugin that does not report wouldRecordChanges).
 */
static void print_would_record(const json_t *r)
{
    json_int_t n = json_integer_value(json_object_get(r, "wouldRecordChanges"));
    json_t *s;
    size_t i;
    strbuf quiet = STRBUF_INIT;
    json_array_foreach(json_object_get(r, "steps"), i, s) {
        json_t *w = json_object_get(s, "wouldRecordChanges");
        if (json_is_null(w) && strcmp(json_string_value(json_object_get(s, "status")), "ok") == 0)
            sb_printf(&quiet, "%s%s", quiet.s ? ", " : "",
                      json_string_value(json_object_get(s, "name")));
    }
    printf("  nothing recorded (dry run); a real run would record %lld change record%s%s%s%s\n",
           (long long)n, n == 1 ? "" : "s", quiet.s ? " (steps that do not say: " : "",
           quiet.s ? quiet.s : "", quiet.s ? ")" : "");
    sb_free(&quiet);
}

void cli_print_result(const json_t *r)
{
    int dry = json_is_true(json_object_get(r, "dryRun"));
    json_t *steps = json_object_get(r, "steps"), *s;
    size_t i, wname = 4, wstatus = 6;
    int counts[4] = { 0 }; /* ok, failed, skipped, interrupted */
    char took[32];

    json_array_foreach(steps, i, s) {
        size_t n = strlen(json_string_value(json_object_get(s, "name")));
        size_t m = strlen(json_string_value(json_object_get(s, "status")));
        wname = n > wname ? n : wname;
        wstatus = m > wstatus ? m : wstatus;
        const char *st = json_string_value(json_object_get(s, "status"));
        counts[strcmp(st, "ok") == 0 ? 0 : strcmp(st, "failed") == 0 ? 1
               : strcmp(st, "skipped") == 0 ? 2 : 3]++;
    }
    cli_duration(json_integer_value(json_object_get(r, "durationMs")), took, sizeof took);
    long long rows = (long long)json_integer_value(json_object_get(r, "rowsChanged"));
    printf("reconciliation run %lld (%s%s): %s in %s; steps: %d ok, %d failed, %d skipped%s; "
           "%s %lld row%s\n",
           (long long)json_integer_value(json_object_get(r, "runId")),
           json_string_value(json_object_get(r, "trigger")), dry ? ", dry run" : "",
           json_string_value(json_object_get(r, "status")), took, counts[0], counts[1],
           counts[2], counts[3] ? ", some interrupted" : "",
           dry ? "would change" : "changed", rows, rows == 1 ? "" : "s");
    if (dry)
        print_would_record(r);
    printf("  %-*s  %-*s  %8s  %12s  %s\n", (int)wname, "step", (int)wstatus, "status", "time",
           dry ? "would change" : "rows changed", "figures");
    json_array_foreach(steps, i, s) {
        char *f = runner_figures_text(json_object_get(s, "results"));
        cli_duration(json_integer_value(json_object_get(s, "durationMs")), took, sizeof took);
        printf("  %-*s  %-*s  %8s  %12lld  %s\n", (int)wname,
               json_string_value(json_object_get(s, "name")), (int)wstatus,
               json_string_value(json_object_get(s, "status")), took,
               (long long)json_integer_value(json_object_get(s, "rowsChanged")),
               f && *f ? f : "-");
        free(f);
    }
    json_array_foreach(steps, i, s) {
        const char *err = json_string_value(json_object_get(s, "error"));
        if (err)
            printf("error in %s: %s\n", json_string_value(json_object_get(s, "name")), err);
    }
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
static int reload_config(void *user, config **out, char *err, size_t errlen)
{
    /* Nothing applied yet: the service applies the file once it has accepted all of it. */
    return cli_read_config(user, 1, out, err, errlen) == EXIT_OK ? 0 : -1;
}

/* tracing: the pipeline's tracing: keys over the OTEL_* variables (trace/settings.h). */
static trace_exporter *start_tracing(const config *cfg)
{
    trace_overrides o = { cfg->tracing_enabled, cfg->tracing_endpoint, cfg->tracing_headers_env,
                          cfg->tracing_service_name };
    return trace_exporter_open(&o, NULL);
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

/*
 * A run that could not start because a plugin crashed the worker inspecting
 * it (its constructor, its check()): it failed, and the history says so.
 */
static void record_not_run(const config *cfg, int dry_run, const char *reason)
{
    history *h = NULL;
    char err[1024];
    int64_t id;
    if (history_open(cfg->history_path, cfg->history_keep_runs, HISTORY_BUSY_DEFAULT_MS, &h,
                     err, sizeof err) != 0) {
        log_error("%s", err);
        return;
    }
    if (history_begin(h, "startup", dry_run, util_wall_ms(), &id) == 0) {
        json_t *r = runner_not_run("startup", dry_run, id, "failed", reason);
        if (history_finish(h, id, util_wall_ms(), r) != 0)
            log_error("%s", history_error(h));
        json_decref(r);
    } else {
        log_error("%s", history_error(h));
    }
    history_close(h);
}

/* What the lock wait of `run --once` shows and decides (run_spec.lock_busy). */
typedef struct once_wait {
    int tty;       /* stderr is a terminal: a progress line */
    int shown;     /* the progress line is on screen (ends with a newline) */
} once_wait;

/* 1 when pid runs `reconciler run` without --once (the service), from /proc/PID/cmdline. */
static int is_service(long pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    int run = 0, once = 0;
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
        run |= strcmp(buf + i, "run") == 0;
        once |= strcmp(buf + i, "--once") == 0;
    }
    return run && !once;
}

/*
 * The holder id is HOST:PID:RANDOM (db/lock.h). When it is the service on
 * this host, waiting is pointless (after a scheduled run it keeps the lock
 * for about an interval): say so at once, and how to run through it.
 * Otherwise wait, with a progress line on a terminal.
 */
static int once_lock_busy(void *user, const lock_info *holder, int64_t waited_ms,
                          int64_t wait_ms, char *why, size_t whylen)
{
    once_wait *w = user;
    char host[256] = "", me[256] = "";
    long pid = 0;
    if (sscanf(holder->holder, "%255[^:]:%ld:", host, &pid) == 2 &&
        gethostname(me, sizeof me) == 0 && strcmp(host, me) == 0 && pid > 0 &&
        pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno == EPERM) &&
        is_service(pid)) {
        snprintf(why, whylen, "the service on this host (pid %ld) holds the run lock until %s "
                 "UTC; use `reconciler trigger` to have it run now", pid, holder->until);
        if (w->shown)
            fputc('\n', stderr);
        w->shown = 0;
        return 1;
    }
    if (w->tty) {
        fprintf(stderr, "\rwaiting for the run lock held by %s (until %s UTC): %llds of %llds ",
                holder->holder, holder->until, (long long)(waited_ms / 1000),
                (long long)(wait_ms / 1000));
        w->shown = 1;
        if (waited_ms >= wait_ms) {
            fputc('\n', stderr);
            w->shown = 0;
        }
    }
    return 0;
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
    trace_run_info ti = { job->name, "startup", NULL, dry_run, 0 };
    trace_run *tr = trace_run_from_env(&ti, trace_now_ns());
    once_wait wait = { .tty = isatty(2) };
    run_spec spec = { .trigger = "startup", .dry_run = dry_run, .wait_ms = job->lock_wait_ms,
                      .trace = tr, .job = job, .lock_busy = once_lock_busy, .user = &wait };
    int rc = run_execute(&env, &spec, result);
    if (wait.shown) /* the run went on after a wait: its output starts on a line of its own */
        fputc('\n', stderr);
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
        cli_print_result(result);
    }
}

/*
 * `run --once`: every enabled job with on_startup, in file order (or only the job
 * named), each through run_execute; their results on stdout; the exit code the
 * first that did not succeed gave, else 0.
 */
static int run_once(config *cfg, const char *only, int dry_run, int as_json, int level_given)
{
    pipeline *p = NULL;
    history *h = NULL;
    db *d = NULL;
    json_t *results = jx(json_array());
    trace_exporter *tx = NULL;
    char err[2048];
    int rc, crashed = 0;

    /* On a terminal the summary below says what the info lines would (once, not twice):
     * only warnings and errors go to stderr, unless --log-level asked for more. */
    rc_log_level lv;
    log_format lf;
    log_get(&lv, &lf);
    if (!as_json && !level_given && lv == RC_LOG_INFO && isatty(1) && isatty(2))
        log_setup(RC_LOG_WARN, lf);
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
    /* The plugins are loaded and checked in a worker: nothing of theirs runs here. */
    if ((rc = supervise_inspect(cfg, 0, 0, &p, &crashed, err, sizeof err)) != EXIT_OK) {
        cli_say(err);
        if (crashed)
            record_not_run(cfg, dry_run, err);
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
    /* From here a stop cuts every wait on a database that does not answer. */
    db_cut_waits_on_stop(DB_STOP_GRACE_MS);

    tx = start_tracing(cfg);
    for (size_t i = 0; i < cfg->n_jobs && !stop_requested(); i++) {
        const cfg_job *job = &cfg->jobs[i];
        /* --job runs the job asked for whatever its on_startup; a disabled one never runs.
         * The one-job form's schedule.on_startup was always the service's only. */
        if (one ? job != one : (!job->on_startup && !job->legacy) || !job->enabled)
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
    rc = run_once(cfg, only, dry_run, as_json, common.log_level != NULL);
    config_free(cfg);
    return rc;
}

static const char validate_help[] =
    "Usage: reconciler validate [-c FILE] [--db [URL]]\n"
    "Check the pipeline file, load every step's plugin and check its options,\n"
    "and what can be checked without the database: database.password_file\n"
    "exists and can be read (an error; a warning when others can read it too),\n"
    "and every variable the file names (the keys listed after the keys below)\n"
    "is set here (a warning: the service's environment may differ).\n"
    "Without --db nothing connects to the database. With --db (the file's\n"
    "database.url) or --db URL, it also connects and has the database compile\n"
    "every step's statements (plugins with a prepare() callback, such as sql),\n"
    "reading and writing nothing: an SQL error is reported with its option's\n"
    "FILE:LINE:COL (exit 2).\n"
    "Plugins are loaded and checked in a separate worker process: one that\n"
    "crashes or exits while loading or in its check() is reported by name (exit 2).\n\n"
    CLI_COMMON_HELP
    "\nThe keys a pipeline file may hold:\n";

typedef struct unset_check {
    const config *cfg;
    int *warnings;
} unset_check;

/* A variable a key names, unset where validate runs: a warning (the service's may differ). */
static void warn_unset(void *user, const char *key, const char *var)
{
    const unset_check *uc = user;
    if (getenv(var))
        return;
    cli_warn("%s: %s names the variable %s, which is not set here (set it where the service "
             "runs: its unit's EnvironmentFile=)", uc->cfg->path, key, var);
    ++*uc->warnings;
}

/*
 * Run as root (which reads anything), validate would pass a password file
 * that the service's user cannot read: check it for that user too, when it
 * exists (a warning: the service may run as another user).
 * $RECONCILER_SERVICE_USER names it; default the package's "reconciler".
 */
static void service_user_can_read(const config *cfg, const struct stat *st, int *warnings)
{
    struct passwd pw, *pp = NULL;
    char buf[4096];
    gid_t groups[64];
    int n = (int)(sizeof groups / sizeof groups[0]), ok = 0;
    const char *user = getenv("RECONCILER_SERVICE_USER");
    if (!user || !*user)
        user = "reconciler";
    if (geteuid() != 0 || getpwnam_r(user, &pw, buf, sizeof buf, &pp) != 0 || !pp)
        return;
    if (st->st_uid == pp->pw_uid)
        ok = (st->st_mode & S_IRUSR) != 0;
    else if (getgrouplist(pp->pw_name, pp->pw_gid, groups, &n) >= 0) {
        int member = 0;
        for (int i = 0; i < n; i++)
            member |= groups[i] == st->st_gid;
        ok = member ? (st->st_mode & S_IRGRP) != 0 : (st->st_mode & S_IROTH) != 0;
    }
    if (!ok) {
        cli_warn("%s: database.password_file %s cannot be read by the user %s, as which the "
                 "service runs: `chown root:%s %s && chmod 0640 %s`", cfg->path,
                 cfg->db_password_file, user, user, cfg->db_password_file,
                 cfg->db_password_file);
        ++*warnings;
    }
}

/*
 * What can be checked without the database: the password file exists and
 * can be read by this user (an error: the first run would fail), and is not
 * readable by others (a warning); the variables the file names are set.
 */
static int check_secrets(const config *cfg, int *warnings)
{
    if (cfg->db_password_file) {
        struct stat st;
        if (stat(cfg->db_password_file, &st) != 0 || access(cfg->db_password_file, R_OK) != 0) {
            cli_error("%s: database.password_file %s cannot be read: %s", cfg->path,
                      cfg->db_password_file, strerror(errno));
            return EXIT_USAGE;
        }
        service_user_can_read(cfg, &st, warnings);
        if (st.st_mode & S_IROTH) {
            cli_warn("%s: database.password_file %s is readable by every user (mode %04o): "
                     "`chmod 0640 %s` (group reconciler)", cfg->path, cfg->db_password_file,
                     (unsigned)(st.st_mode & 07777), cfg->db_password_file);
            ++*warnings;
        }
    }
    /* Every variable the file names: the key table's CFG_ENVNAME keys. */
    unset_check uc = { cfg, warnings };
    config_each_env_name(cfg, warn_unset, &uc);
    return EXIT_OK;
}

/*
 * validate --db: a database without this version's migrations passes the
 * statements' check (the built-in steps prepare none) yet would not run: a
 * warning says what to do, as run --once would ("run `reconciler migrate`").
 * 1 when it warned.
 */
static int warn_pending_migrations(const config *cfg)
{
    db *d = NULL;
    char err[512];
    if (connect_open(cfg, NULL, &d, err, sizeof err) != EXIT_OK)
        return 0; /* the statements' check reached it: a second try that fails adds nothing */
    int pending = migrate_status(d, NULL, NULL, err, sizeof err);
    db_close(d);
    if (pending <= 0)
        return 0;
    cli_warn("the database lacks %d migration%s of this version: run `reconciler migrate` "
             "before its first run", pending, pending == 1 ? "" : "s");
    return 1;
}

int cmd_validate(int argc, char **argv)
{
    /* --db takes its URL optionally: alone, it checks against the file's database.url. */
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "db", optional_argument, NULL, OPT_DB },
        { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
        { "log-format", required_argument, NULL, OPT_LOG_FORMAT },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int check_db = 0, warnings = 0;
    cli_common common = { 0 };
    config *cfg = NULL;
    pipeline *p = NULL;
    char err[2048];
    db_url u = { 0 };
    int ch, rc, crashed;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (ch == OPT_DB) {
            check_db = 1;
            /* "--db URL" as well as "--db=URL": a next word that is no option is the URL. */
            if (!optarg && optind < argc && argv[optind][0] != '-')
                optarg = argv[optind++];
            common.db_url = optarg;
            continue;
        }
        if (cli_common_opt(ch, optarg, &common))
            continue;
        FILE *f = ch == 'h' ? stdout : stderr;
        fputs(validate_help, f);
        config_help(f);
        return ch == 'h' ? EXIT_OK : EXIT_USAGE;
    }
    if ((rc = cli_load_config(&common, 1, &cfg)) != EXIT_OK)
        goto out;
    if ((rc = check_secrets(cfg, &warnings)) != EXIT_OK)
        goto out;
    if ((rc = connect_parse_url(cfg, &u, err, sizeof err)) != EXIT_OK) {
        cli_error("%s", err);
        goto out;
    }
    /*
     * Every plugin's check() too: a value out of its range is refused here, not
     * mid-run. With --db the statements compile against that database (its SQL
     * errors at exit 2). Both in a worker: a plugin that crashes there is
     * reported by name (exit 2), and nothing of a plugin runs here.
     */
    /* With the probes, quietly: a figure mapping naming an undeclared figure is refused. */
    if ((rc = supervise_inspect(cfg, RUN_PROBES_QUIET, check_db, &p, &crashed, err,
                                sizeof err)) != EXIT_OK) {
        if (rc == EXIT_DATABASE)
            cli_error("%s", err);
        else
            cli_say(err);
        goto out;
    }
    if (check_db)
        warnings += warn_pending_migrations(cfg);
    printf("%s: ok%s, %zu step%s:", cfg->path, check_db ? " (statements prepared)" : "", p->n,
           p->n == 1 ? "" : "s");
    for (size_t i = 0; i < p->n; i++)
        printf("%s %s (%s %s)", i ? "," : "", p->steps[i].cfg->name, p->steps[i].plugin->name,
               p->steps[i].plugin->desc->version ? p->steps[i].plugin->desc->version : "");
    if (warnings)
        printf("; %d warning%s above", warnings, warnings == 1 ? "" : "s");
    printf("\n");
    rc = EXIT_OK;
out:
    db_url_free(&u);
    pipeline_free(p);
    config_free(cfg);
    return rc;
}
