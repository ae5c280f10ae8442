/* SPDX-License-Identifier: MIT */
/*
 * test_doctor.c - `reconciler doctor` on the real binary: the history store's
 * mode (0644 warns, 0600 does not) and owner (another user's store fails with
 * the chown), pending migrations fail, and on MariaDB a user without the
 * grants the core and the steps need fails naming the table and privilege,
 * while a user with them passes (exit 0).
 */
#include "helpers.h"
#include "th_fixture.h"
#include "base/strbuf.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A pipeline file for url with its own history store; its path (malloc'd). */
static char *pipeline_file(const char *url, const char *name, const char *steps, char **hist)
{
    char abs[4096], file[64], *text = NULL;
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    /* The store in a folder of its own, 0700 as the service makes it. */
    snprintf(file, sizeof file, "%s.var", name);
    char *dir = th_path(abs, file);
    cr_assert(mkdir(dir, 0700) == 0 || errno == EEXIST, "%s: %s", dir, strerror(errno));
    *hist = th_path(dir, "history.db");
    free(dir);
    snprintf(file, sizeof file, "%s.yaml", name);
    char *yaml = th_path(abs, file), *plugins = strdup(th_build_path("plugins"));
    cr_assert_neq(asprintf(&text, "database:\n  url: \"%s\"\nhistory:\n  path: %s\n"
                           "plugin_dir: [%s]\nsteps:\n%s", url, *hist, plugins,
                           steps ? steps : "  - plugin: leases\n"), -1);
    th_write(yaml, text);
    free(text);
    free(plugins);
    return yaml;
}

/* `reconciler doctor -c yaml --user user [--json]` with env: its exit code, out and err. */
static int doctor(const char *yaml, const char *user, const char *pw, int as_json, char **out,
                  char **err)
{
    char *penv = NULL;
    if (pw)
        cr_assert_neq(asprintf(&penv, "RECONCILER_DB_PASSWORD=%s", pw), -1);
    const char *const env[] = { penv, NULL };
    const char *const args[] = { "doctor", "-c", yaml, "--user", user,
                                 as_json ? "--json" : NULL, NULL };
    int rc = th_run_cli(args, env, out, err);
    free(penv);
    return rc;
}

/* The one line of out whose check and status are given, or NULL (a pointer into out). */
static char *line_of(char *out, const char *status, const char *check, const char *needle)
{
    char head[64];
    snprintf(head, sizeof head, "%-4s  %-10s  ", status, check);
    for (char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        size_t len = strcspn(p, "\n");
        if (strncmp(p, head, strlen(head)) == 0) {
            char *l = strndup(p, len);
            int hit = !needle || strstr(l, needle);
            free(l);
            if (hit)
                return p;
        }
    }
    return NULL;
}

static const char *me(void)
{
    struct passwd *p = getpwuid(geteuid());
    cr_assert_not_null(p);
    return p->pw_name;
}

/* A store readable by every user is a warning (exit 0); at 0600 it is not. */
Test(doctor, store_mode_0644_warns, .timeout = 60, SVC_FIXTURE)
{
    char *hist, *out = NULL, *err = NULL;
    th_db *t = fx_db(DB_SQLITE);
    char *yaml = pipeline_file(t->url, "mode", NULL, &hist);
    th_write(hist, "");
    cr_assert_eq(chmod(hist, 0644), 0);

    int rc = doctor(yaml, me(), NULL, 0, &out, &err);
    cr_assert_eq(rc, 0, "exit %d:\n%s%s", rc, out, err);
    cr_assert_not_null(line_of(out, "warn", "store", "readable by every user (mode 0644"),
                       "%s", out);
    cr_assert_not_null(strstr(out, "fix: chmod 0600 "), "%s", out);
    cr_assert_not_null(line_of(out, "ok", "migrations", NULL), "%s", out);
    free(out);
    free(err);

    cr_assert_eq(chmod(hist, 0600), 0);
    rc = doctor(yaml, me(), NULL, 1, &out, &err);
    cr_assert_eq(rc, 0, "exit %d:\n%s%s", rc, out, err);
    json_t *j = json_loads(out, 0, NULL);
    cr_assert_not_null(j, "%s", out);
    cr_assert_eq(json_integer_value(json_object_get(j, "failed")), 0, "%s", out);
    size_t i;
    json_t *c;
    int stores = 0;
    json_array_foreach(json_object_get(j, "checks"), i, c)
        if (strcmp(json_string_value(json_object_get(c, "check")), "store") == 0) {
            stores++;
            cr_assert_str_eq(json_string_value(json_object_get(c, "status")), "ok", "%s", out);
        }
    cr_assert_geq(stores, 2, "the folder and the file: %s", out);
    json_decref(j);
    free(out);
    free(err);
    free(yaml);
    free(hist);
}

