/* SPDX-License-Identifier: MIT */
/*
 * th_fixture.h - the service under test as a Criterion fixture. A test asks
 * for a fresh migrated database of its driver (fx_db) and the service's
 * pipeline file on it (fx_svc), starts the service when it is ready to; the
 * fixture's fini (SVC_FIXTURE in the test's options) kills the service if it
 * still runs, frees it and lets the database go, whatever happened to the test.
 * One per test process: Criterion runs each test in a process of its own.
 */
#ifndef RC_TH_FIXTURE_H
#define RC_TH_FIXTURE_H

#include "th_svc.h"

/* A fresh migrated database of kind, owned by the fixture. */
th_db *fx_db(db_kind kind);
/* The service's pipeline file on fx_db's database (as svc_setup, instance 1); not started. */
svc *fx_svc(const char *extra, const char *http_extra, const char *steps);
/* The fixture's fini: the service killed and freed, the database closed. */
void fx_fini(void);

#define SVC_FIXTURE .fini = fx_fini

#endif
