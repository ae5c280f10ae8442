/* SPDX-License-Identifier: MIT */
/* th_svc.c - see th_svc.h. */
#include "th_svc.h"
#include "engine/history.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *abs_build(const char *sub)
{
    return strdup(th_build_path(sub));
}

/*
 * Write instance n's pipeline file: the database of t, its own history and
 * port, both plugin folders (the real steps and the test fixtures), more
 * lines under http: (http_extra), more top-level lines (extra) and the steps.
 */
void svc_setup(svc *s, th_db *t, int n, const char *extra, const char *http_extra,
                      const char *steps)
{
    char name[64], *text = NULL;
    char *plugins = abs_build("plugins"), *fixtures = abs_build("tests/plugins");
    memset(s, 0, sizeof *s);
    s->t = t;
    s->port = th_free_port();
    snprintf(name, sizeof name, "svc%d.yaml", n);
    s->yaml = th_path(th_tmpdir(), name);
    snprintf(name, sizeof name, "svc%d.err", n);
    s->errlog = th_path(th_tmpdir(), name);
    snprintf(name, sizeof name, "hist%d.db", n);
    char abs[PATH_MAX];
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    s->hist = th_path(abs, name); /* absolute: the file resolves paths against its folder */
    cr_assert_neq(asprintf(&text, "database:\n  url: \"%s\"\nhistory:\n  path: %s\n"
                           "plugin_dir: [%s, %s]\nhttp:\n  listen: 127.0.0.1:%d\n%s%s\nsteps:\n%s",
                           t->url, s->hist, plugins, fixtures, s->port, http_extra, extra,
                           steps), -1);
    th_write(s->yaml, text);
    free(text);
    free(plugins);
    free(fixtures);
}

void svc_write_jobs(svc *s, const char *top, const char *jobs)
{
    char *plugins = abs_build("plugins"), *fixtures = abs_build("tests/plugins"), *text = NULL;
    cr_assert_neq(asprintf(&text, "database:\n  url: \"%s\"\nhistory:\n  path: %s\n"
                           "plugin_dir: [%s, %s]\nhttp:\n  listen: 127.0.0.1:%d\n%sjobs:\n%s",
                           s->t->url, s->hist, plugins, fixtures, s->port, top, jobs), -1);
    th_write(s->yaml, text);
    free(text);
    free(plugins);
    free(fixtures);
}

void svc_setup_jobs(svc *s, th_db *t, int n, const char *top, const char *jobs)
{
    svc_setup(s, t, n, "", "", "  - plugin: fixture\n");
    svc_write_jobs(s, top, jobs);
}

/* "RECONCILER_DB_PASSWORD=..." for s's database (malloc'd), or NULL when it has none. */
char *password_env(const svc *s)
{
    char *pw = NULL;
    if (s->t->password)
        cr_assert_neq(asprintf(&pw, "RECONCILER_DB_PASSWORD=%s", s->t->password), -1);
    return pw;
}

/*
 * Start `reconciler run -c FILE` (plus --once --json when out_path is set,
 * stdout to out_path; else s->extra_arg) in the background with the
 * database password and env; it dies with the test process.
 */
pid_t spawn(svc *s, const char *const *env, const char *out_path)
{
    char *pw = password_env(s);
    char *bin = th_path(th_build(), "reconciler");
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int o = out_path ? open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644)
                         : open("/dev/null", O_WRONLY);
        int e = open(s->errlog, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (o < 0 || e < 0)
            _exit(127);
        dup2(o, 1);
        dup2(e, 2);
        if (pw)
            putenv(pw);
        for (const char *const *kv = env; kv && *kv; kv++)
            putenv((char *)*kv);
        if (out_path)
            execl(bin, bin, "run", "--once", "--json", "-c", s->yaml, (char *)NULL);
        else
            execl(bin, bin, "run", "-c", s->yaml, s->extra_arg, (char *)NULL);
        _exit(127);
    }
    free(pw);
    free(bin);
    return pid;
}

