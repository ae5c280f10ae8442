/* SPDX-License-Identifier: MIT */
/*
 * test_galera_jobs.c - a job on the three-node Galera cluster (issue 19): three instances,
 * each on its own node, a 2-second seconds-cron job: exactly one run per slot, none
 * overlapping, none missed. Run by `make test-galera` with the rest of the suite.
 */
#include "helpers.h"
#include "th_svc.h"
#include "engine/history.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NODES 3

static const char *env_of(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v && *v, "%s is not set: run these tests through `make test-galera`", name);
    return v;
}

/* A fresh database name; n[i] on node i (causal reads), migrated through node 1. */
static void jobs_cluster_db(const char *name, th_db n[NODES])
{
    const char *user = env_of("GALERA_USER"), *pw = env_of("GALERA_PASSWORD");
    char sql[160], err[512], port[32];
    for (int i = 0; i < NODES; i++) {
        snprintf(port, sizeof port, "GALERA_PORT%d", i + 1);
        memset(&n[i], 0, sizeof n[i]);
        n[i].kind = DB_MYSQL;
        n[i].password = pw;
        cr_assert_neq(asprintf(&n[i].url, "mysql://%s@127.0.0.1:%s/%s", user, env_of(port),
                               i == 0 ? "mysql" : name), -1);
    }
    db_url u;
    db_options o = { .password = pw };
    cr_assert_eq(db_url_parse(n[0].url, NULL, &u, err, sizeof err), 0, "%s", err);
    cr_assert_eq(db_open(&u, &o, &n[0].conn, err, sizeof err), DB_OK, "%s", err);
    db_url_free(&u);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS `%s`", name);
    cr_assert_eq(db_exec(n[0].conn, sql, NULL, 0, NULL), 0, "%s", db_errmsg(n[0].conn));
    snprintf(sql, sizeof sql, "CREATE DATABASE `%s`", name);
    cr_assert_eq(db_exec(n[0].conn, sql, NULL, 0, NULL), 0, "%s", db_errmsg(n[0].conn));
    db_close(n[0].conn);
    n[0].conn = NULL;
    free(n[0].url);
    snprintf(port, sizeof port, "GALERA_PORT1");
    cr_assert_neq(asprintf(&n[0].url, "mysql://%s@127.0.0.1:%s/%s", user, env_of(port), name),
                  -1);
    for (int i = 0; i < NODES; i++) {
        /* DDL replicates in total order but is applied a moment later elsewhere. */
        for (int tries = 0; !n[i].conn; tries++) {
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

/* Instance i's pipeline file: one job, tick, on a 2-second seconds cron. */
static void tick_setup(svc *s, th_db *t, int i)
{
    svc_setup_jobs(s, t, i, "",
                   "  tick:\n    schedule: { cron: \"*/2 * * * * *\" }\n    steps:\n"
                   "      - plugin: fixture\n        options: { pause: 100ms }\n");
}

Test(galera, jobs_one_run_per_slot_on_three_nodes, .timeout = 120)
{
    th_db n[NODES];
    svc s[NODES];
    jobs_cluster_db("g_jobs", n);
    for (int i = 0; i < NODES; i++)
        tick_setup(&s[i], &n[i], i + 1);
    for (int i = 0; i < NODES; i++)
        svc_start(&s[i], NULL);
    int64_t end = mono_ms() + 60000;
    while (th_count(n[0].conn, "SELECT COUNT(*) FROM reconciler_job_slots WHERE status = "
                                "'success'") < 10) {
        cr_assert_lt(mono_ms(), end, "no 10 slots in 60 s; log 1:\n%s", th_read(s[0].errlog));
        sleep_ms(100);
    }
    for (int i = 0; i < NODES; i++)
        kill(s[i].pid, SIGTERM);
    for (int i = 0; i < NODES; i++)
        cr_assert_eq(svc_wait_exit(&s[i], 5000), 0, "instance %d", i + 1);

    /* Every run that ran, from the three histories: its slot, start and end. */
    char slot[300][40];
    int64_t from[300], to[300];
    size_t runs = 0;
    for (int i = 0; i < NODES; i++) {
        json_t *list = history_of(&s[i]);
        size_t k;
        json_t *run;
        json_array_foreach(list, k, run) {
            const char *st = json_string_value(json_object_get(run, "status"));
            if (!st || strcmp(st, "skipped") == 0)
                continue;
            cr_assert_lt(runs, 300);
            const char *sf = json_string_value(json_object_get(run, "scheduledFor"));
            snprintf(slot[runs], sizeof slot[runs], "%s", sf ? sf : "");
            from[runs] = iso_ms(json_string_value(json_object_get(run, "startedAt")));
            to[runs] = iso_ms(json_string_value(json_object_get(run, "finishedAt")));
            runs++;
        }
        json_decref(list);
    }
    int64_t slots = th_count(n[0].conn, "SELECT COUNT(*) FROM reconciler_job_slots");
    cr_assert_eq((int64_t)runs, slots, "%zu runs for %lld slots", runs, (long long)slots);
    for (size_t a = 0; a < runs; a++)
        for (size_t b = a + 1; b < runs; b++) {
            cr_assert_str_neq(slot[a], slot[b], "slot %s ran twice", slot[a]);
            cr_assert(to[a] <= from[b] || to[b] <= from[a], "runs overlap");
        }
    int64_t first = th_count(n[0].conn, "SELECT MIN(scheduled_for) FROM reconciler_job_slots");
    int64_t last = th_count(n[0].conn, "SELECT MAX(scheduled_for) FROM reconciler_job_slots");
    cr_assert_eq((last - first) / 2 + 1, slots, "a slot was missed between %lld and %lld",
                 (long long)first, (long long)last);
    cr_log_info("galera jobs: %zu runs for %lld slots, none twice, none missed", runs,
                (long long)slots);
    for (int i = 0; i < NODES; i++) {
        svc_free(&s[i]);
        th_db_destroy(&n[i]);
    }
}