/* A store another user owns: FAIL naming the owner, and the chown that fixes it (exit 1). */
Test(doctor, store_of_another_user_fails, .timeout = 60, SVC_FIXTURE)
{
    char *hist, *out = NULL, *err = NULL;
    cr_assert_not_null(getpwnam("nobody"), "the test needs the user nobody");
    cr_assert_neq(geteuid(), getpwnam("nobody")->pw_uid);
    th_db *t = fx_db(DB_SQLITE);
    char *yaml = pipeline_file(t->url, "owner", NULL, &hist);
    th_write(hist, "");
    cr_assert_eq(chmod(hist, 0600), 0);
    int rc = doctor(yaml, "nobody", NULL, 0, &out, &err);
    cr_assert_eq(rc, 1, "exit %d:\n%s%s", rc, out, err);
    char want[128];
    snprintf(want, sizeof want, "is owned by %s (mode 0600)", me());
    cr_assert_not_null(line_of(out, "FAIL", "store", want), "%s", out);
    cr_assert_not_null(strstr(out, "fix: chown nobody:"), "%s", out);
    free(out);
    free(err);
    free(yaml);
    free(hist);
}

/* Pending migrations fail (exit 1) and name `reconciler migrate`; applied, they pass. */
DB_TEST(doctor, pending_migrations_fail, .timeout = 60, SVC_FIXTURE)
{
    char *hist, *out = NULL, *err = NULL;
    th_db *t = fx_db_empty(kind);
    char *yaml = pipeline_file(t->url, kind == DB_MYSQL ? "mig_m" : "mig_s", NULL, &hist);
    int rc = doctor(yaml, me(), t->password, 0, &out, &err);
    cr_assert_eq(rc, 1, "exit %d:\n%s%s", rc, out, err);
    cr_assert_not_null(line_of(out, "FAIL", "migrations", "pending: 001_"), "%s", out);
    cr_assert_not_null(strstr(out, "fix: reconciler migrate -c "), "%s", out);
    free(out);
    free(err);
    th_db_migrate(t);
    rc = doctor(yaml, me(), t->password, 0, &out, &err);
    cr_assert_eq(rc, 0, "exit %d:\n%s%s", rc, out, err);
    cr_assert_not_null(line_of(out, "ok", "migrations", "all applied"), "%s", out);
    cr_assert_null(strstr(out, "FAIL"), "%s", out);
    free(out);
    free(err);
    free(yaml);
    free(hist);
}

#define SQL_STEP                                                                   \
    "  - plugin: sql\n    name: stuck\n    options:\n"                             \
    "      table: processing_jobs\n"                                               \
    "      where: \"status = 'pending' AND created_at < :now - INTERVAL 1 DAY\"\n"  \
    "      set: \"status = 'failed'\"\n"                                           \
    "      result: jobs.stuckFailed\n"

/* The database name and socket of t's URL ("mysql://USER@/DB?socket=S"). */
static void url_parts(const th_db *t, char *dbname, size_t n, const char **sock)
{
    const char *d = strstr(t->url, "@/") + 2;
    snprintf(dbname, n, "%.*s", (int)strcspn(d, "?"), d);
    *sock = strstr(t->url, "socket=") + 7;
}

static void exec_ok(th_db *t, const char *sql)
{
    cr_assert_eq(db_exec(t->conn, sql, NULL, 0, NULL), 0, "%s: %s", sql, db_errmsg(t->conn));
}

/* A migrated MariaDB database and a user of its own with a password and no grants yet. */
typedef struct doc_user {
    th_db t;
    char dbname[64], user[48];
    char *url; /* "mysql://USER@/DB?socket=S": the user's way in */
} doc_user;

static void user_up(doc_user *u, const char *prefix, const char *password)
{
    char sql[256];
    const char *sock;
    th_db_create(DB_MYSQL, &u->t);
    th_db_migrate(&u->t);
    url_parts(&u->t, u->dbname, sizeof u->dbname, &sock);
    snprintf(u->user, sizeof u->user, "%s_%ld", prefix, (long)getpid());
    snprintf(sql, sizeof sql, "DROP USER IF EXISTS '%s'@'localhost'", u->user);
    exec_ok(&u->t, sql);
    snprintf(sql, sizeof sql, "CREATE USER '%s'@'localhost' IDENTIFIED BY '%s'", u->user,
             password);
    exec_ok(&u->t, sql);
    cr_assert_neq(asprintf(&u->url, "mysql://%s@/%s?socket=%s", u->user, u->dbname, sock), -1);
}

