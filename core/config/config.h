/* SPDX-License-Identifier: MIT */
/*
 * config.h - the pipeline file.
 *
 * Every key the file may hold is declared once, in a table in config.c, with
 * its type, default and description; that table fills defaults, rejects
 * unknown keys (listing the valid ones), prints help (config_help), frees
 * the strings, and says per top-level key what a reload and a step worker
 * do with it (CFG_BOUND, CFG_WORKER below): adding a setting is one row.
 * Relative paths are resolved against the folder of the file.
 */
#ifndef RC_CONFIG_H
#define RC_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "calendar/cron.h"
#include "calendar/zone.h"
#include "config/yamltree.h"

typedef enum cfg_on_error { CFG_ON_ERROR_CONTINUE = 0, CFG_ON_ERROR_ABORT = 1 } cfg_on_error;

/* steps[].max_changes when not set (no cap), and its largest value. */
#define CFG_NO_MAX_CHANGES (-1)
#define CFG_MAX_CHANGES_MAX INT64_C(1000000000000)
/* steps[].memory_limit's bounds: below 64 MiB a worker cannot even load its libraries. */
#define CFG_MEMORY_MIN (INT64_C(64) << 20)
#define CFG_MEMORY_MAX (INT64_C(1) << 40)

typedef struct cfg_step {
    char *name;            /* defaults to plugin */
    char *plugin;
    cfg_on_error on_error; /* "continue" (default) or "abort" */
    int enabled;           /* default 1; a disabled step is reported "skipped" */
    int64_t timeout_ms;    /* default 10m: the step's worker is killed after this long */
    int64_t max_changes;   /* CFG_NO_MAX_CHANGES (default) or 0 to CFG_MAX_CHANGES_MAX: a real
                              run whose writes would match more rows fails the step, unwritten */
    int record_changes;    /* default 1: change records for its chunked writes */
    int64_t memory_limit;  /* bytes, default 1 GiB, CFG_MEMORY_MIN..CFG_MEMORY_MAX: the address
                              space its worker may use (RLIMIT_AS) */
    const yt_node *options; /* the "options:" mapping; points into cfg->root. A step without one
                               gets an empty mapping at the step's position (for messages) */
    int line, col;         /* where the step starts, for messages */
    size_t job;            /* its job's index in config.jobs */
} cfg_step;

/* notify[].on: the events a webhook target is sent (a bit each, in this order). */
enum {
    CFG_EV_FAILED = 1 << 0,
    CFG_EV_PARTIAL = 1 << 1,
    CFG_EV_INTERRUPTED = 1 << 2,
    CFG_EV_SKIPPED_TOO_LONG = 1 << 3,
    CFG_EV_RECOVERED = 1 << 4,
    CFG_EV_SUCCESS = 1 << 5,
};
#define CFG_N_EVENTS 6
#define CFG_EV_DEFAULT (CFG_EV_FAILED | CFG_EV_PARTIAL | CFG_EV_RECOVERED)
/* The event's name ("failed", "skipped_too_long" ...) for one bit, or NULL. */
const char *cfg_event_name(unsigned bit);

typedef enum cfg_hook_format { CFG_HOOK_JSON = 0, CFG_HOOK_SLACK = 1, CFG_HOOK_DISCORD = 2 } cfg_hook_format;

/* notify[].headers: a header whose value is read from an environment variable. */
typedef struct cfg_header {
    char *name; /* "Authorization" */
    char *env;  /* the variable holding its value: the file never holds the value */
} cfg_header;

/* One webhook target of the "notify:" list. */
typedef struct cfg_notify {
    char *name;           /* for logs, history and metrics (never the URL); default: its
                             position in the list, from 1 */
    char *url;            /* http:// or https://; a secret: show only hookurl_redact's form */
    unsigned on;          /* CFG_EV_* bits; default CFG_EV_DEFAULT */
    cfg_hook_format format; /* json (default), slack, discord */
    char *secret_env;     /* variable holding the HMAC-SHA256 key, or NULL: unsigned */
    int64_t timeout_ms;   /* each attempt; default 5s */
    int64_t retries;      /* attempts after the first; default 2 */
    int64_t backoff_ms;   /* wait before the first retry, doubled each time; default 1s */
    cfg_header *headers;
    size_t n_headers;
    int line, col;        /* where the target starts, for messages */
} cfg_notify;

/* jobs.NAME.schedule.missed: what a start finds when slots passed unrun. */
typedef enum cfg_missed { CFG_MISSED_RUN_ONCE = 0, CFG_MISSED_SKIP = 1 } cfg_missed;

