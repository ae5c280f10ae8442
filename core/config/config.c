/* SPDX-License-Identifier: MIT */
/* config.c - see config.h. */
#include "config/config.h"
#include "config/config_impl.h"
#include "config/options.h"
#include "config/figure_defaults.h"
#include "config/webhook_url.h"
#include "base/json.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/text.h"
#include "base/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A password is a line, not a document: a bigger file is the wrong file. */
#define PASSWORD_MAX 4096
#define SECOND_MS INT64_C(1000)
#define HOUR_MS INT64_C(3600000)
#define DAY_MS INT64_C(86400000)
/* Zone names as the tz database spells them ("America/Argentina/Buenos_Aires"). */
#define TIME_ZONE_NAME_MAX 64

struct loader {
    config *cfg;
    char *err;
    size_t errlen;
};

static int set_plugin_dirs(loader *ld, const cfg_key *k, yt_node *node, void *base);
static int set_steps(loader *ld, const cfg_key *k, yt_node *node, void *base);
static int set_options(loader *ld, const cfg_key *k, yt_node *node, void *base);
static int set_notify(loader *ld, const cfg_key *k, yt_node *node, void *base);
static int set_jobs(loader *ld, const cfg_key *k, yt_node *node, void *base);
static int set_job_steps(loader *ld, const cfg_key *k, yt_node *node, void *base);
static int set_job_notify(loader *ld, const cfg_key *k, yt_node *node, void *base);
static int set_hook_url(loader *ld, const cfg_key *k, yt_node *node, void *base);
static int set_hook_on(loader *ld, const cfg_key *k, yt_node *node, void *base);
static int set_hook_headers(loader *ld, const cfg_key *k, yt_node *node, void *base);
static size_t each_header_env(const void *base, const char *key, config_name_fn fn, void *user);
static int set_figure_plugins(loader *ld, const cfg_key *k, yt_node *node, void *base);
static int set_figure_map(loader *ld, const cfg_key *k, yt_node *node, void *base);
static int set_memory_limit(loader *ld, const cfg_key *k, yt_node *node, void *base);
static const char *check_env_name(const char *text);
static const char *check_name(const char *text);
static const char *check_time_zone(const char *text);
static const char *check_trace_url(const char *text);
static const char *check_public_url(const char *text);
static const char *check_trace_link(const char *text);
static const yt_node *given_node(const struct config *c, const char *path);

#define C(field) offsetof(config, field)
#define S(field) offsetof(cfg_step, field)
#define N(field) offsetof(cfg_notify, field)
#define J(field) offsetof(cfg_job, field)

/* The default of the figure keys: conf/figures.yaml, compiled in. */
#define FIGURES_BUILT_IN "built-in"

/*
 * Every key of the pipeline file, in the order help lists them. .scope says
 * what the running service does with a new value (config.h): none, it is in
 * force from the next run; CFG_BOUND, a reload keeps the running value and
 * warns; CFG_WORKER, step workers are handed the supervisor's value.
 */
static const cfg_key top_keys[] = {
    { "database.url", RC_OPT_STRING, NULL,
      "the bot's database: mysql://USER@HOST[:PORT]/DB, mysql://USER@/DB?socket=PATH or "
      "sqlite:PATH; needed unless --db is given", C(db_url),
      .scope = CFG_BOUND | CFG_WORKER, .at_line = C(db_url_line), .at_col = C(db_url_col),
      .holds = CFG_SECRET, .redact = CFG_REDACT_DSN },
    { "database.password_env", RC_OPT_STRING, NULL,
      "name of an environment variable holding the password", C(db_password_env), K_NO_ECHO,
      .check = check_env_name, .scope = CFG_BOUND | CFG_WORKER, .holds = CFG_ENVNAME },
    { "database.password_file", RC_OPT_STRING, NULL,
      "file holding the password (one trailing newline dropped); wins over password_env",
      C(db_password_file), K_PATH,
      .scope = CFG_BOUND | CFG_WORKER },
    { "database.connect_timeout", RC_OPT_DURATION, "10s", "give up connecting after this long",
      C(db_connect_timeout_ms), .max = DAY_MS,
      .scope = CFG_BOUND | CFG_WORKER },
    { "database.read_timeout", RC_OPT_DURATION, "300s",
      "wait this long for a reply; longer than the slowest statement",
      C(db_read_timeout_ms), .max = DAY_MS,
      .scope = CFG_BOUND | CFG_WORKER },
    { "database.write_timeout", RC_OPT_DURATION, "60s", "wait this long to send a statement",
      C(db_write_timeout_ms), .max = DAY_MS,
      .scope = CFG_BOUND | CFG_WORKER },
    { "database.time_zone", RC_OPT_STRING, "server",
      "session time zone: leave at server unless the bot's sessions set their own time_zone; "
      "then set the same zone", C(db_time_zone), .check = check_time_zone,
      .type_text = "server|+HH:MM|NAME",
      .scope = CFG_BOUND | CFG_WORKER },
    { "history.path", RC_OPT_STRING, "var/history.db", "SQLite file that keeps past runs",
      C(history_path), K_PATH,
      .scope = CFG_BOUND },
    { "history.keep_runs", RC_OPT_INT, "1000", "how many runs the history keeps",
      C(history_keep_runs), .min = 1, .max = 1000000 },
    { "history.changes_keep", RC_OPT_DURATION, "30d",
      "how long change records (reconciler_change_sets) are kept; the service deletes older ones "
      "in small chunks after its runs", C(history_changes_keep_ms), .min = HOUR_MS,
      .max = 3650 * DAY_MS },
    /* The default is absolute (base/paths.h): the installed plugin folder,
     * then the local one where there is one (set_plugin_dirs). */
    { "plugin_dir", RC_OPT_STRING, rc_default_plugin_dir,
      "folder of step plugins (NAME.so), or a list of folders; a name found in two is refused", 0, K_PATH,
      .set = set_plugin_dirs, .type_text = "string|list" },
    { "schedule.on_startup", RC_OPT_BOOL, "true", "service mode: run once at start",
      C(schedule_on_startup),
      .scope = CFG_BOUND },
    { "schedule.interval", RC_OPT_DURATION, "6h", "service mode: time between runs",
      C(schedule_interval_ms), .min = SECOND_MS, .max = 365 * DAY_MS },
    { "schedule.jitter", RC_OPT_DURATION, "30s",
      "service mode: random extra delay, up to this; must be less than interval",
      C(schedule_jitter_ms), .max = DAY_MS },
    { "schedule.lock_wait", RC_OPT_DURATION, "60s",
      "wait this long for another instance's run to end", C(schedule_lock_wait_ms),
      .max = DAY_MS },
    { "schedule.max_run_time", RC_OPT_DURATION, "1h",
      "a run still going after this long is stopped (its step worker killed), recorded as "
      "interrupted and its lock released", C(schedule_max_run_time_ms),
      .min = SECOND_MS, .max = DAY_MS },
    { "schedule.lock_ttl", RC_OPT_DURATION, "30s",
      "the run lock's lease, renewed every third of it while a run goes on; a holder that "
      "died frees the lock after this", C(schedule_lock_ttl_ms),
      .min = 3 * SECOND_MS, .max = HOUR_MS },
    { "schedule.max_clock_skew", RC_OPT_DURATION, "500ms",
      "refuse the run lock when the database's clock and this host's differ by more than "
      "this (measured at each take); 0: no check", C(schedule_max_clock_skew_ms),
      .max = HOUR_MS },
    { "http.listen", RC_OPT_STRING, "127.0.0.1:3006", "service mode: HTTP API address:port",
      C(http_listen),
      .scope = CFG_BOUND },
    { "http.token_env", RC_OPT_STRING, NULL,
      "service mode: variable holding the API's bearer token; unset: no token", C(http_token_env),
      K_NO_ECHO, .check = check_env_name, .scope = CFG_BOUND, .holds = CFG_ENVNAME },
    { "http.max_connections", RC_OPT_INT, "256",
      "service mode: most connections the API serves at once, a thread each (the console, "
      "dashboards, scrapers); at most half of them, and at least 8, from one client address "
      "(a reverse proxy is one). Needs about 2 file descriptors each: a "
      "lower RLIMIT_NOFILE is raised up to its hard limit, or warned about",
      C(http_max_connections), .min = 8, .max = 4096, .scope = CFG_BOUND },
    { "http.public_url", RC_OPT_STRING, NULL,
      "the console's address as people reach it (https://ops.example/reconciler): webhook "
      "links point at its page of the run; unset: the run's JSON on http.listen",
      C(http_public_url), .check = check_public_url },
    { "http.figures_refresh", RC_OPT_DURATION, "15s",
      "service mode: how often the live figures (queue, dashboard, /metrics) are recomputed "
      "in the background; stretched so that refreshes take at most 5% of the time",
      C(http_figures_refresh_ms), .min = SECOND_MS, .max = HOUR_MS },
    { "http.figures_wait", RC_OPT_DURATION, "5s",
      "service mode: how long a request with ?fresh=1 waits for a refresh that starts after "
      "it", C(http_figures_wait_ms), .max = 60 * SECOND_MS },
    { "http.figure_plugins", 0, FIGURES_BUILT_IN,
      "service mode: plugins run for their declared figures even when no step uses them (a "
      "step's plugin that declares figures always is)", C(http_figure_plugins),
      .set = set_figure_plugins, .type_text = "list" },
    { "http.dashboard_figures", 0, FIGURES_BUILT_IN,
      "service mode: /api/admin/dashboard's JSON, member (dotted: nested) to declared figure",
      C(http_dashboard_figures), .set = set_figure_map, .type_text = "mapping" },
    { "http.queue_figures", 0, FIGURES_BUILT_IN,
      "service mode: /v1/processing/queue's JSON, member to declared figure",
      C(http_queue_figures), .set = set_figure_map, .type_text = "mapping" },
    { "log.level", RC_OPT_STRING, "info", "least severe level logged", C(log_level),
      .choices = "error|warn|info|debug" },
    { "log.format", RC_OPT_STRING, "text", "one line per event, as text or JSON", C(log_format),
      .choices = "text|json" },
    { "tracing.enabled", RC_OPT_BOOL, NULL,
      "send each run's trace over OTLP/HTTP; unset: on when an OTEL_EXPORTER_OTLP_ENDPOINT "
      "or tracing.endpoint is set and OTEL_SDK_DISABLED is not true", C(tracing_enabled),
      .scope = CFG_BOUND },
    { "tracing.endpoint", RC_OPT_STRING, NULL,
      "the OTLP/HTTP traces URL, used as given (http://HOST:4318/v1/traces); beats "
      "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and OTEL_EXPORTER_OTLP_ENDPOINT",
      C(tracing_endpoint), K_NO_ECHO, .check = check_trace_url, .type_text = "url",
      .scope = CFG_BOUND, .holds = CFG_SECRET, .redact = CFG_REDACT_URL },
    { "tracing.headers_env", RC_OPT_STRING, NULL,
      "variable holding the export's headers as k=v,k2=v2 (values URL-encoded, secret); "
      "beats OTEL_EXPORTER_OTLP_HEADERS", C(tracing_headers_env), K_NO_ECHO,
      .check = check_env_name, .scope = CFG_BOUND, .holds = CFG_ENVNAME },
    { "tracing.service_name", RC_OPT_STRING, NULL,
      "the traces' service.name; beats OTEL_SERVICE_NAME (default reconciler)",
      C(tracing_service_name),
      .scope = CFG_BOUND },
    { "tracing.link", RC_OPT_STRING, NULL,
      "the console links each run to this URL, {traceId} replaced by the run's trace id",
      C(tracing_link), .check = check_trace_link },
    { "steps", 0, NULL, "the steps, run in order; each is a mapping with the keys below. "
      "The file is then one job named reconcile, on schedule.interval; give either steps or "
      "jobs", 0, .set = set_steps, .type_text = "list" },
    { "jobs", 0, NULL, "named jobs, each with its own steps, schedule, lock and history: a "
      "mapping from a job's name to the jobs.NAME keys below; give either steps or jobs", 0,
      .set = set_jobs, .type_text = "mapping" },
    { "notify", 0, NULL, "webhook targets told about runs; each is a mapping with the "
      "notify[] keys below", 0, .set = set_notify, .type_text = "list" },
};

