/* SPDX-License-Identifier: MIT */
/* th_server.c - see th_server.h. */
#include "th_server.h"
#include "helpers.h"
#include "th_wait.h"

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

/* mariadbd refuses to run as root unless told so; the test may be root. */
static const char *user_opt(void)
{
    static char opt[64];
    const char *u = getenv("USER");
    snprintf(opt, sizeof opt, "--user=%s", getuid() == 0 ? "root" : (u ? u : "nobody"));
    return opt;
}

static int pinged(const th_server *s)
{
    char cmd[PATH_MAX + 128];
    snprintf(cmd, sizeof cmd, "mariadb-admin --no-defaults --socket='%s' -uroot ping "
             ">/dev/null 2>&1", s->sock);
    return system(cmd) == 0;
}

static void launch(th_server *s)
{
    char datadir[PATH_MAX + 16], pidf[PATH_MAX + 16], errlog[PATH_MAX + 16], sockopt[PATH_MAX + 16];
    char tmpdir[PATH_MAX + 16];
    snprintf(datadir, sizeof datadir, "--datadir=%s/data", s->dir);
    snprintf(tmpdir, sizeof tmpdir, "--tmpdir=%s/tmp", s->dir);
    snprintf(pidf, sizeof pidf, "--pid-file=%s/pid", s->dir);
    snprintf(errlog, sizeof errlog, "--log-error=%s/err.log", s->dir);
    snprintf(sockopt, sizeof sockopt, "--socket=%s", s->sock);
    const char *argv[32] = { "mariadbd", "--no-defaults", datadir, sockopt, pidf, user_opt(),
                             "--skip-networking", "--innodb-buffer-pool-size=32M",
                             "--innodb-log-file-size=4M", "--innodb-flush-log-at-trx-commit=2",
                             errlog, tmpdir };
    size_t n = 12;
    for (size_t i = 0; i < 8 && s->extra[i]; i++)
        argv[n++] = s->extra[i];
    argv[n] = NULL;
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execvp("mariadbd", (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 200 && !pinged(s); i++) {
        int st;
        cr_assert_eq(waitpid(pid, &st, WNOHANG), 0, "mariadbd exited at start; see %s/err.log",
                     s->dir);
        sleep_ms(50);
    }
    cr_assert(pinged(s), "private MariaDB did not start within 10 s; see %s/err.log", s->dir);
}

void th_server_start(th_server *s, const char *const *extra)
{
    static int seq;
    char abs[PATH_MAX], cmd[2 * PATH_MAX];
    memset(s, 0, sizeof *s);
    for (size_t i = 0; extra && extra[i] && i < 7; i++)
        s->extra[i] = extra[i];
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    cr_assert_neq(asprintf(&s->dir, "%s/mdb%d", abs, ++seq), -1);
    cr_assert_neq(asprintf(&s->sock, "%s/sock", s->dir), -1);
    cr_assert_lt(strlen(s->sock), 100, "socket path too long: %s", s->sock);
    /* A tmpdir of its own: servers installing side by side must not share /tmp's names. */
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/tmp' && mariadb-install-db "
             "--no-defaults --datadir='%s/data' --tmpdir='%s/tmp' %s "
             "--auth-root-authentication-method=normal --skip-test-db "
             "--innodb-log-file-size=4M >'%s/install.log' 2>&1", s->dir, s->dir, s->dir, s->dir,
             user_opt(), s->dir);
    cr_assert_eq(system(cmd), 0, "mariadb-install-db failed; see %s/install.log", s->dir);
    launch(s);
}

void th_server_stop(th_server *s)
{
    char cmd[PATH_MAX + 128];
    if (!s->pid)
        return;
    /* SIGCONT first: a test may have frozen it. */
    kill(s->pid, SIGCONT);
    snprintf(cmd, sizeof cmd, "mariadb-admin --no-defaults --socket='%s' -uroot shutdown "
             ">/dev/null 2>&1", s->sock);
    if (system(cmd) != 0)
        kill(s->pid, SIGKILL);
    for (int i = 0; i < 200; i++) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid)
            break;
        if (i == 199) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
        }
        sleep_ms(50);
    }
    s->pid = 0;
}

void th_server_restart(th_server *s)
{
    th_server_stop(s);
    launch(s);
}

void th_server_destroy(th_server *s)
{
    char cmd[PATH_MAX + 16];
    th_server_stop(s);
    if (s->dir) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
        (void)!system(cmd);
    }
    free(s->dir);
    free(s->sock);
    memset(s, 0, sizeof *s);
}

char *th_server_db(th_server *s, const char *name)
{
    char cmd[PATH_MAX + 256];
    char *url = NULL;
    snprintf(cmd, sizeof cmd, "mariadb --no-defaults --socket='%s' -uroot -e "
             "'CREATE DATABASE IF NOT EXISTS `%s`'", s->sock, name);
    cr_assert_eq(system(cmd), 0, "cannot create database %s", name);
    cr_assert_neq(asprintf(&url, "mysql://root@/%s?socket=%s", name, s->sock), -1);
    return url;
}

void th_server_private_db(th_server *s, th_db *t)
{
    char err[1024];
    db_url u;
    memset(t, 0, sizeof *t);
    t->kind = DB_MYSQL;
    th_server_start(s, NULL);
    t->url = th_server_db(s, "bot");
    cr_assert_eq(db_url_parse(t->url, NULL, &u, err, sizeof err), 0, "%s", err);
    cr_assert_eq(db_open(&u, NULL, &t->conn, err, sizeof err), DB_OK, "%s", err);
    db_url_free(&u);
    th_db_migrate(t);
}

void th_server_private_url(th_server *s, th_db *t)
{
    th_server_private_db(s, t);
    db_close(t->conn);
    t->conn = NULL;
}
