/* SPDX-License-Identifier: MIT */
/*
 * test_galera_jobs.c - a job on the three-node Galera cluster (issue 19): three instances,
 * each on its own node, a 2-second seconds-cron job: exactly one run per slot, none
 * overlapping, none missed. Run by `make test-galera` with the rest of the suite.
 */
#include "helpers.h"
#include "th_svc.h"
#include "engine/history.h"
#include "th_galera.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    galera_db("g_jobs", n);
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