/* The keys of one step (a mapping in the "steps" list). */
static const cfg_key step_keys[] = {
    { "plugin", RC_OPT_STRING, NULL, "the plugin that runs the step (NAME.so in a plugin_dir)",
      S(plugin), K_REQUIRED, .check = check_name },
    { "name", RC_OPT_STRING, NULL, "the step's name in results and logs; default: the plugin",
      S(name), .check = check_name },
    { "options", 0, NULL, "the plugin's options (`reconciler plugins` lists them)", 0,
      .set = set_options, .type_text = "mapping" },
    { "on_error", RC_OPT_STRING, "continue",
      "when the step fails: go on with the next step, or skip the rest", S(on_error), K_INDEX,
      .choices = "continue|abort" },
    { "enabled", RC_OPT_BOOL, "true", "false keeps the step in the file but skips it",
      S(enabled) },
    { "timeout", RC_OPT_DURATION, "10m",
      "a step still going after this long is stopped: its worker is killed, the step failed",
      S(timeout_ms), .min = SECOND_MS, .max = DAY_MS },
    { "max_changes", RC_OPT_INT, NULL,
      "a real run whose writes would match more rows than this does nothing for the step "
      "and fails it (the step is rehearsed first, its writes rolled back); unset: no cap",
      S(max_changes), .min = 0, .max = CFG_MAX_CHANGES_MAX },
    { "record_changes", RC_OPT_BOOL, "true",
      "write a change record (reconciler_change_sets) for every row the step's chunked writes "
      "change, in the same transaction; false: none", S(record_changes) },
    { "memory_limit", 0, "1GiB",
      "the address space the step's worker may use (RLIMIT_AS), from 64MiB to 1TiB, in "
      "KiB, MiB, GiB or TiB; a step that passes it fails: \"exceeded its memory limit\"", 0,
      .set = set_memory_limit, .type_text = "size" },
};

/* The keys of one job (a value of the "jobs" mapping). */
static const cfg_key job_keys[] = {
    { "steps", 0, NULL, "the job's steps, run in order, each with the steps[] keys", 0,
      K_REQUIRED, .set = set_job_steps, .type_text = "list" },
    { "schedule.every", RC_OPT_DURATION, NULL,
      "run on a grid of this period (aligned to the Unix epoch, so every instance agrees on "
      "the slots); not with cron", J(every_ms), .min = SECOND_MS, .max = 365 * DAY_MS },
    { "schedule.cron", RC_OPT_STRING, NULL,
      "run at the fire times of this cron expression (5 fields, or 6 with seconds first; "
      "docs/scheduling.md) in time_zone; not with every", J(cron), .type_text = "cron" },
    { "schedule.time_zone", RC_OPT_STRING, "UTC",
      "the zone cron's wall times are read in: a tz database name (Europe/Berlin) or a "
      "fixed offset +HH:MM", J(time_zone), .type_text = "NAME|+HH:MM" },
    { "schedule.jitter", RC_OPT_DURATION, "0s",
      "random extra delay after each slot, up to this; less than every", J(jitter_ms),
      .max = DAY_MS },
    { "schedule.missed", RC_OPT_STRING, "run_once",
      "slots that passed with no run (the service was down): run once for the latest of "
      "them (trigger catch_up), or skip them", J(missed), K_INDEX, .choices = "run_once|skip" },
    { "schedule.missed_within", RC_OPT_DURATION, "1d",
      "a missed slot older than this is not caught up", J(missed_within_ms),
      .min = SECOND_MS, .max = 365 * DAY_MS },
    { "on_startup", RC_OPT_BOOL, NULL,
      "run once when the service starts, and in run --once; default: true for a job without "
      "a schedule, false for one with", J(on_startup) },
    { "enabled", RC_OPT_BOOL, "true", "false keeps the job in the file but never runs it",
      J(enabled) },
    { "lock_ttl", RC_OPT_DURATION, NULL, "the job's run lock lease; default schedule.lock_ttl",
      J(lock_ttl_ms), .min = 3 * SECOND_MS, .max = HOUR_MS },
    { "max_run_time", RC_OPT_DURATION, NULL,
      "the job's run is stopped after this long; default schedule.max_run_time",
      J(max_run_time_ms), .min = SECOND_MS, .max = DAY_MS },
    { "lock_wait", RC_OPT_DURATION, NULL,
      "wait this long for another instance's run of the job; default schedule.lock_wait",
      J(lock_wait_ms), .max = DAY_MS },
    { "notify", 0, NULL, "the names of the notify targets told about this job's runs; "
      "default all of them", 0, .set = set_job_notify, .type_text = "list" },
    { "keep_runs", RC_OPT_INT, NULL, "how many of this job's runs the history keeps; default "
      "history.keep_runs", J(keep_runs), .min = 1, .max = 1000000 },
};

/* The event names of notify[].on, in CFG_EV_* bit order. */
static const char *const event_names[CFG_N_EVENTS] = {
    "failed", "partial", "interrupted", "skipped_too_long", "recovered", "success",
};
#define EVENT_CHOICES "failed|partial|interrupted|skipped_too_long|recovered|success"

/* The keys of one webhook target (a mapping in the "notify" list). */
static const cfg_key notify_keys[] = {
    { "url", RC_OPT_STRING, NULL, "where to POST: http:// or https://; a secret (only "
      "scheme://host/ is ever shown)", 0, K_REQUIRED, .set = set_hook_url, .type_text = "url",
      .holds = CFG_SECRET, .redact = CFG_REDACT_URL },
    { "name", RC_OPT_STRING, NULL, "the target in logs, history and metrics; default: its "
      "position in the list, from 1", N(name), .check = check_name },
    { "on", 0, "[failed, partial, recovered]", "the events sent: " EVENT_CHOICES, 0,
      .set = set_hook_on, .type_text = "list" },
    { "format", RC_OPT_STRING, "json", "the body: the run's summary as JSON, or a Slack or "
      "Discord message", N(format), K_INDEX, .choices = "json|slack|discord" },
    { "secret_env", RC_OPT_STRING, NULL, "variable holding the HMAC-SHA256 key: each body is "
      "signed in X-Reconciler-Signature", N(secret_env), K_NO_ECHO, .check = check_env_name,
      .holds = CFG_ENVNAME },
    { "timeout", RC_OPT_DURATION, "5s", "give up an attempt after this long",
      N(timeout_ms), .min = 100, .max = 60 * SECOND_MS },
    { "retries", RC_OPT_INT, "2", "attempts after a failed first one (no answer, 5xx, 408, 429)",
      N(retries), .max = 10 },
    { "backoff", RC_OPT_DURATION, "1s", "wait before the first retry, doubled for each next one",
      N(backoff_ms), .min = 100, .max = 60 * SECOND_MS },
    { "headers", 0, NULL, "more headers, each NAME: VARIABLE, the value read from that "
      "environment variable", 0, .set = set_hook_headers, .type_text = "mapping",
      .holds = CFG_ENVNAME, .each_env = each_header_env },
};

#define N_TOP (sizeof top_keys / sizeof top_keys[0])
#define N_STEP (sizeof step_keys / sizeof step_keys[0])
#define N_NOTIFY (sizeof notify_keys / sizeof notify_keys[0])
#define N_JOB (sizeof job_keys / sizeof job_keys[0])

static const key_table top_table = { top_keys, N_TOP, "" };
static const key_table step_table = { step_keys, N_STEP, " in a step" };
static const key_table notify_table = { notify_keys, N_NOTIFY, " in a notify target" };
static const key_table job_table = { job_keys, N_JOB, " in a job" };

/* K_INDEX writes an int; so is the format enum (choices listed in enum order). */
_Static_assert(sizeof(cfg_hook_format) == sizeof(int), "format is kept as an int");
_Static_assert(CFG_HOOK_JSON == 0 && CFG_HOOK_SLACK == 1 && CFG_HOOK_DISCORD == 2,
               "json|slack|discord order");

const char *cfg_event_name(unsigned bit)
{
    for (int i = 0; i < CFG_N_EVENTS; i++)
        if (bit == 1u << i)
            return event_names[i];
    return NULL;
}

/* K_INDEX writes an int; the on_error enum is one (choices listed in enum order). */
_Static_assert(sizeof(cfg_on_error) == sizeof(int), "on_error is kept as an int");
_Static_assert(CFG_ON_ERROR_CONTINUE == 0 && CFG_ON_ERROR_ABORT == 1, "continue|abort order");

