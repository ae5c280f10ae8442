/* SPDX-License-Identifier: MIT */
/*
 * th_server.h - a private MariaDB server for one test: its own data folder,
 * socket and options (a time zone, say), which the test may stop, restart,
 * freeze (SIGSTOP) or kill without disturbing the shared harness server that
 * the other tests use. About 2 s to set up (mariadb-install-db), 0.3 s to
 * start.
 */
#ifndef RC_TH_SERVER_H
#define RC_TH_SERVER_H

#include <sys/types.h>

typedef struct th_server {
    char *dir;             /* its folder under th_tmpdir() */
    char *sock;            /* its socket */
    pid_t pid;             /* mariadbd, or 0 when stopped */
    const char *extra[8];  /* more mariadbd options, NULL-terminated */
} th_server;

/*
 * Install and start a server with extra mariadbd options (NULL-terminated,
 * may be NULL), e.g. { "--default-time-zone=-05:00", NULL }. Fails the test
 * when it does not come up within 10 s. It dies with the test process.
 */
void th_server_start(th_server *s, const char *const *extra);
/* Shut it down cleanly (keeps the data); a stopped server may be started again. */
void th_server_stop(th_server *s);
/* Stop and start again on the same data and options, as a restart would. */
void th_server_restart(th_server *s);
/* Stop it and remove its folder. */
void th_server_destroy(th_server *s);

/*
 * Create database name on it and return a URL for it (malloc'd):
 * "mysql://root@/NAME?socket=SOCK". root has no password on a private server.
 */
char *th_server_db(th_server *s, const char *name);
/*
 * Start s (no extra options) with a migrated database "bot" on it, described
 * by t (th_db_destroy frees it); t->conn stays open for the test's checks.
 */
struct th_db;
void th_server_private_db(th_server *s, struct th_db *t);
/* The same, without the test's connection (t->conn NULL): nothing of the test's own then
 * waits on a server the test freezes. */
void th_server_private_url(th_server *s, struct th_db *t);

#endif
