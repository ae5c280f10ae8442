/* SPDX-License-Identifier: MIT */
/* cmd_admin.c - `reconciler migrate`, `history` and `plugins`. */
#include "cli/cli.h"
#include "service/api.h"
#include "engine/history.h"
#include "db/migrate.h"
#include "config/options.h"
#include "engine/plugin.h"
#include "engine/supervisor.h"
#include "base/text.h"
#include "base/json.h"
#include "base/paths.h"
#include "base/util.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Parse the common options only; returns -1 to go on, else an exit code. */
static int common_only(int argc, char **argv, const char *help, cli_common *common)
{
    static const struct option longopts[] = { CLI_COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (cli_common_opt(ch, optarg, common))
            continue;
        fputs(help, ch == 'h' ? stdout : stderr);
        return ch == 'h' ? EXIT_OK : EXIT_USAGE;
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    return -1;
}

static const char migrate_help[] =
    "Usage: reconciler migrate [--status | --dry-run] [-c FILE] [--db URL]\n"
    "Create or upgrade the bot's tables (processing_jobs, user_sessions, orders,\n"
    "processing_job_logs, reconciler_locks). Applied versions are recorded in\n"
    "schema_migrations; running it again applies nothing new.\n\n"
    "      --status         list every migration, applied (when) or pending;\n"
    "                       change nothing (exit 0 either way)\n"
    "      --dry-run        print the pending migrations' SQL; change nothing\n"
    CLI_COMMON_HELP;

/* migrate --status / --dry-run: one migration. */
static void show_migration(void *user, const migration *m, const char *applied_at)
{
    int dry = *(int *)user;
    if (!dry)
        printf("  %-32s %s%s\n", m->name, applied_at ? "applied " : "pending",
               applied_at ? applied_at : "");
    else if (!applied_at)
        printf("-- %s (would run)\n%s\n", m->name, m->sql);
}

int cmd_migrate(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "status", no_argument, NULL, 's' },
        { "dry-run", no_argument, NULL, 'n' },
        CLI_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 }
    };
    cli_common common = { 0 };
    config *cfg = NULL;
    db *d = NULL;
    char err[2048];
    int status = 0, dry = 0, ch, rc;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (cli_common_opt(ch, optarg, &common))
            continue;
        switch (ch) {
        case 's': status = 1; break;
        case 'n': dry = 1; break;
        case 'h': fputs(migrate_help, stdout); return EXIT_OK;
        default: fputs(migrate_help, stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (status && dry) {
        cli_error("migrate: --status or --dry-run, not both");
        return EXIT_USAGE;
    }
    if ((rc = cli_load_config(&common, 1, &cfg)) != EXIT_OK)
        goto out;
    if ((rc = cli_connect(cfg, &d)) != EXIT_OK)
        goto out;
    if (status || dry) {
        if (status)
            printf("migrations (%s):\n", db_driver_name(d));
        int pending = migrate_status(d, show_migration, &dry, err, sizeof err);
        if (pending < 0) {
            cli_error("migrate: %s", err);
            rc = EXIT_DATABASE;
            goto out;
        }
        printf("%s%d pending%s\n", dry ? "-- " : "", pending,
               pending && status ? ": `reconciler migrate` applies them" : "");
        rc = EXIT_OK;
        goto out;
    }
    int n = migrate_apply(d, err, sizeof err);
    if (n < 0) {
        cli_error("migrate: %s", err);
        rc = EXIT_DATABASE;
        goto out;
    }
    printf("migrate: %d migration%s applied (%s)\n", n, n == 1 ? "" : "s", db_driver_name(d));
    rc = EXIT_OK;
out:
    db_close(d);
    config_free(cfg);
    return rc;
}

static const char history_help[] =
    "Usage: reconciler history [-n N] [--before ID] [--job NAME] [--status S]\n"
    "                          [--trigger T] [--since TIME] [--until TIME] [--json] [-c FILE]\n"
    "Show the newest runs from the local history store (history.path), opened\n"
    "read-only: it writes nothing, and reads a store on a read-only or full disk.\n"
    "Each run: its id, start, trigger, status, duration, rows changed (or that a\n"
    "dry run would change), its steps, and its first error.\n\n"
    "  -n, --limit N        how many runs (default 20)\n"
    "      --before ID      only runs older than run ID (the next page)\n"
    "      --job NAME       only that job's runs\n"
    "      --status S       only runs of that status: " API_RUN_STATUSES "\n"
    "      --trigger T      only runs of that trigger: " API_RUN_TRIGGERS "\n"
    "      --since TIME     only runs started at or after TIME (UTC: YYYY-MM-DD,\n"
    "                       YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DDTHH:MM:SS.mmmZ)\n"
    "      --until TIME     only runs started before TIME (UTC, as --since)\n"
    "      --json           print {runs, total, nextBefore}, as GET\n"
    "                       /v1/reconciliation/history answers\n"
    "      --run ID         print one run's full result JSON\n" CLI_COMMON_HELP;

/* The first error of a run: a step's, else the run's own (a run that did not happen). */
static char *first_error(history *h, const json_t *run)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(run, "steps"), i, s) {
        const char *e = json_string_value(json_object_get(s, "error"));
        if (e)
            return xstrdup(e);
    }
    const char *status = json_string_value(json_object_get(run, "status"));
    if (!h || !status || strcmp(status, "success") == 0)
        return NULL;
    /* A line of the listing: an unreadable run shows no error rather than failing the list. */
    json_t *full = NULL;
    history_get(h, json_integer_value(json_object_get(run, "runId")), &full);
    const char *e = json_string_value(json_array_get(json_object_get(full, "errors"), 0));
    char *copy = e ? xstrdup(e) : NULL;
    json_decref(full);
    return copy;
}

