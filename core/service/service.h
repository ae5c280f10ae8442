/* SPDX-License-Identifier: MIT */
/*
 * service.h - `reconciler run` without --once: a startup run, then one run
 * per schedule.interval (plus jitter) on a monotonic grid, manual runs queued
 * through the HTTP API, the run lock shared with other instances, SIGHUP
 * reloads, SIGTERM/SIGINT stops.
 *
 * Threads: the main thread runs the schedule and every run; the heartbeat
 * (engine/runlock.c) renews the run lock; the database watch (dbwatch.c) pings
 * the database; the HTTP threads (api.c) read memory and queue manual runs.
 * No thread holds a mutex across I/O that another thread waits for.
 */
#ifndef RC_SERVICE_H
#define RC_SERVICE_H

#include "config/config.h"

/*
 * Read the pipeline file again for a reload (SIGHUP, POST /v1/service/reload),
 * with the command line's overrides: 0 and *out, or non-zero with why in err
 * (FILE:LINE:COL); the service logs it in the log's format and keeps it for
 * GET /v1/service/config.
 */
typedef int (*service_loader)(void *user, config **out, char *err, size_t errlen);

/* Run the service until stopped; returns the process exit code. Takes cfg. */
int service_run(config *cfg, service_loader load, void *load_user);

#endif
