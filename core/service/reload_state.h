/* SPDX-License-Identifier: MIT */
/*
 * reload_state.h - the pipeline file in force and the last reload's outcome,
 * shared by the main thread (which loads and reloads) and the HTTP threads
 * (GET /v1/service/config, /metrics, the console's banner). A mutex guards
 * it; nothing is done under it but copying.
 */
#ifndef RC_RELOAD_STATE_H
#define RC_RELOAD_STATE_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include "base/strbuf.h"
#include "config/config.h"

typedef struct reload_state {
    pthread_mutex_t mu;
    int64_t generation;       /* reloads tried since start (SIGHUP, POST /v1/service/reload) */
    int last_ok;              /* the last load (start or reload) was taken */
    int64_t last_attempt_ms;  /* Unix ms of the last reload tried, 0: none */
    int64_t last_success_ms;  /* Unix ms of the start or the last reload taken */
    char *error;              /* why the last reload was refused, or NULL */
    char sha256[65];          /* of the text in force */
    int64_t mtime_ms;         /* its file's mtime when it was read */
    char refused_sha256[65];  /* of the file on disk that was refused ("" unknown) */
    int64_t refused_mtime_ms;
    json_t *pipeline;         /* the pipeline in force, secrets redacted */
} reload_state;

void reload_state_init(reload_state *rs);
void reload_state_destroy(reload_state *rs);
/* cfg was loaded and is in force now (at start, or a reload that was taken). */
void reload_state_loaded(reload_state *rs, const config *cfg, int is_reload);
/* A reload of path was refused for err (the running pipeline stays). */
void reload_state_refused(reload_state *rs, const char *path, const char *err);
/* The reload's part of GET /v1/service/config: {generation, outcome, at, error, ...}. */
json_t *reload_state_json(reload_state *rs);
/* The body of GET /v1/service/config (new reference). */
json_t *reload_state_config_json(reload_state *rs, const char *path);
/* reconciler_config_last_reload_successful, ..._success_timestamp_seconds. */
void reload_state_metrics(reload_state *rs, strbuf *b);

/* cfg as JSON with every secret redacted (database.url's password, webhook URLs). */
json_t *reload_state_pipeline_json(const config *cfg);

#endif