static void print_run_line(history *h, const json_t *run)
{
    char took[32] = "-", rows[24] = "-";
    const char *finished = json_string_value(json_object_get(run, "finishedAt"));
    json_t *dur = json_object_get(run, "durationMs"), *rc = json_object_get(run, "rowsChanged");
    int dry = json_is_true(json_object_get(run, "dryRun"));
    if (finished && json_is_integer(dur))
        cli_duration(json_integer_value(dur), took, sizeof took);
    /* A run that did not happen (no steps) changed nothing it could count: "-". */
    if (json_is_integer(rc) && json_array_size(json_object_get(run, "steps")))
        snprintf(rows, sizeof rows, "%lld%s", (long long)json_integer_value(rc),
                 dry ? " (dry)" : "");
    printf("%6lld  %-24s  %-9s %-11s %-4s %8s %12s ",
           (long long)json_integer_value(json_object_get(run, "runId")),
           json_string_value(json_object_get(run, "startedAt")),
           json_string_value(json_object_get(run, "trigger")),
           json_string_value(json_object_get(run, "status")), dry ? "dry" : "", took, rows);
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(run, "steps"), i, s)
        printf("%s%s=%s", i ? " " : " ", json_string_value(json_object_get(s, "name")),
               json_string_value(json_object_get(s, "status")));
    /* A jobs file's runs say whose they are; the one-job form's look as they always did. */
    const char *job = json_string_value(json_object_get(run, "job"));
    if (job && strcmp(job, "reconcile") != 0)
        printf("  job=%s", job);
    char *err = first_error(h, run);
    if (err) {
        /* One line per run: the first line of the error, cut to stay scannable. */
        size_t n = strcspn(err, "\n");
        printf("  error: %.*s%s", (int)(n > 160 ? 160 : n), err, n > 160 ? "..." : "");
    }
    free(err);
    printf("\n");
}

