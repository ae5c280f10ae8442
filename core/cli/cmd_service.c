/* SPDX-License-Identifier: MIT */
/*
 * cmd_service.c - the commands that talk to the running service through its
 * HTTP API: `reconciler status`, `reconciler trigger`, `reconciler reload`.
 * They find it as `run` would serve it: http.listen of the pipeline file
 * (a wildcard address is reached on loopback) and the bearer token in the
 * variable http.token_env names, read from this command's environment.
 */
#include "cli/cli.h"
#include "base/json.h"
#include "base/strbuf.h"
#include "base/paths.h"
#include "base/util.h"

#include <curl/curl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long one request may take: the API answers from memory. */
#define CALL_TIMEOUT_MS 5000

typedef struct client {
    char base[320];      /* "http://127.0.0.1:3006" */
    char token_env[128]; /* "" when none */
    const char *token;   /* from this command's environment, or NULL */
} client;

/* http.listen as a URL this host can reach: 0.0.0.0 and [::] listen on loopback too. */
static void client_init(const char *listen, const char *token_env, client *c)
{
    if (!listen || !*listen)
        listen = "127.0.0.1:3006";
    if (strncmp(listen, "0.0.0.0:", 8) == 0)
        snprintf(c->base, sizeof c->base, "http://127.0.0.1:%s", listen + 8);
    else if (strncmp(listen, "[::]:", 5) == 0)
        snprintf(c->base, sizeof c->base, "http://[::1]:%s", listen + 5);
    else
        snprintf(c->base, sizeof c->base, "http://%s", listen);
    snprintf(c->token_env, sizeof c->token_env, "%s", token_env ? token_env : "");
    c->token = c->token_env[0] ? getenv(c->token_env) : NULL;
    if (c->token && !*c->token)
        c->token = NULL;
}

/*
 * "  KEY: VALUE" under the top-level "http:" of a file that does not load
 * (the broken file a reload is about to refuse): the service must be found
 * all the same. Quotes are dropped; out is "" when absent.
 */
static void scan_http_key(const char *text, const char *key, char *out, size_t n)
{
    int in_http = 0;
    size_t klen = strlen(key);
    out[0] = '\0';
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (*line != ' ' && *line != '\t' && *line != '\n' && *line != '#')
            in_http = strncmp(line, "http:", 5) == 0;
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!in_http || p == line || strncmp(p, key, klen) != 0 || p[klen] != ':')
            continue;
        p += klen + 1;
        while (*p == ' ' || *p == '\t' || *p == '"' || *p == '\'')
            p++;
        size_t len = strcspn(p, "\"' \t\r\n#");
        snprintf(out, n, "%.*s", (int)len, p);
    }
}

/*
 * Find the service from the pipeline file: its http.listen and http.token_env,
 * as loaded; from the file's text when it does not load (with a note).
 */
static int find_service(const cli_common *common, client *c)
{
    char err[2048], listen[256], token_env[128];
    config *cfg = NULL;
    if (cli_load_config_err(common, 0, &cfg, err, sizeof err) == EXIT_OK) {
        client_init(cfg->http_listen, cfg->http_token_env, c);
        config_free(cfg);
        return EXIT_OK;
    }
    /* The file's own log.format is unknown when the file is what failed: --log-format
     * json still makes every line that follows JSON (a log pipeline loses none). */
    cli_json_logs_asked(common);
    const char *path = common->config_path ? common->config_path : getenv("RECONCILER_CONFIG");
    if (!path || !*path)
        path = rc_default_config;
    char why[512];
    char *text = yt_read_file(path, why, sizeof why);
    if (!text) {
        cli_error("%s", why);
        return EXIT_USAGE;
    }
    scan_http_key(text, "listen", listen, sizeof listen);
    scan_http_key(text, "token_env", token_env, sizeof token_env);
    free(text);
    client_init(listen, token_env, c);
    cli_note("%s does not load (%s); asking the service on %s", path, err, c->base);
    return EXIT_OK;
}

