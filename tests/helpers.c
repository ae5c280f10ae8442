/* SPDX-License-Identifier: MIT */
/* helpers.c - see helpers.h. */
#include "helpers.h"
#include "db/migrate.h"
#include "engine/run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *th_build(void)
{
    const char *b = getenv("RECONCILER_BUILD");
    return b && *b ? b : "build";
}

const char *th_build_path(const char *sub)
{
    static char abs[PATH_MAX];
    char *rel = NULL;
    cr_assert_neq(asprintf(&rel, "%s/%s", th_build(), sub), -1);
    cr_assert_not_null(realpath(rel, abs), "%s", rel);
    free(rel);
    return abs;
}

const char *th_tmpdir(void)
{
    static char dir[PATH_MAX];
    if (dir[0])
        return dir;
    char base[PATH_MAX];
    snprintf(base, sizeof base, "%s/tmp", th_build());
    mkdir(base, 0755);
    /* Named by the pid, which an earlier run may have had too: its folder is
     * removed first. One that cannot be (a tmpfs a crashed test left mounted
     * there) is left alone, and this test takes the next free name. */
    char cmd[PATH_MAX + 32];
    for (int n = 0; n < 100; n++) {
        if (n == 0)
            snprintf(dir, sizeof dir, "%s/tmp/t%ld", th_build(), (long)getpid());
        else
            snprintf(dir, sizeof dir, "%s/tmp/t%ld.%d", th_build(), (long)getpid(), n);
        snprintf(cmd, sizeof cmd, "rm -rf '%s' 2>/dev/null", dir);
        if (system(cmd) == 0 && mkdir(dir, 0755) == 0)
            return dir;
    }
    cr_assert_fail("no fresh folder under %s/tmp: %s", th_build(), strerror(errno));
    return dir;
}

char *th_path(const char *dir, const char *name)
{
    char *p = NULL;
    cr_assert_neq(asprintf(&p, "%s/%s", dir, name), -1);
    return p;
}

void th_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

char *th_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 2)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
}

static int bytes_contain(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap);
    while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    int found = memmem(buf, len, needle, strlen(needle)) != NULL;
    free(buf);
    return found;
}

int th_file_contains(const char *path, const char *needle)
{
    char wal[PATH_MAX];
    snprintf(wal, sizeof wal, "%s-wal", path);
    int a = bytes_contain(path, needle), b = bytes_contain(wal, needle);
    if (a < 0 && b < 0)
        return -1;
    return a == 1 || b == 1;
}

static const char *mysql_env(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v && *v, "%s is not set: run the tests through `make test`, "
              "which starts a MariaDB server for them (tests/with-mariadb)", name);
    return v;
}

void th_db_create(db_kind kind, th_db *out)
{
    static int seq;
    char err[512];
    memset(out, 0, sizeof *out);
    out->kind = kind;
    if (kind == DB_SQLITE) {
        char name[64];
        snprintf(name, sizeof name, "bot%d.db", ++seq);
        char abs[PATH_MAX];
        cr_assert_not_null(realpath(th_tmpdir(), abs));
        char *p = th_path(abs, name); /* absolute: a pipeline file elsewhere still finds it */
        unlink(p);
        cr_assert_neq(asprintf(&out->url, "sqlite:%s", p), -1);
        free(p);
    } else {
        const char *sock = mysql_env("RECONCILER_TEST_MYSQL_SOCKET");
        const char *user = mysql_env("RECONCILER_TEST_MYSQL_USER");
        out->password = mysql_env("RECONCILER_TEST_MYSQL_PASSWORD");
        char dbname[64];
        snprintf(dbname, sizeof dbname, "rt_%ld_%d", (long)getpid(), ++seq);

        /* Create the database from a connection to the server's own `mysql` db. */
        char *admin_url = NULL;
        cr_assert_neq(asprintf(&admin_url, "mysql://%s@/mysql?socket=%s", user, sock), -1);
        db_url u;
        cr_assert_eq(db_url_parse(admin_url, NULL, &u, err, sizeof err), 0, "%s", err);
        db_options o = { .password = out->password };
        db *admin = NULL;
        cr_assert_eq(db_open(&u, &o, &admin, err, sizeof err), DB_OK, "%s", err);
        char sql[160];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS `%s`", dbname);
        cr_assert_eq(db_exec(admin, sql, NULL, 0, NULL), 0, "%s", db_errmsg(admin));
        snprintf(sql, sizeof sql, "CREATE DATABASE `%s`", dbname);
        cr_assert_eq(db_exec(admin, sql, NULL, 0, NULL), 0, "%s", db_errmsg(admin));
        db_close(admin);
        db_url_free(&u);
        free(admin_url);
        cr_assert_neq(asprintf(&out->url, "mysql://%s@/%s?socket=%s", user, dbname, sock), -1);
    }
    db_url u;
    cr_assert_eq(db_url_parse(out->url, NULL, &u, err, sizeof err), 0, "%s", err);
    db_options o = { .password = out->password };
    cr_assert_eq(db_open(&u, &o, &out->conn, err, sizeof err), DB_OK, "%s", err);
    db_url_free(&u);
}

