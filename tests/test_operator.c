/* SPDX-License-Identifier: MIT */
/*
 * test_operator.c - what an operator meets on an installed system: the
 * history store's owner and modes, the run lock as `run --once` and the
 * service report it. The real binary, real SQLite and MariaDB, real loopback
 * HTTP.
 */
#include "helpers.h"
#include "db/lock.h"
#include "service/webhook_payload.h"
#include "th_fixture.h"
#include "th_http.h"
#include "th_otlp.h"
#include "th_svc.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pty.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIXTURE_STEP "  - plugin: fixture\n"

static mode_t mode_of(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
    return st.st_mode & 07777;
}

static uid_t owner_of(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
    return st.st_uid;
}

/*
 * The fixture's pipeline on SQLite, its history store FOLDER/history.db where FOLDER is
 * TMP/name, absolute (*folder, malloc'd; not created here).
 */
static svc *store_in(const char *name, char **folder)
{
    char abs[PATH_MAX];
    fx_db(DB_SQLITE);
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    *folder = th_path(abs, name);
    svc *s = fx_svc("", "", FIXTURE_STEP);
    char *text = th_read(s->yaml), *p = strstr(text, s->hist), *edited = NULL;
    cr_assert_not_null(p);
    char *hist = th_path(*folder, "history.db");
    cr_assert_neq(asprintf(&edited, "%.*s%s%s", (int)(p - text), text, hist,
                           p + strlen(s->hist)), -1);
    th_write(s->yaml, edited);
    free(s->hist);
    s->hist = hist;
    free(edited);
    free(text);
    return s;
}