static size_t collect(char *data, size_t size, size_t n, void *user)
{
    strbuf *b = user;
    for (size_t i = 0; i < size * n; i++)
        sb_putc(b, data[i]);
    return size * n;
}

/*
 * One request. 0 with *status and *body (parsed JSON, or NULL when not JSON),
 * or -1 with err (the service could not be reached).
 */
static int call(const client *c, const char *method, const char *path, long *status,
                json_t **body, char *err, size_t errlen)
{
    char url[512], auth[1024];
    strbuf b = STRBUF_INIT;
    struct curl_slist *h = NULL;
    CURL *k = curl_easy_init();
    int rc = -1;
    *body = NULL;
    if (!k) {
        snprintf(err, errlen, "cannot start an HTTP client");
        return -1;
    }
    snprintf(url, sizeof url, "%s%s", c->base, path);
    curl_easy_setopt(k, CURLOPT_URL, url);
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k, CURLOPT_TIMEOUT_MS, (long)CALL_TIMEOUT_MS);
    curl_easy_setopt(k, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, &b);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(k, CURLOPT_POST, 1L);
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, "");
    }
    if (c->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
        h = curl_slist_append(h, auth);
        curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
    }
    CURLcode cc = curl_easy_perform(k);
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "the service does not answer on %s (http.listen): %s; is it "
                 "running (`systemctl status reconciler`)?", c->base, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, status);
    char *text = sb_take(&b);
    *body = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (*status == 401) {
        if (c->token_env[0])
            snprintf(err, errlen, "the service on %s refused the token: %s (http.token_env) is "
                     "%s here; set it as the service has it (its unit's EnvironmentFile=)",
                     c->base, c->token_env, c->token ? "another token" : "not set");
        else
            snprintf(err, errlen, "the service on %s asks for a token, and the pipeline file "
                     "names no http.token_env to read it from", c->base);
        json_decref(*body);
        *body = NULL;
        goto out;
    }
    rc = 0;
out:
    curl_slist_free_all(h);
    curl_easy_cleanup(k);
    sb_free(&b);
    memset(auth, 0, sizeof auth);
    return rc;
}

static void pause_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* Parse the common options and the command's own; load the file. */
typedef struct svc_opts {
    int dry_run, wait, as_json;
    int64_t timeout_ms; /* 0: no bound */
    const char *job;    /* trigger --job: that job's run; NULL: POST /v1/reconciliation/run */
} svc_opts;

enum { OPT_DRY = 2000, OPT_WAIT, OPT_JSON, OPT_TIMEOUT, OPT_JOB };

static int parse(int argc, char **argv, const char *help, int allow, svc_opts *o, client *c)
{
    static const struct option longopts[] = {
        { "dry-run", no_argument, NULL, OPT_DRY },
        { "wait", no_argument, NULL, OPT_WAIT },
        { "json", no_argument, NULL, OPT_JSON },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "job", required_argument, NULL, OPT_JOB },
        CLI_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 }
    };
    cli_common common = { 0 };
    int ch;
    memset(o, 0, sizeof *o);
    /* A reload's outcome comes between runs; a triggered run takes as long as it takes
     * (its lock wait, then its steps): --wait waits for its end unless bounded. */
    o->timeout_ms = allow & 2 ? 0 : 30000;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (cli_common_opt(ch, optarg, &common))
            continue;
        if (ch == 'h') {
            fputs(help, stdout);
            return -1;
        }
        if ((ch == OPT_DRY && (allow & 1)) || (ch == OPT_WAIT && (allow & 2)) ||
            (ch == OPT_JSON && (allow & 4)) || (ch == OPT_TIMEOUT && (allow & 8)) ||
            (ch == OPT_JOB && (allow & 16))) {
            if (ch == OPT_JOB)
                o->job = optarg;
            else if (ch == OPT_DRY)
                o->dry_run = 1;
            else if (ch == OPT_WAIT)
                o->wait = 1;
            else if (ch == OPT_JSON)
                o->as_json = 1;
            else {
                long long s = atoll(optarg);
                if (s < 1 || s > 86400) {
                    cli_error("--timeout takes seconds from 1 to 86400, got '%s'", optarg);
                    return EXIT_USAGE;
                }
                o->timeout_ms = s * 1000;
            }
            continue;
        }
        fputs(help, stderr);
        return EXIT_USAGE;
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    return find_service(&common, c);
}