static int fail_at(loader *ld, const yt_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "FILE:LINE:COL: message" (just "FILE: message" for a built-in default). */
static int fail_at(loader *ld, const yt_node *n, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        snprintf(ld->err, ld->errlen, "%s:%d:%d: %s", ld->cfg->path, n->line, n->col, msg);
    else
        snprintf(ld->err, ld->errlen, "%s: %s", ld->cfg->path, msg);
    return -1;
}

/* A plain empty, ~ or null value says "not set": the default stays. */
static int is_null(const yt_node *n)
{
    return n->kind == YT_SCALAR && !n->quoted &&
           (!*n->scalar || strcmp(n->scalar, "~") == 0 || strcasecmp(n->scalar, "null") == 0);
}

static size_t section_len(const char *path)
{
    return strcspn(path, ".");
}

static int is_section(const cfg_key *k)
{
    return k->path[section_len(k->path)] == '.';
}

/* The part of path after "section.", or NULL when path is not in section. */
static const char *in_section(const char *path, const char *section)
{
    size_t slen = strlen(section);
    return strncmp(path, section, slen) == 0 && path[slen] == '.' ? path + slen + 1 : NULL;
}

/* Index of text in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *text)
{
    size_t len = strlen(text);
    int i = 0;
    for (const char *p = choices; *p; i++) {
        size_t w = strcspn(p, "|");
        if (w == len && strncmp(p, text, len) == 0)
            return i;
        p += w + (p[w] == '|');
    }
    return -1;
}

/* "a|b|c" as "a, b, c". */
static void choices_list(const char *choices, char *out, size_t outlen)
{
    size_t j = 0;
    for (const char *p = choices; *p && j + 3 < outlen; p++) {
        if (*p == '|') {
            out[j++] = ',';
            out[j++] = ' ';
        } else {
            out[j++] = *p;
        }
    }
    out[j] = '\0';
}

/* Append s to out (", "-separated) unless already there. */
static void list_add(char *out, size_t outlen, const char *s, size_t len)
{
    size_t have = strlen(out);
    for (const char *p = out; *p;) {
        size_t w = strcspn(p, ",");
        if (w == len && strncmp(p, s, len) == 0)
            return;
        p += w;
        p += strspn(p, ", ");
    }
    snprintf(out + have, outlen - have, "%s%.*s", have ? ", " : "", (int)len, s);
}

/* The keys valid in section (NULL: the table's top level), "a, b, c". */
static void valid_keys(const key_table *t, const char *section, char *out, size_t outlen)
{
    out[0] = '\0';
    for (size_t i = 0; i < t->n; i++) {
        const char *p = t->keys[i].path, *leaf = section ? in_section(p, section) : NULL;
        if (!section)
            list_add(out, outlen, p, section_len(p));
        else if (leaf)
            list_add(out, outlen, leaf, strlen(leaf));
    }
}

/* The entry for key in section (NULL: top level), or NULL. */
static const cfg_key *find_key(const key_table *t, const char *section, const char *key)
{
    for (size_t i = 0; i < t->n; i++) {
        const cfg_key *k = &t->keys[i];
        /* At the top level only plain keys: "database.url: x" is not a way to write it. */
        const char *leaf = section ? in_section(k->path, section) : is_section(k) ? NULL : k->path;
        if (leaf && strcmp(leaf, key) == 0)
            return k;
    }
    return NULL;
}

/* Whether key names a section of the table's top level. */
static int has_section(const key_table *t, const char *key)
{
    size_t len = strlen(key);
    for (size_t i = 0; i < t->n; i++)
        if (is_section(&t->keys[i]) && section_len(t->keys[i].path) == len &&
            strncmp(t->keys[i].path, key, len) == 0)
            return 1;
    return 0;
}

char *config_resolve(const char *dir, const char *p)
{
    if (p[0] == '/' || !dir)
        return xstrdup(p);
    size_t dlen = strlen(dir);
    int slash = dlen > 0 && dir[dlen - 1] == '/';
    char *out = xmalloc(dlen + 1 + strlen(p) + 1);
    sprintf(out, "%s%s%s", dir, slash ? "" : "/", p);
    return out;
}

/* Plugins and steps: the name becomes NAME.so and a key of the results. */
static const char *check_name(const char *text)
{
    return text_name_ok(text, 0) ? NULL : text_name_rule(0);
}

/* "+HH:MM", "-HH:MM" or "+H:MM", hours 0 to 14: what SET time_zone takes as an offset. */
static int is_utc_offset(const char *s)
{
    if (*s != '+' && *s != '-')
        return 0;
    size_t hlen = strspn(s + 1, "0123456789");
    const char *m = s + 1 + hlen;
    if (hlen < 1 || hlen > 2 || *m != ':' || strspn(m + 1, "0123456789") != 2 || m[3])
        return 0;
    int hours = hlen == 1 ? s[1] - '0' : (s[1] - '0') * 10 + (s[2] - '0');
    return hours <= 14 && m[1] <= '5';
}

/* A tz database name ("Europe/Berlin", "UTC", "Etc/GMT+5"): checked for shape only. */
static int is_zone_name(const char *s)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789_+-/";
    size_t len = strlen(s);
    int letter = (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z');
    return letter && len <= TIME_ZONE_NAME_MAX && s[strspn(s, chars)] == '\0';
}

static const char *check_time_zone(const char *text)
{
    if (strcmp(text, "server") == 0 || is_utc_offset(text) || is_zone_name(text))
        return NULL;
    return "server (the database server's default zone), a UTC offset +HH:MM or -HH:MM "
           "(hours 0 to 14), or a zone name such as Europe/Berlin or UTC (letters, digits, "
           "'_', '+', '-', '/', at most 64, starting with a letter)";
}

/* How k's min..max reads, for help and messages: "from 3s to 1h", "at most 1d". */
static void range_text(const cfg_key *k, char *out, size_t outlen)
{
    char lo[32], hi[32];
    if (k->type == RC_OPT_DURATION) {
        duration_format(k->min, lo, sizeof lo);
        duration_format(k->max, hi, sizeof hi);
    } else {
        snprintf(lo, sizeof lo, "%lld", (long long)k->min);
        snprintf(hi, sizeof hi, "%lld", (long long)k->max);
    }
    if (k->min == 0)
        snprintf(out, outlen, "at most %s", hi);
    else
        snprintf(out, outlen, "from %s to %s", lo, hi);
}

static int is_number(const cfg_key *k)
{
    return k->type == RC_OPT_INT || k->type == RC_OPT_DURATION;
}

/* Checks beyond the type: choices, range, the string's rule, non-empty path. Sets *index. */
static int check_value(loader *ld, const cfg_key *k, const yt_node *node, const char *text,
                       const opt_value *v, int *index)
{
    char list[256];
    const char *rule;
    if (k->choices && (*index = choice_index(k->choices, text)) < 0) {
        choices_list(k->choices, list, sizeof list);
        return fail_at(ld, node, "'%s' must be one of %s; got '%.128s'", k->path, list, text);
    }
    if (is_number(k) && (v->i < k->min || v->i > k->max)) {
        range_text(k, list, sizeof list);
        return fail_at(ld, node, "'%s' must be %s, got '%.128s'", k->path, list, text);
    }
    if (k->check && (rule = k->check(text)) && (k->flags & K_NO_ECHO))
        return fail_at(ld, node, "'%s' must be %s", k->path, rule);
    if (k->check && (rule = k->check(text)))
        return fail_at(ld, node, "'%s' must be %s; got '%.128s'", k->path, rule, text);
    if ((k->flags & K_PATH) && !*text)
        return fail_at(ld, node, "'%s' must not be empty", k->path);
    return 0;
}

/* Keep v in k's field of base; may take v's string. */
static void write_field(loader *ld, const cfg_key *k, void *base, opt_value *v, int index)
{
    char *field = (char *)base + k->off;
    if (k->flags & K_INDEX) {
        *(int *)field = index;
        return;
    }
    switch (k->type) {
    case RC_OPT_STRING: {
        char **s = (char **)field;
        free(*s);
        if (k->flags & K_PATH) {
            *s = config_resolve(ld->cfg->dir, v->s);
        } else {
            *s = v->s;
            v->s = NULL;
        }
        break;
    }
    case RC_OPT_INT:
    case RC_OPT_DURATION: *(int64_t *)field = v->i; break;
    case RC_OPT_BOOL: *(int *)field = v->b; break;
    case RC_OPT_DOUBLE: *(double *)field = v->d; break;
    }
}

/* Parse text (from node, or k's default when node is NULL) into k's field. */
static int store_text(loader *ld, const cfg_key *k, const yt_node *node, const char *text,
                      void *base)
{
    char why[512];
    opt_value v;
    int index = 0, rc = -1;

    if (opt_parse(k->type, text, &v, why, sizeof why) != 0)
        return fail_at(ld, node, "'%s' %s", k->path, why);
    if (check_value(ld, k, node, text, &v, &index) != 0)
        goto out;
    write_field(ld, k, base, &v, index);
    rc = 0;
out:
    opt_value_free(&v);
    return rc;
}

/* Apply the value node given for k. Returns 1 when set, 0 when null, -1 on error. */
static int set_key(loader *ld, const cfg_key *k, yt_node *node, void *base)
{
    if (is_null(node))
        return 0;
    if (k->set)
        return k->set(ld, k, node, base) == 0 ? 1 : -1;
    if (node->kind != YT_SCALAR)
        return fail_at(ld, node, "'%s' expects one value (%s), got %s", k->path,
                       opt_type_name(k->type), yt_kind_name(node->kind));
    if (store_text(ld, k, node, node->scalar, base) != 0)
        return -1;
    if (k->at_line) { /* messages about the value that come later cite where it stood */
        *(int *)((char *)base + k->at_line) = node->line;
        *(int *)((char *)base + k->at_col) = node->col;
    }
    return 1;
}

static int fill_defaults(loader *ld, const key_table *t, void *base)
{
    for (size_t i = 0; i < t->n; i++) {
        const cfg_key *k = &t->keys[i];
        if (!k->def)
            continue;
        if (k->set ? k->set(ld, k, NULL, base) : store_text(ld, k, NULL, k->def, base))
            return -1;
    }
    return 0;
}

/*
 * Apply map's keys to the table's entries in section (NULL: top level).
 * seen[i] marks the entries given; parent[i] is the mapping an absent entry
 * would have gone in, for "missing" messages.
 */
static int apply_map(loader *ld, const key_table *t, yt_node *map, const char *section,
                     void *base, unsigned char *seen, const yt_node **parent)
{
    char valid[512];
    for (size_t i = 0; i < t->n; i++)
        if (!section || in_section(t->keys[i].path, section))
            parent[i] = map;
    for (size_t j = 0; j < map->n; j++) {
        const char *name = map->keys[j]->scalar;
        yt_node *val = map->items[j];
        const cfg_key *k = find_key(t, section, name);
        if (k) {
            int rc = set_key(ld, k, val, base);
            if (rc < 0)
                return -1;
            seen[k - t->keys] |= (unsigned char)rc;
        } else if (!section && has_section(t, name)) {
            if (is_null(val))
                continue;
            if (val->kind != YT_MAP)
                return fail_at(ld, val, "'%s' expects a mapping, got %s", name,
                               yt_kind_name(val->kind));
            if (apply_map(ld, t, val, name, base, seen, parent) != 0)
                return -1;
        } else {
            valid_keys(t, section, valid, sizeof valid);
            return fail_at(ld, map->keys[j], "unknown key '%.128s'%s%s%s%s; valid keys: %s", name,
                           t->where, section ? " in '" : "", section ? section : "",
                           section ? "'" : "", valid);
        }
    }
    return 0;
}

static int check_required(loader *ld, const key_table *t, const unsigned char *seen,
                          const yt_node **parent)
{
    for (size_t i = 0; i < t->n; i++) {
        const cfg_key *k = &t->keys[i];
        if (!(k->flags & K_REQUIRED) || seen[i])
            continue;
        if (is_section(k) && parent[i] != ld->cfg->root)
            return fail_at(ld, parent[i], "missing required key '%s' in '%.*s'",
                           k->path + section_len(k->path) + 1, (int)section_len(k->path), k->path);
        return fail_at(ld, parent[i], "missing required key '%s'%s", k->path, t->where);
    }
    return 0;
}

/* Apply a whole mapping against a table: values, then what is missing. */
static int apply_table(loader *ld, const key_table *t, yt_node *map, void *base)
{
    unsigned char seen[48] = { 0 };
    const yt_node *parent[48];
    _Static_assert(N_TOP <= 48 && N_STEP <= 48 && N_NOTIFY <= 48 && N_JOB <= 48,
                   "seen[] holds every key");

    if (apply_map(ld, t, map, NULL, base, seen, parent) != 0)
        return -1;
    return check_required(ld, t, seen, parent);
}

/* One folder of plugin_dir (the default when node is NULL), resolved. */
static int plugin_dir_item(loader *ld, const yt_node *node, const char *text, char **out)
{
    if (node && node->kind != YT_SCALAR)
        return fail_at(ld, node, "'plugin_dir' expects a folder, got %s", yt_kind_name(node->kind));
    if (!*text || (node && is_null(node)))
        return fail_at(ld, node, "'plugin_dir' must not be empty");
    *out = config_resolve(ld->cfg->dir, text);
    return 0;
}

static void free_dirs(char **dirs, size_t n)
{
    for (size_t i = 0; dirs && i < n; i++)
        free(dirs[i]);
    free(dirs);
}

/*
 * plugin_dir from the file (a folder or a list), or, when the file has none
 * (node NULL), the default: k->def, then the local folder for plugins of
 * one's own (base/paths.h) when the binary was built with one.
 */
static int set_plugin_dirs(loader *ld, const cfg_key *k, yt_node *node, void *base)
{
    config *c = base;
    int is_list = node && node->kind == YT_SEQ;
    size_t n = is_list ? node->n : !node && rc_local_plugin_dir[0] ? 2 : 1;
    char **dirs = NULL;
    int rc = -1;

    if (node && node->kind == YT_MAP) {
        fail_at(ld, node, "'%s' expects a folder or a list of folders, got a mapping", k->path);
        goto out;
    }
    if (n == 0) {
        fail_at(ld, node, "'%s' is an empty list; give at least one folder", k->path);
        goto out;
    }
    dirs = xcalloc(n, sizeof *dirs);
    for (size_t i = 0; i < n; i++) {
        const yt_node *item = is_list ? node->items[i] : node;
        const char *def = i == 0 ? k->def : rc_local_plugin_dir;
        if (plugin_dir_item(ld, item, item ? item->scalar : def, &dirs[i]) != 0)
            goto out;
    }
    free_dirs(c->plugin_dirs, c->n_plugin_dirs);
    c->plugin_dirs = dirs;
    c->n_plugin_dirs = n;
    dirs = NULL;
    rc = 0;
out:
    free_dirs(dirs, n);
    return rc;
}

/*
 * The built-in value of a figure key (node NULL: its default), from
 * conf/figures.yaml as compiled in: *root to free, *node in it.
 */
static int figure_default(loader *ld, const cfg_key *k, yt_node **root, yt_node **node)
{
    char why[512];
    const char *leaf = strchr(k->path, '.') + 1;
    const yt_node *http = NULL;
    *node = NULL;
    if (yt_load_string(figure_defaults_yaml, FIGURE_DEFAULTS_NAME, root, why, sizeof why) == 0 &&
        (http = yt_get(*root, "http")) != NULL)
        *node = (yt_node *)yt_get(http, leaf);
    if (*node)
        return 0;
    return fail_at(ld, NULL, "%s: no %s in it (%s)", FIGURE_DEFAULTS_NAME, k->path,
                   *root ? "missing" : why);
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static int set_figure_plugins(loader *ld, const cfg_key *k, yt_node *node, void *base)
{
    config *c = base;
    yt_node *root = NULL;
    char **names = NULL;
    size_t n = 0;
    int rc = -1;
    if (!node && figure_default(ld, k, &root, &node) != 0)
        goto out;
    if (node->kind != YT_SEQ) {
        fail_at(ld, node, "'%s' expects a list of plugin names, got %s", k->path,
                yt_kind_name(node->kind));
        goto out;
    }
    names = xcalloc(node->n ? node->n : 1, sizeof *names);
    for (; n < node->n; n++) {
        const yt_node *it = node->items[n];
        const char *why = it->kind == YT_SCALAR ? check_name(it->scalar) : "a plugin name";
        if (why) {
            fail_at(ld, it, "'%s' item: expects %s", k->path, why);
            goto out;
        }
        names[n] = xstrdup(it->scalar);
    }
    free_names(c->http_figure_plugins, c->n_http_figure_plugins);
    c->http_figure_plugins = names;
    c->n_http_figure_plugins = n;
    names = NULL;
    rc = 0;
out:
    free_names(names, n);
    yt_free(root);
    return rc;
}

/* A member path: dot-separated parts of letters, digits and '_'. */
static int member_path_ok(const char *p)
{
    size_t part = 0;
    for (; *p; p++) {
        if (*p == '.') {
            if (part == 0)
                return 0;
            part = 0;
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9') || *p == '_') {
            part++;
        } else {
            return 0;
        }
    }
    return part > 0;
}

/* A declared figure's name (as include/reconciler.h says): [a-z][a-z0-9_]{0,63}. */
static int figure_name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 64 || !(n[0] >= 'a' && n[0] <= 'z'))
        return 0;
    return strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789_") == len;
}