/* The job a file with top-level steps: (and no jobs:) means. */
#define CFG_LEGACY_JOB "reconcile"

/*
 * One job of "jobs:" (or the one legacy job): its steps, its schedule and
 * its own lock, history and notifications. Its steps are config.steps
 * [first_step, first_step + n_steps): every job's steps stand in that one
 * array, in file order, so a step worker addresses a step by its index alone.
 */
typedef struct cfg_job {
    char *name;
    size_t first_step, n_steps;
    int64_t every_ms;     /* schedule.every; 0: none */
    char *cron;           /* schedule.cron as written; NULL: none */
    cal_cron cron_parsed; /* when cron */
    char *time_zone;      /* schedule.time_zone, default UTC */
    cal_zone *zone;       /* opened from time_zone when cron (owned) */
    int64_t jitter_ms;    /* default 0 (legacy: schedule.jitter) */
    int missed;           /* cfg_missed; default run_once (legacy: skip, as before) */
    int64_t missed_within_ms; /* default 1d */
    int on_startup;       /* default: 1 without a schedule, else 0 (legacy: schedule.on_startup) */
    int enabled;          /* default 1 */
    int64_t lock_ttl_ms, max_run_time_ms, lock_wait_ms; /* default: the top-level schedule.* */
    int64_t keep_runs;    /* default history.keep_runs */
    unsigned char *notify_to; /* one flag per config.notify target; NULL: all of them */
    int legacy;           /* the top-level steps: job; its lock row keeps the old name */
    int line, col;        /* where the job starts, for messages */
    /* While loading only (then NULL): where unset values are filled from. */
    const yt_node *notify_node;
} cfg_job;

/* Does job j tell notify target i? */
int cfg_job_notifies(const cfg_job *j, size_t i);
/* Has job j a schedule (every or cron)? */
int cfg_job_scheduled(const cfg_job *j);

/*
 * One member of a figure endpoint's JSON (http.dashboard_figures,
 * http.queue_figures): the dotted member path and the declared figure whose
 * value it takes; line and col of the figure's name (0 in the built-in
 * defaults, conf/figures.yaml).
 */
typedef struct cfg_figure_ref {
    char *path;
    char *figure;
    int line, col;
} cfg_figure_ref;

typedef struct cfg_figure_map {
    cfg_figure_ref *items;
    size_t n;
    int from_file; /* 1: set in the pipeline file; 0: the built-in defaults */
} cfg_figure_map;

/* Free a map's items (leaves it empty). */
void cfg_figure_map_free(cfg_figure_map *m);

typedef struct config {
    char *path;  /* as given */
    char *text;  /* the file's text as loaded (step workers build the same pipeline from it) */
    char *dir;   /* folder of path, absolute */

    /* database: */
    char *db_url;            /* NULL when the file has none: the caller requires it (or --db) */
    int db_url_line, db_url_col; /* where the url's value stands in the file, for messages
                                    about it; 0 when it did not come from the file (--db) */
    char *db_password_env;   /* name of an environment variable, or NULL */
    char *db_password_file;  /* resolved path, or NULL */
    int64_t db_connect_timeout_ms; /* default 10s; each timeout is at most 1d */
    int64_t db_read_timeout_ms;    /* default 300s */
    int64_t db_write_timeout_ms;   /* default 60s */
    char *db_time_zone;      /* "server" (default: leave the session's zone alone), an
                                offset "+HH:MM"/"-HH:MM", or a zone name ("Europe/Berlin") */

    /* history: */
    char *history_path;  /* resolved; default var/history.db */
    int64_t history_keep_runs; /* default 1000, 1 to 1000000 */
    int64_t history_changes_keep_ms; /* default 30d, 1h to 3650d: change records' age */

    /* plugin_dir: a string or a list of strings, resolved; default "plugins" */
    char **plugin_dirs;
    size_t n_plugin_dirs;

    /* schedule: */
    int schedule_on_startup;        /* default true */
    int64_t schedule_interval_ms;   /* default 6h, 1s to 365d */
    int64_t schedule_jitter_ms;     /* default 30s, at most 1d, always < interval */
    int64_t schedule_lock_wait_ms;  /* default 60s, at most 1d */
    int64_t schedule_lock_ttl_ms;   /* default 30s, 3s to 1h: a dead holder's lock frees after this */
    int64_t schedule_max_run_time_ms; /* default 1h: a whole run is stopped after this long */
    int64_t schedule_max_clock_skew_ms; /* default 500ms, 0: off; database vs host clock at take */

    /* http: */
    char *http_listen;     /* default 127.0.0.1:3006 */
    char *http_token_env;  /* default NULL */
    char *http_public_url; /* the console as people reach it, for links in alerts; NULL */
    int64_t http_max_connections;    /* default 256, 8 to 4096: the API's connection cap */
    int64_t http_figures_refresh_ms; /* default 15s, 1s to 1h: the figures' refresh interval */
    int64_t http_figures_wait_ms;    /* default 5s, at most 60s: ?fresh=1's longest wait */
    char **http_figure_plugins;      /* plugins refreshed for their figures (default: built in) */
    size_t n_http_figure_plugins;
    cfg_figure_map http_dashboard_figures; /* /api/admin/dashboard's members (default: built in) */
    cfg_figure_map http_queue_figures;     /* /v1/processing/queue's members (default: built in) */

    /* log: */
    char *log_level;   /* error|warn|info|debug, default info */
    char *log_format;  /* text|json, default text */

    cfg_step *steps;  /* every job's steps, in file order (cfg_job.first_step) */
    size_t n_steps;

    /* jobs: in file order; a file with top-level steps: has the one job CFG_LEGACY_JOB */
    cfg_job *jobs;
    size_t n_jobs;

    /* tracing: OTLP export of each run's trace (trace/settings.h); each key, when set,
       beats the OTEL_* variable it stands for */
    int tracing_enabled;        /* -1: not set (the variables decide), 0, 1 */
    char *tracing_endpoint;     /* the traces URL as given; may hold a token: never echoed */
    char *tracing_headers_env;  /* variable holding k=v,k2=v2 headers (secret values) */
    char *tracing_service_name;
    char *tracing_link;         /* "https://tracing.example/trace/{traceId}" for the console */

    /* notify: webhook targets told about runs (service/webhook.c delivers) */
    cfg_notify *notify;
    size_t n_notify;

    yt_node *root; /* kept: step options point into it */
} config;