void svc_start(svc *s, const char *const *env)
{
    s->pid = spawn(s, env, NULL);
}

/* `run --once [--json]` in the foreground: its exit code, stdout and stderr. */
int run_once(svc *s, int as_json, char **out, char **err)
{
    char *pw = password_env(s);
    const char *const env[] = { pw, NULL };
    const char *const args[] = { "run", "--once", "-c", s->yaml, as_json ? "--json" : NULL, NULL };
    int rc = th_run_cli(args, env, out, err);
    free(pw);
    return rc;
}

int svc_cli(svc *s, const char *const *args, char **out, char **err)
{
    const char *all[16] = { NULL };
    size_t n = 0;
    for (; args[n]; n++) {
        cr_assert_lt(n, 13, "svc_cli: too many arguments");
        all[n] = args[n];
    }
    all[n++] = "-c";
    all[n++] = s->yaml;
    char *pw = password_env(s);
    const char *const env[] = { pw, NULL };
    int rc = th_run_cli(all, env, out, err);
    free(pw);
    return rc;
}

/* Wait up to ms for it to exit; its exit code, 128+signal, or -1 if it is still running. */
int svc_wait_exit(svc *s, int ms)
{
    int st;
    int64_t end = mono_ms() + th_ms(ms);
    do {
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid) {
            s->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        sleep_ms(20);
    } while (mono_ms() < end);
    return -1;
}

void svc_kill(svc *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

void svc_free(svc *s)
{
    svc_kill(s);
    free(s->yaml);
    free(s->errlog);
    free(s->hist);
}

/* SIGTERM, then exit 0 within 5 s (the promise; th_ms scales it). */
void svc_term(svc *s)
{
    kill(s->pid, SIGTERM);
    int rc = svc_wait_exit(s, 5000);
    cr_assert_eq(rc, 0, "no exit 0 within %d ms of SIGTERM (%d: -1 still running, 66 a "
                 "ThreadSanitizer report); log:\n%s", th_ms(5000), rc, th_read(s->errlog));
}

/* A fresh migrated database. */
void migrated(db_kind kind, th_db *t)
{
    th_db_create(kind, t);
    th_db_migrate(t);
}

json_t *parse(const th_response *r)
{
    json_error_t e;
    json_t *j = json_loads(r->body ? r->body : "", 0, &e);
    cr_assert_not_null(j, "not JSON (%s): %s", e.text, r->body ? r->body : "(none)");
    return j;
}

/* GET path; status in *status; the body parsed (NULL when not JSON is asked for). */
json_t *get_json(svc *s, const char *path, int *status)
{
    th_response r;
    cr_assert_eq(th_http(s->port, "GET", path, NULL, NULL, &r), 0, "GET %s: no answer", path);
    *status = r.status;
    json_t *j = parse(&r);
    th_response_free(&r);
    return j;
}

/* Poll path until it answers want (up to ms); returns the last body. */
json_t *wait_for(svc *s, const char *path, int want, int ms)
{
    ms = th_ms(ms);
    int64_t end = mono_ms() + ms;
    for (;;) {
        th_response r;
        if (th_http(s->port, "GET", path, NULL, NULL, &r) == 0) {
            if (r.status == want) {
                json_t *j = parse(&r);
                th_response_free(&r);
                return j;
            }
            th_response_free(&r);
        }
        cr_assert_lt(mono_ms(), end, "%s did not answer %d within %d ms; its log:\n%s", path,
                     want, ms, th_read(s->errlog));
        sleep_ms(50);
    }
}

int64_t post_run(svc *s, const char *query, int want)
{
    th_response r;
    char path[128];
    snprintf(path, sizeof path, "/v1/reconciliation/run%s", query);
    cr_assert_eq(th_http(s->port, "POST", path, NULL, NULL, &r), 0);
    cr_assert_eq(r.status, want, "POST %s: %d %s", path, r.status, r.body);
    json_t *j = parse(&r);
    th_response_free(&r);
    int64_t id = json_integer_value(json_object_get(j, "runId"));
    json_decref(j);
    return id;
}

/* The finished run id, polled from /v1/reconciliation/runs/ID. */
json_t *wait_run(svc *s, int64_t id, int ms)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/reconciliation/runs/%lld", (long long)id);
    return wait_for(s, path, 200, ms);
}