/* Is a the same member as b or one inside it ("a" and "a.b")? */
static int member_within(const char *a, const char *b)
{
    size_t n = strlen(b);
    return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '.');
}

void cfg_figure_map_free(cfg_figure_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->items[i].path);
        free(m->items[i].figure);
    }
    free(m->items);
    memset(m, 0, sizeof *m);
}

static int set_figure_map(loader *ld, const cfg_key *k, yt_node *node, void *base)
{
    cfg_figure_map *m = (cfg_figure_map *)((char *)base + k->off), nm = { NULL, 0, node != NULL };
    yt_node *root = NULL;
    int rc = -1;
    if (!node && figure_default(ld, k, &root, &node) != 0)
        goto out;
    if (node->kind != YT_MAP) {
        fail_at(ld, node, "'%s' expects a mapping of JSON member to figure name, got %s",
                k->path, yt_kind_name(node->kind));
        goto out;
    }
    nm.items = xcalloc(node->n ? node->n : 1, sizeof *nm.items);
    for (size_t i = 0; i < node->n; i++) {
        const yt_node *key = node->keys[i], *val = node->items[i];
        if (!member_path_ok(key->scalar)) {
            fail_at(ld, key, "'%s': member '%s' must be dot-separated names of letters, "
                    "digits and _", k->path, key->scalar);
            goto out;
        }
        if (val->kind != YT_SCALAR || !figure_name_ok(val->scalar)) {
            fail_at(ld, val, "'%s': %s: expects a figure's name (a-z, 0-9 and _, from a "
                    "letter; `reconciler plugins` lists the declared ones)", k->path,
                    key->scalar);
            goto out;
        }
        for (size_t j = 0; j < i; j++)
            if (member_within(key->scalar, nm.items[j].path) ||
                member_within(nm.items[j].path, key->scalar)) {
                fail_at(ld, key, "'%s': member '%s' overlaps member '%s' (line %d)", k->path,
                        key->scalar, nm.items[j].path, nm.items[j].line);
                goto out;
            }
        nm.items[i].path = xstrdup(key->scalar);
        nm.items[i].figure = xstrdup(val->scalar);
        nm.items[i].line = nm.from_file ? val->line : 0;
        nm.items[i].col = nm.from_file ? val->col : 0;
        nm.n = i + 1;
    }
    cfg_figure_map_free(m);
    *m = nm;
    nm.items = NULL;
    nm.n = 0;
    rc = 0;
out:
    cfg_figure_map_free(&nm);
    yt_free(root);
    return rc;
}

static int set_options(loader *ld, const cfg_key *k, yt_node *node, void *base)
{
    cfg_step *s = base;
    if (node->kind != YT_MAP)
        return fail_at(ld, node, "'%s' expects a mapping, got %s", k->path,
                       yt_kind_name(node->kind));
    s->options = node;
    return 0;
}

/*
 * A step without options gets an empty mapping at the step's own position, so
 * that opt_set_build can point a missing required option at the step. It goes
 * into the tree (which frees it): "options: ~" becomes the mapping in place,
 * an absent key is appended.
 */
static void add_empty_options(yt_node *step, cfg_step *s)
{
    yt_node *val = NULL;
    for (size_t i = 0; i < step->n; i++)
        if (strcmp(step->keys[i]->scalar, "options") == 0)
            val = step->items[i];
    if (val) { /* null, or set_options would have kept it */
        free(val->scalar);
        val->scalar = NULL;
        val->kind = YT_MAP;
    } else {
        step->keys = xrealloc(step->keys, (step->n + 1) * sizeof *step->keys);
        step->items = xrealloc(step->items, (step->n + 1) * sizeof *step->items);
        yt_node *key = xcalloc(1, sizeof *key);
        key->kind = YT_SCALAR;
        key->scalar = xstrdup("options");
        key->line = step->line;
        key->col = step->col;
        val = xcalloc(1, sizeof *val);
        val->kind = YT_MAP;
        step->keys[step->n] = key;
        step->items[step->n++] = val;
    }
    val->line = step->line;
    val->col = step->col;
    s->options = val;
}

static int load_step(loader *ld, yt_node *node, cfg_step *s)
{
    s->line = node->line;
    s->col = node->col;
    if (node->kind != YT_MAP)
        return fail_at(ld, node, "a step must be a mapping such as '- plugin: NAME', not %s",
                       yt_kind_name(node->kind));
    s->max_changes = CFG_NO_MAX_CHANGES; /* no default in the table: unset is no cap */
    if (fill_defaults(ld, &step_table, s) != 0 || apply_table(ld, &step_table, node, s) != 0)
        return -1;
    if (!s->name)
        s->name = xstrdup(s->plugin);
    if (!s->options)
        add_empty_options(node, s);
    return 0;
}

/* Names key results and history: two steps of a job may share a plugin, never a name. */
static int check_names(loader *ld, const config *c)
{
    for (size_t i = 1; i < c->n_steps; i++)
        for (size_t j = 0; j < i; j++)
            if (c->steps[i].job == c->steps[j].job &&
                strcmp(c->steps[i].name, c->steps[j].name) == 0) {
                const cfg_step *a = &c->steps[j], *b = &c->steps[i];
                yt_node at = { .line = b->line, .col = b->col };
                char lines[64];
                if (a->line == b->line)
                    snprintf(lines, sizeof lines, "both on line %d", b->line);
                else
                    snprintf(lines, sizeof lines, "lines %d and %d", a->line, b->line);
                return fail_at(ld, &at, "two steps are named '%s' (%s); give one of them "
                               "another 'name'", b->name, lines);
            }
    return 0;
}

/* Append node's steps to config.steps as steps of job. */
static int add_steps(loader *ld, const cfg_key *k, yt_node *node, size_t job)
{
    config *c = ld->cfg;
    if (node->kind != YT_SEQ)
        return fail_at(ld, node, "'%s' expects a list of steps, got %s", k->path,
                       yt_kind_name(node->kind));
    if (node->n == 0)
        return fail_at(ld, node, "'%s' is empty; list at least one step", k->path);
    /* Grown first, zeroed: config_free then frees a half-built list. */
    c->steps = xrealloc(c->steps, (c->n_steps + node->n) * sizeof *c->steps);
    memset(c->steps + c->n_steps, 0, node->n * sizeof *c->steps);
    size_t first = c->n_steps;
    c->n_steps += node->n;
    for (size_t i = 0; i < node->n; i++) {
        c->steps[first + i].job = job;
        if (load_step(ld, node->items[i], &c->steps[first + i]) != 0)
            return -1;
    }
    return check_names(ld, c);
}

static int set_steps(loader *ld, const cfg_key *k, yt_node *node, void *base)
{
    (void)base;
    if (ld->cfg->n_jobs)
        return fail_at(ld, node, "give either top-level 'steps' (one job named "
                       CFG_LEGACY_JOB ") or 'jobs', not both: move these steps into a job");
    return add_steps(ld, k, node, 0); /* the legacy job, made at the end, is job 0 */
}

/* -------------------------------------------------------------------- jobs */

#define UNSET (-1)

static int set_job_steps(loader *ld, const cfg_key *k, yt_node *node, void *base)
{
    cfg_job *j = base;
    size_t index = (size_t)(j - ld->cfg->jobs);
    j->first_step = ld->cfg->n_steps;
    if (add_steps(ld, k, node, index) != 0)
        return -1;
    j->n_steps = ld->cfg->n_steps - j->first_step;
    return 0;
}

/* The names are checked against notify: at the end, which may stand further down. */
static int set_job_notify(loader *ld, const cfg_key *k, yt_node *node, void *base)
{
    cfg_job *j = base;
    if (node->kind != YT_SEQ)
        return fail_at(ld, node, "'%s' expects a list of notify target names, got %s", k->path,
                       yt_kind_name(node->kind));
    for (size_t i = 0; i < node->n; i++)
        if (node->items[i]->kind != YT_SCALAR)
            return fail_at(ld, node->items[i], "'%s' expects names of notify targets, got %s",
                           k->path, yt_kind_name(node->items[i]->kind));
    j->notify_node = node;
    return 0;
}

static int load_job(loader *ld, const yt_node *key, yt_node *node, cfg_job *j)
{
    j->line = key->line;
    j->col = key->col;
    j->name = xstrdup(key->scalar);
    if (!text_name_ok(j->name, 0))
        return fail_at(ld, key, "job name '%.128s': %s", j->name, text_name_rule(0));
    if (node->kind != YT_MAP)
        return fail_at(ld, node, "job '%s' must be a mapping with at least 'steps', not %s",
                       j->name, yt_kind_name(node->kind));
    /* No default in the table: unset values come from elsewhere (finish_job). */
    j->on_startup = UNSET;
    j->lock_ttl_ms = j->max_run_time_ms = j->lock_wait_ms = j->keep_runs = UNSET;
    return fill_defaults(ld, &job_table, j) != 0 || apply_table(ld, &job_table, node, j) != 0
               ? -1 : 0;
}