int cmd_history(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "limit", required_argument, NULL, 'n' },
        { "json", no_argument, NULL, 'j' },
        { "run", required_argument, NULL, 'r' },
        { "before", required_argument, NULL, 'b' },
        { "job", required_argument, NULL, 'J' },
        { "status", required_argument, NULL, 'S' },
        { "trigger", required_argument, NULL, 'T' },
        { "since", required_argument, NULL, 's' },
        { "until", required_argument, NULL, 'u' },
        CLI_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 }
    };
    cli_common common = { 0 };
    int64_t limit = 20, run_id = 0, before = 0, total = 0;
    int as_json = 0, ch, rc;
    history_filter f = { 0 };
    config *cfg = NULL;
    history *h = NULL;
    json_t *out = NULL;
    char err[2048];

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:hn:", longopts, NULL)) != -1) {
        if (cli_common_opt(ch, optarg, &common))
            continue;
        switch (ch) {
        case 'n':
            if ((rc = text_int(optarg, 1, INT64_MAX, &limit)) != TEXT_OK) {
                cli_error("history: -n wants %s of runs >= 1, got '%s'",
                          rc == TEXT_SYNTAX ? "a whole (decimal) number" : "a number", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'r':
            if ((rc = text_int(optarg, 1, INT64_MAX, &run_id)) != TEXT_OK) {
                cli_error("history: --run wants %s >= 1, got '%s'",
                          rc == TEXT_SYNTAX ? "a run id (a whole decimal number)" : "a run id",
                          optarg);
                return EXIT_USAGE;
            }
            break;
        case 'b':
            if ((rc = text_int(optarg, 1, INT64_MAX, &before)) != TEXT_OK) {
                cli_error("history: --before wants a run id (a whole decimal number) >= 1, "
                          "got '%s'", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'j': as_json = 1; break;
        case 'J': f.job = optarg; break;
        case 'S': f.status = optarg; break;
        case 'T': f.trigger = optarg; break;
        case 's': f.since = optarg; break;
        case 'u': f.until = optarg; break;
        case 'h': fputs(history_help, stdout); return EXIT_OK;
        default: fputs(history_help, stderr); return EXIT_USAGE;
        }
    }
    /* An empty value filters nothing, as in the API. */
    const char **given[] = { &f.job, &f.status, &f.trigger, &f.since, &f.until };
    for (size_t i = 0; i < sizeof given / sizeof given[0]; i++)
        if (*given[i] && !**given[i])
            *given[i] = NULL;
    /* The API's own checks, so that both refuse the same values with the same words. */
    if (api_arg_choice("--status", f.status, API_RUN_STATUSES, err, sizeof err) != 0 ||
        api_arg_choice("--trigger", f.trigger, API_RUN_TRIGGERS, err, sizeof err) != 0 ||
        api_arg_time("--since", f.since, err, sizeof err) != 0 ||
        api_arg_time("--until", f.until, err, sizeof err) != 0) {
        cli_error("history: %s", err);
        return EXIT_USAGE;
    }
    if ((rc = cli_load_config(&common, 0, &cfg)) != EXIT_OK)
        goto done;
    /* Read-only: it reads a store on a read-only or full filesystem, and writes nothing. */
    struct stat sb;
    /* Missing, or left empty by a start that could not write it (a full disk): no runs. */
    if ((stat(cfg->history_path, &sb) != 0 && errno == ENOENT) ||
        (stat(cfg->history_path, &sb) == 0 && sb.st_size == 0)) {
        log_info("no history at %s yet: no run has been recorded", cfg->history_path);
    } else if (history_open_read(cfg->history_path, &h, err, sizeof err) != 0) {
        cli_error("history: %s", err);
        rc = EXIT_LOCAL;
        goto done;
    }
    if (!h) {
        out = run_id ? NULL : jx(json_array());
    } else if (run_id && history_get(h, run_id, &out) < 0) {
        /* A store that cannot be read is exit 5, not "no such run" (exit 2). */
        cli_error("history: cannot read run %lld: %s", (long long)run_id, history_error(h));
        rc = EXIT_LOCAL;
        goto done;
    }
    if (run_id) {
        if (!out) {
            cli_error("history: no finished run %lld in %s", (long long)run_id, cfg->history_path);
            rc = EXIT_USAGE;
            goto done;
        }
        as_json = 1;
    } else if (h && !(out = history_page_filter(h, &f, limit, before, &total))) {
        cli_error("%s", history_error(h));
        rc = EXIT_LOCAL;
        goto done;
    }
    if (as_json && !run_id) {
        /* The API's shape (GET /v1/reconciliation/history), so one parser reads both. */
        size_t n = json_array_size(out);
        json_t *last = n ? json_object_get(json_array_get(out, n - 1), "runId") : NULL;
        int more = (int64_t)n == limit && json_integer_value(last) > 1;
        json_t *page = jx(json_pack("{s:O, s:I, s:o}", "runs", out, "total", (json_int_t)total,
                                    "nextBefore", more ? json_incref(last) : json_null()));
        char *text = util_json_dump(page, 1);
        printf("%s\n", text ? text : "null");
        free(text);
        json_decref(page);
    } else if (as_json) {
        char *text = util_json_dump(out, 1);
        printf("%s\n", text ? text : "null");
        free(text);
    } else {
        size_t i;
        json_t *run;
        printf("%6s  %-24s  %-9s %-11s %-4s %8s %12s  %s\n", "run", "started", "trigger",
               "status", "", "duration", "rows changed", "steps");
        json_array_foreach(out, i, run)
            print_run_line(h, run);
    }
    rc = EXIT_OK;
done:
    json_decref(out);
    history_close(h);
    config_free(cfg);
    return rc;
}

static const char plugins_help[] =
    "Usage: reconciler plugins [-c FILE]\n"
    "List every plugin in the plugin folders (plugin_dir) with its options and the\n"
    "figures it declares (what http.dashboard_figures and http.queue_figures name); each\n"
    "folder is named first (plugin_dir left out of the file: the built-in one).\n"
    "A file that is not a valid plugin is reported, and the exit code is 2.\n\n" CLI_COMMON_HELP;

static void print_plugin(const plugin *p)
{
    const rc_plugin *d = p->desc;
    printf("%s %s (ABI %u.%u) - %s\n    %s\n", d->name, d->version ? d->version : "",
           d->abi_major, d->abi_minor, d->description ? d->description : "", p->path);
    if (!d->options || !d->options[0].name)
        printf("    no options\n");
    for (const rc_option *o = d->options; o && o->name; o++)
        printf("    %-20s %-8s default %-12s %s\n", o->name, opt_type_name(o->type),
               o->default_value ? o->default_value : "(required)",
               o->description ? o->description : "");
    /* ABI 1.5: the figures it declares, by the names the figure mappings use. */
    for (const rc_figure *f = plugin_figures(p); f && f->name; f++)
        printf("    figure %s %s%s%s (%s, %s): %s\n", f->name,
               f->type == RC_FIGURE_COUNTER ? "counter" : "gauge", f->label ? " by " : "",
               f->label ? f->label : "", f->key, f->unit && *f->unit ? f->unit : "no unit",
               f->help);
}

static int list_dir(const char *dir, plugin_registry *seen)
{
    struct dirent **names = NULL;
    int bad = 0, n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        cli_error("plugins: cannot read %s: %m", dir);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        char *path = NULL, err[1024];
        size_t len = strlen(names[i]->d_name);
        if (len > 3 && strcmp(names[i]->d_name + len - 3, ".so") == 0) {
            path = xasprintf("%s/%s", dir, names[i]->d_name);
            char *name = xstrndup(names[i]->d_name, len - 3);
            plugin *p = NULL, *dup = NULL;
            for (size_t k = 0; k < seen->n && !dup; k++)
                if (strcmp(seen->items[k]->name, name) == 0)
                    dup = seen->items[k];
            if (dup) {
                cli_error("plugins: %s duplicates %s: the same plugin name twice", path, dup->path);
                bad = 1;
            } else if (supervise_describe(path, name, &p, err, sizeof err) != 0) {
                cli_error("plugins: %s", err);
                bad = 1;
            } else {
                print_plugin(p);
                seen->items = xrealloc(seen->items, (seen->n + 1) * sizeof *seen->items);
                seen->items[seen->n++] = p;
            }
            free(name);
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return bad;
}

int cmd_plugins(int argc, char **argv)
{
    cli_common common = { 0 };
    config *cfg = NULL;
    plugin_registry seen;
    int bad = 0;
    int rc = common_only(argc, argv, plugins_help, &common);
    if (rc >= 0)
        return rc;
    if ((rc = cli_load_config(&common, 0, &cfg)) != EXIT_OK)
        return rc;
    registry_init(&seen, NULL, 0);
    for (size_t i = 0; i < cfg->n_plugin_dirs; i++) {
        const char *dir = cfg->plugin_dirs[i];
        int local = rc_local_plugin_dir[0] && strcmp(dir, rc_local_plugin_dir) == 0;
        printf("plugin_dir %s%s\n", dir,
               strcmp(dir, rc_default_plugin_dir) == 0 ? " (the built-in default)" :
               local ? " (the built-in default for plugins of your own)" : "");
        /* Nobody may have put a plugin of their own there yet: not an error. */
        if (local && access(dir, F_OK) != 0 && errno == ENOENT) {
            printf("    (no such folder yet)\n");
            continue;
        }
        bad |= list_dir(dir, &seen);
    }
    registry_free(&seen);
    config_free(cfg);
    return bad ? EXIT_USAGE : EXIT_OK;
}
