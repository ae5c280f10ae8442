/*
 * test_make.c - the Makefile's promises (docs/build.md): plain `make` builds,
 * and nothing else. make is run on this very tree, from its root, in
 * question (-q) or print mode: nothing is built or removed here.
 */
#include "helpers.h"

#include <stdlib.h>
#include <string.h>

/*
 * Run make with args (NULL-terminated, at most 12) in the source tree,
 * without the make flags of a make that may have started this suite (a
 * -j jobserver, BUILD=...): its stdout in *out (malloc'd). Returns the status.
 */
static int run_make(const char *const *args, char **out)
{
    const char *argv[24] = { "-u", "MAKEFLAGS", "-u", "MAKELEVEL", "-u", "MFLAGS",
                             "make", "--no-print-directory" };
    size_t n = 8;
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