static int set_jobs(loader *ld, const cfg_key *k, yt_node *node, void *base)
{
    config *c = base;
    if (node->kind != YT_MAP)
        return fail_at(ld, node, "'%s' expects a mapping from a job's name to its keys, got %s",
                       k->path, yt_kind_name(node->kind));
    if (node->n == 0)
        return fail_at(ld, node, "'%s' is empty; give at least one job", k->path);
    if (c->n_steps)
        return fail_at(ld, node, "give either top-level 'steps' (one job named "
                       CFG_LEGACY_JOB ") or 'jobs', not both: move the steps into a job");
    /* Counted first: config_free then frees a half-built list (the yaml refuses a
     * duplicate key, so two jobs never share a name). */
    c->jobs = xcalloc(node->n, sizeof *c->jobs);
    c->n_jobs = node->n;
    for (size_t i = 0; i < node->n; i++)
        if (load_job(ld, node->keys[i], node->items[i], &c->jobs[i]) != 0)
            return -1;
    return 0;
}

int cfg_job_notifies(const cfg_job *j, size_t i)
{
    return !j->notify_to || j->notify_to[i];
}

int cfg_job_scheduled(const cfg_job *j)
{
    return j->every_ms > 0 || j->cron;
}

const cfg_job *cfg_job_find(const config *c, const char *name)
{
    for (size_t i = 0; name && i < c->n_jobs; i++)
        if (strcmp(c->jobs[i].name, name) == 0)
            return &c->jobs[i];
    return NULL;
}

/* The value node of jobs.NAME.schedule.KEY (or jobs.NAME.KEY when key has no dot). */
static const yt_node *job_node(const config *c, const cfg_job *j, const char *key)
{
    const yt_node *n = yt_get(yt_get(c->root, "jobs"), j->name);
    const char *dot = strchr(key, '.');
    if (dot) {
        char section[32];
        snprintf(section, sizeof section, "%.*s", (int)(dot - key), key);
        n = yt_get(n, section);
        key = dot + 1;
    }
    n = yt_get(n, key);
    return n && !is_null(n) ? n : NULL;
}

/* The job's place for a message about key: its value, else the job's name. */
static const yt_node *job_at(const config *c, const cfg_job *j, const char *key, yt_node *tmp)
{
    const yt_node *n = job_node(c, j, key);
    if (n)
        return n;
    tmp->line = j->line;
    tmp->col = j->col;
    return tmp;
}

static int job_cron(loader *ld, cfg_job *j)
{
    config *c = ld->cfg;
    cal_err e;
    char zerr[512];
    yt_node tmp = { 0 };
    const yt_node *at = job_at(c, j, "schedule.cron", &tmp);
    if (j->every_ms)
        return fail_at(ld, at, "job '%s': give 'schedule.every' or 'schedule.cron', not both",
                       j->name);
    if (cal_cron_parse(j->cron, &j->cron_parsed, &e) != 0 || cal_cron_never(&j->cron_parsed, &e)) {
        /* Point into the expression: its column within the value, past an opening quote. */
        yt_node in = { .line = at->line, .col = at->col + (at->quoted ? 1 : 0) +
                                                (e.column > 0 ? e.column - 1 : 0) };
        return fail_at(ld, &in, "job '%s': schedule.cron '%.128s': %s", j->name, j->cron, e.msg);
    }
    if (cal_zone_open(j->time_zone, NULL, &j->zone, zerr, sizeof zerr) != 0)
        return fail_at(ld, job_at(c, j, "schedule.time_zone", &tmp), "job '%s': "
                       "schedule.time_zone: %s", j->name, zerr);
    return 0;
}

static int job_notify(loader *ld, cfg_job *j)
{
    config *c = ld->cfg;
    const yt_node *list = j->notify_node;
    j->notify_node = NULL;
    if (!list)
        return 0;
    j->notify_to = xcalloc(c->n_notify ? c->n_notify : 1, 1);
    for (size_t i = 0; i < list->n; i++) {
        const char *name = list->items[i]->scalar;
        size_t t = 0;
        while (t < c->n_notify && strcmp(c->notify[t].name, name) != 0)
            t++;
        if (t == c->n_notify) {
            char names[512] = "";
            for (size_t n = 0; n < c->n_notify; n++)
                list_add(names, sizeof names, c->notify[n].name, strlen(c->notify[n].name));
            return fail_at(ld, list->items[i], "job '%s': notify names '%.64s', which is not a "
                           "notify target; the targets are: %s", j->name, name,
                           *names ? names : "(none: the file has no notify list)");
        }
        j->notify_to[t] = 1;
    }
    return 0;
}

/* What a job left unset, from the top level; its schedule checked. */
static int finish_job(loader *ld, cfg_job *j)
{
    config *c = ld->cfg;
    yt_node tmp = { 0 };
    char a[32], b[32];
    if (j->lock_ttl_ms == UNSET)
        j->lock_ttl_ms = c->schedule_lock_ttl_ms;
    if (j->max_run_time_ms == UNSET)
        j->max_run_time_ms = c->schedule_max_run_time_ms;
    if (j->lock_wait_ms == UNSET)
        j->lock_wait_ms = c->schedule_lock_wait_ms;
    if (j->keep_runs == UNSET)
        j->keep_runs = c->history_keep_runs;
    if (j->cron && job_cron(ld, j) != 0)
        return -1;
    if (!j->cron && job_node(c, j, "schedule.time_zone"))
        return fail_at(ld, job_node(c, j, "schedule.time_zone"), "job '%s': "
                       "'schedule.time_zone' goes with 'schedule.cron' (an every: grid has no "
                       "zone)", j->name);
    if (j->every_ms && j->jitter_ms >= j->every_ms) {
        duration_format(j->jitter_ms, a, sizeof a);
        duration_format(j->every_ms, b, sizeof b);
        return fail_at(ld, job_at(c, j, "schedule.jitter", &tmp), "job '%s': "
                       "'schedule.jitter' (%s) must be less than 'schedule.every' (%s)",
                       j->name, a, b);
    }
    if (j->on_startup == UNSET)
        j->on_startup = !cfg_job_scheduled(j);
    return job_notify(ld, j);
}

/* The file's top-level steps: as the one job they have always been. */
static void make_legacy_job(config *c)
{
    cfg_job *j = c->jobs = xcalloc(1, sizeof *c->jobs);
    c->n_jobs = 1;
    j->name = xstrdup(CFG_LEGACY_JOB);
    j->legacy = 1;
    j->first_step = 0;
    j->n_steps = c->n_steps;
    j->every_ms = c->schedule_interval_ms;
    j->jitter_ms = c->schedule_jitter_ms;
    j->time_zone = xstrdup("UTC");
    /* As before jobs: a restart makes its startup run, not a catch-up too. */
    j->missed = CFG_MISSED_SKIP;
    j->missed_within_ms = DAY_MS;
    j->on_startup = c->schedule_on_startup;
    j->enabled = 1;
    j->lock_ttl_ms = j->max_run_time_ms = j->lock_wait_ms = j->keep_runs = UNSET;
    j->line = j->col = 1;
}

static int finish_jobs(loader *ld)
{
    config *c = ld->cfg;
    static const char *const grid_keys[] = { "schedule.interval", "schedule.jitter",
                                             "schedule.on_startup" };
    if (!c->n_jobs && !c->n_steps)
        return fail_at(ld, c->root, "missing required key 'steps' (one job) or 'jobs'");
    if (!c->n_jobs) {
        make_legacy_job(c);
    } else {
        for (size_t i = 0; i < sizeof grid_keys / sizeof grid_keys[0]; i++) {
            const yt_node *n = given_node(c, grid_keys[i]);
            if (n)
                return fail_at(ld, n, "'%s' is for top-level steps; with jobs, each job has "
                               "its own (jobs.NAME.schedule.every, .jitter, jobs.NAME.on_startup)",
                               grid_keys[i]);
        }
    }
    for (size_t i = 0; i < c->n_jobs; i++)
        if (finish_job(ld, &c->jobs[i]) != 0)
            return -1;
    return 0;
}

/* ---------------------------------------------------------------- notify */

/* A variable's name as a shell would take it: the value never stands in the file. */
static const char *check_env_name(const char *text)
{
    static const char first[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
    size_t len = strlen(text);
    if (len >= 1 && len <= 128 && strchr(first, text[0]) &&
        text[strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")] == '\0')
        return NULL;
    return "the name of an environment variable (letters, digits and '_', not starting with a "
           "digit, at most 128), never the value itself";
}

/* tracing.endpoint: as notify[].url, an http(s) URL with a host (K_NO_ECHO: never quoted). */
static const char *check_trace_url(const char *text)
{
    char why[256];
    return webhook_url_check(text, why, sizeof why)
               ? "an http:// or https:// URL with a host, such as http://HOST:4318/v1/traces"
               : NULL;
}

/* http.public_url: where people open the console; links append "/#/runs/ID". */
static const char *check_public_url(const char *text)
{
    char why[256];
    return webhook_url_check(text, why, sizeof why) || strchr(text, '#') || strchr(text, '?')
               ? "an http:// or https:// URL with a host and no query or fragment, such as "
                 "https://ops.example/reconciler"
               : NULL;
}

static const char *check_trace_link(const char *text)
{
    if ((strncmp(text, "http://", 7) == 0 || strncmp(text, "https://", 8) == 0) &&
        strstr(text, "{traceId}"))
        return NULL;
    return "an http:// or https:// URL holding {traceId}";
}

static int set_hook_url(loader *ld, const cfg_key *k, yt_node *node, void *base)
{
    cfg_notify *n = base;
    char why[256], shown[300];
    const char *bad;
    if (node->kind != YT_SCALAR)
        return fail_at(ld, node, "'%s' expects a URL, got %s", k->path, yt_kind_name(node->kind));
    /* The URL holds secrets: messages show its redacted form, never the text. */
    if ((bad = webhook_url_check(node->scalar, why, sizeof why))) {
        webhook_url_redact(node->scalar, shown, sizeof shown);
        return fail_at(ld, node, "'%s' %s; got %s", k->path, bad, shown);
    }
    free(n->url);
    n->url = xstrdup(node->scalar);
    return 0;
}

/* One event name of notify[].on as its bit, or fails naming the valid ones. */
static int hook_event(loader *ld, const yt_node *item, unsigned *bits)
{
    char list[256];
    int i;
    if (item->kind != YT_SCALAR)
        return fail_at(ld, item, "'on' expects event names, got %s", yt_kind_name(item->kind));
    if ((i = choice_index(EVENT_CHOICES, item->scalar)) < 0) {
        choices_list(EVENT_CHOICES, list, sizeof list);
        return fail_at(ld, item, "'on': unknown event '%.64s'; events: %s", item->scalar, list);
    }
    *bits |= 1u << i;
    return 0;
}

/* "on": one event or a list of them; NULL node: the default. */
static int set_hook_on(loader *ld, const cfg_key *k, yt_node *node, void *base)
{
    cfg_notify *n = base;
    unsigned bits = 0;
    if (!node) {
        n->on = CFG_EV_DEFAULT;
        return 0;
    }
    if (node->kind == YT_MAP)
        return fail_at(ld, node, "'%s' expects a list of events, got a mapping", k->path);
    if (node->kind == YT_SCALAR) {
        if (hook_event(ld, node, &bits) != 0)
            return -1;
    } else {
        if (node->n == 0)
            return fail_at(ld, node, "'%s' is an empty list: name at least one event, or remove "
                           "the target", k->path);
        for (size_t i = 0; i < node->n; i++)
            if (hook_event(ld, node->items[i], &bits) != 0)
                return -1;
    }
    n->on = bits;
    return 0;
}

/* "512MiB", "1GiB", "2TiB": a whole number and a binary unit, in bytes; -1 when it is not one. */
static int64_t parse_size(const char *text)
{
    static const struct { const char *unit; int shift; } units[] = {
        { "KiB", 10 }, { "MiB", 20 }, { "GiB", 30 }, { "TiB", 40 },
    };
    char *end;
    errno = 0;
    if (!text || *text < '0' || *text > '9')
        return -1;
    long long n = strtoll(text, &end, 10);
    if (errno || n < 0)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].unit) == 0)
            /* No overflow: anything above 1 TiB is refused, so cap before shifting. */
            return n > (INT64_C(1) << (62 - units[i].shift)) ? INT64_MAX
                                                             : (int64_t)n << units[i].shift;
    return -1;
}

