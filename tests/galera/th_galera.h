/* SPDX-License-Identifier: MIT */
/*
 * th_galera.h - the three-node Galera cluster the galera suite runs on
 * (tests/galera/cluster names it in GALERA_PORT1..3 / GALERA_PID1..3 /
 * GALERA_USER / GALERA_PASSWORD): its nodes and a fresh database per test.
 * Shared by test_galera.c and test_galera_jobs.c.
 */
#ifndef RC_TH_GALERA_H
#define RC_TH_GALERA_H

#include <sys/types.h>
#include "helpers.h"

#define NODES 3

/* The pid of node i (0-based), to stop or kill it. */
pid_t galera_node_pid(int i);

/*
 * A fresh database `name`, migrated through node 1; n[i] points at node i.
 * Test connections read with wsrep_sync_wait = 1, so that a check on one
 * node sees every write the cluster committed before it (causal reads).
 */
void galera_db(const char *name, th_db n[NODES]);
/* Close and forget what galera_db made (the database stays for a look after a failure). */
void galera_db_free(th_db n[NODES]);

#endif