static void user_down(doc_user *u)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DROP USER '%s'@'localhost'", u->user);
    exec_ok(&u->t, sql);
    free(u->url);
    th_db_destroy(&u->t);
}

/*
 * A MariaDB user that lacks INSERT on processing_job_logs and UPDATE on the table a step
 * writes: FAIL naming each; given them, every check passes.
 */
Test(doctor, missing_grants_fail_by_name, .timeout = 90)
{
    doc_user u;
    char *hist, *out = NULL, *err = NULL, sql[512];
    user_up(&u, "doc", "doc-pw-1");
    /* Everything the core needs but INSERT on processing_job_logs; only SELECT on the
     * table the sql step updates. */
    static const char *const grants[] = {
        "SELECT, INSERT, UPDATE ON `%s`.reconciler_locks",
        "SELECT, INSERT, UPDATE, DELETE ON `%s`.reconciler_job_slots",
        "SELECT, INSERT, UPDATE ON `%s`.reconciler_job_pauses",
        "SELECT, INSERT, UPDATE, DELETE ON `%s`.reconciler_change_sets",
        "SELECT, INSERT, DELETE ON `%s`.reconciler_change_keys",
        "SELECT ON `%s`.schema_migrations",
        "SELECT ON `%s`.processing_job_logs",
        "SELECT ON `%s`.processing_jobs",
    };
    for (size_t i = 0; i < sizeof grants / sizeof grants[0]; i++) {
        char what[256];
        snprintf(what, sizeof what, grants[i], u.dbname);
        snprintf(sql, sizeof sql, "GRANT %s TO '%s'@'localhost'", what, u.user);
        exec_ok(&u.t, sql);
    }
    char *yaml = pipeline_file(u.url, "grants", SQL_STEP, &hist);

    int rc = doctor(yaml, me(), "doc-pw-1", 0, &out, &err);
    cr_assert_eq(rc, 1, "exit %d:\n%s%s", rc, out, err);
    cr_assert_not_null(line_of(out, "FAIL", "grants", "table processing_job_logs lacks INSERT"),
                       "%s", out);
    char *l = line_of(out, "FAIL", "statements", NULL);
    cr_assert_not_null(l, "%s", out);
    cr_assert_not_null(strstr(l, "UPDATE"), "%s", out);
    cr_assert_not_null(strstr(l, "processing_jobs"), "%s", out);
    cr_assert_null(strstr(out, "doc-pw-1"), "the password is never printed: %s", out);
    cr_assert_not_null(line_of(out, "ok", "migrations", NULL), "%s", out);
    free(out);
    free(err);

    /* The other side: given them, the checks pass. */
    snprintf(sql, sizeof sql, "GRANT INSERT ON `%s`.processing_job_logs TO '%s'@'localhost'",
             u.dbname, u.user);
    exec_ok(&u.t, sql);
    snprintf(sql, sizeof sql, "GRANT UPDATE ON `%s`.processing_jobs TO '%s'@'localhost'",
             u.dbname, u.user);
    exec_ok(&u.t, sql);
    rc = doctor(yaml, me(), "doc-pw-1", 0, &out, &err);
    cr_assert_eq(rc, 0, "exit %d:\n%s%s", rc, out, err);
    cr_assert_not_null(line_of(out, "ok", "grants", NULL), "%s", out);
    cr_assert_not_null(line_of(out, "ok", "statements", NULL), "%s", out);
    free(out);
    free(err);
    free(yaml);
    free(hist);
    user_down(&u);
}

/* A table the steps' recorded changes name needs SELECT and UPDATE too, a database-wide
 * grant covers every table, and a wildcard database name matches by LIKE. */
