/* SPDX-License-Identifier: MIT */
/*
 * th_fixture.h - the service under test as a Criterion fixture. A test asks
 * for a fresh migrated database of its driver (fx_db) and the service's
 * pipeline file on it (fx_svc), and loopback receivers (fx_otlp) if it needs
 * them, starts the service when it is ready to; the fixture's fini
 * (SVC_FIXTURE in the test's options) kills the service if it still runs,
 * frees it, stops the receivers and lets the database go, whatever happened
 * to the test.
 * One per test process: Criterion runs each test in a process of its own.
 */
#ifndef RC_TH_FIXTURE_H
#define RC_TH_FIXTURE_H

#include "th_otlp.h"
#include "th_pipe.h"
#include "th_server.h"
#include "th_svc.h"

/* A fresh migrated database of kind, owned by the fixture. */
th_db *fx_db(db_kind kind);
/* The same, empty: not migrated (what `migrate` is for). */
th_db *fx_db_empty(db_kind kind);
/*
 * Instead of fx_db: a private server (th_server.h) with a migrated database "bot" on it,
 * with the test's connection (with_conn) or not (t->conn NULL: nothing of the test's own
 * waits on a server it freezes). *srv: the server, to freeze, kill or restart; the fini
 * thaws it and removes it.
 */
th_db *fx_db_private(th_server **srv, int with_conn);
/* The service's pipeline file on fx_db's database (as svc_setup, instance 1); not started. */
svc *fx_svc(const char *extra, const char *http_extra, const char *steps);
/* The pipeline file of named jobs on fx_db's database (as svc_setup_jobs); not started. */
svc *fx_svc_jobs(const char *top, const char *jobs);
/* A loopback receiver (th_otlp_start) the fixture stops; at most FX_OTLP_MAX per test. */
#define FX_OTLP_MAX 4
th_otlp *fx_otlp(int status, int hang_ms);
/* A pipeline run by the binary (th_pipe_up) the fixture lets go; again: the previous one is
 * let go first (a test of several set-ups, one after the other). */
th_pipe *fx_pipe(db_kind kind, const char *dir1, const char *dir2, const char *extra,
                 const char *steps);
/* The fixture's fini: the service killed and freed, the receivers stopped, the database
 * closed (a private server removed), the pipeline let go. */
void fx_fini(void);

#define SVC_FIXTURE .fini = fx_fini

#endif
