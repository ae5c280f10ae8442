/*
 * api.h - the service's HTTP API (routes in api.c, transport in http.c).
 * The API gets only what it serves from, each behind its own small
 * interface: the run state (memory), the pipeline snapshots (for the live
 * figures), the API's own history handle, the run lock's "held" flag and
 * the database watch. No handler takes a lock that a run or the heartbeat
 * holds across I/O.
 */
#ifndef RC_API_H
#define RC_API_H

#include <stddef.h>
#include "engine/guard.h"
#include "engine/history.h"
#include "service/dbwatch.h"
#include "service/http.h"
#include "service/run_state.h"
#include "service/snapshot.h"
#include "service/webhook.h"

typedef struct api_deps {
    run_state *rs;
    snapshots *snaps;
    history *h;          /* the API's own handle (short busy timeout) */
    guard *g;            /* read: guard_held() only */
    dbwatch *watch;
    const config *boot;  /* database settings for the live figures' connections */
    const char *listen;
    const char *token;   /* NULL: none */
    webhook *wh;         /* read: webhook_metrics() only; may be NULL */
} api_deps;

/* Start serving (deps must outlive the server). 0, or -1 with err. */
int api_start(const api_deps *deps, http_server **out, char *err, size_t errlen);

#endif
