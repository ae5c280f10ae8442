/* SPDX-License-Identifier: MIT */
/*
 * cmd_calendar.c - `reconciler calendar EXPR [--zone Z] [--from T] [-n N]`:
 * the next fire times of a cron expression, like `systemd-analyze
 * calendar`; and `reconciler __calendar-batch`, the same for many queries
 * read from stdin (the differential test, tests/calendar/, runs thousands of
 * cases through it in one process). The calendar itself is calendar/: this
 * file only reads options, asks the clock for "now", and prints.
 */
#include "cli/cli.h"
#include "base/json.h"
#include "base/text.h"
#include "base/util.h"
#include "calendar/cron.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_MAX 1000

static const char calendar_help[] =
    "Usage: reconciler calendar EXPR [--zone ZONE] [--from TIME] [-n N] [--json]\n"
    "Print the next N fire times of the cron expression EXPR (one argument: quote\n"
    "it), strictly after TIME, one per line as ISO 8601 with the zone's offset.\n\n"
    "  EXPR               5 fields (minute hour day-of-month month day-of-week),\n"
    "                     6 with seconds first, or @yearly @annually @monthly\n"
    "                     @weekly @daily @midnight @hourly; lists, ranges, steps,\n"
    "                     JAN-DEC, SUN-SAT, L, L-n, LW, nW, d#n, dL\n"
    "  -z, --zone ZONE    a tz database name (Europe/Berlin), UTC, or a fixed\n"
    "                     offset (+05:30); default UTC. Zone files are read from\n"
    "                     $TZDIR, else " CAL_TZDIR_DEFAULT "\n"
    "  -f, --from TIME    ISO 8601 with offset or Z (2026-03-29T01:30:00+01:00),\n"
    "                     or @UNIXSECONDS; default now\n"
    "  -n N               how many fire times, 1-1000 (default 5)\n"
    "      --json         one JSON object: expression, zone, from, next[]\n"
    "  -h, --help         this help\n"
    "\nDaylight saving time: a slot in a skipped hour fires once, at the end of\n"
    "the gap; a slot whose wall time occurs twice fires once, at the first.\n"
    "\nExit codes: 0 ok, 2 bad expression, zone, time or option (the message\n"
    "gives the column inside the expression).\n";

/* The refusal, with the expression and a caret under the column. */
static void expr_error(const char *expr, const cal_err *e)
{
    char text[400];
    cli_error("calendar: %s", cal_err_text(e, text, sizeof text));
    if (e->column > 0 && strlen(expr) < 200) {
        fprintf(stderr, "  %s\n  %*s^\n", expr, e->column - 1, "");
    }
}

static int print_json(const char *expr, const cal_zone *z, int64_t from, const int64_t *t,
                      int n)
{
    char iso[CAL_ISO_MAX];
    json_t *next = jx(json_array());
    for (int i = 0; i < n; i++) {
        cal_span sp;
        cal_zone_span(z, t[i], &sp);
        json_array_append_new(next, jx(json_pack("{s:s, s:I, s:i, s:s, s:b}", "at",
                                                  cal_format_iso(z, t[i], iso), "unix",
                                                  (json_int_t)t[i], "offset", (int)sp.utoff,
                                                  "abbreviation", sp.abbr, "dst", sp.isdst)));
    }
    json_t *o = jx(json_pack("{s:o, s:s, s:s, s:o}", "expression", jx_text(expr), "zone",
                             cal_zone_name(z), "from", cal_format_iso(z, from, iso), "next",
                             next));
    char *s = util_json_dump(o, 1);
    printf("%s\n", s);
    free(s);
    json_decref(o);
    return EXIT_OK;
}

