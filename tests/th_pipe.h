/* SPDX-License-Identifier: MIT */
/*
 * th_pipe.h - a pipeline run by the real binary: a fresh migrated database, a
 * pipeline file on it with plugin folders of the build, and `run --once
 * --json` (or any command) on that file, its result and stderr kept for the
 * test's checks. Shared by the step-worker and hostile-plugin tests; in a
 * test with SVC_FIXTURE take it from fx_pipe (th_fixture.h), which lets it go
 * whatever happens to the test.
 */
#ifndef RC_TH_PIPE_H
#define RC_TH_PIPE_H

#include <jansson.h>
#include <stddef.h>
#include "helpers.h"

typedef struct th_pipe {
    th_db t;
    char *yaml;      /* its pipeline file */
    const char *env; /* one more "K=V" for every command (ASAN_OPTIONS, say), or NULL */
    json_t *res;     /* the last th_pipe_once's result */
    char *err;       /* and its stderr */
} th_pipe;

/*
 * Set p up: a fresh migrated database of kind, a pipeline file with history
 * hist.db, plugin_dir [BUILD/dir1, BUILD/dir2] (dir2 may be NULL), the
 * top-level YAML lines extra (may be "") and the steps (lines under "steps:").
 */
void th_pipe_up(th_pipe *p, db_kind kind, const char *dir1, const char *dir2,
                const char *extra, const char *steps);
/* Let it all go (the result, the database, the file's name); again: nothing. */
void th_pipe_down(th_pipe *p);

/* `reconciler A1 -c FILE A2 A3` (A2, A3 may be NULL) with the database's password and p->env:
 * exit code, stdout and stderr (malloc'd, either may be NULL). */
int th_pipe_cli(th_pipe *p, const char *a1, const char *a2, const char *a3, char **out,
                char **err);
/* `run --once --json`: its exit code; p->res the result (the test fails when there is none),
 * p->err its stderr, the previous ones let go. */
int th_pipe_once(th_pipe *p);
/* The last run (p->res) is in the history store with this status (`history --run`). */
void th_pipe_assert_history(th_pipe *p, const char *status);

/*
 * `validate -c TMP/name` of a file of a SQLite database that is not there, plugin_dir dir
 * and the steps (lines under "steps:"): exit code; *err its stderr (malloc'd).
 */
int th_validate(const char *name, const char *dir, const char *steps, char **err);

/* Step i of a run's result (borrowed), or NULL. */
json_t *th_step(json_t *res, size_t i);
/* Member k of o as a string, or NULL. */
const char *th_str(json_t *o, const char *k);

#endif
