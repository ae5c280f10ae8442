/* SPDX-License-Identifier: MIT */
/*
 * test_make.c - the Makefile's promises (docs/build.md): plain `make` builds,
 * and nothing else. make is run on this very tree, from its root, in
 * question (-q) or print mode: nothing is built or removed here.
 */
#include "helpers.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Run make with args (NULL-terminated, at most 12) in the source tree (with
 * path, "PATH=...", in its environment when not NULL),
 * without the make flags of a make that may have started this suite (a
 * -j jobserver, BUILD=...): its stdout in *out (malloc'd). Returns the status.
 */
static int run_make_env(const char *path, const char *const *args, char **out)
{
    const char *argv[24] = { "-u", "MAKEFLAGS", "-u", "MAKELEVEL", "-u", "MFLAGS" };
    size_t n = 6;
    if (path)
        argv[n++] = path;
    argv[n++] = "make";
    argv[n++] = "--no-print-directory";
    for (size_t i = 0; args[i]; i++) {
        cr_assert_lt(n, sizeof argv / sizeof argv[0] - 1, "run_make: too many arguments");
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    char *err = NULL;
    int rc = th_run_prog("/usr/bin/env", argv, NULL, out, &err);
    free(err);
    return rc;
}

static int run_make(const char *const *args, char **out)
{
    return run_make_env(NULL, args, out);
}

/* The value of the line "NAME := VALUE" (or "NAME = VALUE") of make -p output, malloc'd, or NULL. */
static char *db_value(const char *dump, const char *name)
{
    size_t len = strlen(name);
    for (const char *l = dump; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, name, len) != 0 || l[len] != ' ')
            continue;
        const char *v = l + len + 1;
        if (strncmp(v, ":= ", 3) == 0)
            v += 3;
        else if (strncmp(v, "= ", 2) == 0)
            v += 2;
        else
            continue;
        return strndup(v, strcspn(v, "\n"));
    }
    return NULL;
}

/* The issue: the .mk files' first rule (_bench) was the default goal. */
Test(make, plain_make_builds_all)
{
    char *dump = NULL;
    const char *args[] = { "-pq", NULL };
    run_make(args, &dump); /* exit 1 (not up to date) is make -q's answer, not a failure */
    char *goal = db_value(dump, ".DEFAULT_GOAL");
    cr_assert_not_null(goal, "make -pq printed no .DEFAULT_GOAL");
    cr_assert_str_eq(goal, "all", "plain `make` would run %s, not all", goal);
    free(goal);
    free(dump);
}

/* 1 when make's output out holds a command that writes obj (" -o obj"). */
static int compiles(const char *out, const char *obj)
{
    char needle[1024];
    snprintf(needle, sizeof needle, " -o %s ", obj);
    return strstr(out, needle) != NULL;
}

/*
 * The compiler's dependencies (-MMD -MP): a header changed (-W, pretended
 * new; -n, nothing run) rebuilds the objects that include it, and not
 * every object as the old "each object depends on each header" rule did.
 */
Test(make, a_header_rebuilds_only_its_includers)
{
    char bflag[512], lib[512], civil[512], next[512], text[512], *out = NULL;
    const char *b = th_build();
    snprintf(bflag, sizeof bflag, "BUILD=%s", b);
    snprintf(lib, sizeof lib, "%s/libcore.a", b);
    snprintf(civil, sizeof civil, "%s/obj/core/calendar/civil.o", b);
    snprintf(next, sizeof next, "%s/obj/core/calendar/next.o", b);
    snprintf(text, sizeof text, "%s/obj/core/base/text.o", b);
    const char *args[] = { "-n", "-W", "core/calendar/civil.h", bflag, lib, NULL };
    cr_assert_eq(run_make(args, &out), 0);
    cr_assert(compiles(out, civil), "civil.h changed, civil.o not rebuilt:\n%s", out);
    cr_assert(compiles(out, next), "civil.h changed, next.o (which includes it) not rebuilt:\n%s", out);
    cr_assert(!compiles(out, text), "civil.h changed, text.o (which does not include it) rebuilt:\n%s", out);
    free(out);
}

Test(make, clean_removes_the_build_it_is_given)
{
    char *out = NULL;
    const char *args[] = { "-n", "clean", "BUILD=/nonexistent/elsewhere", NULL };
    cr_assert_eq(run_make(args, &out), 0);
    cr_assert_str_eq(out, "rm -rf /nonexistent/elsewhere\n");
    free(out);
}

/*
 * make asan builds and tests under BUILD/asan. MAKE=echo: make -n runs the
 * recipe lines that start a make, and echo prints them instead.
 */
Test(make, asan_builds_under_the_build_it_is_given)
{
    char *out = NULL;
    const char *args[] = { "-n", "_asan", "BUILD=/nonexistent/b", "MAKE=echo", NULL };
    cr_assert_eq(run_make(args, &out), 0);
    cr_assert(strstr(out, "_all BUILD=/nonexistent/b/asan ASAN=1"), "%s", out);
    cr_assert(strstr(out, "tools/check-asan /nonexistent/b/asan\n"), "%s", out);
    cr_assert(strstr(out, "_test BUILD=/nonexistent/b/asan ASAN=1"), "%s", out);
    cr_assert(!strstr(out, " build/asan"), "a path outside BUILD: %s", out);
    free(out);
}