/* Every file reconciler creates is its own: the store 0600, its folder 0700. */
Test(operator, history_store_is_private, .timeout = 30, SVC_FIXTURE)
{
    char *folder, *out = NULL, *err = NULL;
    svc *s = store_in("state", &folder);
    int rc = run_once(s, 1, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_eq(mode_of(folder), 0700, "folder mode %04o", mode_of(folder));
    cr_assert_eq(mode_of(s->hist), 0600, "store mode %04o", mode_of(s->hist));
    char *wal = NULL;
    cr_assert_neq(asprintf(&wal, "%s-wal", s->hist), -1);
    if (access(wal, F_OK) == 0)
        cr_assert_eq(mode_of(wal), 0600, "wal mode %04o", mode_of(wal));
    free(wal);
    free(out);
    free(err);
    free(folder);
}

/* Root's first `run --once` in the service's folder leaves the store to the service's user. */
Test(operator, root_creates_the_store_for_the_folder_owner, .timeout = 30, SVC_FIXTURE)
{
    char *folder, *out = NULL, *err = NULL;
    if (geteuid() != 0)
        cr_skip_test("needs root");
    struct passwd *nobody = getpwnam("nobody");
    cr_assert_not_null(nobody);
    svc *s = store_in("svcstate", &folder);
    cr_assert_eq(mkdir(folder, 0700), 0);
    cr_assert_eq(chown(folder, nobody->pw_uid, nobody->pw_gid), 0);
    int rc = run_once(s, 1, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_eq(owner_of(s->hist), nobody->pw_uid, "the store belongs to uid %u",
                 (unsigned)owner_of(s->hist));
    cr_assert_eq(mode_of(s->hist), 0600);
    free(out);
    free(err);
    free(folder);
}

/*
 * A store that belongs to root, met by a process of another user (the
 * packaged service after a root `run --once` of an older version): exit 5,
 * naming the owner and the chown that fixes it.
 */
Test(operator, store_of_another_user_names_owner_and_fix, .timeout = 30, SVC_FIXTURE)
{
    char *folder, *out = NULL, *err = NULL;
    if (geteuid() != 0)
        cr_skip_test("needs root");
    svc *s = store_in("rootstate", &folder);
    cr_assert_eq(mkdir(folder, 0755), 0);
    cr_assert_eq(chmod(s->t->url + strlen("sqlite:"), 0666), 0);
    int rc = run_once(s, 1, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    free(out);
    free(err);

    /* The same run as nobody (setpriv): the bot's database is writable, the store is not. */
    char *bin = th_path(th_build(), "reconciler");
    const char *const args[] = { "--reuid=nobody", "--regid=nogroup", "--clear-groups", bin,
                                 "run", "--once", "-c", s->yaml, NULL };
    rc = th_run_prog("/usr/bin/setpriv", args, NULL, &out, &err);
    cr_assert_eq(rc, 5, "exit %d: %s", rc, err);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "`chown nobody:nogroup %s`", s->hist);
    cr_assert_not_null(strstr(err, "belongs to root"), "%s", err);
    cr_assert_not_null(strstr(err, "runs as nobody"), "%s", err);
    cr_assert_not_null(strstr(err, want), "%s", err);
    cr_assert_not_null(strstr(err, "mode 0600"), "%s", err);
    free(bin);
    free(out);
    free(err);
    free(folder);
}

/* A scheduled run every 3 s (no jitter, no startup run): the lock is held after each. */
#define HOLDING_SCHEDULE "schedule:\n  on_startup: false\n  interval: 3s\n  jitter: 0s\n"

/* Wait for the service's first scheduled run to finish (its state names it). */
static void wait_scheduled_run(svc *s)
{
    int64_t end = mono_ms() + 20000;
    for (;;) {
        json_t *st = wait_for(s, "/v1/service/state", 200, 10000);
        json_t *last = json_object_get(st, "lastRun");
        int done = last && json_is_string(json_object_get(last, "trigger"));
        json_decref(st);
        if (done)
            return;
        cr_assert_lt(mono_ms(), end, "no scheduled run; log:\n%s", th_read(s->errlog));
        sleep_ms(100);
    }
}

/*
 * After a scheduled run the service keeps the run lock (so N instances make
 * one run per interval): the state, the metric and `run --once` on the same
 * host all say so. Before the fix the state said held:false and `run --once`
 * waited schedule.lock_wait in silence, then blamed "another instance".
 */
DB_TEST(operator, lock_held_after_scheduled_run_is_reported, .timeout = 60, SVC_FIXTURE)
{
    char *out = NULL, *err = NULL;
    fx_db(kind);
    svc *s = fx_svc(HOLDING_SCHEDULE, "", REAL_STEPS);
    svc_start(s, NULL);
    wait_scheduled_run(s);

    json_t *st = wait_for(s, "/v1/service/state", 200, 5000);
    json_t *lock = json_object_get(st, "lock");
    cr_assert(json_is_true(json_object_get(lock, "held")), "%s", json_dumps(st, 0));
    cr_assert(json_is_string(json_object_get(lock, "until")), "%s", json_dumps(st, 0));
    const char *phase = json_string_value(json_object_get(lock, "phase"));
    cr_assert(phase && (strcmp(phase, "hold") == 0 || strcmp(phase, "run") == 0), "%s",
              json_dumps(st, 0));
    json_decref(st);

    th_response r;
    cr_assert_eq(th_http(s->port, "GET", "/metrics", NULL, NULL, &r), 0);
    cr_assert_not_null(strstr(r.body, "\nreconciler_lock_held 1\n"), "%s", r.body);
    cr_assert_null(strstr(r.body, "\nreconciler_lock_held_until_timestamp_seconds 0\n"), "%s",
                   r.body);
    th_response_free(&r);

    /* The default lock_wait is 60 s: an answer within the test's timeout is the fix. */
    int rc = run_once(s, 0, &out, &err);
    cr_assert_eq(rc, 4, "exit %d: %s", rc, err);
    char want[128];
    snprintf(want, sizeof want, "the service on this host (pid %ld) holds the run lock until",
             (long)s->pid);
    cr_assert_not_null(strstr(err, want), "%s", err);
    cr_assert_not_null(strstr(err, "reconciler trigger"), "%s", err);
    free(out);
    free(err);
    svc_term(s);
}

/*
 * `run --once` that gave up waiting for another host's lock is recorded as
 * that wait (its duration, the holder, the outcome), not as a 0 ms run.
 */
DB_TEST(operator, abandoned_wait_is_recorded_as_a_wait, .timeout = 30, SVC_FIXTURE)
{
    char why[512], *out = NULL, *err = NULL;
    th_db *t = fx_db(kind);
    cr_assert_eq(lock_try(t->conn, LOCK_NAME, "otherhost:7:feed0007", 3600000, NULL, why,
                          sizeof why), 1, "%s", why);
    svc *s = fx_svc("schedule:\n  lock_wait: 1s\n", "", REAL_STEPS);
    int rc = run_once(s, 1, &out, &err);
    cr_assert_eq(rc, 4, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(err, "otherhost:7:feed0007"), "%s", err);
    json_t *runs = history_of(s);
    json_t *run = json_array_get(runs, 0);
    cr_assert_str_eq(json_string_value(json_object_get(run, "status")), "skipped");
    json_t *res = json_loads(out, 0, NULL);
    cr_assert_not_null(res, "%s", out);
    json_t *w = json_object_get(res, "lockWait");
    cr_assert(json_is_object(w), "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(w, "holder")), "otherhost:7:feed0007");
    cr_assert_str_eq(json_string_value(json_object_get(w, "outcome")), "timed out");
    cr_assert_geq(json_integer_value(json_object_get(w, "waitedMs")), 1000);
    cr_assert_eq(json_integer_value(json_object_get(run, "durationMs")),
                 json_integer_value(json_object_get(w, "waitedMs")), "%s", json_dumps(run, 0));
    json_decref(res);
    json_decref(runs);
    free(out);
    free(err);
}

/* `validate -c FILE [more]`: exit code, stdout, stderr. */
static int validate(const char *yaml, const char *a, const char *b, const char *const *env,
                    char **out, char **err)
{
    const char *const args[] = { "validate", "-c", yaml, a, b, NULL };
    return th_run_cli(args, env, out, err);
}

/* A pipeline file on SQLite with the fixture step and more lines under database:/top level. */
static char *validate_yaml(const char *db_extra, const char *top_extra)
{
    char *text = NULL, *plugins = strdup(th_build_path("tests/plugins"));
    char *yaml = th_path(th_tmpdir(), "v.yaml");
    char abs[PATH_MAX];
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    char *dbp = th_path(abs, "v.db");
    cr_assert_neq(asprintf(&text, "database:\n  url: \"sqlite:%s\"\n%splugin_dir: %s\n%s"
                           "steps:\n  - plugin: fixture\n", dbp, db_extra, plugins, top_extra),
                  -1);
    th_write(yaml, text);
    free(text);
    free(plugins);
    free(dbp);
    return yaml;
}

/* database.password_file: missing or unreadable is an error; readable by all a warning. */
Test(validate_checks, password_file_must_be_readable, .timeout = 30)
{
    char *out = NULL, *err = NULL;
    char *pw = th_path(th_tmpdir(), "pw");
    char *yaml = validate_yaml("  password_file: pw\n", "");
    int rc = validate(yaml, NULL, NULL, NULL, &out, &err);
    cr_assert_eq(rc, 2, "a missing password file passed: %s%s", out, err);
    cr_assert_not_null(strstr(err, "database.password_file"), "%s", err);
    cr_assert_not_null(strstr(err, "cannot be read"), "%s", err);
    free(out);
    free(err);

    th_write(pw, "s3cret\n");
    cr_assert_eq(chmod(pw, 0644), 0);
    rc = validate(yaml, NULL, NULL, (const char *const[]){ "RECONCILER_SERVICE_USER=root", NULL },
                  &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(err, "readable by every user (mode 0644)"), "%s", err);
    cr_assert_not_null(strstr(out, "1 warning above"), "%s", out);
    cr_assert_null(strstr(out, "s3cret"));
    cr_assert_null(strstr(err, "s3cret"));
    free(out);
    free(err);

    cr_assert_eq(chmod(pw, 0640), 0);
    /* The service's user is this one here (no "reconciler" user is assumed to exist). */
    const char *const as_root[] = { "RECONCILER_SERVICE_USER=root", NULL };
    rc = validate(yaml, NULL, NULL, as_root, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_null(strstr(err, "warning"), "%s", err);
    free(out);
    free(err);
    free(yaml);
    free(pw);
}

/* Every variable the file names and this environment lacks is a warning naming it. */
Test(validate_checks, unset_variables_are_named, .timeout = 30)
{
    char *out = NULL, *err = NULL;
    char *yaml = validate_yaml("  password_env: OPV_DB_PW\n",
                               "http:\n  token_env: OPV_TOKEN\n"
                               "notify:\n  - url: https://hooks.example/x\n"
                               "    secret_env: OPV_HOOK_KEY\n");
    int rc = validate(yaml, NULL, NULL, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(err, "database.password_env names the variable OPV_DB_PW"), "%s",
                       err);
    cr_assert_not_null(strstr(err, "http.token_env names the variable OPV_TOKEN"), "%s", err);
    cr_assert_not_null(strstr(err, "notify[0].secret_env names the variable OPV_HOOK_KEY"),
                       "%s", err);
    cr_assert_not_null(strstr(out, "3 warnings above"), "%s", out);
    free(out);
    free(err);

    const char *const env[] = { "OPV_DB_PW=x", "OPV_TOKEN=y", "OPV_HOOK_KEY=z", NULL };
    rc = validate(yaml, NULL, NULL, env, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_null(strstr(err, "warning"), "%s", err);
    free(out);
    free(err);
    free(yaml);
}

/* `validate --db` alone checks against the file's database.url; --db URL still works. */
Test(validate_checks, db_without_url_uses_the_files, .timeout = 30)
{
    th_db t;
    char *out = NULL, *err = NULL;
    migrated(DB_SQLITE, &t);
    char *yaml = validate_yaml("", "");
    int rc = validate(yaml, "--db", NULL, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(out, "(statements prepared)"), "%s", out);
    free(out);
    free(err);
    rc = validate(yaml, "--db", t.url, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(out, "(statements prepared)"), "%s", out);
    free(out);
    free(err);
    free(yaml);
    th_db_destroy(&t);
}

/*
 * On a terminal, a wait for another host's lock shows a progress line
 * naming the holder (stderr is a pseudo-terminal here); the result still
 * goes to stdout as before.
 */
Test(operator, lock_wait_shows_progress_on_a_terminal, .timeout = 30, SVC_FIXTURE)
{
    char why[512];
    th_db *t = fx_db(DB_SQLITE);
    cr_assert_eq(lock_try(t->conn, LOCK_NAME, "otherhost:7:feed0007", 3600000, NULL, why,
                          sizeof why), 1, "%s", why);
    svc *s = fx_svc("schedule:\n  lock_wait: 2s\n", "", FIXTURE_STEP);
    char *bin = th_path(th_build(), "reconciler");
    int master = -1;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    cr_assert_neq(pid, -1, "forkpty: %s", strerror(errno));
    if (pid == 0) {
        execl(bin, bin, "run", "--once", "-c", s->yaml, (char *)NULL);
        _exit(127);
    }
    char buf[8192];
    size_t used = 0;
    for (;;) {
        ssize_t n = read(master, buf + used, sizeof buf - 1 - used);
        if (n <= 0)
            break; /* EIO once the child has exited and the terminal is closed */
        used += (size_t)n;
        if (used >= sizeof buf - 1)
            break;
    }
    buf[used] = '\0';
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 4, "status %d: %s", st, buf);
    cr_assert_not_null(strstr(buf, "\rwaiting for the run lock held by otherhost:7:feed0007"),
                       "%s", buf);
    cr_assert_not_null(strstr(buf, "of 2s"), "%s", buf);
    close(master);
    free(bin);
}

/* Everything `cmd` wrote to a pseudo-terminal (stdout and stderr), and its exit code. */
static int on_terminal(const char *const *args, char *buf, size_t n)
{
    char *bin = th_path(th_build(), "reconciler");
    int master = -1;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    cr_assert_neq(pid, -1, "forkpty: %s", strerror(errno));
    if (pid == 0) {
        size_t k = 0;
        const char *argv[16] = { bin };
        while (args[k] && k < 14) {
            argv[k + 1] = args[k];
            k++;
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    size_t used = 0;
    for (;;) {
        ssize_t got = read(master, buf + used, n - 1 - used);
        if (got <= 0 || (used += (size_t)got) >= n - 1)
            break;
    }
    buf[used] = '\0';
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    close(master);
    free(bin);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/*
 * On a terminal `run --once` prints its summary once (no info log lines
 * repeating it), a table of steps, "would change" for a dry run; `history`
 * shows rows changed and the first error of a failed run.
 */
Test(operator, terminal_summary_once_and_history_columns, .timeout = 30, SVC_FIXTURE)
{
    char buf[16384], *out = NULL, *err = NULL;
    fx_db(DB_SQLITE);
    svc *s = fx_svc("", "", "  - plugin: fixture\n    name: first_step\n"
                    "  - plugin: fixture\n    name: broken\n    options:\n      fail: true\n");
    const char *const dry[] = { "run", "--once", "--dry-run", "-c", s->yaml, NULL };
    int rc = on_terminal(dry, buf, sizeof buf);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, buf);
    cr_assert_eq(count_of(buf, "reconciliation run 1 "), 1, "the summary twice: %s", buf);
    cr_assert_not_null(strstr(buf, "would change 0 rows"), "%s", buf);
    cr_assert_not_null(strstr(buf, "first_step"), "%s", buf);
    cr_assert_null(strstr(buf, " info "), "info log lines on a terminal: %s", buf);
    cr_assert_not_null(strstr(buf, "error in broken: "), "%s", buf);

    rc = run_once(s, 0, &out, &err);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, err);
    free(out);
    free(err);
    const char *const hist[] = { "history", "-c", s->yaml, NULL };
    rc = th_run_cli(hist, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(out, "rows changed"), "%s", out);
    cr_assert_not_null(strstr(out, "0 (dry)"), "%s", out);
    cr_assert_eq(count_of(out, "error: "), 2, "%s", out);
    cr_assert_not_null(strstr(out, "broken=failed"), "%s", out);
    free(out);
    free(err);
}

/*
 * Before `migrate`: a run (dry too) says "run `reconciler migrate`" once,
 * not an SQL error per step; `migrate --status` lists what is pending and
 * `--dry-run` prints it, both changing nothing. On both drivers.
 */
DB_TEST(operator, migrate_status_dry_run_and_the_hint, .timeout = 30, SVC_FIXTURE)
{
    char *out = NULL, *err = NULL;
    th_db *t = fx_db_empty(kind);
    svc *s = fx_svc("", "", REAL_STEPS);
    char *pw = password_env(s);
    const char *const env[] = { pw, NULL };

    int rc = run_once(s, 0, &out, &err);
    cr_assert_eq(rc, 3, "exit %d: %s", rc, err);
    cr_assert_eq(count_of(err, "run `reconciler migrate`"), 2, "one log line, one message: %s",
                 err);
    cr_assert_null(strstr(err, "no such table"), "%s", err);
    cr_assert_null(strstr(err, "doesn't exist"), "%s", err);
    free(out);
    free(err);

    const char *const st[] = { "migrate", "--status", "-c", s->yaml, NULL };
    rc = th_run_cli(st, env, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(out, "001_bot_tables.sql"), "%s", out);
    cr_assert_not_null(strstr(out, "pending"), "%s", out);
    cr_assert_null(strstr(out, "applied "), "%s", out);
    free(out);
    free(err);
    const char *const dry[] = { "migrate", "--dry-run", "-c", s->yaml, NULL };
    rc = th_run_cli(dry, env, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(out, "-- 001_bot_tables.sql (would run)"), "%s", out);
    cr_assert_not_null(strstr(out, "CREATE TABLE"), "%s", out);
    free(out);
    free(err);
    /* Nothing was created by either. */
    cr_assert_eq(th_count(t->conn, kind == DB_MYSQL
                                      ? "SELECT COUNT(*) FROM information_schema.tables WHERE "
                                        "table_schema = DATABASE()"
                                      : "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"),
                 0);

    const char *const mig[] = { "migrate", "-c", s->yaml, NULL };
    rc = th_run_cli(mig, env, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    free(out);
    free(err);
    rc = th_run_cli(st, env, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(out, "0 pending"), "%s", out);
    cr_assert_not_null(strstr(out, "applied "), "%s", out);
    free(out);
    free(err);
    rc = run_once(s, 0, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    free(out);
    free(err);
    free(pw);
}

/* --log-format json: a run's lines carry fields, not only prose. */
Test(operator, json_log_lines_carry_fields, .timeout = 30, SVC_FIXTURE)
{
    char *out = NULL, *err = NULL;
    fx_db(DB_SQLITE);
    svc *s = fx_svc("", "", "  - plugin: fixture\n    name: first_step\n");
    const char *const args[] = { "run", "--once", "--log-format", "json", "-c", s->yaml, NULL };
    int rc = th_run_cli(args, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    int step_lines = 0, run_lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(err, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(line, 0, NULL);
        cr_assert_not_null(o, "not a JSON line: %s", line);
        const char *step = json_string_value(json_object_get(o, "step"));
        if (step && strcmp(step, "first_step") == 0 && json_object_get(o, "duration_ms")) {
            cr_assert_str_eq(json_string_value(json_object_get(o, "status")), "ok", "%s", line);
            cr_assert(json_is_integer(json_object_get(o, "rows_changed")), "%s", line);
            cr_assert_eq(json_integer_value(json_object_get(o, "run_id")), 1, "%s", line);
            step_lines++;
        }
        if (!step && json_object_get(o, "rows_changed")) {
            cr_assert_str_eq(json_string_value(json_object_get(o, "status")), "success", "%s",
                             line);
            cr_assert_eq(json_integer_value(json_object_get(o, "run_id")), 1, "%s", line);
            cr_assert(json_is_integer(json_object_get(o, "duration_ms")), "%s", line);
            run_lines++;
        }
        json_decref(o);
    }
    cr_assert_eq(step_lines, 1, "%d step lines", step_lines);
    cr_assert_eq(run_lines, 1, "%d run lines", run_lines);
    free(out);
    free(err);
}

/*
 * http.public_url: an alert links to the run's page in the console
 * (PUBLIC_URL/#/runs/ID), for run --once too; a bad value is refused.
 */
Test(operator, public_url_makes_alert_links_to_the_console, .timeout = 30, SVC_FIXTURE)
{
    th_otlp rx = { 0 }; /* no script: every answer is 200 */
    char extra[512], *out = NULL, *err = NULL;
    fx_db(DB_SQLITE);
    th_otlp_start(&rx, 200, 0);
    snprintf(extra, sizeof extra, "notify:\n  - url: http://127.0.0.1:%d/hook\n", rx.port);
    svc *s = fx_svc(extra, "  public_url: https://ops.example/reconciler/\n",
                    "  - plugin: fixture\n    options:\n      fail: true\n");
    int rc = run_once(s, 1, &out, &err);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, err);
    cr_assert_geq(th_otlp_wait(&rx, 1, 10000), 1, "no alert: %s", err);
    json_t *b = th_otlp_body(&rx, 0);
    cr_assert_str_eq(json_string_value(json_object_get(b, "link")),
                     "https://ops.example/reconciler/#/runs/1", "%s", json_dumps(b, 0));
    json_decref(b);
    free(out);
    free(err);
    th_otlp_stop(&rx);

    char *bad = th_path(th_tmpdir(), "bad.yaml");
    char *text = th_read(s->yaml), *p = strstr(text, "https://ops.example");
    cr_assert_not_null(p);
    memcpy(p, "ftp://", 6);
    th_write(bad, text);
    const char *const args[] = { "validate", "-c", bad, NULL };
    rc = th_run_cli(args, NULL, &out, &err);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(err, "http.public_url"), "%s", err);
    free(out);
    free(err);
    free(text);
    free(bad);
}

/* A success alert says what was repaired: rows changed in all and per step, and the figures. */
Test(operator, alert_says_what_was_repaired)
{
    json_t *r = json_pack("{s:s, s:I, s:s, s:b, s:i, s:I, s:[], s:[{s:s, s:s, s:i, s:I, s:{s:i}},"
                          " {s:s, s:s, s:i, s:I, s:{}}]}",
                          "status", "success", "runId", (json_int_t)9, "trigger", "scheduled",
                          "dryRun", 0, "durationMs", 1200, "rowsChanged", (json_int_t)5,
                          "errors", "steps", "name", "leases", "status", "ok", "durationMs", 3,
                          "rowsChanged", (json_int_t)5, "results", "leasesRepaired", 5,
                          "name", "metrics", "status", "ok", "durationMs", 4,
                          "rowsChanged", (json_int_t)0, "results");
    cr_assert_not_null(r);
    char *body = webhook_payload(r, "success", CFG_HOOK_SLACK, NULL, NULL);
    json_t *j = json_loads(body, 0, NULL);
    const char *text = json_string_value(json_object_get(j, "text"));
    cr_assert_not_null(strstr(text, "changed 5 rows: leases 5"), "%s", text);
    cr_assert_null(strstr(text, "metrics 0"), "%s", text);
    json_decref(j);
    free(body);
    body = webhook_payload(r, "success", CFG_HOOK_JSON, NULL, NULL);
    j = json_loads(body, 0, NULL);
    cr_assert_eq(json_integer_value(json_object_get(j, "rowsChanged")), 5, "%s", body);
    json_t *step = json_array_get(json_object_get(j, "steps"), 0);
    cr_assert_eq(json_integer_value(json_object_get(step, "rowsChanged")), 5, "%s", body);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(step, "results"),
                                                    "leasesRepaired")), 5, "%s", body);
    json_decref(j);
    free(body);
    json_decref(r);
}

/*
 * Run as root, validate also checks the password file for the service's
 * user (RECONCILER_SERVICE_USER, here nobody): root-only 0600 is a warning
 * naming the user and the fix; readable by that user, none.
 */
Test(validate_checks, password_file_for_the_service_user, .timeout = 30)
{
    char *out = NULL, *err = NULL;
    if (geteuid() != 0)
        cr_skip_test("needs root");
    char *pw = th_path(th_tmpdir(), "pw");
    char *yaml = validate_yaml("  password_file: pw\n", "");
    th_write(pw, "s3cret\n");
    cr_assert_eq(chmod(pw, 0600), 0);
    const char *const env[] = { "RECONCILER_SERVICE_USER=nobody", NULL };
    int rc = validate(yaml, NULL, NULL, env, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(err, "cannot be read by the user nobody"), "%s", err);
    free(out);
    free(err);
    struct passwd *nobody = getpwnam("nobody");
    cr_assert_not_null(nobody);
    cr_assert_eq(chown(pw, nobody->pw_uid, (gid_t)-1), 0);
    rc = validate(yaml, NULL, NULL, env, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_null(strstr(err, "warning"), "%s", err);
    free(out);
    free(err);
    free(yaml);
    free(pw);
}
