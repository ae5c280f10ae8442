/* SPDX-License-Identifier: MIT */
/*
 * test_reload_metrics.c - reconciler_config_last_reload_success_timestamp_seconds
 * says when the pipeline in force was loaded: at start, unchanged by a
 * refused reload (while ..._successful is 0), moved by a good one; always
 * the reload state's lastSuccessAt (GET /v1/service/config); and
 * reconciler_build_info{version,abi} names this build. The real binary over
 * loopback, SQLite.
 */
#include "helpers.h"
#include "reconciler.h"
#include "th_fixture.h"
#include "th_http.h"
#include "th_svc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUIET "schedule:\n  on_startup: false\n  interval: 1h\n"

/* A sample's value in /metrics (the metric has no labels). */
static double metric(svc *s, const char *name)
{
    th_response r;
    char want[160];
    cr_assert_eq(th_http(s->port, "GET", "/metrics", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    snprintf(want, sizeof want, "\n%s ", name);
    const char *p = strstr(r.body, want);
    cr_assert_not_null(p, "%s not in %s", name, r.body);
    double v = strtod(p + strlen(want), NULL);
    th_response_free(&r);
    return v;
}

/* The reload state's lastSuccessAt, in Unix ms. */
static int64_t last_success_ms(svc *s)
{
    json_t *c = wait_for(s, "/v1/service/config", 200, 5000);
    const char *at = json_string_value(json_object_get(json_object_get(c, "reload"),
                                                       "lastSuccessAt"));
    cr_assert_not_null(at, "%s", json_dumps(c, 0));
    int64_t ms = iso_ms(at);
    json_decref(c);
    return ms;
}

static int reload(svc *s)
{
    char *out = NULL, *err = NULL;
    const char *const args[] = { "reload", "-c", s->yaml, NULL };
    int rc = th_run_cli(args, NULL, &out, &err);
    free(out);
    free(err);
    return rc;
}

Test(reload_metrics, success_timestamp_follows_the_pipeline_in_force, .timeout = 60, SVC_FIXTURE)
{
    fx_db(DB_SQLITE);
    svc *s = fx_svc(QUIET, "", "  - plugin: fixture\n    options:\n      value: 1\n");
    char *good = th_read(s->yaml);
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));

    /* At start: the start's load. */
    const char *ts = "reconciler_config_last_reload_success_timestamp_seconds";
    double at_start = metric(s, ts);
    int64_t start_ms = last_success_ms(s);
    cr_assert_gt(at_start, 1e9, "%f", at_start);
    cr_assert_float_eq(at_start, start_ms / 1000.0, 0.0015, "%f vs %lld", at_start,
                       (long long)start_ms);

    /* Refused: unchanged, and ..._successful 0. */
    char *broken = strdup(good);
    memcpy(strstr(broken, "value: 1"), "value: [", 8);
    th_write(s->yaml, broken);
    free(broken);
    cr_assert_eq(reload(s), 2);
    cr_assert_eq(metric(s, "reconciler_config_last_reload_successful"), 0.0);
    cr_assert_eq(metric(s, ts), at_start);

    /* Taken: moved to the new load, and ..._successful 1. */
    strstr(good, "value: 1")[7] = '2';
    th_write(s->yaml, good);
    cr_assert_eq(reload(s), 0);
    cr_assert_eq(metric(s, "reconciler_config_last_reload_successful"), 1.0);
    double after = metric(s, ts);
    int64_t after_ms = last_success_ms(s);
    cr_assert_gt(after_ms, start_ms);
    cr_assert_float_eq(after, after_ms / 1000.0, 0.0015, "%f vs %lld", after,
                       (long long)after_ms);

    /* The build: its version and the plugin ABI it offers, always 1. */
    char *out = NULL, *err = NULL, want[160], version[64] = "";
    const char *const args[] = { "--version", NULL };
    cr_assert_eq(th_run_cli(args, NULL, &out, &err), 0);
    cr_assert_eq(sscanf(out, "reconciler %63s", version), 1, "%s", out);
    snprintf(want, sizeof want, "reconciler_build_info{version=\"%s\",abi=\"%d.%d\"}",
             version, RC_ABI_MAJOR, RC_ABI_MINOR);
    cr_assert_eq(metric(s, want), 1.0);
    free(out);
    free(err);
    svc_term(s);
    free(good);
}