void th_db_migrate(th_db *t)
{
    char err[512];
    cr_assert_geq(migrate_apply(t->conn, err, sizeof err), 0, "%s", err);
}

void th_db_destroy(th_db *t)
{
    /* MySQL test databases are left for inspection; the harness drops the
     * whole server afterwards. SQLite files live in th_tmpdir(). */
    db_close(t->conn);
    free(t->url);
    memset(t, 0, sizeof *t);
}

static int count_row(void *user, const rc_value *cols, size_t n)
{
    int64_t *out = user;
    cr_assert_geq(n, 1);
    if (cols[0].type == RC_INT)
        *out = cols[0].i;
    else if (cols[0].type == RC_DOUBLE)
        *out = (int64_t)cols[0].d;
    else if (cols[0].type == RC_TEXT)
        *out = strtoll(cols[0].s, NULL, 10);
    else
        *out = 0;
    return 1;
}

int64_t th_count(db *d, const char *sql)
{
    int64_t v = -1;
    cr_assert_eq(db_query(d, sql, NULL, 0, count_row, &v), 0, "%s: %s", sql, db_errmsg(d));
    return v;
}

int64_t th_job(db *d, const char *status, int attempts, const char *locked_by,
               const char *locked_until)
{
    rc_value p[] = { rc_text(status), rc_int(attempts),
                     locked_by ? rc_text(locked_by) : rc_null(),
                     locked_until ? rc_text(locked_until) : rc_null() };
    cr_assert_eq(db_exec(d, "INSERT INTO processing_jobs (job_type, status, attempts, locked_by, "
                         "locked_until) VALUES ('test', ?, ?, ?, ?)", p, 4, NULL), 0, "%s",
                 db_errmsg(d));
    return th_count(d, "SELECT MAX(id) FROM processing_jobs");
}

static char *slurp_fd(int fd)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    ssize_t got;
    while ((got = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)got;
        if (cap - len < 2)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    return buf;
}

int th_run_cli(const char *const *args, const char *const *env, char **out, char **err)
{
    char bin[PATH_MAX];
    snprintf(bin, sizeof bin, "%s/reconciler", th_build());
    return th_run_prog(bin, args, env, out, err);
}

