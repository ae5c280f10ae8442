/* SPDX-License-Identifier: MIT */
/* cli.h - the command-line commands and what they share. */
#ifndef RC_CLI_H
#define RC_CLI_H

#include "base/exitcode.h"
#include "config/config.h"
#include "db/db.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Options every command takes. */
typedef struct cli_common {
    const char *config_path; /* -c; default $RECONCILER_CONFIG or rc_default_config */
    const char *db_url;      /* --db overrides database.url */
    const char *log_level;   /* --log-level overrides log.level */
    const char *log_format;  /* --log-format overrides log.format */
} cli_common;

int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_plugins(int argc, char **argv);
int cmd_new_plugin(int argc, char **argv);
int cmd_calendar(int argc, char **argv);
/* cmd_jobs.c: the jobs, and their pause state in the bot's database. */
int cmd_jobs(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_trigger(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_changes(int argc, char **argv);
/* cmd_doctor.c: an installed system's files, unit, database, grants and migrations. */
int cmd_doctor(int argc, char **argv);

/* A duration for people: "800 ms", "4.2s", "45s", "2m", "2m 5s", "1h 3m", "2d 1h". */
void cli_duration(int64_t ms, char *out, size_t n);

/* A run's result for people: the summary, a line per step, the figures (run --once, trigger). */
void cli_print_result(const json_t *r);

/* `reconciler __calendar-batch`: many calendar queries on stdin, for the
 * differential test (tests/calendar/). Not for people. */
#define CALENDAR_BATCH_COMMAND "__calendar-batch"
int cmd_calendar_batch(int argc, char **argv);

/* `reconciler __doc keys|plugins DIR`: the pipeline keys and the plugins' options in
 * scdoc, for reconciler.yaml(5). */
#define DOC_COMMAND "__doc"
int cmd_doc(int argc, char **argv);

/*
 * Load the pipeline file and apply the common overrides and log settings.
 * need_db: the command connects, so database.url (or --db) must be set.
 * Returns EXIT_OK and *out, or an exit code after printing why.
 */
int cli_load_config(const cli_common *c, int need_db, config **out);
/* The same, printing nothing: why in err. */
int cli_load_config_err(const cli_common *c, int need_db, config **out, char *err,
                        size_t errlen);
/*
 * The same, changing nothing: the log settings (the file's, or the command
 * line's that beat them) are left in *out for config_log_apply. A reload
 * reads the file so, and applies them only once the whole file is accepted.
 */
int cli_read_config(const cli_common *c, int need_db, config **out, char *err, size_t errlen);

/*
 * Connect to the configured database (db/connect.h): EXIT_OK and *out, or
 * an exit code after printing why.
 */
int cli_connect(const config *cfg, db **out);

/* Print "reconciler: " + message on stderr (a JSON log line with --log-format json). */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "reconciler: warning: " + message (a JSON log line with --log-format json). */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "reconciler: note: " + message (a JSON log line, level info, with --log-format json). */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* --log-format json given: JSON lines from here on, before (or without) the file's log.*
 * keys, for a command going on when the file is what failed to load. */
void cli_json_logs_asked(const cli_common *c);
/* A message that names its own FILE:LINE:COL, as it is (a JSON log line likewise). */
void cli_say(const char *msg);

/* getopt_long entries every command accepts; cli_common_opt handles them. */
enum { OPT_DB = 1000, OPT_LOG_LEVEL, OPT_LOG_FORMAT, OPT_HELP };
#define CLI_COMMON_LONGOPTS                                   \
    { "config", required_argument, NULL, 'c' },               \
    { "db", required_argument, NULL, OPT_DB },                \
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },  \
    { "log-format", required_argument, NULL, OPT_LOG_FORMAT }, \
    { "help", no_argument, NULL, 'h' }
#define CLI_COMMON_HELP                                                              \
    "  -c, --config FILE    pipeline file (default $RECONCILER_CONFIG, else the\n"   \
    "                       built-in one `reconciler --version` names)\n"            \
    "      --db URL         database URL, overriding database.url\n"                  \
    "      --log-level L    error, warn, info or debug (overrides log.level)\n"       \
    "      --log-format F   text or json (overrides log.format)\n"                    \
    "  -h, --help           this help\n"

/* 1 when ch was a common option (stored in c), else 0. */
int cli_common_opt(int ch, const char *arg, cli_common *c);

#endif