/* ------------------------------------------------------------------ reload */

static const char reload_help[] =
    "Usage: reconciler reload [-c FILE] [--timeout S]\n"
    "Have the running service re-read its pipeline file (as SIGHUP does) and wait\n"
    "for the outcome. The service is found through http.listen of the file and\n"
    "the token in the variable http.token_env names.\n\n"
    "      --timeout S      wait at most S seconds for the outcome (default 30)\n"
    CLI_COMMON_HELP
    "\nExit codes: 0 the file was taken, 2 the service refused it (the reason is\n"
    "printed; the running pipeline stays), 6 the service could not be reached or\n"
    "gave no outcome in time.\n";

static int64_t generation_of(const json_t *config_body)
{
    return json_integer_value(json_object_get(json_object_get(config_body, "reload"),
                                              "generation"));
}

int cmd_reload(int argc, char **argv)
{
    svc_opts o;
    client c;
    char err[2048];
    long status = 0;
    json_t *body = NULL;
    int rc = parse(argc, argv, reload_help, 8, &o, &c);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    rc = EXIT_SERVICE;
    if (call(&c, "POST", "/v1/service/reload", &status, &body, err, sizeof err) != 0) {
        cli_error("%s", err);
        goto out;
    }
    if (status != 202) {
        cli_error("the service answered %ld to the reload: %s", status,
                  str(body, "error"));
        goto out;
    }
    int64_t after = json_integer_value(json_object_get(body, "after"));
    int64_t end = util_mono_ms() + o.timeout_ms;
    for (;;) {
        json_decref(body);
        body = NULL;
        if (call(&c, "GET", "/v1/service/config", &status, &body, err, sizeof err) != 0) {
            cli_error("%s", err);
            goto out;
        }
        if (status == 200 && generation_of(body) > after)
            break;
        if (util_mono_ms() >= end) {
            cli_error("the service gave no outcome of the reload within %lld s (a run may "
                      "hold its main thread: it reloads after the run)",
                      (long long)(o.timeout_ms / 1000));
            goto out;
        }
        pause_ms(100);
    }
    json_t *r = json_object_get(body, "reload");
    if (strcmp(str(r, "outcome"), "ok") == 0) {
        printf("reloaded %s: %zu step%s in force (sha256 %.12s)\n", str(body, "path"),
               json_array_size(json_object_get(json_object_get(body, "pipeline"), "steps")),
               json_array_size(json_object_get(json_object_get(body, "pipeline"), "steps")) == 1
                   ? "" : "s",
               str(body, "sha256"));
        rc = EXIT_OK;
    } else {
        cli_error("reload refused: %s; the service keeps the pipeline loaded at %s",
                  str(r, "error"), str(r, "lastSuccessAt"));
        rc = EXIT_USAGE;
    }
out:
    json_decref(body);
    return rc;
}

/* ------------------------------------------------------------------ status */

static const char status_help[] =
    "Usage: reconciler status [-c FILE] [--json]\n"
    "What the running service is doing: running or idle, the next scheduled run,\n"
    "the last run, the run lock, the pipeline file's last reload, the database,\n"
    "and a line per job (schedule, next run, last run, paused or disabled).\n"
    "The service is found through http.listen of the file and the token in the\n"
    "variable http.token_env names.\n\n"
    "      --json           print GET /v1/service/state as it is\n"
    CLI_COMMON_HELP
    "\nExit codes: 0 the service answered (whatever its state), 6 it could not be\n"
    "reached.\n";