/*
 * What a top-level key's value does once the service runs; the key table
 * (config.c) says it per key, and these functions act on every key it says
 * it for, so that adding a setting is one row of the table. A key with
 * neither is reloadable: a reload's new value is in force from the next run
 * (the service reads it from the pipeline snapshot in force).
 */
#define CFG_BOUND (1u << 0)  /* bound at start (a connection, a socket, a file opened then):
                                a reload keeps the running value and warns that the file's
                                new one waits for a restart */
#define CFG_WORKER (1u << 1) /* handed to step workers: a worker rebuilds its pipeline from
                                the file's text, then takes these values from the supervisor
                                (the bound ones, or --db), not from the text */

/*
 * What a key's value is, beyond its type; the key table says it per key, in
 * any table (cfg_key.holds), and these functions find every key it says it
 * for, so that a new secret or variable needs no list edited elsewhere.
 */
#define CFG_ENVNAME (1u << 2) /* names an environment variable that holds a secret:
                                 validate and doctor check that it is set */
#define CFG_SECRET (1u << 3)  /* the value holds a secret: GET /v1/service/config shows it
                                 redacted, as the key's cfg_redact says */

/* How a CFG_SECRET key's value is shown. */
typedef enum cfg_redact {
    CFG_REDACT_ALL = 0, /* not at all: "***" */
    CFG_REDACT_DSN,     /* a database URL with its password and query values as "***" */
    CFG_REDACT_URL,     /* a URL as scheme://host[:port]/ only (webhook_url_redact) */
} cfg_redact;

/*
 * Every variable c names through a CFG_ENVNAME key, in table order (the top
 * level, then each step, job and notify target): fn(user, KEY, VARIABLE),
 * KEY as messages name it ("database.password_env", "notify[0].secret_env",
 * "notify[0].headers.X-Token"). Unset keys are skipped. Returns how many.
 */
typedef void (*config_name_fn)(void *user, const char *key, const char *var);
size_t config_each_env_name(const config *c, config_name_fn fn, void *user);

/*
 * Every CFG_SECRET key of every table: fn(user, prefix, path, redact), the
 * key shown as prefix + path ("", "database.url"; "notify[].", "url";
 * "steps[].", "jobs.NAME.").
 */
void config_each_secret(void (*fn)(void *user, const char *prefix, const char *path,
                                   cfg_redact redact),
                        void *user);

/*
 * Copy the value of every top-level key with a scope bit of scope (and its
 * position in the file, where it keeps one) from src into dst.
 */
void config_copy_keys(config *dst, const config *src, unsigned scope);