int cmd_calendar(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "zone", required_argument, NULL, 'z' }, { "from", required_argument, NULL, 'f' },
        { "json", no_argument, NULL, 'j' },       { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *zone_name = "UTC", *from_text = NULL;
    int64_t n = 5;
    int json = 0, ch, rc;
    char err[1024];

    optind = 1;
    while ((ch = getopt_long(argc, argv, "z:f:n:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'z': zone_name = optarg; break;
        case 'f': from_text = optarg; break;
        case 'j': json = 1; break;
        case 'n':
            if ((rc = text_int(optarg, 1, N_MAX, &n)) != TEXT_OK) {
                cli_error("calendar: -n '%s': %s", optarg,
                          rc == TEXT_RANGE ? "out of range 1-1000" : "not a whole number");
                return EXIT_USAGE;
            }
            break;
        case 'h': fputs(calendar_help, stdout); return EXIT_OK;
        default: fputs(calendar_help, stderr); return EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        cli_error(argc == optind ? "calendar: the cron expression is missing"
                                 : "calendar: give the expression as one argument, in quotes: "
                                   "reconciler calendar '0 9 * * MON-FRI'");
        fputs(calendar_help, stderr);
        return EXIT_USAGE;
    }
    const char *expr = argv[optind];

    cal_cron c;
    cal_err e;
    if (cal_cron_parse(expr, &c, &e) != 0 || cal_cron_never(&c, &e)) {
        expr_error(expr, &e);
        return EXIT_USAGE;
    }
    int64_t from;
    if (from_text) {
        if (cal_parse_instant(from_text, &from, err, sizeof err) != 0) {
            cli_error("calendar: --from %s", err);
            return EXIT_USAGE;
        }
    } else {
        from = util_wall_ms() / 1000;
    }
    cal_zone *z;
    if (cal_zone_open(zone_name, NULL, &z, err, sizeof err) != 0) {
        cli_error("calendar: --zone: %s", err);
        return EXIT_USAGE;
    }

    int64_t t[N_MAX], at = from;
    int got = 0;
    while (got < n && cal_next(&c, z, at, &t[got]) == CAL_OK)
        at = t[got++];
    if (json) {
        print_json(expr, z, from, t, got);
    } else {
        char iso[CAL_ISO_MAX];
        for (int i = 0; i < got; i++)
            printf("%s\n", cal_format_iso(z, t[i], iso));
        if (got < n)
            fprintf(stderr, "reconciler: calendar: no further fire time before year 10000\n");
    }
    cal_zone_free(z);
    return EXIT_OK;
}

/* ------------------------------------------------------------ batch mode */

/* The zones asked for so far, opened once each. */
typedef struct zcache {
    char *name[64];
    cal_zone *z[64];
    int n;
} zcache;

static cal_zone *zone_get(zcache *zc, const char *name, char *err, size_t errlen)
{
    for (int i = 0; i < zc->n; i++)
        if (strcmp(zc->name[i], name) == 0)
            return zc->z[i];
    cal_zone *z;
    if (cal_zone_open(name, NULL, &z, err, errlen) != 0)
        return NULL;
    if (zc->n == 64) {
        cal_zone_free(zc->z[0]);
        free(zc->name[0]);
        memmove(zc->z, zc->z + 1, 63 * sizeof zc->z[0]);
        memmove(zc->name, zc->name + 1, 63 * sizeof zc->name[0]);
        zc->n--;
    }
    zc->name[zc->n] = xstrdup(name);
    zc->z[zc->n++] = z;
    return z;
}

/*
 * One query a line, tab-separated: ZONE, AFTER (Unix seconds), N, EXPR.
 * One answer a line: "ok T1 T2 ..." (Unix seconds; fewer than N when the
 * calendar ends), "never COLUMN MESSAGE", "error COLUMN MESSAGE" (a refused
 * expression), or "fail MESSAGE" (a bad zone or line).
 */
int cmd_calendar_batch(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    zcache zc = { .n = 0 };
    char *line = NULL, err[1024];
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        char *f[4], *s = line;
        int k = 0;
        for (; k < 3; k++) {
            f[k] = s;
            s = strchr(s, '\t');
            if (!s)
                break;
            *s++ = '\0';
        }
        if (k < 3) {
            printf("fail expected ZONE<TAB>AFTER<TAB>N<TAB>EXPR\n");
            continue;
        }
        f[3] = s;
        int64_t after, n;
        if (text_int(f[1], INT64_MIN, INT64_MAX, &after) || text_int(f[2], 1, N_MAX, &n)) {
            printf("fail bad AFTER or N\n");
            continue;
        }
        cal_zone *z = zone_get(&zc, f[0], err, sizeof err);
        if (!z) {
            printf("fail %s\n", err);
            continue;
        }
        cal_cron c;
        cal_err e;
        if (cal_cron_parse(f[3], &c, &e) != 0) {
            printf("error %d %s\n", e.column, e.msg);
            continue;
        }
        if (cal_cron_never(&c, &e)) {
            printf("never %d %s\n", e.column, e.msg);
            continue;
        }
        fputs("ok", stdout);
        for (int64_t i = 0, at = after; i < n; i++) {
            int64_t t;
            if (cal_next(&c, z, at, &t) != CAL_OK)
                break;
            printf(" %lld", (long long)t);
            at = t;
        }
        putchar('\n');
    }
    free(line);
    for (int i = 0; i < zc.n; i++) {
        cal_zone_free(zc.z[i]);
        free(zc.name[i]);
    }
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_LOCAL;
}
