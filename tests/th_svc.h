/* SPDX-License-Identifier: MIT */
/*
 * th_svc.h - the service under test: the real binary started in the
 * background with a pipeline file of its own, spoken to over loopback HTTP,
 * stopped with signals. Shared by the service and step-worker tests.
 */
#ifndef RC_TH_SVC_H
#define RC_TH_SVC_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>
#include "helpers.h"
#include "th_http.h"
#include "th_wait.h"

typedef struct svc {
    th_db *t;        /* the database (shared by instances) */
    char *yaml;      /* its pipeline file */
    char *errlog;    /* its stderr */
    char *hist;      /* its history file */
    int port;
    pid_t pid;
    const char *extra_arg; /* one more argument for `run`, or NULL */
} svc;

#define REAL_STEPS                                                              \
    "  - plugin: leases\n  - plugin: followups\n  - plugin: orders\n  - plugin: metrics\n"

/* Write instance n's pipeline file (see th_svc.c). */
void svc_setup(svc *s, th_db *t, int n, const char *extra, const char *http_extra,
               const char *steps);
/*
 * s's pipeline file (again) as one of named jobs: svc_setup's database,
 * history, plugin folders and port, then top (top-level YAML lines, may be
 * "") and a jobs: mapping whose body is jobs. Also for a reload's new file.
 */
void svc_write_jobs(svc *s, const char *top, const char *jobs);
/* Instance n's pipeline file of named jobs: svc_setup, then svc_write_jobs. */
void svc_setup_jobs(svc *s, th_db *t, int n, const char *top, const char *jobs);
char *abs_build(const char *sub);
char *password_env(const svc *s);
pid_t spawn(svc *s, const char *const *env, const char *out_path);
void svc_start(svc *s, const char *const *env);
int run_once(svc *s, int as_json, char **out, char **err);
/* `reconciler ARGS... -c FILE` (args NULL-terminated, at most 13), the database password
 * from the environment: exit code, stdout and stderr as th_run_cli. */
int svc_cli(svc *s, const char *const *args, char **out, char **err);
int svc_wait_exit(svc *s, int ms);
void svc_kill(svc *s);
void svc_free(svc *s);
void svc_term(svc *s);
void migrated(db_kind kind, th_db *t);
json_t *parse(const th_response *r);
json_t *get_json(svc *s, const char *path, int *status);
json_t *wait_for(svc *s, const char *path, int want, int ms);
json_t *get_fresh(svc *s, const char *path, int ms);
int64_t post_run(svc *s, const char *query, int want);
json_t *wait_run(svc *s, int64_t id, int ms);
json_t *history_of(svc *s);
int64_t iso_ms(const char *iso);

/* A run killed in its middle, and the run after it (test_service.c, test_changes_kill.c). */
/* n processing_jobs rows 'processing' under a lease of 'dead' long expired (2020). */
void th_dead_leases(th_db *t, int n);
/* Once the scalar count_sql on conn is at least n (within ms), SIGKILL s (started with
 * spawn) and see it die of that. */
void svc_kill_at(svc *s, db *conn, const char *count_sql, int64_t n, int ms);
/* s's pipeline file with its first step's batch_size set to n (a next run in bigger chunks). */
void svc_set_batch_size(svc *s, int n);

#endif
