/* SPDX-License-Identifier: MIT */
/* th_pipe.c - see th_pipe.h. */
#include "th_pipe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void th_pipe_up(th_pipe *p, db_kind kind, const char *dir1, const char *dir2,
                const char *extra, const char *steps)
{
    /* th_build_path's buffer is overwritten by the next call: keep the first. */
    char *d1 = strdup(th_build_path(dir1)), *text = NULL;
    const char *d2 = dir2 ? th_build_path(dir2) : NULL;
    memset(p, 0, sizeof *p);
    th_db_create(kind, &p->t);
    th_db_migrate(&p->t);
    cr_assert_neq(asprintf(&text, "database:\n  url: \"%s\"\nhistory:\n  path: hist.db\n"
                           "plugin_dir: [%s%s%s]\n%ssteps:\n%s", p->t.url, d1, d2 ? ", " : "",
                           d2 ? d2 : "", extra, steps), -1);
    p->yaml = th_path(th_tmpdir(), "pipeline.yaml");
    th_write(p->yaml, text);
    free(text);
    free(d1);
}

void th_pipe_down(th_pipe *p)
{
    if (!p->yaml) /* down already, or never up */
        return;
    json_decref(p->res);
    free(p->err);
    th_db_destroy(&p->t);
    free(p->yaml);
    memset(p, 0, sizeof *p);
}

int th_pipe_cli(th_pipe *p, const char *a1, const char *a2, const char *a3, char **out,
                char **err)
{
    char *pw = NULL;
    if (p->t.password)
        cr_assert_neq(asprintf(&pw, "RECONCILER_DB_PASSWORD=%s", p->t.password), -1);
    const char *args[] = { a1, "-c", p->yaml, a2, a3, NULL };
    /* The first NULL ends the list: the password after env when env is set. */
    const char *env[] = { p->env ? p->env : pw, p->env ? pw : NULL, NULL };
    int rc = th_run_cli(args, env, out, err);
    free(pw);
    return rc;
}

int th_pipe_once(th_pipe *p)
{
    char *out = NULL;
    json_decref(p->res);
    free(p->err);
    p->res = NULL;
    p->err = NULL;
    int rc = th_pipe_cli(p, "run", "--once", "--json", &out, &p->err);
    p->res = json_loads(out ? out : "", 0, NULL);
    cr_assert_not_null(p->res, "no result JSON (exit %d): %s\n%s", rc, out, p->err);
    free(out);
    return rc;
}

void th_pipe_assert_history(th_pipe *p, const char *status)
{
    char *out = NULL, arg[32];
    snprintf(arg, sizeof arg, "%lld",
             (long long)json_integer_value(json_object_get(p->res, "runId")));
    const char *args[] = { "history", "--run", arg, "-c", p->yaml, NULL };
    cr_assert_eq(th_run_cli(args, NULL, &out, NULL), 0, "no history row for run %s", arg);
    json_t *j = json_loads(out, 0, NULL);
    cr_assert_str_eq(th_str(j, "status"), status, "%s", out);
    json_decref(j);
    free(out);
}

int th_validate(const char *name, const char *dir, const char *steps, char **err)
{
    char *yaml = th_path(th_tmpdir(), name), *text = NULL;
    cr_assert_neq(asprintf(&text, "database: { url: \"sqlite:x.db\" }\nplugin_dir: %s\n"
                           "steps:\n%s", dir, steps), -1);
    th_write(yaml, text);
    const char *args[] = { "validate", "-c", yaml, NULL };
    int rc = th_run_cli(args, NULL, NULL, err);
    free(text);
    free(yaml);
    return rc;
}

json_t *th_step(json_t *res, size_t i)
{
    return json_array_get(json_object_get(res, "steps"), i);
}

const char *th_str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}