/* ISO time (UTC) as Unix ms, or 0. */
static int64_t iso_ms(const char *iso)
{
    struct tm tm = { 0 };
    int ms = 0;
    if (!iso || sscanf(iso, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                       &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* "2026-12-03T07:00:00.000Z (in 5m)" or "(3m ago)". */
static void when(const char *iso, char *out, size_t n)
{
    char span[32];
    int64_t t = iso_ms(iso), now = util_wall_ms();
    if (!t) {
        snprintf(out, n, "-");
        return;
    }
    cli_duration(t > now ? t - now : now - t, span, sizeof span);
    snprintf(out, n, "%s (%s%s%s)", iso, t > now ? "in " : "", span, t > now ? "" : " ago");
}

/*
 * The jobs (GET /v1/jobs), a line each: schedule, next run, last run, and
 * paused or disabled. Nothing when the service does not answer it: the lines
 * above stand on their own.
 */
static void print_jobs(const client *c)
{
    char err[512], next[96], last[160];
    long status = 0;
    json_t *body = NULL, *j;
    size_t i, w = 4;
    if (call(c, "GET", "/v1/jobs", &status, &body, err, sizeof err) != 0 || status != 200) {
        json_decref(body);
        return;
    }
    json_array_foreach(json_object_get(body, "jobs"), i, j)
        w = strlen(str(j, "job")) > w ? strlen(str(j, "job")) : w;
    json_array_foreach(json_object_get(body, "jobs"), i, j) {
        json_t *s = json_object_get(j, "schedule"), *lr = json_object_get(j, "lastRun");
        json_t *p = json_object_get(j, "paused");
        char sched[128];
        if (!json_is_object(s))
            snprintf(sched, sizeof sched, "on start / on demand");
        else if (json_is_string(json_object_get(s, "cron")))
            snprintf(sched, sizeof sched, "cron %s (%s)", str(s, "cron"), str(s, "timeZone"));
        else
            snprintf(sched, sizeof sched, "every %s", str(s, "every"));
        when(json_string_value(json_object_get(j, "nextRunAt")), next, sizeof next);
        if (json_is_object(lr)) {
            char at[96];
            when(str(lr, "startedAt"), at, sizeof at);
            snprintf(last, sizeof last, "%lld %s (%s) at %s",
                     (long long)json_integer_value(json_object_get(lr, "runId")),
                     str(lr, "status"), str(lr, "trigger"), at);
        } else {
            snprintf(last, sizeof last, "none yet");
        }
        char state[384];
        if (!json_is_true(json_object_get(j, "enabled")))
            snprintf(state, sizeof state, "disabled");
        else if (json_is_true(json_object_get(p, "paused")))
            snprintf(state, sizeof state, "paused by %s%s%s", str(p, "by"),
                     json_is_string(json_object_get(p, "reason")) ? ": " : "", str(p, "reason"));
        else
            snprintf(state, sizeof state, "%s",
                     json_is_true(json_object_get(j, "running")) ? "running" : "active");
        printf("%s %-*s  %s; next run %s; last run %s; %s\n", i ? "          " : "jobs:     ",
               (int)w, str(j, "job"), sched, next, last, state);
    }
    json_decref(body);
}

int cmd_status(int argc, char **argv)
{
    svc_opts o;
    client c;
    char err[2048], a[96], b[96], span[32];
    long status = 0;
    json_t *st = NULL;
    int rc = parse(argc, argv, status_help, 4, &o, &c);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    rc = EXIT_SERVICE;
    if (call(&c, "GET", "/v1/service/state", &status, &st, err, sizeof err) != 0) {
        cli_error("%s", err);
        goto out;
    }
    if (status != 200 || !st) {
        cli_error("the service answered %ld: %s", status, str(st, "error"));
        goto out;
    }
    rc = EXIT_OK;
    if (o.as_json) {
        char *text = util_json_dump(st, 1);
        printf("%s\n", text ? text : "{}");
        free(text);
        goto out;
    }
    /* One line per subject, "subject:" first, so that a list of jobs can follow as more. */
    cli_duration(json_integer_value(json_object_get(st, "uptime")) * 1000, span, sizeof span);
    printf("service:   %s, up %s\n", c.base, span);
    if (json_is_true(json_object_get(st, "running")))
        printf("state:     running run %lld\n",
               (long long)json_integer_value(json_object_get(st, "runningId")));
    else
        printf("state:     idle\n");
    if (json_is_integer(json_object_get(st, "queuedId")))
        printf("queued:    run %lld%s\n",
               (long long)json_integer_value(json_object_get(st, "queuedId")),
               json_is_true(json_object_get(st, "queuedDryRun")) ? " (dry run)" : "");
    when(json_string_value(json_object_get(st, "nextRunAt")), a, sizeof a);
    printf("next run:  %s\n", a);
    json_t *last = json_object_get(st, "lastRun");
    if (json_is_object(last)) {
        when(str(last, "timestamp"), a, sizeof a);
        cli_duration(json_integer_value(json_object_get(last, "durationMs")), span, sizeof span);
        printf("last run:  %lld %s (%s%s) at %s, took %s\n",
               (long long)json_integer_value(json_object_get(last, "runId")), str(last, "status"),
               str(last, "trigger"), json_is_true(json_object_get(last, "dryRun")) ? ", dry run"
                                                                                     : "",
               a, span);
    } else {
        printf("last run:  none yet\n");
    }
    json_t *lock = json_object_get(st, "lock");
    if (json_is_true(json_object_get(lock, "held"))) {
        when(str(lock, "until"), a, sizeof a);
        printf("lock:      held by this service (%s) until %s; holder %s\n",
               strcmp(str(lock, "phase"), "hold") == 0 ? "kept after a scheduled run"
                                                         : "a run holds it",
               a, str(lock, "instance"));
    } else if (json_is_object(json_object_get(lock, "holder"))) {
        json_t *h = json_object_get(lock, "holder");
        printf("lock:      held by %s until %s UTC (another instance; this one is %s)\n",
               str(h, "id"), str(h, "until"), str(lock, "instance"));
    } else {
        printf("lock:      free (this service's holder id %s)\n", str(lock, "instance"));
    }
    json_t *rl = json_object_get(st, "reload");
    if (json_is_object(rl) && strcmp(str(rl, "outcome"), "refused") == 0) {
        when(str(rl, "at"), a, sizeof a);
        when(str(rl, "lastSuccessAt"), b, sizeof b);
        printf("reload:    REFUSED at %s: %s\n"
               "           the pipeline loaded at %s still runs; a restart would fail\n",
               a, str(rl, "error"), b);
    } else if (json_is_object(rl)) {
        when(str(rl, "lastSuccessAt"), a, sizeof a);
        printf("reload:    %s; pipeline loaded at %s\n",
               json_is_null(json_object_get(rl, "outcome")) ? "none since start" : "ok", a);
    }
    json_t *d = json_object_get(st, "database");
    if (json_is_true(json_object_get(d, "ok")))
        printf("database:  up (%.2f ms)\n", json_number_value(json_object_get(d, "latencyMs")));
    else
        printf("database:  DOWN: %s\n", str(d, "error"));
    print_jobs(&c);
out:
    json_decref(st);
    return rc;
}

/* ------------------------------------------------------------------ trigger */

static const char trigger_help[] =
    "Usage: reconciler trigger [--job J] [--dry-run] [--wait [--json] [--timeout S]]\n"
    "                          [-c FILE]\n"
    "Have the running service make a manual run now (POST /v1/reconciliation/run,\n"
    "or POST /v1/jobs/J/run), through its run lock and history like its scheduled\n"
    "runs. The service is found through http.listen of the file and the token in\n"
    "the variable http.token_env names.\n\n"
    "      --job J          a run of the job J (a jobs file); default: the first job\n"
    "      --dry-run        a dry run: report what would change; write nothing\n"
    "      --wait           wait for the run's end and print its result\n"
    "      --json           with --wait: print only the result JSON on stdout\n"
    "      --timeout S      with --wait: wait at most S seconds (default: until\n"
    "                       the run ends)\n"
    CLI_COMMON_HELP
    "\nExit codes: without --wait, 0 the run was queued; with --wait, those of\n"
    "`run --once` (0 every step ok, 1 a step failed, 3 the database, 4 another\n"
    "instance held the run lock); 2 no such job; 6 the service could not be\n"
    "reached, already has a run going on or queued (or the job is paused or\n"
    "disabled), or gave no result in time.\n";

/* The exit code `run --once` would have given for result r. */
static int exit_of(const json_t *r)
{
    const char *status = str(r, "status");
    const char *first = json_string_value(json_array_get(json_object_get(r, "errors"), 0));
    if (strcmp(status, "success") == 0)
        return EXIT_OK;
    if (strcmp(status, "skipped") == 0 && first && strstr(first, "run lock"))
        return EXIT_LOCKED;
    if (!json_array_size(json_object_get(r, "steps")) && first && strncmp(first, "not run", 7) == 0)
        return EXIT_DATABASE;
    return EXIT_STEP_FAILED;
}

/* The newest run of job in the history with an id above after and trigger manual, or 0. */
static int64_t newest_manual(const client *c, const char *job_q, int64_t after)
{
    char path[256], err[512];
    long status = 0;
    json_t *page = NULL, *run;
    int64_t id = 0;
    size_t i;
    snprintf(path, sizeof path, "/v1/reconciliation/history?job=%s&limit=20", job_q);
    if (call(c, "GET", path, &status, &page, err, sizeof err) == 0 && status == 200)
        json_array_foreach(json_object_get(page, "runs"), i, run) {
            int64_t rid = json_integer_value(json_object_get(run, "runId"));
            if (rid > after && strcmp(str(run, "trigger"), "manual") == 0 && (!id || rid < id))
                id = rid;
        }
    json_decref(page);
    return id;
}

/*
 * POST /v1/jobs/J/run: queued (EXIT_OK) or why not. The API answers no run id
 * (the job's thread makes the run, and its history row, when it takes the
 * request): with --wait it is the first manual run of the job newer than the
 * newest before the request, found in the job's history (*run_id).
 */
static int queue_job_run(const client *c, const svc_opts *o, int64_t *run_id)
{
    char path[256], err[2048];
    long status = 0;
    json_t *body = NULL;
    int rc = EXIT_SERVICE;
    char *q = curl_easy_escape(NULL, o->job, 0);
    if (!q)
        return rc;
    int64_t before = 0;
    if (o->wait) {
        /* The job's newest run before the request, whatever its trigger. */
        char hp[256];
        long hs = 0;
        json_t *page = NULL;
        snprintf(hp, sizeof hp, "/v1/reconciliation/history?job=%s&limit=1", q);
        if (call(c, "GET", hp, &hs, &page, err, sizeof err) == 0 && hs == 200)
            before = json_integer_value(json_object_get(json_array_get(
                json_object_get(page, "runs"), 0), "runId"));
        json_decref(page);
    }
    snprintf(path, sizeof path, "/v1/jobs/%s/run%s", q, o->dry_run ? "?dryRun=true" : "");
    if (call(c, "POST", path, &status, &body, err, sizeof err) != 0) {
        cli_error("%s", err);
        goto out;
    }
    if (status == 404) {
        cli_error("the service has no job '%s' (`reconciler status` lists its jobs)", o->job);
        rc = EXIT_USAGE;
        goto out;
    }
    if (status != 202) {
        cli_error("job %s: %s%s%s%s", o->job, str(body, "error"),
                  json_is_string(json_object_get(body, "pausedBy")) ? " (paused by " : "",
                  str(body, "pausedBy"),
                  json_is_string(json_object_get(body, "pausedBy")) ? ")" : "");
        goto out;
    }
    rc = EXIT_OK;
    if (!o->wait) {
        printf("job %s: a run is queued%s; `reconciler status` shows it\n", o->job,
               o->dry_run ? " (dry run)" : "");
        goto out;
    }
    int64_t end = o->timeout_ms ? util_mono_ms() + o->timeout_ms : INT64_MAX;
    while (!(*run_id = newest_manual(c, q, before))) {
        if (util_mono_ms() >= end) {
            cli_error("job %s: the run queued did not start within %lld s",
                      o->job, (long long)(o->timeout_ms / 1000));
            rc = EXIT_SERVICE;
            goto out;
        }
        pause_ms(200);
    }
out:
    curl_free(q);
    json_decref(body);
    return rc;
}

int cmd_trigger(int argc, char **argv)
{
    svc_opts o;
    client c;
    char err[2048], path[96];
    long status = 0;
    json_t *body = NULL;
    int rc = parse(argc, argv, trigger_help, 1 | 2 | 4 | 8 | 16, &o, &c);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if (o.as_json && !o.wait) {
        cli_error("trigger: --json goes with --wait");
        return EXIT_USAGE;
    }
    int64_t id = 0;
    if (o.job) {
        rc = queue_job_run(&c, &o, &id);
        if (rc != EXIT_OK || !o.wait)
            return rc;
        if (isatty(2))
            fprintf(stderr, "job %s: run %lld started%s; waiting for its end\n", o.job,
                    (long long)id, o.dry_run ? " (dry run)" : "");
        goto wait;
    }
    rc = EXIT_SERVICE;
    if (call(&c, "POST", o.dry_run ? "/v1/reconciliation/run?dryRun=true"
                                   : "/v1/reconciliation/run", &status, &body, err,
             sizeof err) != 0) {
        cli_error("%s", err);
        goto out;
    }
    if (status == 409) {
        cli_error("the service already has a run going on or queued (run %lld); `reconciler "
                  "status` shows it", (long long)json_integer_value(json_object_get(body,
                                                                                    "runId")));
        goto out;
    }
    if (status != 202) {
        cli_error("the service answered %ld: %s", status, str(body, "error"));
        goto out;
    }
    id = json_integer_value(json_object_get(body, "runId"));
    if (!o.wait) {
        printf("run %lld queued%s; `reconciler history --run %lld` shows it when it ends\n",
               (long long)id, o.dry_run ? " (dry run)" : "", (long long)id);
        rc = EXIT_OK;
        goto out;
    }
    if (isatty(2))
        fprintf(stderr, "run %lld queued%s; waiting for its end\n", (long long)id,
                o.dry_run ? " (dry run)" : "");
wait:
    rc = EXIT_SERVICE;
    snprintf(path, sizeof path, "/v1/reconciliation/runs/%lld", (long long)id);
    int64_t end = o.timeout_ms ? util_mono_ms() + o.timeout_ms : INT64_MAX;
    for (;;) {
        json_decref(body);
        body = NULL;
        if (call(&c, "GET", path, &status, &body, err, sizeof err) != 0) {
            cli_error("%s", err);
            goto out;
        }
        if (status == 200)
            break;
        if (util_mono_ms() >= end) {
            cli_error("run %lld did not end within %lld s; `reconciler history --run %lld` "
                      "shows it when it does", (long long)id, (long long)(o.timeout_ms / 1000),
                      (long long)id);
            goto out;
        }
        pause_ms(200);
    }
    if (o.as_json) {
        char *text = util_json_dump(body, 1);
        printf("%s\n", text ? text : "{}");
        free(text);
    } else if (json_array_size(json_object_get(body, "steps"))) {
        cli_print_result(body);
    }
    rc = exit_of(body);
    if (rc != EXIT_OK && !json_array_size(json_object_get(body, "steps")))
        cli_error("%s", json_string_value(json_array_get(json_object_get(body, "errors"), 0)));
out:
    json_decref(body);
    return rc;
}
