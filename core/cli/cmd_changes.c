/* SPDX-License-Identifier: MIT */
/* cmd_changes.c - `reconciler changes`: the change records (reconciler_change_sets, migration 009). */
#include "cli/cli.h"
#include "db/changes.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char changes_help[] =
    "Usage: reconciler changes [--run ID] [--table T --key K] [--step S] [--job J]\n"
    "                          [--since TIME] [--before ID] [-n N] [--json] [-c FILE]\n"
    "Show the change records of the bot's database, newest first: one per row a\n"
    "run's step changed, with each written column's value before and after.\n\n"
    "      --run ID         the records of one run (its history id)\n"
    "      --table T        of one table; with --key K, of one row\n"
    "      --step S         of one step\n"
    "      --job J          of one job\n"
    "      --since TIME     at or after \"YYYY-MM-DD HH:MM:SS\" (database clock)\n"
    "      --before ID      only ids below ID (the next page: the last id shown)\n"
    "  -n, --limit N        how many (default 50, at most 1000)\n"
    "      --json           print a JSON array\n" CLI_COMMON_HELP;

enum { OPT_RUN = 2000, OPT_TABLE, OPT_KEY, OPT_STEP, OPT_JOB, OPT_SINCE, OPT_BEFORE, OPT_JSON };

static int parse_int(const char *what, const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < min || v > max) {
        cli_error("%s must be a number from %lld to %lld, got '%s'", what, (long long)min,
                  (long long)max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static void print_change(const json_t *c)
{
    printf("%lld  %s  run %lld  %s  %s %s ", (long long)json_integer_value(json_object_get(c, "id")),
           json_string_value(json_object_get(c, "at")),
           (long long)json_integer_value(json_object_get(c, "runId")),
           json_string_value(json_object_get(c, "step")),
           json_string_value(json_object_get(c, "table")),
           json_string_value(json_object_get(c, "key")));
    const char *col;
    json_t *pair;
    int first = 1;
    json_object_foreach(json_object_get(c, "changes"), col, pair) {
        char *b = json_dumps(json_array_get(pair, 0), JSON_ENCODE_ANY);
        char *a = json_dumps(json_array_get(pair, 1), JSON_ENCODE_ANY);
        printf("%s%s: %s -> %s", first ? " " : ", ", col, b, a);
        first = 0;
        free(b);
        free(a);
    }
    printf("\n");
}

int cmd_changes(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        { "run", required_argument, NULL, OPT_RUN },
        { "table", required_argument, NULL, OPT_TABLE },
        { "key", required_argument, NULL, OPT_KEY },
        { "step", required_argument, NULL, OPT_STEP },
        { "job", required_argument, NULL, OPT_JOB },
        { "since", required_argument, NULL, OPT_SINCE },
        { "before", required_argument, NULL, OPT_BEFORE },
        { "limit", required_argument, NULL, 'n' },
        { "json", no_argument, NULL, OPT_JSON },
        { NULL, 0, NULL, 0 },
    };
    cli_common common = { 0 };
    changes_filter f = { .limit = 50 };
    int as_json = 0, ch, rc;
    config *cfg = NULL;
    db *d = NULL;
    json_t *list = NULL;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:hn:", longopts, NULL)) != -1) {
        if (cli_common_opt(ch, optarg, &common))
            continue;
        switch (ch) {
        case OPT_RUN:
            if (parse_int("--run", optarg, 1, INT64_MAX, &f.run_id) != 0)
                return EXIT_USAGE;
            break;
        case OPT_TABLE: f.table = optarg; break;
        case OPT_KEY: f.key = optarg; break;
        case OPT_STEP: f.step = optarg; break;
        case OPT_JOB: f.job = optarg; break;
        case OPT_SINCE: f.since = optarg; break;
        case OPT_BEFORE:
            if (parse_int("--before", optarg, 1, INT64_MAX, &f.before) != 0)
                return EXIT_USAGE;
            break;
        case 'n':
            if (parse_int("--limit", optarg, 1, CHANGES_LIST_MAX, &f.limit) != 0)
                return EXIT_USAGE;
            break;
        case OPT_JSON: as_json = 1; break;
        default:
            fputs(changes_help, ch == 'h' ? stdout : stderr);
            return ch == 'h' ? EXIT_OK : EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (f.key && !f.table) {
        cli_error("--key needs --table: a key names a row of one table");
        return EXIT_USAGE;
    }
    if ((rc = cli_load_config(&common, 1, &cfg)) != EXIT_OK)
        goto out;
    if ((rc = cli_connect(cfg, &d)) != EXIT_OK)
        goto out;
    /*
     * One row's history: key the sets no service has keyed yet (those of
     * `run --once`), so that this lookup and the next read the index rather
     * than those sets whole. A user that may not write reads them whole.
     */
    if (f.key && db_table_exists(d, "reconciler_change_sets") == 1 &&
        changes_key_sets(d, INT64_MAX) < 0)
        log_debug("changes: the sets not keyed yet are read whole: %s", db_errmsg(d));
    if (!(list = changes_list(d, &f))) {
        cli_error("changes: %s (has `reconciler migrate` created reconciler_change_sets?)",
                  db_errmsg(d));
        rc = EXIT_DATABASE;
        goto out;
    }
    if (as_json) {
        char *text = util_json_dump(list, 1);
        printf("%s\n", text);
        free(text);
    } else {
        size_t i;
        json_t *c;
        json_array_foreach(list, i, c)
            print_change(c);
    }
    rc = EXIT_OK;
out:
    json_decref(list);
    db_close(d);
    config_free(cfg);
    return rc;
}
