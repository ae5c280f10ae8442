/* SPDX-License-Identifier: MIT */
/*
 * test_reload_state.c - the pipeline in force and its reloads as the
 * operator sees them: GET /v1/service/config, the reload metrics, JSON log
 * lines for a refused reload, and the commands that talk to the service
 * (`reconciler reload`, `status`, `trigger`). The real binary over loopback.
 */
#include "helpers.h"
#include "db/lock.h"
#include "th_fixture.h"
#include "th_http.h"
#include "th_svc.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ONE_STEP "  - plugin: fixture\n    options:\n      value: 1\n"
#define QUIET "schedule:\n  on_startup: false\n  interval: 1h\n"

static char *get_body(svc *s, const char *path)
{
    th_response r;
    cr_assert_eq(th_http(s->port, "GET", path, NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 200, "GET %s: %d %s", path, r.status, r.body);
    char *b = r.body;
    r.body = NULL;
    th_response_free(&r);
    return b;
}

/* `reconciler CMD -c FILE [arg]`: exit code, stdout, stderr. */
static int cli(svc *s, const char *cmd, const char *arg, const char *arg2, char **out,
               char **err)
{
    return svc_cli(s, (const char *const[]){ cmd, arg, arg2, NULL }, out, err);
}

/*
 * A broken file: `reconciler reload` fails with the reason (so does
 * `systemctl reload`), the service keeps running the old pipeline and says
 * so in the config endpoint, the metrics, the state (the console's banner)
 * and a JSON log line. A good file: reload succeeds and all of it clears.
 */
Test(reload_state, refused_reload_is_visible_everywhere, .timeout = 60, SVC_FIXTURE)
{
    char *out = NULL, *err = NULL;
    fx_db(DB_SQLITE);
    svc *s = fx_svc(QUIET, "", ONE_STEP);
    s->extra_arg = "--log-format=json";
    char *good = th_read(s->yaml);
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));

    json_t *c = wait_for(s, "/v1/service/config", 200, 5000);
    cr_assert_eq(strlen(json_string_value(json_object_get(c, "sha256"))), 64);
    cr_assert(json_is_string(json_object_get(c, "mtime")));
    json_t *steps = json_object_get(json_object_get(c, "pipeline"), "steps");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(steps, 0), "plugin")),
                     "fixture");
    cr_assert(json_is_null(json_object_get(json_object_get(c, "reload"), "outcome")));
    char *sha_before = strdup(json_string_value(json_object_get(c, "sha256")));
    json_decref(c);

    /* A YAML error below the http: section: the command still finds the service. */
    char *broken = strdup(good);
    memcpy(strstr(broken, "value: 1"), "value: [", 8);
    th_write(s->yaml, broken);
    free(broken);
    int rc = cli(s, "reload", NULL, NULL, &out, &err);
    cr_assert_eq(rc, 2, "exit %d: %s%s", rc, out, err);
    cr_assert_not_null(strstr(err, "reload refused"), "%s", err);
    cr_assert_not_null(strstr(err, s->yaml), "the reason names the file: %s", err);
    free(out);
    free(err);
    cr_assert_eq(svc_wait_exit(s, 0), -1, "a bad file stopped the service");

    c = wait_for(s, "/v1/service/config", 200, 5000);
    json_t *r = json_object_get(c, "reload");
    cr_assert_str_eq(json_string_value(json_object_get(r, "outcome")), "refused");
    cr_assert_not_null(strstr(json_string_value(json_object_get(r, "error")), s->yaml));
    cr_assert_str_eq(json_string_value(json_object_get(c, "sha256")), sha_before,
                     "the pipeline in force is still the old one");
    cr_assert(json_is_string(json_object_get(json_object_get(r, "refusedFile"), "sha256")));
    json_decref(c);
    json_t *st = wait_for(s, "/v1/service/state", 200, 5000);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(st, "reload"),
                                                       "outcome")), "refused");
    json_decref(st);
    char *m = get_body(s, "/metrics");
    cr_assert_not_null(strstr(m, "\nreconciler_config_last_reload_successful 0\n"), "%s", m);
    cr_assert_not_null(strstr(m, "reconciler_build_info{version=\""), "%s", m);
    free(m);

    /* The refusal is a JSON line like every other (no plain-text line in between). */
    char *log = th_read(s->errlog), *save = NULL;
    int refused_lines = 0;
    for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(line, 0, NULL);
        cr_assert_not_null(o, "not a JSON line: %s", line);
        const char *msg = json_string_value(json_object_get(o, "msg"));
        if (msg && strstr(msg, "reload: refused") && strstr(msg, s->yaml))
            refused_lines++;
        json_decref(o);
    }
    cr_assert_eq(refused_lines, 1);
    free(log);

    /* `status` shows the refusal too. */
    rc = cli(s, "status", NULL, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(out, "reload:    REFUSED"), "%s", out);
    free(out);
    free(err);

    /* A good file again: reload succeeds, and the metric and the state clear. */
    char *p = strstr(good, "value: 1");
    p[7] = '2';
    th_write(s->yaml, good);
    rc = cli(s, "reload", NULL, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(out, "reloaded"), "%s", out);
    free(out);
    free(err);
    c = wait_for(s, "/v1/service/config", 200, 5000);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "reload"),
                                                       "outcome")), "ok");
    cr_assert_str_neq(json_string_value(json_object_get(c, "sha256")), sha_before);
    json_decref(c);
    m = get_body(s, "/metrics");
    cr_assert_not_null(strstr(m, "\nreconciler_config_last_reload_successful 1\n"), "%s", m);
    free(m);
    svc_term(s);
    free(sha_before);
    free(good);
}