static int set_memory_limit(loader *ld, const cfg_key *k, yt_node *node, void *base)
{
    cfg_step *s = base;
    if (!node) {
        s->memory_limit = parse_size(k->def);
        return 0;
    }
    if (node->kind != YT_SCALAR)
        return fail_at(ld, node, "'%s' expects a size such as 512MiB or 2GiB, got %s", k->path,
                       yt_kind_name(node->kind));
    int64_t v = parse_size(node->scalar);
    if (v < 0)
        return fail_at(ld, node, "'%s' expects a size such as 512MiB or 2GiB (a whole number "
                       "and KiB, MiB, GiB or TiB), got '%.64s'", k->path, node->scalar);
    if (v < CFG_MEMORY_MIN || v > CFG_MEMORY_MAX)
        return fail_at(ld, node, "'%s' must be from 64MiB to 1TiB, got %.64s", k->path,
                       node->scalar);
    s->memory_limit = v;
    return 0;
}

/* Header names are HTTP tokens; the ones the delivery itself sets cannot be replaced. */
static const char *check_header_name(const char *name)
{
    static const char *const ours[] = { "Host", "Content-Length", "Content-Type",
                                        "Transfer-Encoding", "X-Reconciler-Signature",
                                        "X-Reconciler-Event" };
    size_t len = strlen(name);
    if (len < 1 || len > 64 ||
        name[strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")])
        return "is not a header name (letters, digits, '-' and '_', at most 64)";
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
        if (strcasecmp(name, ours[i]) == 0)
            return "is set by the delivery itself";
    return NULL;
}

static int set_hook_headers(loader *ld, const cfg_key *k, yt_node *node, void *base)
{
    cfg_notify *n = base;
    const char *bad;
    if (node->kind != YT_MAP)
        return fail_at(ld, node, "'%s' expects a mapping of NAME: VARIABLE, got %s", k->path,
                       yt_kind_name(node->kind));
    /* Counted first: config_free then frees a half-built list. */
    n->headers = xcalloc(node->n ? node->n : 1, sizeof *n->headers);
    for (size_t i = 0; i < node->n; i++) {
        const yt_node *key = node->keys[i], *val = node->items[i];
        if ((bad = check_header_name(key->scalar)))
            return fail_at(ld, key, "'%s': header '%.64s' %s", k->path, key->scalar, bad);
        if (val->kind != YT_SCALAR || (bad = check_env_name(val->scalar)))
            /* Never quote the value: it may be the secret written in by mistake. */
            return fail_at(ld, val, "'%s': header '%s' must name %s", k->path, key->scalar,
                           val->kind != YT_SCALAR ? "an environment variable" : bad);
        n->headers[i].name = xstrdup(key->scalar);
        n->headers[i].env = xstrdup(val->scalar);
        n->n_headers = i + 1;
    }
    return 0;
}

/* notify[].headers: each header's variable, named "notify[0].headers.NAME". */
static size_t each_header_env(const void *base, const char *key, config_name_fn fn, void *user)
{
    const cfg_notify *n = base;
    char name[192];
    for (size_t i = 0; i < n->n_headers; i++) {
        snprintf(name, sizeof name, "%.96s.%.64s", key, n->headers[i].name);
        fn(user, name, n->headers[i].env);
    }
    return n->n_headers;
}

static int load_notify(loader *ld, yt_node *node, cfg_notify *n, size_t index)
{
    n->line = node->line;
    n->col = node->col;
    if (node->kind != YT_MAP)
        return fail_at(ld, node, "a notify target must be a mapping such as '- url: https://...', "
                       "not %s", yt_kind_name(node->kind));
    if (fill_defaults(ld, &notify_table, n) != 0 || apply_table(ld, &notify_table, node, n) != 0)
        return -1;
    if (!n->name)
        n->name = xasprintf("%zu", index + 1);
    return 0;
}

static int set_notify(loader *ld, const cfg_key *k, yt_node *node, void *base)
{
    config *c = base;
    if (node->kind != YT_SEQ)
        return fail_at(ld, node, "'%s' expects a list of targets, got %s", k->path,
                       yt_kind_name(node->kind));
    c->notify = xcalloc(node->n ? node->n : 1, sizeof *c->notify);
    c->n_notify = node->n;
    for (size_t i = 0; i < node->n; i++)
        if (load_notify(ld, node->items[i], &c->notify[i], i) != 0)
            return -1;
    /* Names key metrics and history: one per target. */
    for (size_t i = 1; i < c->n_notify; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->notify[i].name, c->notify[j].name) == 0) {
                yt_node at = { .line = c->notify[i].line, .col = c->notify[i].col };
                return fail_at(ld, &at, "two notify targets are named '%s' (lines %d and %d); "
                               "give one of them another 'name'", c->notify[i].name,
                               c->notify[j].line, c->notify[i].line);
            }
    return 0;
}

/* The value node given for "section.key" in the file, or NULL when absent or null. */
static const yt_node *given_node(const config *c, const char *path)
{
    char section[32];
    size_t slen = section_len(path);
    snprintf(section, sizeof section, "%.*s", (int)slen, path);
    const yt_node *n = yt_get(yt_get(c->root, section), path + slen + 1);
    return n && !is_null(n) ? n : NULL;
}

/*
 * A jitter as long as the interval would push a run past the next tick, and
 * the overrun log would blame the run for it. Positioned at the jitter when
 * the file gives one, else at the interval (then the jitter is the default).
 */
static int check_jitter(loader *ld)
{
    const config *c = ld->cfg;
    char jitter[32], interval[32];
    if (c->schedule_jitter_ms < c->schedule_interval_ms)
        return 0;
    duration_format(c->schedule_jitter_ms, jitter, sizeof jitter);
    duration_format(c->schedule_interval_ms, interval, sizeof interval);
    const yt_node *j = given_node(c, "schedule.jitter");
    if (j)
        return fail_at(ld, j, "'schedule.jitter' (%s) must be less than 'schedule.interval' "
                       "(%s): lower the jitter or lengthen the interval", jitter, interval);
    const yt_node *i = given_node(c, "schedule.interval");
    return fail_at(ld, i ? i : c->root, "'schedule.interval' (%s) must be longer than "
                   "'schedule.jitter', which is %s by default: set schedule.jitter below %s "
                   "(0s turns it off)", interval, jitter, interval);
}

/* The absolute folder of path. */
static int folder_of(loader *ld, const char *path)
{
    char *copy = xstrdup(path), *slash = strrchr(copy, '/');
    int rc = -1;

    if (!slash)
        strcpy(copy, ".");
    else if (slash == copy)
        slash[1] = '\0'; /* "/p.yaml": the folder is "/" */
    else
        *slash = '\0';
    ld->cfg->dir = realpath(copy, NULL);
    if (!ld->cfg->dir) {
        snprintf(ld->err, ld->errlen, "%s: cannot resolve its folder '%s': %s", path, copy,
                 strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(copy);
    return rc;
}

int config_load(const char *path, config **out, char *err, size_t errlen)
{
    *out = NULL;
    char *text = yt_read_file(path, err, errlen);
    if (!text)
        return -1;
    int rc = config_load_text(path, text, out, err, errlen);
    free(text);
    return rc;
}

int config_load_text(const char *path, const char *text, config **out, char *err, size_t errlen)
{
    config *c = xcalloc(1, sizeof *c);
    loader ld = { .cfg = c, .err = err, .errlen = errlen };
    int rc = -1;

    *out = NULL;
    c->path = xstrdup(path);
    c->text = xstrdup(text);
    c->tracing_enabled = -1; /* no default in the table: unset lets the variables decide */
    if (yt_load_string(text, path, &c->root, err, errlen) != 0)
        goto out;
    if (!c->root) {
        snprintf(err, errlen, "%s:1:1: the file is empty; a pipeline needs at least 'steps'", path);
        goto out;
    }
    if (folder_of(&ld, path) != 0)
        goto out;
    if (fill_defaults(&ld, &top_table, c) != 0 || apply_table(&ld, &top_table, c->root, c) != 0)
        goto out;
    if (check_jitter(&ld) != 0 || finish_jobs(&ld) != 0)
        goto out;
    *out = c;
    c = NULL;
    rc = 0;
out:
    config_free(c);
    return rc;
}

/*
 * The string fields the key tables declare as plain strings (a type, no
 * setter, not an index) are owned by the struct they are in: freed through
 * the table, so that a new string key needs no line here. What a setter or
 * the loader builds (lists, maps, names from mapping keys) is freed by hand.
 */
static void free_key_strings(const key_table *t, void *base)
{
    for (size_t i = 0; i < t->n; i++) {
        const cfg_key *k = &t->keys[i];
        if (k->type == RC_OPT_STRING && !k->set && !(k->flags & K_INDEX))
            free(*(char **)((char *)base + k->off));
    }
}

void config_free(config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_steps; i++)
        free_key_strings(&step_table, &c->steps[i]);
    free(c->steps);
    for (size_t i = 0; i < c->n_jobs; i++) {
        free_key_strings(&job_table, &c->jobs[i]);
        free(c->jobs[i].name);
        cal_zone_free(c->jobs[i].zone);
        free(c->jobs[i].notify_to);
    }
    free(c->jobs);
    for (size_t i = 0; i < c->n_notify; i++) {
        cfg_notify *n = &c->notify[i];
        free_key_strings(&notify_table, n);
        for (size_t j = 0; j < n->n_headers; j++) {
            free(n->headers[j].name);
            free(n->headers[j].env);
        }
        free(n->headers);
        free(n->url);
    }
    free(c->notify);
    free_key_strings(&top_table, c);
    free_dirs(c->plugin_dirs, c->n_plugin_dirs);
    free(c->path);
    free(c->text);
    free(c->dir);
    free_names(c->http_figure_plugins, c->n_http_figure_plugins);
    cfg_figure_map_free(&c->http_dashboard_figures);
    cfg_figure_map_free(&c->http_queue_figures);
    yt_free(c->root);
    free(c);
}

void config_log_apply(const config *c)
{
    int level = log_level_parse(c->log_level ? c->log_level : "info");
    log_setup(level < 0 ? RC_LOG_INFO : (rc_log_level)level,
              c->log_format && strcmp(c->log_format, "json") == 0 ? LOG_JSON : LOG_TEXT);
}

/* ------------------------------------------------------- scopes */

/*
 * A key with a scope has a plain field, so that its value is compared,
 * copied and handed to a worker by its type alone: a K_INDEX int, a string
 * (char *, may be NULL), an int64_t (ints, durations), an int (bools), a
 * double. Nothing here is per key.
 */
static void *field_of(const cfg_key *k, const config *c)
{
    return (char *)c + k->off;
}

int config_key_same(const cfg_key *k, const config *a, const config *b)
{
    const void *x = field_of(k, a), *y = field_of(k, b);
    if (k->flags & K_INDEX)
        return *(const int *)x == *(const int *)y;
    switch (k->type) {
    case RC_OPT_STRING: {
        /* Unset and empty are the same setting (no variable, no file). */
        const char *s = *(char *const *)x, *t = *(char *const *)y;
        return strcmp(s ? s : "", t ? t : "") == 0;
    }
    case RC_OPT_INT:
    case RC_OPT_DURATION: return *(const int64_t *)x == *(const int64_t *)y;
    case RC_OPT_BOOL: return *(const int *)x == *(const int *)y;
    case RC_OPT_DOUBLE: return *(const double *)x == *(const double *)y;
    }
    return 1;
}

/* src's value of k (and its position) into dst. */
static void copy_value(const cfg_key *k, config *dst, const config *src)
{
    void *x = field_of(k, dst);
    const void *y = field_of(k, src);
    if (k->flags & K_INDEX) {
        *(int *)x = *(const int *)y;
    } else {
        switch (k->type) {
        case RC_OPT_STRING: {
            char **s = x;
            const char *t = *(char *const *)y;
            free(*s);
            *s = t ? xstrdup(t) : NULL;
            break;
        }
        case RC_OPT_INT:
        case RC_OPT_DURATION: *(int64_t *)x = *(const int64_t *)y; break;
        case RC_OPT_BOOL: *(int *)x = *(const int *)y; break;
        case RC_OPT_DOUBLE: *(double *)x = *(const double *)y; break;
        }
    }
    if (k->at_line) {
        *(int *)((char *)dst + k->at_line) = *(const int *)((const char *)src + k->at_line);
        *(int *)((char *)dst + k->at_col) = *(const int *)((const char *)src + k->at_col);
    }
}

void config_copy_keys(config *dst, const config *src, unsigned scope)
{
    for (size_t i = 0; i < N_TOP; i++)
        if (top_keys[i].scope & scope)
            copy_value(&top_keys[i], dst, src);
}

void config_keep_bound(config *next, const config *running,
                       void (*changed)(void *user, const char *key), void *user)
{
    for (size_t i = 0; i < N_TOP; i++) {
        const cfg_key *k = &top_keys[i];
        if (!(k->scope & CFG_BOUND) || config_key_same(k, next, running))
            continue;
        if (changed)
            changed(user, k->path);
        copy_value(k, next, running);
    }
}

static json_t *value_json(const cfg_key *k, const config *c)
{
    const void *x = field_of(k, c);
    if (k->flags & K_INDEX)
        return jx(json_integer(*(const int *)x));
    switch (k->type) {
    case RC_OPT_STRING: return jx_text(*(char *const *)x);
    case RC_OPT_INT:
    case RC_OPT_DURATION: return jx(json_integer(*(const int64_t *)x));
    case RC_OPT_BOOL: return jx(json_boolean(*(const int *)x));
    case RC_OPT_DOUBLE: return jx(json_real(*(const double *)x));
    }
    return jx(json_null());
}

json_t *config_keys_json(const config *c, unsigned scope)
{
    json_t *values = jx(json_object()), *at = jx(json_object());
    for (size_t i = 0; i < N_TOP; i++) {
        const cfg_key *k = &top_keys[i];
        if (!(k->scope & scope))
            continue;
        json_object_set_new(values, k->path, value_json(k, c));
        if (k->at_line)
            json_object_set_new(at, k->path,
                                jx(json_pack("[i, i]", *(const int *)((const char *)c + k->at_line),
                                             *(const int *)((const char *)c + k->at_col))));
    }
    return jx(json_pack("{s:o, s:o}", "values", values, "at", at));
}

void config_json_name(const char *part, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    if (!outlen)
        return;
    for (size_t i = 0; i < len && part[i] && o + 1 < outlen; i++) {
        if (part[i] == '_' && i + 1 < len && part[i + 1] >= 'a' && part[i + 1] <= 'z')
            out[o++] = (char)(part[++i] - 'a' + 'A');
        else
            out[o++] = part[i];
    }
    out[o] = '\0';
}

/*
 * A key's value as the API shows it: a choice by its name; null for an unset
 * tri-state bool (-1) and for a number below its range, the mark of "unset"
 * where the key has no default (steps[].max_changes).
 */
static json_t *api_value(const cfg_key *k, const void *base)
{
    const void *x = (const char *)base + k->off;
    if (k->flags & K_INDEX) {
        const char *p = k->choices;
        for (int i = *(const int *)x; i > 0 && *p; i--)
            p += strcspn(p, "|") + (p[strcspn(p, "|")] == '|');
        return jx(json_stringn(p, strcspn(p, "|")));
    }
    switch (k->type) {
    case RC_OPT_STRING: return jx_text(*(char *const *)x);
    case RC_OPT_INT:
    case RC_OPT_DURATION:
        return *(const int64_t *)x < k->min ? jx(json_null())
                                            : jx(json_integer(*(const int64_t *)x));
    case RC_OPT_BOOL:
        return *(const int *)x < 0 ? jx(json_null()) : jx(json_boolean(*(const int *)x));
    case RC_OPT_DOUBLE: return jx(json_real(*(const double *)x));
    }
    return jx(json_null());
}

/* The plain keys of table t in the struct at base, sections as nested objects. */
static json_t *api_json(const key_table *t, const void *base)
{
    json_t *out = jx(json_object());
    char section[64], name[72];
    for (size_t i = 0; i < t->n; i++) {
        const cfg_key *k = &t->keys[i];
        json_t *into = out;
        const char *leaf = k->path;
        size_t slen = section_len(k->path);
        /* What a setter builds, the caller shows. (A plain key may have offset 0: a step's
         * name is its struct's first field.) */
        if (!k->type || k->set)
            continue;
        if (is_section(k)) {
            config_json_name(k->path, slen, section, sizeof section);
            into = json_object_get(out, section);
            if (!into) {
                into = jx(json_object());
                json_object_set_new(out, section, into);
            }
            leaf += slen + 1;
        }
        config_json_name(leaf, strlen(leaf), name, sizeof name - 2);
        if (k->type == RC_OPT_DURATION)
            strcat(name, "Ms");
        json_object_set_new(into, name, api_value(k, base));
    }
    return out;
}

json_t *config_api_json(const config *c)
{
    return api_json(&top_table, c);
}

json_t *config_api_step_json(const cfg_step *s)
{
    return api_json(&step_table, s);
}

json_t *config_api_notify_json(const cfg_notify *n)
{
    return api_json(&notify_table, n);
}

static size_t n_choices(const char *choices)
{
    size_t n = 1;
    for (; *choices; choices++)
        n += *choices == '|';
    return n;
}

/* Is v what k's field holds? NULL, or what it should have been. */
static const char *value_rule(const cfg_key *k, const json_t *v)
{
    if (k->flags & K_INDEX)
        return json_is_integer(v) && json_integer_value(v) >= 0 &&
                       (size_t)json_integer_value(v) < n_choices(k->choices)
                   ? NULL : "the index of one of its choices";
    switch (k->type) {
    case RC_OPT_STRING: return json_is_string(v) || json_is_null(v) ? NULL : "a string or null";
    case RC_OPT_INT:
    case RC_OPT_DURATION:
        return json_is_integer(v) && json_integer_value(v) >= k->min &&
                       json_integer_value(v) <= k->max
                   ? NULL : "an integer in its range";
    case RC_OPT_BOOL: return json_is_boolean(v) ? NULL : "a boolean";
    case RC_OPT_DOUBLE: return json_is_number(v) ? NULL : "a number";
    }
    return "a value of a known type";
}

static int position_ok(const json_t *p)
{
    return json_is_array(p) && json_array_size(p) == 2 && json_is_integer(json_array_get(p, 0)) &&
           json_is_integer(json_array_get(p, 1));
}

/* The value of k from values into c (checked before). */
static void take_value(const cfg_key *k, config *c, const json_t *v, const json_t *at)
{
    void *x = field_of(k, c);
    if (k->flags & K_INDEX) {
        *(int *)x = (int)json_integer_value(v);
    } else {
        switch (k->type) {
        case RC_OPT_STRING:
            free(*(char **)x);
            *(char **)x = json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
            break;
        case RC_OPT_INT:
        case RC_OPT_DURATION: *(int64_t *)x = json_integer_value(v); break;
        case RC_OPT_BOOL: *(int *)x = json_is_true(v); break;
        case RC_OPT_DOUBLE: *(double *)x = json_number_value(v); break;
        }
    }
    if (k->at_line) {
        *(int *)((char *)c + k->at_line) = (int)json_integer_value(json_array_get(at, 0));
        *(int *)((char *)c + k->at_col) = (int)json_integer_value(json_array_get(at, 1));
    }
}

int config_keys_take(config *c, const json_t *keys, unsigned scope, char *err, size_t errlen)
{
    const json_t *values = json_object_get(keys, "values"), *at = json_object_get(keys, "at");
    if (!json_is_object(values) || !json_is_object(at)) {
        snprintf(err, errlen, "'keys' must be an object with the objects 'values' and 'at'");
        return -1;
    }
    /* Every value checked before any is taken: a refusal leaves c as it was. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < N_TOP; i++) {
            const cfg_key *k = &top_keys[i];
            if (!(k->scope & scope))
                continue;
            const json_t *v = json_object_get(values, k->path), *p = json_object_get(at, k->path);
            const char *rule = value_rule(k, v);
            if (pass == 1) {
                take_value(k, c, v, p);
            } else if (!v) {
                snprintf(err, errlen, "'keys.values' has no '%s'", k->path);
                return -1;
            } else if (rule) {
                snprintf(err, errlen, "'keys.values' '%s' must be %s, got %s", k->path, rule,
                         jx_type_name(v));
                return -1;
            } else if (k->at_line && !position_ok(p)) {
                snprintf(err, errlen, "'keys.at' '%s' must be [line, column], got %s", k->path,
                         jx_type_name(p));
                return -1;
            }
        }
    return 0;
}

/* The password file's text less one trailing newline. Never puts the text in err. */
static int read_password_file(const config *c, char **out, char *err, size_t errlen)
{
    const char *path = c->db_password_file;
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    int rc = -1;

    if (!f) {
        snprintf(err, errlen, "%s: database.password_file '%s': %s", c->path, path,
                 strerror(errno));
        goto out;
    }
    buf = xmalloc(PASSWORD_MAX + 2);
    len = fread(buf, 1, PASSWORD_MAX + 1, f);
    if (ferror(f)) {
        snprintf(err, errlen, "%s: database.password_file '%s': %s", c->path, path,
                 strerror(errno));
        goto out;
    }
    if (len > PASSWORD_MAX) {
        snprintf(err, errlen, "%s: database.password_file '%s' is over %d bytes; it should hold "
                 "only the password", c->path, path, PASSWORD_MAX);
        goto out;
    }
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len > 0 && buf[len - 1] == '\r') /* written on Windows */
        len--;
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
    rc = 0;
out:
    if (f)
        fclose(f);
    if (buf) {
        /* Do not leave the secret in freed heap memory. */
        explicit_bzero(buf, PASSWORD_MAX + 2);
        free(buf);
    }
    return rc;
}

int config_password(const config *c, char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (c->db_password_file)
        return read_password_file(c, out, err, errlen);
    if (c->db_password_env) {
        const char *v = getenv(c->db_password_env);
        /* Falling back would hide a typo in the variable's name. */
        if (!v) {
            snprintf(err, errlen, "%s: database.password_env names the variable '%.128s', "
                     "which is not set", c->path, c->db_password_env);
            return -1;
        }
        *out = xstrdup(v);
        return 0;
    }
    const char *v = getenv("RECONCILER_DB_PASSWORD");
    if (v)
        *out = xstrdup(v);
    return 0;
}

/* One key as help and the manual show it: its path, type, default and range. */
typedef struct key_text {
    char path[96], type[64], def[256], range[64];
} key_text;

static void key_describe(const char *prefix, const cfg_key *k, key_text *t)
{
    snprintf(t->path, sizeof t->path, "%s%s", prefix, k->path);
    snprintf(t->type, sizeof t->type, "%s", k->choices ? k->choices
                                      : k->type_text ? k->type_text : opt_type_name(k->type));
    snprintf(t->def, sizeof t->def, "%s",
             k->def ? k->def : (k->flags & K_REQUIRED) ? "(required)" : "-");
    t->range[0] = '\0';
    if (is_number(k))
        range_text(k, t->range, sizeof t->range);
}

static void help_key(FILE *f, const char *prefix, const cfg_key *k)
{
    key_text t;
    key_describe(prefix, k, &t);
    fprintf(f, "  %-26s %-22s %-15s %s%s%s%s\n", t.path, t.type, t.def, k->desc,
            *t.range ? " (" : "", t.range, *t.range ? ")" : "");
}

/*
 * Text for a generated document. scdoc marks *bold* and _underline_ and
 * escapes with a backslash. In Markdown, a | would end a table cell (an
 * escaped one does not, inside a code span too), *, < and \ mark up, and so
 * does a _ at a word's edge (inside a word, as in password_env, it does not).
 */
static int is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

void doc_text(FILE *f, doc_format fmt, const char *s)
{
    const char *start = s;
    for (; s && *s; s++) {
        int esc;
        if (fmt == DOC_SCDOC) {
            esc = *s == '*' || *s == '_' || *s == '\\';
        } else {
            int word_before = s > start && is_word_char(s[-1]), word_after = is_word_char(s[1]);
            esc = *s == '|' || *s == '*' || *s == '<' || *s == '\\' ||
                  (*s == '_' && !(word_before && word_after));
        }
        if (esc)
            fputc('\\', f);
        fputc(*s, f);
    }
}

void doc_code(FILE *f, doc_format fmt, const char *s)
{
    if (fmt == DOC_SCDOC) {
        doc_text(f, fmt, s);
        return;
    }
    fputc('`', f);
    for (; s && *s; s++) {
        if (*s == '|')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('`', f);
}

void doc_sentence(FILE *f, doc_format fmt, const char *s)
{
    char first[2] = { 0, 0 };
    size_t word = 0;
    if (!s || !*s)
        return;
    /* An identifier stays as it is written ("contact_status of sessions..."). */
    while (s[word] >= 'a' && s[word] <= 'z')
        word++;
    if (word == 0 || s[word] == '_' || s[word] == '.' || (s[word] >= '0' && s[word] <= '9')) {
        doc_text(f, fmt, s);
        return;
    }
    first[0] = (char)(*s - 'a' + 'A');
    doc_text(f, fmt, first);
    doc_text(f, fmt, s + 1);
}

/* What the documents say of a CFG_BOUND key (the table says which they are). */
#define BOUND_TEXT "Bound at start: a reload keeps the running value and logs that the change " \
                   "waits for a restart."

static void doc_key(FILE *f, const char *prefix, const cfg_key *k)
{
    key_text t;
    key_describe(prefix, k, &t);
    fputc('*', f);
    doc_text(f, DOC_SCDOC, t.path);
    fputs("*\n\t", f);
    /* The help's one-line meaning, as a sentence. */
    doc_sentence(f, DOC_SCDOC, k->desc);
    fputs(".", f);
    if (k->scope & CFG_BOUND)
        fputs(" " BOUND_TEXT, f);
    fputs("\n\tType: ", f);
    doc_text(f, DOC_SCDOC, t.type);
    fputs(". Default: ", f);
    doc_text(f, DOC_SCDOC, strcmp(t.def, "-") == 0 ? "none" : t.def);
    if (*t.range) {
        fputs(". Range: ", f);
        doc_text(f, DOC_SCDOC, t.range);
    }
    fputs(".\n\n", f);
}

/*
 * One row of docs/configuration.md's key table. That file is committed, so it
 * must not depend on the binary that wrote it: the compiled-in plugin folder
 * is named by its install variable, not by this build's path.
 */
static void doc_key_markdown(FILE *f, const char *prefix, const cfg_key *k)
{
    key_text t;
    key_describe(prefix, k, &t);
    fputs("| ", f);
    doc_code(f, DOC_MARKDOWN, t.path);
    fputs(" | ", f);
    doc_code(f, DOC_MARKDOWN, t.type);
    fputs(" | ", f);
    if (k->def == rc_default_plugin_dir)
        fputs("the installed plugin folder, `LIBDIR/reconciler/plugins`, then the local one "
              "(the package's: `/usr/local/lib/reconciler/plugins`; `reconciler --version` "
              "prints both)", f);
    else if (strcmp(t.def, "-") == 0)
        fputs("none", f);
    else if (strcmp(t.def, "(required)") == 0)
        fputs("(required)", f);
    else
        doc_code(f, DOC_MARKDOWN, t.def);
    fputs(" | ", f);
    doc_text(f, DOC_MARKDOWN, t.range);
    fputs(" | ", f);
    doc_sentence(f, DOC_MARKDOWN, k->desc);
    if (k->scope & CFG_BOUND)
        fputs(". " BOUND_TEXT, f);
    fputs(" |\n", f);
}

/* Every key table with the path prefix its keys are shown under: help and manual alike. */
static const struct {
    const char *prefix;
    const key_table *table;
} shown_tables[] = {
    { "", &top_table }, { "steps[].", &step_table }, { "notify[].", &notify_table },
    { "jobs.NAME.", &job_table },
};

static void each_key(FILE *f, void (*show)(FILE *, const char *, const cfg_key *))
{
    for (size_t t = 0; t < sizeof shown_tables / sizeof shown_tables[0]; t++)
        for (size_t i = 0; i < shown_tables[t].table->n; i++)
            show(f, shown_tables[t].prefix, &shown_tables[t].table->keys[i]);
}

void config_doc(FILE *f, doc_format fmt)
{
    if (fmt == DOC_MARKDOWN)
        fputs("| key | type | default | range | meaning |\n|---|---|---|---|---|\n", f);
    each_key(f, fmt == DOC_MARKDOWN ? doc_key_markdown : doc_key);
}

/* help: the keys that name a variable holding a secret, on one line. */
static void help_env_names(FILE *f)
{
    const char *sep = "Keys naming a variable that holds a secret (validate and doctor check "
                      "that it is set): ";
    for (size_t t = 0; t < sizeof shown_tables / sizeof shown_tables[0]; t++)
        for (size_t i = 0; i < shown_tables[t].table->n; i++) {
            const cfg_key *k = &shown_tables[t].table->keys[i];
            if (!(k->holds & CFG_ENVNAME))
                continue;
            fprintf(f, "%s%s%s", sep, shown_tables[t].prefix, k->path);
            sep = ", ";
        }
    fputs(".\n", f);
}

void config_help(FILE *f)
{
    fprintf(f, "  %-26s %-22s %-15s %s\n", "KEY", "TYPE", "DEFAULT", "MEANING");
    each_key(f, help_key);
    help_env_names(f);
    fprintf(f, "Durations: 500ms, 30s, 5m, 6h, 1d, or combined (1h30m); a bare number is "
               "seconds.\nRelative paths resolve against the folder of the pipeline file.\n");
}

/* Whether k's value is text in a char * field or built by a setter from one scalar. */
static int is_text(const cfg_key *k)
{
    return k->type == RC_OPT_STRING && !(k->flags & K_INDEX) && !k->choices;
}

int config_table_check_keys(const key_table *t, const char *prefix, int top, char *err,
                            size_t errlen)
{
    for (size_t i = 0; i < t->n; i++) {
        const cfg_key *k = &t->keys[i];
        if (k->scope && (!top || k->set || !k->type || !k->off)) {
            snprintf(err, errlen, "key '%s%s' has a scope but %s", prefix, k->path,
                     !top ? "is not a top-level key"
                          : "no plain field (a type, an offset, no setter)");
            return -1;
        }
        if ((k->at_line == 0) != (k->at_col == 0)) {
            snprintf(err, errlen, "key '%s%s' keeps half a position", prefix, k->path);
            return -1;
        }
        /* config_each_env_name reads the field as a string, or asks each_env. */
        if ((k->holds & CFG_ENVNAME) && !k->each_env && (!is_text(k) || k->set)) {
            snprintf(err, errlen, "key '%s%s' is CFG_ENVNAME but neither a plain string field "
                     "nor has each_env to list what its setter built", prefix, k->path);
            return -1;
        }
        if (k->each_env && !(k->holds & CFG_ENVNAME)) {
            snprintf(err, errlen, "key '%s%s' has each_env but is not CFG_ENVNAME", prefix,
                     k->path);
            return -1;
        }
        /* The redaction works on text: a number or a choice is no secret, a list is many. */
        if ((k->holds & CFG_SECRET) && !is_text(k)) {
            snprintf(err, errlen, "key '%s%s' is CFG_SECRET but its value is not text "
                     "(a string type, not a choice)", prefix, k->path);
            return -1;
        }
        if (k->redact && !(k->holds & CFG_SECRET)) {
            snprintf(err, errlen, "key '%s%s' has a redaction but is not CFG_SECRET", prefix,
                     k->path);
            return -1;
        }
        if ((k->holds & CFG_ENVNAME) && (k->holds & CFG_SECRET)) {
            snprintf(err, errlen, "key '%s%s' is both CFG_ENVNAME and CFG_SECRET: a variable's "
                     "name is shown, a secret is not", prefix, k->path);
            return -1;
        }
        /* The secret itself written in by mistake is refused, and never quoted. */
        if ((k->holds & CFG_ENVNAME) && !k->each_env &&
            (k->check != check_env_name || !(k->flags & K_NO_ECHO))) {
            snprintf(err, errlen, "key '%s%s' is CFG_ENVNAME but does not check its value as a "
                     "variable's name without quoting it (.check = check_env_name, K_NO_ECHO)",
                     prefix, k->path);
            return -1;
        }
    }
    return 0;
}

int config_table_check(char *err, size_t errlen)
{
    for (size_t t = 0; t < sizeof shown_tables / sizeof shown_tables[0]; t++)
        if (config_table_check_keys(shown_tables[t].table, shown_tables[t].prefix,
                                    shown_tables[t].table == &top_table, err, errlen) != 0)
            return -1;
    return 0;
}

const key_table *config_top_table(void)
{
    return &top_table;
}

/* The variables one struct of table t names, its keys shown as prefix + path. */
static size_t each_env_in(const key_table *t, const void *base, const char *prefix,
                          config_name_fn fn, void *user)
{
    char key[192];
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const cfg_key *k = &t->keys[i];
        if (!(k->holds & CFG_ENVNAME))
            continue;
        snprintf(key, sizeof key, "%.96s%.64s", prefix, k->path);
        if (k->each_env) {
            n += k->each_env(base, key, fn, user);
            continue;
        }
        const char *var = *(char *const *)((const char *)base + k->off);
        if (var) {
            fn(user, key, var);
            n++;
        }
    }
    return n;
}

size_t config_each_env_name(const config *c, config_name_fn fn, void *user)
{
    char prefix[96];
    size_t n = each_env_in(&top_table, c, "", fn, user);
    for (size_t i = 0; i < c->n_steps; i++) {
        snprintf(prefix, sizeof prefix, "steps[%zu].", i);
        n += each_env_in(&step_table, &c->steps[i], prefix, fn, user);
    }
    for (size_t i = 0; i < c->n_jobs; i++) {
        snprintf(prefix, sizeof prefix, "jobs.%.64s.", c->jobs[i].name);
        n += each_env_in(&job_table, &c->jobs[i], prefix, fn, user);
    }
    for (size_t i = 0; i < c->n_notify; i++) {
        snprintf(prefix, sizeof prefix, "notify[%zu].", i);
        n += each_env_in(&notify_table, &c->notify[i], prefix, fn, user);
    }
    return n;
}

void config_each_secret(void (*fn)(void *user, const char *prefix, const char *path,
                                   cfg_redact redact),
                        void *user)
{
    for (size_t t = 0; t < sizeof shown_tables / sizeof shown_tables[0]; t++)
        for (size_t i = 0; i < shown_tables[t].table->n; i++) {
            const cfg_key *k = &shown_tables[t].table->keys[i];
            if (k->holds & CFG_SECRET)
                fn(user, shown_tables[t].prefix, k->path, k->redact);
        }
}