/* tools/demo (make demo) with another build folder: its database goes there. */
Test(make, demo_runs_in_the_build_it_is_given, .timeout = 60)
{
    char cmd[2048], *out = NULL, *err = NULL;
    const char *d = th_tmpdir();
    char *other = th_path(d, "other");
    char *bin = strdup(th_build_path("reconciler")); /* th_build_path's buffer is reused */
    snprintf(cmd, sizeof cmd, "mkdir -p %s && ln -s %s %s/reconciler && ln -s %s %s/plugins", other,
             bin, other, th_build_path("plugins"), other);
    free(bin);
    cr_assert_eq(system(cmd), 0);
    const char *args[] = { other, NULL };
    int rc = th_run_prog("tools/demo", args, NULL, &out, &err);
    cr_assert_eq(rc, 0, "tools/demo %s: exit %d\n%s\n%s", other, rc, out, err);
    char *dbfile = th_path(other, "demo/bot.db");
    cr_assert_eq(access(dbfile, F_OK), 0, "no %s:\n%s", dbfile, out);
    cr_assert(strstr(out, "== creating the demo database "), "%s", out);
    cr_assert(strstr(out, "demo/bot.db"), "%s", out);
    free(dbfile);
    free(other);
    free(out);
    free(err);
}

/* The file VERSION is the one source: the binary prints it (the package is named after it, tests/install/run). */
Test(make, version_is_the_version_file)
{
    char *want = th_read("VERSION"), *out = NULL;
    cr_assert_not_null(want, "no file VERSION at the top of the tree");
    want[strcspn(want, "\n")] = '\0';
    cr_assert_gt(strlen(want), 0);
    const char *args[] = { "--version", NULL };
    cr_assert_eq(th_run_cli(args, NULL, &out, NULL), 0);
    char first[256];
    snprintf(first, sizeof first, "reconciler %s (", want);
    cr_assert_eq(strncmp(out, first, strlen(first)), 0, "--version says %s; VERSION says %s", out, want);
    free(want);
    free(out);
}

/*
 * pkg-config is asked once, and not while make reads the Makefile: `make
 * all` reads it before tools/install-deps has installed pkg-config and the
 * libraries on a fresh machine. A pkg-config first in PATH counts the calls.
 */
Test(make, pkg_config_is_asked_once_and_only_when_used)
{
    char cmd[2048], path[1024], bflag[600], o1[600], o2[600], o3[600], *out = NULL;
    const char *d = th_tmpdir();
    char *log = th_path(d, "pkg-config.log"), *bin = th_path(d, "bin");
    snprintf(cmd, sizeof cmd, "mkdir -p %s && printf '#!/bin/sh\\necho \"$*\" >>%s\\n"
             "exec /usr/bin/pkg-config \"$@\"\\n' >%s/pkg-config && chmod +x %s/pkg-config",
             bin, log, bin, bin);
    cr_assert_eq(system(cmd), 0);
    snprintf(path, sizeof path, "PATH=%s:%s", bin, getenv("PATH"));

    const char *reading[] = { "-pq", "all", NULL };
    run_make_env(path, reading, &out);
    cr_assert(strstr(out, "\nPKG_CFLAGS = "), "PKG_CFLAGS was set while reading:\n%.300s",
              strstr(out, "PKG_CFLAGS") ? strstr(out, "PKG_CFLAGS") : "(absent)");
    cr_assert_eq(access(log, F_OK), -1, "make all asked pkg-config before install-deps: %s", th_read(log));
    free(out);

    /* Three compilations (printed, -n) in a build folder of their own. */
    snprintf(bflag, sizeof bflag, "BUILD=%s/b", d);
    snprintf(o1, sizeof o1, "%s/b/obj/core/base/text.o", d);
    snprintf(o2, sizeof o2, "%s/b/obj/core/base/json.o", d);
    snprintf(o3, sizeof o3, "%s/b/obj/core/base/log.o", d);
    const char *compiling[] = { "-n", bflag, o1, o2, o3, NULL };
    cr_assert_eq(run_make_env(path, compiling, &out), 0);
    cr_assert(compiles(out, o1) && compiles(out, o3), "%s", out);
    char *calls = th_read(log);
    cr_assert_not_null(calls, "pkg-config was never asked");
    cr_assert_str_eq(calls, "--cflags libmariadb yaml-0.1 sqlite3 jansson libmicrohttpd libcurl libcrypto\n",
                     "pkg-config calls for three objects:\n%s", calls);
    free(calls);
    free(out);
    free(log);
    free(bin);
}

/*
 * make check: the suite under tests/with-mariadb, CHECK_JOBS at a time,
 * CHECK_FILTER passed on; no layer check, no stage (printed, -n).
 */
Test(make, check_runs_the_suite_alone)
{
    char bflag[600], want[1600], *out = NULL;
    const char *b = th_build();
    snprintf(bflag, sizeof bflag, "BUILD=%s", b);
    const char *args[] = { "-n", "_check", bflag, "CHECK_JOBS=3", "CHECK_FILTER=sql_step/*", NULL };
    cr_assert_eq(run_make(args, &out), 0);
    /* make -n prints a continued recipe line as written: join it. */
    char *w = out;
    for (const char *r = out; *r; r++) {
        if (r[0] == '\\' && r[1] == '\n') {
            for (r += 2; *r == ' ' || *r == '\t'; r++)
                ;
            if (w == out || w[-1] != ' ')
                *w++ = ' ';
            r--;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    snprintf(want, sizeof want, "RECONCILER_BUILD=%s tests/with-mariadb %s %s/tests/unit "
             "--jobs 3 --filter 'sql_step/*'", b, b, b);
    cr_assert(strstr(out, want), "no '%s' in:\n%s", want, out);
    cr_assert(!strstr(out, "check-layers"), "%s", out);
    cr_assert(!strstr(out, "_test-"), "make check runs a stage:\n%s", out);
    free(out);
}