/* Secrets in the file never come back from GET /v1/service/config. */
Test(reload_state, config_endpoint_redacts_secrets, .timeout = 30, SVC_FIXTURE)
{
    fx_db(DB_SQLITE);
    svc *s = fx_svc(QUIET "notify:\n  - url: https://hooks.example/T0/B0/s3cr3tpath\n"
                    "    secret_env: HOOK_KEY\n", "", ONE_STEP);
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    char *body = get_body(s, "/v1/service/config");
    cr_assert_null(strstr(body, "s3cr3tpath"), "%s", body);
    cr_assert_not_null(strstr(body, "HOOK_KEY"), "%s", body);
    free(body);
    svc_term(s);
}

/*
 * `trigger --wait` makes a manual run through the service and exits as
 * `run --once` would; `trigger` alone only queues; `status` names the last
 * run. On both drivers.
 */
DB_TEST(reload_state, trigger_and_status_talk_to_the_service, .timeout = 60, SVC_FIXTURE)
{
    char *out = NULL, *err = NULL;
    fx_db(kind);
    svc *s = fx_svc(QUIET, "", REAL_STEPS);
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));

    int rc = cli(s, "trigger", "--wait", "--json", &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    json_t *r = json_loads(out, 0, NULL);
    cr_assert_not_null(r, "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(r, "trigger")), "manual");
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "success");
    int64_t id = json_integer_value(json_object_get(r, "runId"));
    json_decref(r);
    free(out);
    free(err);

    rc = cli(s, "trigger", "--dry-run", "--wait", &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(out, "dry run"), "%s", out);
    free(out);
    free(err);

    rc = cli(s, "status", NULL, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    char want[64];
    snprintf(want, sizeof want, "last run:  %lld success (manual, dry run)", (long long)id + 1);
    cr_assert_not_null(strstr(out, want), "%s", out);
    cr_assert_not_null(strstr(out, "state:     idle"), "%s", out);
    free(out);
    free(err);
    svc_term(s);

    /* The service gone: exit 6, saying where it looked. */
    rc = cli(s, "status", NULL, NULL, &out, &err);
    cr_assert_eq(rc, 6, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(err, "does not answer"), "%s", err);
    free(out);
    free(err);
}

/* A token-protected API: the commands send the token from http.token_env's variable. */
Test(reload_state, commands_send_the_token, .timeout = 30, SVC_FIXTURE)
{
    char *out = NULL, *err = NULL;
    fx_db(DB_SQLITE);
    svc *s = fx_svc(QUIET, "  token_env: OP_TOKEN\n", ONE_STEP);
    const char *const env[] = { "OP_TOKEN=op-secret-1", NULL };
    svc_start(s, env);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    const char *const args[] = { "status", "-c", s->yaml, NULL };
    int rc = th_run_cli(args, env, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    free(out);
    free(err);
    rc = th_run_cli(args, NULL, &out, &err);
    cr_assert_eq(rc, 6, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(err, "OP_TOKEN (http.token_env) is not set here"), "%s", err);
    cr_assert_null(strstr(err, "op-secret-1"));
    free(out);
    free(err);
    svc_term(s);
}

/* A pipeline file that does not load at start, with --log-format json: a JSON line too. */
Test(reload_state, start_error_is_a_json_line, .timeout = 30)
{
    char *out = NULL, *err = NULL;
    char *yaml = th_path(th_tmpdir(), "broken.yaml");
    th_write(yaml, "steps: [\n");
    const char *const args[] = { "run", "-c", yaml, "--log-format", "json", NULL };
    int rc = th_run_cli(args, NULL, &out, &err);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, err);
    json_t *o = json_loads(err, JSON_DISABLE_EOF_CHECK, NULL);
    cr_assert_not_null(o, "not a JSON line: %s", err);
    cr_assert_str_eq(json_string_value(json_object_get(o, "level")), "error");
    cr_assert_not_null(strstr(json_string_value(json_object_get(o, "msg")), yaml), "%s", err);
    json_decref(o);
    free(out);
    free(err);
    free(yaml);
}

/* Every stderr line is a JSON object (the same check for each case below). */
static void all_json_lines(const char *err, const char *needle)
{
    char *copy = strdup(err), *save = NULL;
    int found = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(line, 0, NULL);
        cr_assert_not_null(o, "not a JSON line: %s", line);
        const char *msg = json_string_value(json_object_get(o, "msg"));
        found |= msg && strstr(msg, needle) != NULL;
        json_decref(o);
    }
    cr_assert(found, "no line says \"%s\": %s", needle, err);
    free(copy);
}