/*
 * A reload: every CFG_BOUND key whose value in next differs from running's
 * gets running's value back, and changed(user, "database.url") is told
 * first (the service warns). next is not yet in force when this runs.
 */
void config_keep_bound(config *next, const config *running,
                       void (*changed)(void *user, const char *key), void *user);

/*
 * The worker hand-off: the values of the keys of scope as JSON,
 * {"values":{"database.url":...,...},"at":{"database.url":[LINE,COL]}}
 * (new reference); and back: config_keys_take sets c's keys of scope from
 * such an object. Every key must be there with its type (a string or null,
 * an integer, a boolean); 0, or -1 with err naming the key and what it
 * expected, and c unchanged.
 */
struct json_t *config_keys_json(const config *c, unsigned scope);
int config_keys_take(config *c, const struct json_t *keys, unsigned scope, char *err,
                     size_t errlen);

/*
 * The API's view of the top-level keys that have a plain field (GET
 * /v1/service/config's "pipeline"): {"database":{"url":...,
 * "connectTimeoutMs":10000,...},...}, each key under its JSON name (new
 * reference). What a setter builds (plugin_dir, steps, notify, ...) is the
 * caller's to add. Values as they are: the caller redacts CFG_SECRET keys.
 */
struct json_t *config_api_json(const config *c);
/* The same for one step's and one notify target's keys (steps[], notify[]). */
struct json_t *config_api_step_json(const cfg_step *s);
struct json_t *config_api_notify_json(const cfg_notify *n);

/*
 * A key's part ("password_env") as its JSON name ("passwordEnv"): camelCase;
 * config_api_json appends "Ms" to a duration's name. len bytes of part.
 */
void config_json_name(const char *part, size_t len, char *out, size_t outlen);

/*
 * The key table's own rules, beyond what the compiler checks: a key with a
 * scope has a plain field (a type, no setter), and only top-level keys have
 * one; a CFG_ENVNAME key is a string field or lists what its setter built; a
 * CFG_SECRET key is text. 0, or -1 with err naming the key (the test suite
 * runs it; config_table_check_keys in config_impl.h checks one table).
 */
int config_table_check(char *err, size_t errlen);

/*
 * The process's log settings from c's log.level and log.format (which a
 * command line's --log-level and --log-format have been written into): at
 * start, and for a reload only once its whole file has been accepted.
 */
void config_log_apply(const config *c);

/* The job called name, or NULL. */
const cfg_job *cfg_job_find(const config *c, const char *name);

/*
 * Load and check path. Returns 0 and *out, or -1 with err
 * "FILE:LINE:COL: message" (FILE as given). Plugin options are not checked
 * here (the plugins are not loaded yet): see opt_set_build.
 */
int config_load(const char *path, config **out, char *err, size_t errlen);
/* The same from text read before (path names it in messages and anchors relative paths). */
int config_load_text(const char *path, const char *text, config **out, char *err, size_t errlen);
void config_free(config *c); /* accepts NULL */

/*
 * The database password, from (first found) database.password_file,
 * the variable named by database.password_env, RECONCILER_DB_PASSWORD.
 * Returns 0 with *out (malloc'd, or NULL when none is configured), or -1 with
 * err naming the file or variable (never the value).
 */
int config_password(const config *c, char **out, char *err, size_t errlen);

/* Print every key the file may hold, with type, default and description. */
void config_help(FILE *f);

/* The formats generated documents are written in. */
typedef enum doc_format {
    DOC_SCDOC,   /* the manual pages' source (conf/man/, tools/make/install.mk) */
    DOC_MARKDOWN /* docs/NAME.md, between generated-section markers (tools/make/docs.mk) */
} doc_format;

/*
 * The same keys as config_help, for a document: in scdoc, one entry per key
 * (the manual page reconciler.yaml(5), which `reconciler __doc keys` feeds);
 * in Markdown, one table row per key (docs/configuration.md, from
 * `reconciler __doc keys --markdown`). Each with its type, default, range
 * and meaning.
 */
void config_doc(FILE *f, doc_format fmt);

/* s escaped as text of a document in fmt. */
void doc_text(FILE *f, doc_format fmt, const char *s);
/* s as code: in Markdown a code span (its | escaped, for a table cell); scdoc as doc_text. */
void doc_code(FILE *f, doc_format fmt, const char *s);
/* s as a sentence: its first letter capitalized, escaped as doc_text. */
void doc_sentence(FILE *f, doc_format fmt, const char *s);

/* Resolve p against dir unless absolute; malloc'd. */
char *config_resolve(const char *dir, const char *p);

#endif
