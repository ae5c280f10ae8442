/* SPDX-License-Identifier: MIT */
/* th_galera.c - the Galera cluster's nodes and per-test databases (th_galera.h). */
#include "th_galera.h"
#include "th_wait.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *env_of(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v && *v, "%s is not set: run these tests through `make test-galera`, which "
              "starts the cluster (tests/galera/cluster)", name);
    return v;
}

static int node_port(int i)
{
    char name[32];
    snprintf(name, sizeof name, "GALERA_PORT%d", i + 1);
    return atoi(env_of(name));
}

pid_t galera_node_pid(int i)
{
    char name[32];
    snprintf(name, sizeof name, "GALERA_PID%d", i + 1);
    return (pid_t)atol(env_of(name));
}

static db *open_url(const char *url, const char *password)
{
    char err[512];
    db_url u;
    db *d = NULL;
    db_options o = { .password = password };
    cr_assert_eq(db_url_parse(url, NULL, &u, err, sizeof err), 0, "%s", err);
    cr_assert_eq(db_open(&u, &o, &d, err, sizeof err), DB_OK, "%s: %s", url, err);
    db_url_free(&u);
    return d;
}

/*
 * DDL through node 1, retried while the cluster cannot take it yet: after
 * the fencing loop froze node 1 (tests/faults/fence-loop), the node rejoins
 * and resyncs for a moment, and DDL then waits out its lock (1205) or finds
 * no primary component (1047). Waits on the DDL succeeding, up to a minute.
 */
static void ddl(db *admin, const char *sql)
{
    for (int tries = 0;; tries++) {
        if (db_exec(admin, sql, NULL, 0, NULL) == 0)
            return;
        int code = db_errcode(admin);
        cr_assert((code == 1205 || code == 1047 || code == 1213) && tries < 300,
                  "%s: %s", sql, db_errmsg(admin));
        sleep_ms(200);
    }
}

/*
 * A fresh database `name`, migrated through node 1; n[i] points at node i.
 * Test connections read with wsrep_sync_wait = 1, so that a check on one
 * node sees every write the cluster committed before it (causal reads).
 */
void galera_db(const char *name, th_db n[NODES])
{
    const char *user = env_of("GALERA_USER"), *pw = env_of("GALERA_PASSWORD");
    char *url = NULL, sql[160];
    cr_assert_neq(asprintf(&url, "mysql://%s@127.0.0.1:%d/mysql", user, node_port(0)), -1);
    db *admin = open_url(url, pw);
    free(url);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS `%s`", name);
    ddl(admin, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE `%s`", name);
    ddl(admin, sql);
    db_close(admin);
    for (int i = 0; i < NODES; i++) {
        memset(&n[i], 0, sizeof n[i]);
        n[i].kind = DB_MYSQL;
        n[i].password = pw;
        cr_assert_neq(asprintf(&n[i].url, "mysql://%s@127.0.0.1:%d/%s", user, node_port(i),
                               name), -1);
        /* DDL replicates in total order but is applied a moment later elsewhere. */
        for (int tries = 0; !n[i].conn; tries++) {
            char err[512];
            db_url u;
            db_options o = { .password = pw };
            cr_assert_eq(db_url_parse(n[i].url, NULL, &u, err, sizeof err), 0, "%s", err);
            if (db_open(&u, &o, &n[i].conn, err, sizeof err) != DB_OK) {
                n[i].conn = NULL;
                cr_assert_lt(tries, 50, "node %d: %s", i + 1, err);
                sleep_ms(100);
            }
            db_url_free(&u);
        }
        cr_assert_eq(db_exec(n[i].conn, "SET SESSION wsrep_sync_wait = 1", NULL, 0, NULL), 0,
                     "%s", db_errmsg(n[i].conn));
    }
    th_db_migrate(&n[0]);
}

void galera_db_free(th_db n[NODES])
{
    for (int i = 0; i < NODES; i++)
        if (n[i].url)
            th_db_destroy(&n[i]);
}