json_t *history_of(svc *s)
{
    history *h;
    char err[1024];
    cr_assert_eq(history_open(s->hist, 1000, HISTORY_BUSY_DEFAULT_MS, &h, err, sizeof err), 0, "%s", err);
    json_t *runs = history_list(h, 1000);
    cr_assert_not_null(runs);
    history_close(h);
    return runs;
}

int64_t iso_ms(const char *iso)
{
    struct tm tm = { 0 };
    int ms = 0;
    cr_assert_eq(sscanf(iso, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms), 7, "%s", iso);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/*
 * GET path?fresh=1 until its body says "fresh": true (a refresh that started
 * after the request succeeded), up to ms; returns that body (status 200).
 */
json_t *get_fresh(svc *s, const char *path, int ms)
{
    char url[512];
    ms = th_ms(ms);
    int64_t end = mono_ms() + ms;
    snprintf(url, sizeof url, "%s%sfresh=1", path, strchr(path, '?') ? "&" : "?");
    for (;;) {
        int st;
        json_t *j = get_json(s, url, &st);
        if (st == 200 && json_is_true(json_object_get(j, "fresh")))
            return j;
        cr_assert_lt(mono_ms(), end, "%s: no fresh answer within %d ms (last: %d %s); log:\n%s",
                     url, ms, st, json_dumps(j, 0), th_read(s->errlog));
        json_decref(j);
    }
}

void th_dead_leases(th_db *t, int n)
{
    char sql[512];
    /* The CTE's place differs: MariaDB wants it after INSERT's column list, SQLite before. */
    const char *cte =
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)";
    const char *ins = "INSERT INTO processing_jobs (job_type, status, attempts, locked_by, "
                      "locked_until)";
    char with[128];
    snprintf(with, sizeof with, cte, n);
    snprintf(sql, sizeof sql, "%s %s SELECT 'k', 'processing', 1, 'dead', '2020-01-01 00:00:00' "
             "FROM n", t->kind == DB_MYSQL ? ins : with, t->kind == DB_MYSQL ? with : ins);
    if (t->kind == DB_MYSQL) /* MariaDB stops a recursive CTE at 1000 rows by default */
        cr_assert_eq(db_exec(t->conn, "SET SESSION max_recursive_iterations = 100000", NULL, 0,
                             NULL), 0, "%s", db_errmsg(t->conn));
    cr_assert_eq(db_exec(t->conn, sql, NULL, 0, NULL), 0, "%s", db_errmsg(t->conn));
}

void svc_kill_at(svc *s, db *conn, const char *count_sql, int64_t n, int ms)
{
    int64_t end = mono_ms() + ms;
    while (th_count(conn, count_sql) < n) {
        cr_assert_lt(mono_ms(), end, "no progress: %s", th_read(s->errlog));
        sleep_ms(5);
    }
    kill(s->pid, SIGKILL);
    cr_assert_eq(svc_wait_exit(s, 5000), 128 + SIGKILL);
}

void svc_set_batch_size(svc *s, int n)
{
    char *yaml = th_read(s->yaml);
    char *at = yaml ? strstr(yaml, "batch_size: ") : NULL;
    cr_assert(at, "no batch_size in %s", yaml);
    FILE *f = fopen(s->yaml, "w");
    cr_assert(f);
    fprintf(f, "%.*sbatch_size: %d%s", (int)(at - yaml), yaml, n,
            strchr(at, ' ') + strspn(strchr(at, ' '), " 0123456789"));
    fclose(f);
    free(yaml);
}
