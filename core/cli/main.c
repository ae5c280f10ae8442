/* SPDX-License-Identifier: MIT */
/* main.c - `reconciler COMMAND ...`: dispatch to the commands in cli.h. */
#include "cli/cli.h"
#include "engine/worker.h"
#include "base/paths.h"
#include "base/version.h"
#include "base/util.h"
#include "db/library.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The version has one source, the file VERSION at the top of the tree, which
 * the Makefile passes here and names the package after. */
#ifndef RC_VERSION
#error "RC_VERSION is not set: build with make (it reads the file VERSION)"
#endif

static const struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
    { "run", cmd_run, "run the pipeline: --once for one run, then exit" },
    { "validate", cmd_validate, "check the pipeline file, its plugins and their options" },
    { "migrate", cmd_migrate, "create or upgrade the bot's tables (idempotent)" },
    { "history", cmd_history, "show recent runs from the local history store" },
    { "changes", cmd_changes, "show the change records: every row a run changed, before and after" },
    { "plugins", cmd_plugins, "list the plugins found, with their options" },
    { "new-plugin", cmd_new_plugin, "write a step plugin's skeleton (source and Makefile)" },
    { "calendar", cmd_calendar, "show the next fire times of a cron expression in a time zone" },
    { "jobs", cmd_jobs, "list the jobs: schedule, next fire time, last run, paused" },
    { "pause", cmd_pause, "pause a job on every instance (kept in the bot's database)" },
    { "resume", cmd_resume, "resume a paused job" },
    { "status", cmd_status, "what the running service does: runs, lock, reload, database" },
    { "trigger", cmd_trigger, "have the running service make a run now (--wait for its result)" },
    { "reload", cmd_reload, "have the running service re-read its pipeline file; fails if refused" },
    { "doctor", cmd_doctor, "check an installed system: files, unit, database, grants, migrations" },
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: reconciler COMMAND [OPTIONS]\n"
               "Repairs a chat bot's database after downtime: expired job leases, the\n"
               "follow-up queue, stale metrics. See README.md.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n  reconciler COMMAND --help   options of one command\n"
               "  reconciler --version\n"
               "\nExit codes: 0 ok, 1 a step failed, 2 usage/config/plugin error,\n"
               "3 database unreachable or failing, 4 run lock held elsewhere,\n"
               "5 local history store error, 6 the service cannot be reached (status,\n"
               "trigger, reload); doctor: 1 when a check failed.\n");
}

int main(int argc, char **argv)
{
    util_mark_start();
    rc_version_set(RC_VERSION);
    /* A dropped connection must surface as an error, not kill the process. */
    signal(SIGPIPE, SIG_IGN);

    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("reconciler %s (plugin ABI %d.%d)\n"
               "default pipeline file: %s\ndefault plugin_dir: %s\n",
               RC_VERSION, RC_ABI_MAJOR, RC_ABI_MINOR, rc_default_config, rc_default_plugin_dir);
        if (rc_local_plugin_dir[0])
            printf("then plugin_dir: %s (plugins of your own)\n", rc_local_plugin_dir);
        return EXIT_OK;
    }
    /* A step worker, started by a supervisor (engine/supervisor.c): not for people. */
    if (strcmp(argv[1], WORKER_COMMAND) == 0) {
        db_library_init();
        int rc = worker_main();
        db_library_end();
        return rc;
    }
    /* What the manual pages are generated from (tools/make/install.mk): not for people. */
    if (strcmp(argv[1], DOC_COMMAND) == 0)
        return cmd_doc(argc - 1, argv + 1);
    /* The differential test's calendar queries (tests/calendar/): not for people. */
    if (strcmp(argv[1], CALENDAR_BATCH_COMMAND) == 0)
        return cmd_calendar_batch(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            /* What reconciler writes (the history store, its -wal and -shm, folders) is
             * its own: 0600/0700. A plugin skeleton is the user's source: their umask. */
            if (strcmp(argv[1], "new-plugin") != 0)
                umask(077);
            /* Once, before any thread, as Connector/C asks. The tear-down is
             * skipped while a thread left behind at shutdown (a run lock's
             * close on a hung server) still uses the library: db/library.h. */
            db_library_init();
            int rc = commands[i].fn(argc - 1, argv + 1);
            db_library_end();
            return rc;
        }
    }
    fprintf(stderr, "reconciler: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