int th_run_prog(const char *bin, const char *const *args, const char *const *env, char **out,
                char **err)
{
    char outp[PATH_MAX + 32], errp[PATH_MAX + 32];
    static int seq;
    ++seq;
    snprintf(outp, sizeof outp, "%s/cli%d.out", th_tmpdir(), seq);
    snprintf(errp, sizeof errp, "%s/cli%d.err", th_tmpdir(), seq);

    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(127);
        dup2(o, 1);
        dup2(e, 2);
        for (const char *const *kv = env; kv && *kv; kv++)
            putenv((char *)*kv);
        size_t n = 0;
        while (args[n])
            n++;
        const char **argv = calloc(n + 2, sizeof *argv);
        argv[0] = (char *)bin;
        memcpy(argv + 1, args, n * sizeof *argv);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    int fd = open(outp, O_RDONLY);
    char *o = slurp_fd(fd);
    close(fd);
    fd = open(errp, O_RDONLY);
    char *e = slurp_fd(fd);
    close(fd);
    if (out) *out = o; else free(o);
    if (err) *err = e; else free(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void rig_up(rig *r, db_kind kind, const char *plugdir, const char *steps_yaml)
{
    char err[2048], abs[PATH_MAX], *rel = NULL;
    memset(r, 0, sizeof *r);
    th_db_create(kind, &r->t);
    th_db_migrate(&r->t);
    /* The run's step workers connect by the pipeline file, as reconciler does:
     * the password comes from the environment (this test's process only). */
    if (r->t.password)
        setenv("RECONCILER_DB_PASSWORD", r->t.password, 1);
    cr_assert_neq(asprintf(&rel, "%s/%s", th_build(), plugdir), -1);
    cr_assert_not_null(realpath(rel, abs), "%s", rel);
    free(rel);
    char *text = NULL;
    cr_assert_neq(asprintf(&text, "database:\n  url: \"%s\"\nhistory:\n  path: hist.db\n"
                           "plugin_dir: %s\nsteps:\n%s", r->t.url, abs, steps_yaml), -1);
    r->yaml = th_path(th_tmpdir(), "pipeline.yaml");
    th_write(r->yaml, text);
    free(text);
    cr_assert_eq(config_load(r->yaml, &r->cfg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(run_prepare(r->cfg, 0, &r->p, err, sizeof err), 0, "%s", err);
    cr_assert_eq(history_open(r->cfg->history_path, 100, HISTORY_BUSY_DEFAULT_MS, &r->h, err, sizeof err), 0, "%s", err);
}

void rig_down(rig *r)
{
    history_close(r->h);
    pipeline_free(r->p);
    config_free(r->cfg);
    th_db_destroy(&r->t);
    free(r->yaml);
}

run_status rig_run_said(rig *r, const char *reference_time, int dry_run, json_t **res,
                        char **said)
{
    run_env env = { r->cfg, r->p, r->h, NULL, &r->t.conn };
    run_spec spec = { .trigger = "startup", .dry_run = dry_run,
                      .reference_time = reference_time };
    /* The step workers inherit this process's stderr: for the run, a file. */
    char *path = th_path(th_tmpdir(), "rig-stderr");
    fflush(stderr);
    int was = fcntl(2, F_DUPFD_CLOEXEC, 3);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    cr_assert(was >= 0 && fd >= 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(dup2(fd, 2), 2);
    close(fd);
    run_execute(&env, &spec, res);
    fflush(stderr);
    cr_assert_eq(dup2(was, 2), 2);
    close(was);
    *said = th_read(path);
    cr_assert_not_null(*said, "%s", path);
    free(path);
    const char *st = json_string_value(json_object_get(*res, "status"));
    cr_assert_not_null(st);
    return strcmp(st, "success") == 0 ? RUN_SUCCESS
           : strcmp(st, "partial") == 0 ? RUN_PARTIAL : RUN_FAILED;
}

run_status rig_run(rig *r, const char *reference_time, int dry_run, json_t **res)
{
    char *said = NULL;
    run_status st = rig_run_said(r, reference_time, dry_run, res, &said);
    fputs(said, stderr); /* still shown where the test's output goes */
    /* The supervisor only logs a worker's exit status after its last step (it changes no
     * outcome): a leak in the worker's code would pass unseen but for this. */
    cr_assert_null(strstr(said, "LeakSanitizer"), "a step worker leaked (make asan):\n%s", said);
    free(said);
    return st;
}

/* FNV-1a over every column's text form, row by row. */
static int checksum_row(void *user, const rc_value *cols, size_t n)
{
    uint64_t *h = user;
    char buf[64];
    for (size_t i = 0; i < n; i++) {
        const char *s = buf;
        switch (cols[i].type) {
        case RC_NULL: s = "\x01NULL"; break;
        case RC_INT: snprintf(buf, sizeof buf, "%lld", (long long)cols[i].i); break;
        case RC_DOUBLE: snprintf(buf, sizeof buf, "%.6f", cols[i].d); break;
        case RC_TEXT: s = cols[i].s; break;
        }
        for (; *s; s++)
            *h = (*h ^ (unsigned char)*s) * 1099511628211ULL;
        *h = (*h ^ 0x1f) * 1099511628211ULL;
    }
    *h = (*h ^ 0x1e) * 1099511628211ULL;
    return 0;
}

uint64_t th_checksum(db *d, const char *table)
{
    char sql[128];
    uint64_t h = 1469598103934665603ULL;
    snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY 1", table);
    cr_assert_eq(db_query(d, sql, NULL, 0, checksum_row, &h), 0, "%s", db_errmsg(d));
    return h;
}

config *th_config_text(const char *name, const char *text)
{
    char err[2048];
    config *c = NULL;
    char *path = th_path(th_tmpdir(), name);
    th_write(path, text);
    cr_assert_eq(config_load(path, &c, err, sizeof err), 0, "%s\n--- for:\n%s", err, text);
    free(path);
    return c;
}
