/* cmd_run.c - `reconciler run` and `reconciler validate`. */
#include "cli.h"
#include "history.h"
#include "log.h"
#include "runner.h"
#include "util.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_stop_signal(int sig)
{
    (void)sig;
    runner_request_stop();
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
    "Usage: reconciler run --once [--dry-run] [--json] [-c FILE] [--db URL]\n"
    "Run the pipeline's steps in order against the database, once, and exit.\n"
    "(Service mode, without --once, is not built yet.)\n\n"
    "      --once           one run, then exit (trigger \"startup\")\n"
    "      --dry-run        report what would change; write nothing to the database\n"
    "      --json           print only the result JSON on stdout (logs stay on stderr)\n"
    CLI_COMMON_HELP
    "\nExit codes: 0 every step ok, 1 a step failed, 2 usage/config/plugin error,\n"
    "3 database unreachable, 5 history store error.\n";

int cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "once", no_argument, NULL, 'o' },
        { "dry-run", no_argument, NULL, 'n' },
        { "json", no_argument, NULL, 'j' },
        CLI_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 }
    };
    cli_common common = { 0 };
    int once = 0, dry_run = 0, as_json = 0, ch;
    config *cfg = NULL;
    pipeline *p = NULL;
    history *h = NULL;
    db *d = NULL;
    json_t *result = NULL;
    char err[2048];
    int rc;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (cli_common_opt(ch, optarg, &common))
            continue;
        switch (ch) {
        case 'o': once = 1; break;
        case 'n': dry_run = 1; break;
        case 'j': as_json = 1; break;
        case 'h': fputs(run_help, stdout); return EXIT_OK;
        default: fputs(run_help, stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("run: unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (!once) {
        cli_error("run: service mode is not built yet; use `run --once`");
        return EXIT_USAGE;
    }

    if ((rc = cli_load_config(&common, 1, &cfg)) != EXIT_OK)
        goto out;
    if (pipeline_build(cfg, &p, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        rc = EXIT_USAGE;
        goto out;
    }
    if (history_open(cfg->history_path, cfg->history_keep_runs, &h, err, sizeof err) != 0) {
        cli_error("%s", err);
        rc = EXIT_LOCAL;
        goto out;
    }
    if ((rc = cli_connect(cfg, &d)) != EXIT_OK)
        goto out;

    struct sigaction sa = { .sa_handler = on_stop_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    run_request req = { .trigger = "startup", .dry_run = dry_run };
    run_status st = runner_run(p, d, h, &req, &result);
    char *summary = runner_summary(result);
    log_info("%s", summary ? summary : "run finished");
    free(summary);
    if (as_json) {
        char *text = util_json_dump(result, 1);
        printf("%s\n", text ? text : "{}");
        free(text);
    } else {
        print_human(result);
    }
    rc = st == RUN_SUCCESS ? EXIT_OK : EXIT_STEP_FAILED;
out:
    json_decref(result);
    db_close(d);
    history_close(h);
    pipeline_free(p);
    config_free(cfg);
    return rc;
}

static const char validate_help[] =
    "Usage: reconciler validate [-c FILE]\n"
    "Check the pipeline file, load every step's plugin and check its options.\n"
    "Nothing connects to the database.\n\n"
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
    if ((rc = cli_parse_url(cfg, &u)) != EXIT_OK)
        goto out;
    rc = EXIT_USAGE;
    if (pipeline_build(cfg, &p, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    printf("%s: ok, %zu step%s:", cfg->path, p->n, p->n == 1 ? "" : "s");
    for (size_t i = 0; i < p->n; i++)
        printf("%s %s (%s %s)", i ? "," : "", p->steps[i].cfg->name, p->steps[i].plugin->name,
               p->steps[i].plugin->desc->version ? p->steps[i].plugin->desc->version : "");
    printf("\n");
    rc = EXIT_OK;
out:
    db_url_free(&u);
    pipeline_free(p);
    config_free(cfg);
    return rc;
}