Test(doctor, recorded_changes_and_database_grants, .timeout = 90)
{
    doc_user u;
    char *hist, *out = NULL, *err = NULL, sql[512];
    user_up(&u, "doc2", "doc-pw-2");
    exec_ok(&u.t, "INSERT INTO reconciler_change_sets (run_id, job, step, table_name, nrecords, "
                "records, at) VALUES (1, 'reconcile', 'leases', 'user_sessions', 1, "
                "'[[\"1\",{}]]', NOW(3))");
    /* rt\_... : the underscores escaped, as a careful operator writes them. */
    char pattern[80];
    size_t k = 0;
    for (const char *c = u.dbname; *c && k + 2 < sizeof pattern; c++) {
        if (*c == '_')
            pattern[k++] = '\\';
        pattern[k++] = *c;
    }
    pattern[k] = '\0';
    snprintf(sql, sizeof sql, "GRANT SELECT, INSERT, UPDATE, DELETE ON `%s`.* TO "
             "'%s'@'localhost'", pattern, u.user);
    exec_ok(&u.t, sql);
    char *yaml = pipeline_file(u.url, "dbwide", NULL, &hist);
    int rc = doctor(yaml, me(), "doc-pw-2", 0, &out, &err);
    cr_assert_eq(rc, 0, "exit %d:\n%s%s", rc, out, err);
    cr_assert_not_null(line_of(out, "ok", "grants", NULL), "%s", out);
    free(out);
    free(err);

    /* Without UPDATE on user_sessions (a table-level REVOKE cannot cut a database grant:
     * grant the database's tables one by one instead). */
    snprintf(sql, sizeof sql, "REVOKE SELECT, INSERT, UPDATE, DELETE ON `%s`.* FROM "
             "'%s'@'localhost'", pattern, u.user);
    exec_ok(&u.t, sql);
    static const char *const tables[] = { "reconciler_locks", "reconciler_job_slots",
                                          "reconciler_job_pauses", "reconciler_change_sets",
                                          "reconciler_change_keys",
                                          "schema_migrations", "processing_job_logs",
                                          "processing_jobs" };
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        snprintf(sql, sizeof sql, "GRANT SELECT, INSERT, UPDATE, DELETE ON `%s`.`%s` TO "
                 "'%s'@'localhost'", u.dbname, tables[i], u.user);
        exec_ok(&u.t, sql);
    }
    snprintf(sql, sizeof sql, "GRANT SELECT ON `%s`.user_sessions TO '%s'@'localhost'",
             u.dbname, u.user);
    exec_ok(&u.t, sql);
    rc = doctor(yaml, me(), "doc-pw-2", 0, &out, &err);
    cr_assert_eq(rc, 1, "exit %d:\n%s%s", rc, out, err);
    cr_assert_not_null(line_of(out, "FAIL", "grants",
                               "table user_sessions lacks UPDATE for step leases"), "%s", out);
    free(out);
    free(err);
    free(yaml);
    free(hist);
    user_down(&u);
}

/*
 * The unit: the package's unit scores at most 2.0 in systemd-analyze security (ok), one
 * stripped of its sandboxing does not (warn); its EnvironmentFile= readable by others
 * warns, and its User= is the user checked. Skipped (a "skip" line) without systemd-analyze.
 */