/*
 * --log-format json on `run --once` and `validate`: a plugin that is not
 * found, a run that could not happen, a validate warning all come as JSON
 * lines, none as plain text.
 */
Test(reload_state, command_errors_are_json_lines, .timeout = 30, SVC_FIXTURE)
{
    char *out = NULL, *err = NULL;
    fx_db_empty(DB_SQLITE);
    svc *s = fx_svc("", "  token_env: OPJ_UNSET_TOKEN\n", ONE_STEP);
    const char *const run[] = { "run", "--once", "--log-format", "json", "-c", s->yaml, NULL };
    int rc = th_run_cli(run, NULL, &out, &err);
    cr_assert_eq(rc, 3, "exit %d: %s", rc, err);
    all_json_lines(err, "run `reconciler migrate` first");
    free(out);
    free(err);
    const char *const val[] = { "validate", "--log-format", "json", "-c", s->yaml, NULL };
    rc = th_run_cli(val, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    all_json_lines(err, "OPJ_UNSET_TOKEN");
    free(out);
    free(err);

    char *text = th_read(s->yaml), *p = strstr(text, "plugin: fixture");
    memcpy(p, "plugin: nosuchx", 15);
    th_write(s->yaml, text);
    free(text);
    rc = th_run_cli(run, NULL, &out, &err);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, err);
    all_json_lines(err, "nosuchx");
    free(out);
    free(err);
}

/* `trigger --wait` exits as `run --once` would: 4 when another instance held the lock. */
DB_TEST(reload_state, trigger_exits_4_on_a_held_lock, .timeout = 60, SVC_FIXTURE)
{
    char why[512], *out = NULL, *err = NULL;
    th_db *t = fx_db(kind);
    svc *s = fx_svc(QUIET "  lock_wait: 1s\n", "", ONE_STEP);
    svc_start(s, NULL);
    json_decref(wait_for(s, "/healthz", 200, 10000));
    cr_assert_eq(lock_try(t->conn, LOCK_NAME, "otherhost:7:feed0007", 3600000, NULL, why,
                          sizeof why), 1, "%s", why);
    /* The state names the other holder once the database watch has read the row. */
    int64_t end = mono_ms() + 10000;
    for (;;) {
        json_t *st = wait_for(s, "/v1/service/state", 200, 5000);
        const char *id = json_string_value(json_object_get(
            json_object_get(json_object_get(st, "lock"), "holder"), "id"));
        int seen = id && strcmp(id, "otherhost:7:feed0007") == 0;
        json_decref(st);
        if (seen)
            break;
        cr_assert_lt(mono_ms(), end, "the state never named the holder");
        sleep_ms(100);
    }
    int rc = cli(s, "status", NULL, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(out, "lock:      held by otherhost:7:feed0007 until"), "%s", out);
    free(out);
    free(err);
    rc = cli(s, "trigger", "--wait", NULL, &out, &err);
    cr_assert_eq(rc, 4, "exit %d: %s%s", rc, out, err);
    cr_assert_not_null(strstr(err, "otherhost:7:feed0007"), "%s", err);
    free(out);
    free(err);
    svc_term(s);
}
