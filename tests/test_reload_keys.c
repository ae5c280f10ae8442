/* SPDX-License-Identifier: MIT */
/*
 * test_reload_keys.c - what a SIGHUP does to the keys, as the key table says
 * (config.h: CFG_BOUND): a reloadable key holds from the next run
 * (history.keep_runs, which was silently ignored), and a reload that is
 * refused changes nothing, the log's level and format neither (they were
 * applied before the file was refused).
 */
#include "th_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char schedule[] = "schedule:\n  on_startup: false\n  interval: 1h\n";

/* text with from replaced by to (once; from must be there). */
static char *replaced(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    cr_assert_not_null(at, "no '%s' in:\n%s", from, text);
    char *out = NULL;
    cr_assert_neq(asprintf(&out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from)), -1);
    return out;
}

static void one_run(svc *s)
{
    json_decref(wait_run(s, post_run(s, "", 202), 15000));
}

static size_t runs_kept(svc *s)
{
    json_t *runs = history_of(s);
    size_t n = json_array_size(runs);
    json_decref(runs);
    return n;
}

/* A reload that raises history.keep_runs keeps more runs from the next run on. */
Test(reload_keys, keep_runs_holds_after_a_reload, .timeout = 60, SVC_FIXTURE)
{
    fx_db(DB_SQLITE);
    svc *s = fx_svc(schedule, "", "  - plugin: fixture\n");
    char *base = th_read(s->yaml);
    char *two = replaced(base, "history:\n", "history:\n  keep_runs: 2\n");
    char *four = replaced(base, "history:\n", "history:\n  keep_runs: 4\n");
    th_write(s->yaml, two);
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    for (int i = 0; i < 3; i++)
        one_run(s);
    cr_assert_eq(runs_kept(s), 2, "keep_runs 2 at start");

    th_write(s->yaml, four);
    kill(s->pid, SIGHUP);
    th_wait_log(s->errlog, "1 step in force", 1, 10000);
    cr_assert_eq(th_file_contains(s->errlog, "keep_runs changed"), 0,
                 "keep_runs is reloadable, not bound:\n%s", th_read(s->errlog));
    for (int i = 0; i < 3; i++)
        one_run(s);
    cr_assert_eq(runs_kept(s), 4, "the reloaded keep_runs 4 is not in force:\n%s",
                 th_read(s->errlog));
    svc_term(s);
    free(base);
    free(two);
    free(four);
}

/* The line of the log at path that holds needle (malloc'd), or NULL. */
static char *log_line(const char *path, const char *needle)
{
    char *text = th_read(path), *line = NULL;
    for (char *p = text; p && *p;) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (!line && memmem(p, n, needle, strlen(needle)))
            line = strndup(p, n);
        p = nl ? nl + 1 : NULL;
    }
    free(text);
    return line;
}

/* Does any line of the log start as a JSON one? */
static int has_json_line(const char *path)
{
    char *text = th_read(path);
    int yes = text[0] == '{' || strstr(text, "\n{") != NULL;
    free(text);
    return yes;
}

static json_t *last_reload(svc *s)
{
    int status = 0;
    json_t *c = get_json(s, "/v1/service/config", &status);
    cr_assert_eq(status, 200);
    json_t *r = json_incref(json_object_get(c, "reload"));
    json_decref(c);
    return r;
}

/*
 * Is the last reload's outcome want? The state is set just after the log
 * line a test waits for, so a test waits for this too (a fact), not reads it once.
 */
static int reload_is(svc *s, const char *want)
{
    json_t *r = last_reload(s);
    const char *o = json_string_value(json_object_get(r, "outcome"));
    int same = o && strcmp(o, want) == 0;
    json_decref(r);
    return same;
}

/*
 * A file that sets log.level debug and log.format json, and is refused for a
 * step's option (found only when its plugin is checked, after the file
 * loaded): the log stays text at info, the refusal is reported. The other
 * side: the same settings in a file that is accepted take effect.
 */
Test(reload_keys, refused_reload_changes_no_log_setting, .timeout = 60, SVC_FIXTURE)
{
    fx_db(DB_SQLITE);
    svc *s = fx_svc(schedule, "", "  - plugin: fixture\n");
    char *base = th_read(s->yaml);
    char *loud = replaced(base, "\nsteps:\n", "\nlog:\n  level: debug\n  format: json\nsteps:\n");
    char *bad = replaced(loud, "  - plugin: fixture\n",
                         "  - plugin: fixture\n    options: { no_such_option: 1 }\n");
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));

    th_write(s->yaml, bad);
    kill(s->pid, SIGHUP);
    th_wait_log(s->errlog, "keeping the running pipeline", 1, 10000);
    char *refusal = log_line(s->errlog, "keeping the running pipeline");
    cr_assert(refusal[0] != '{' && strstr(refusal, " error "),
              "the refusal is not a text line at error: %s", refusal);
    cr_assert(strstr(refusal, "no_such_option"), "%s", refusal);
    TH_WAIT(reload_is(s, "refused"), 10000, "the reload is not reported refused");
    /* A run after it still logs as before: text, and no debug lines (a step worker's
     * "ready in" is one). */
    one_run(s);
    cr_assert_not(has_json_line(s->errlog), "a JSON line after the refused reload:\n%s",
                  th_read(s->errlog));
    cr_assert_eq(th_file_contains(s->errlog, "ready in"), 0,
                 "a debug line after the refused reload:\n%s", th_read(s->errlog));

    th_write(s->yaml, loud);
    kill(s->pid, SIGHUP);
    th_wait_log(s->errlog, "1 step in force", 1, 10000);
    char *taken = log_line(s->errlog, "1 step in force");
    cr_assert_eq(taken[0], '{', "the accepted file's log.format json is not in force: %s", taken);
    one_run(s);
    th_wait_log(s->errlog, "ready in", 1, 10000); /* and its level debug */
    TH_WAIT(reload_is(s, "ok"), 10000, "the accepted reload is not reported ok");
    svc_term(s);
    free(taken);
    free(refusal);
    free(bad);
    free(loud);
    free(base);
}

/*
 * A bound key (here the database's connect_timeout, kept silently before the
 * table said it) changed by a reload is named in a warning and keeps its
 * running value; the runs after it still connect with what the service bound.
 */
Test(reload_keys, a_bound_key_is_kept_and_named, .timeout = 60, SVC_FIXTURE)
{
    fx_db(DB_SQLITE);
    svc *s = fx_svc(schedule, "", "  - plugin: fixture\n");
    char *base = th_read(s->yaml);
    char *slower = replaced(base, "\nhistory:\n", "\n  connect_timeout: 7s\nhistory:\n");
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    th_write(s->yaml, slower);
    kill(s->pid, SIGHUP);
    th_wait_log(s->errlog, "1 step in force", 1, 10000);
    cr_assert_eq(th_file_contains(s->errlog, "reload: database.connect_timeout changed; it takes "
                                             "effect when reconciler restarts"), 1,
                 "%s", th_read(s->errlog));
    cr_assert_eq(th_file_contains(s->errlog, "database.url changed"), 0, "%s",
                 th_read(s->errlog));
    one_run(s);
    svc_term(s);
    free(slower);
    free(base);
}