Test(doctor, unit_exposure_and_environment_file, .timeout = 90, SVC_FIXTURE)
{
    char *hist, *out = NULL, *err = NULL, abs[4096], *text = NULL;
    th_db *t = fx_db(DB_SQLITE);
    char *yaml = pipeline_file(t->url, "unit", NULL, &hist);
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    char *env = th_path(abs, "unit.env"), *unit = th_path(abs, "reconciler.service");
    th_write(env, "RECONCILER_API_TOKEN=x\n");
    cr_assert_eq(chmod(env, 0644), 0);
    /* The package's unit, with this test's environment file and user. */
    char *src = th_read("conf/systemd/reconciler.service"), *kept = NULL;
    cr_assert_not_null(src);
    strbuf b = STRBUF_INIT;
    for (char *save = NULL, *l = strtok_r(src, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (strncmp(l, "EnvironmentFile=", 16) == 0)
            sb_printf(&b, "EnvironmentFile=-%s\n", env);
        else if (strncmp(l, "User=", 5) == 0)
            sb_printf(&b, "User=%s\n", me());
        else
            sb_printf(&b, "%s\n", l);
    kept = sb_take(&b);
    th_write(unit, kept);

    const char *const args[] = { "doctor", "-c", yaml, "--unit", unit, NULL };
    int rc = th_run_cli(args, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d:\n%s%s", rc, out, err);
    char who[96];
    snprintf(who, sizeof who, "the service runs as %s", me());
    cr_assert_not_null(line_of(out, "ok", "user", who), "User= of the unit: %s", out);
    cr_assert_not_null(line_of(out, "warn", "secrets", "readable by every user (mode 0644)"),
                       "%s", out);
    int have = system("command -v systemd-analyze >/dev/null 2>&1") == 0;
    if (!have) {
        cr_assert_not_null(line_of(out, "skip", "unit", NULL), "%s", out);
        cr_log_warn("systemd-analyze is not installed: the exposure is not checked");
    } else {
        cr_assert_not_null(line_of(out, "ok", "unit", "exposure "), "%s", out);
    }
    free(out);
    free(err);

    /* The other side: the same unit without its sandboxing is rated above 2.0. */
    for (char *save = NULL, *l = strtok_r(kept, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (strncmp(l, "User=", 5) == 0 || strncmp(l, "EnvironmentFile=", 16) == 0 ||
            l[0] == '[' || strncmp(l, "ExecStart=", 10) == 0 || strncmp(l, "Type=", 5) == 0)
            sb_printf(&b, "%s\n", l);
    text = sb_take(&b);
    th_write(unit, text);
    cr_assert_eq(chmod(env, 0640), 0);
    rc = th_run_cli(args, NULL, &out, &err);
    cr_assert_eq(rc, 0, "warnings only: exit %d:\n%s%s", rc, out, err);
    if (have)
        cr_assert_not_null(line_of(out, "warn", "unit", "above the package's 2.0"), "%s", out);
    cr_assert_not_null(line_of(out, "ok", "secrets", "environment file"), "%s", out);
    free(out);
    free(err);
    free(text);
    free(kept);
    free(src);
    free(env);
    free(unit);
    free(yaml);
    free(hist);
}

/*
 * The variables the file names are looked for where the service gets them, the unit's
 * Environment= and EnvironmentFile=, not in this shell: set there, ok; missing, a warning
 * naming the key, the variable and the file to add it to. Values are never printed.
 */
Test(doctor, variables_of_the_service_environment, .timeout = 60, SVC_FIXTURE)
{
    char *out = NULL, *err = NULL, abs[4096], *text = NULL;
    th_db *t = fx_db(DB_SQLITE);
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    char *env = th_path(abs, "vars.env"), *unit = th_path(abs, "vars.service");
    char *yaml = th_path(abs, "vars.yaml"), *hist = NULL, *plugins = strdup(th_build_path("plugins"));
    cr_assert_neq(asprintf(&text, "database:\n  url: \"%s\"\nhistory:\n  path: %s/vars.var/h.db\n"
                           "plugin_dir: [%s]\nhttp:\n  listen: 127.0.0.1:1\n"
                           "  token_env: DOC_API_TOKEN\nnotify:\n"
                           "  - url: https://hooks.example/x\n    secret_env: DOC_HOOK_KEY\n"
                           "steps:\n  - plugin: leases\n", t->url, abs, plugins), -1);
    th_write(yaml, text);
    free(text);
    th_write(env, "# the service's secrets\nDOC_API_TOKEN=tok-s3cr3t-value\n");
    cr_assert_eq(chmod(env, 0600), 0);
    cr_assert_neq(asprintf(&text, "[Service]\nExecStart=/bin/true\nUser=%s\n"
                           "Environment=\"OTHER=1 2\" PLAIN=x\nEnvironmentFile=-%s\n", me(), env),
                  -1);
    th_write(unit, text);
    free(text);

    const char *const args[] = { "doctor", "-c", yaml, "--unit", unit, NULL };
    /* This shell has both set: the unit's environment is what counts. */
    const char *const shell[] = { "DOC_API_TOKEN=a", "DOC_HOOK_KEY=b", NULL };
    int rc = th_run_cli(args, shell, &out, &err);
    cr_assert_eq(rc, 0, "warnings only: exit %d:\n%s%s", rc, out, err);
    cr_assert_not_null(line_of(out, "ok", "variables", "http.token_env: DOC_API_TOKEN is set"),
                       "%s", out);
    char *l = line_of(out, "warn", "variables", "notify[0].secret_env names DOC_HOOK_KEY");
    cr_assert_not_null(l, "%s", out);
    char want[4200];
    snprintf(want, sizeof want, "fix: add DOC_HOOK_KEY=... to %s", env);
    cr_assert_not_null(strstr(l, want), "%s", out);
    cr_assert_null(strstr(out, "tok-s3cr3t-value"), "a value was printed: %s", out);
    free(out);
    free(err);

    /* Set by Environment= of the unit itself: ok too. */
    cr_assert_neq(asprintf(&text, "[Service]\nExecStart=/bin/true\nUser=%s\n"
                           "Environment=DOC_HOOK_KEY=k \"DOC_API_TOKEN=t t\"\n", me()), -1);
    th_write(unit, text);
    free(text);
    rc = th_run_cli(args, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d:\n%s%s", rc, out, err);
    cr_assert_not_null(line_of(out, "ok", "variables", "DOC_HOOK_KEY is set"), "%s", out);
    cr_assert_not_null(line_of(out, "ok", "variables", "DOC_API_TOKEN is set"), "%s", out);
    cr_assert_null(line_of(out, "warn", "variables", NULL), "%s", out);
    free(out);
    free(err);
    free(hist);
    free(plugins);
    free(env);
    free(unit);
    free(yaml);
}
