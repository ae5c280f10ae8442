/*
 * cli.h - the command-line commands and what they share.
 *
 * Exit codes (README "Exit codes"): */
#ifndef RC_CLI_H
#define RC_CLI_H

#include "config.h"
#include "db.h"

enum {
    EXIT_OK = 0,          /* every step ok */
    EXIT_STEP_FAILED = 1, /* the run was partial or failed */
    EXIT_USAGE = 2,       /* usage, pipeline file or plugin error */
    EXIT_DATABASE = 3,    /* database unreachable, or failed outside a step */
    EXIT_LOCKED = 4,      /* another instance holds the run lock (service mode) */
    EXIT_LOCAL = 5        /* the local history store failed */
};

/* Options every command takes. */
typedef struct cli_common {
    const char *config_path; /* -c; default $RECONCILER_CONFIG or /etc/reconciler/pipeline.yaml */
    const char *db_url;      /* --db overrides database.url */
    const char *log_level;   /* --log-level overrides log.level */
    const char *log_format;  /* --log-format overrides log.format */
} cli_common;

int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_plugins(int argc, char **argv);

/*
 * Load the pipeline file and apply the common overrides and log settings.
 * need_db: the command connects, so database.url (or --db) must be set.
 * Returns EXIT_OK and *out, or an exit code after printing why.
 */
int cli_load_config(const cli_common *c, int need_db, config **out);

/* Parse cfg's database URL into *u; EXIT_OK, or EXIT_USAGE after printing why. */
int cli_parse_url(const config *cfg, db_url *u);

/*
 * Connect to the configured database: EXIT_OK and *out, or an exit code
 * (EXIT_USAGE for the URL or password source, EXIT_DATABASE when it cannot
 * connect) with err (no password in it). cli_connect prints err itself.
 */
int cli_open_db(const config *cfg, db **out, char *err, size_t errlen);
/* Connect to the configured database. EXIT_OK and *out, or an exit code. */
int cli_connect(const config *cfg, db **out);

/* Print "reconciler: " + message on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* getopt_long entries every command accepts; cli_common_opt handles them. */
enum { OPT_DB = 1000, OPT_LOG_LEVEL, OPT_LOG_FORMAT, OPT_HELP };
#define CLI_COMMON_LONGOPTS                                   \
    { "config", required_argument, NULL, 'c' },               \
    { "db", required_argument, NULL, OPT_DB },                \
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },  \
    { "log-format", required_argument, NULL, OPT_LOG_FORMAT }, \
    { "help", no_argument, NULL, 'h' }
#define CLI_COMMON_HELP                                                              \
    "  -c, --config FILE    pipeline file (default $RECONCILER_CONFIG, else\n"        \
    "                       /etc/reconciler/pipeline.yaml)\n"                         \
    "      --db URL         database URL, overriding database.url\n"                  \
    "      --log-level L    error, warn, info or debug (overrides log.level)\n"       \
    "      --log-format F   text or json (overrides log.format)\n"                    \
    "  -h, --help           this help\n"

/* 1 when ch was a common option (stored in c), else 0. */
int cli_common_opt(int ch, const char *arg, cli_common *c);

#endif
