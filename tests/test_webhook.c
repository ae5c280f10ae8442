/* SPDX-License-Identifier: MIT */
/*
 * test_webhook.c - the notify: targets, end to end: the real binary (`run
 * --once` and the service) POSTs to a real HTTP receiver on loopback that
 * this test runs in a thread of its own. The receiver checks bodies and
 * signatures, answers 500 or 404, hangs past the timeout, or is not there at
 * all; whatever it does, the run's outcome, exit code and timing stay the
 * same, the attempts are as configured, and history records each outcome.
 * Secrets (the URL's path, query and user-info, the HMAC key, header values)
 * appear in no log line and no history byte.
 */
#include "helpers.h"
#include "service/webhook.h"
#include "service/webhook_payload.h"
#include "th_fixture.h"
#include "th_http.h"
#include "th_otlp.h"
#include "th_svc.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------ the receiver (th_otlp) */

/* A receiver would verify this way: t=<unix>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>, recent. */
static void check_signature(th_otlp *rx, int i, const char *key)
{
    char *sig = th_otlp_header(rx, i, "X-Reconciler-Signature");
    long long t;
    char hex[65], *msg = NULL, want[65];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len;
    cr_assert_not_null(sig, "no signature header");
    cr_assert_eq(sscanf(sig, "t=%lld,v1=%64[0-9a-f]", &t, hex), 2, "signature '%s'", sig);
    cr_assert_lt(llabs(t - (long long)time(NULL)), 60, "signature time %lld is not now", t);
    pthread_mutex_lock(&rx->mu);
    cr_assert_neq(asprintf(&msg, "%lld.%s", t, rx->bodies[i]), -1);
    pthread_mutex_unlock(&rx->mu);
    cr_assert_not_null(HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)msg,
                            strlen(msg), mac, &len));
    for (unsigned int k = 0; k < len; k++)
        snprintf(want + 2 * k, 3, "%02x", mac[k]);
    cr_assert_str_eq(hex, want, "the signature does not verify");
    free(msg);
    free(sig);
}

/* ------------------------------------------------------------ the pipeline */

#define FAILING "  - plugin: fixture\n    options: { fail: true }\n"
#define GOOD "  - plugin: fixture\n"

/* The pipeline file mended: the failing step's "fail: true" becomes "fail: false". */
static void mend(const char *yaml)
{
    char *text = th_read(yaml), *out = NULL;
    char *p = strstr(text, "fail: true");
    cr_assert_not_null(p);
    *p = '\0';
    cr_assert_neq(asprintf(&out, "%sfail: false%s", text, p + 10), -1);
    th_write(yaml, out);
    free(out);
    free(text);
}

/* A dead port: bound and closed again, nobody listens there. */
static int closed_port(void)
{
    return th_free_port();
}

static const char *const no_env[] = { NULL };

/* `run --once --json` with env; exit code, stdout and stderr. */
static int once(svc *s, const char *const *env, char **out, char **err)
{
    const char *all[8] = { 0 };
    char *pw = password_env(s);
    size_t n = 0;
    if (pw)
        all[n++] = pw;
    for (; env && *env && n < 7; env++)
        all[n++] = *env;
    const char *const args[] = { "run", "--once", "--json", "-c", s->yaml, NULL };
    int rc = th_run_cli(args, all, out, err);
    free(pw);
    return rc;
}

/* The run in history (by id), with its notifications. */
static json_t *history_run(svc *s, int64_t id)
{
    json_t *runs = history_of(s), *run;
    size_t i;
    json_array_foreach(runs, i, run)
        if (json_integer_value(json_object_get(run, "runId")) == id) {
            json_incref(run);
            json_decref(runs);
            return run;
        }
    cr_assert_fail("run %lld is not in the history", (long long)id);
    return NULL;
}

/* run's notification to target (targets deliver in parallel: found by name). */
static json_t *note_of(json_t *run, const char *target)
{
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(run, "notifications"), i, n)
        if (strcmp(json_string_value(json_object_get(n, "target")), target) == 0)
            return n;
    cr_assert_fail("no notification to %s: %s", target, json_dumps(run, 0));
    return NULL;
}

/* run's notification to target: event, status, httpCode (0: null) and attempts as expected. */
static void check_note(json_t *run, const char *target, const char *event, const char *status,
                       int http, int attempts)
{
    json_t *n = note_of(run, target);
    cr_assert_str_eq(json_string_value(json_object_get(n, "event")), event);
    cr_assert_str_eq(json_string_value(json_object_get(n, "status")), status, "%s",
                     json_dumps(n, 0));
    cr_assert_eq(json_integer_value(json_object_get(n, "httpCode")), http, "%s", json_dumps(n, 0));
    cr_assert_eq(json_integer_value(json_object_get(n, "attempts")), attempts, "%s",
                 json_dumps(n, 0));
}

static json_t *parse_text(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text ? text : "", 0, &e);
    cr_assert_not_null(j, "not JSON (%s): %s", e.text, text ? text : "(none)");
    return j;
}

/* The history row of the run that out (a `run --once --json` result) reports (new ref). */
static json_t *run_of(svc *s, const char *out)
{
    json_t *result = parse_text(out);
    json_t *run = history_run(s, json_integer_value(json_object_get(result, "runId")));
    json_decref(result);
    return run;
}

/* ------------------------------------------------------------ events */

Test(webhook, events_of_a_run)
{
    json_t *failed = json_pack("{s:s, s:b}", "status", "failed", "dryRun", 0);
    json_t *ok = json_pack("{s:s, s:b}", "status", "success", "dryRun", 0);
    json_t *dry = json_pack("{s:s, s:b}", "status", "failed", "dryRun", 1);
    json_t *cut = json_pack("{s:s, s:b, s:b}", "status", "partial", "dryRun", 0, "interrupted", 1);
    json_t *skipped = json_pack("{s:s, s:b}", "status", "skipped", "dryRun", 0);

    cr_assert_eq(webhook_run_events(failed, NULL), CFG_EV_FAILED);
    cr_assert_eq(webhook_run_events(ok, NULL), CFG_EV_SUCCESS);
    cr_assert_eq(webhook_run_events(ok, "success"), CFG_EV_SUCCESS);
    cr_assert_eq(webhook_run_events(ok, "failed"), CFG_EV_SUCCESS | CFG_EV_RECOVERED);
    cr_assert_eq(webhook_run_events(ok, "partial"), CFG_EV_SUCCESS | CFG_EV_RECOVERED);
    cr_assert_eq(webhook_run_events(dry, NULL), 0);
    cr_assert_eq(webhook_run_events(cut, NULL), CFG_EV_INTERRUPTED);
    cr_assert_eq(webhook_run_events(skipped, "failed"), 0);

    /* One event per target: recovered wins over success, and only what "on" names. */
    unsigned rec = CFG_EV_SUCCESS | CFG_EV_RECOVERED;
    cr_assert_eq(webhook_pick_event(CFG_EV_DEFAULT, rec), CFG_EV_RECOVERED);
    cr_assert_eq(webhook_pick_event(CFG_EV_SUCCESS | CFG_EV_RECOVERED, rec), CFG_EV_RECOVERED);
    cr_assert_eq(webhook_pick_event(CFG_EV_SUCCESS, rec), CFG_EV_SUCCESS);
    cr_assert_eq(webhook_pick_event(CFG_EV_DEFAULT, CFG_EV_SUCCESS), 0);
    cr_assert_eq(webhook_pick_event(CFG_EV_DEFAULT, CFG_EV_INTERRUPTED), 0);
    cr_assert_eq(webhook_pick_event(CFG_EV_FAILED, CFG_EV_FAILED), CFG_EV_FAILED);
    json_decref(failed);
    json_decref(ok);
    json_decref(dry);
    json_decref(cut);
    json_decref(skipped);
}

/* ------------------------------------------------------------ run --once */

/*
 * A failed run: the JSON body says what failed, signed with the key from
 * secret_env, with the header from the environment; the exit code is the
 * run's (1); history records the delivery; no secret in the log or history.
 */
Test(webhook, once_failed_signed_json, .timeout = 30, SVC_FIXTURE)
{
    char notify[1024], *out = NULL, *err = NULL;
    fx_db(DB_SQLITE);
    th_otlp *rx = fx_otlp(200, 0);
    snprintf(notify, sizeof notify,
             "notify:\n  - url: http://hookuser:URLPASS@127.0.0.1:%d/hooks/PATHSECRET?token=QUERYSECRET\n"
             "    name: ops\n    secret_env: HOOK_KEY\n    headers: { Authorization: HOOK_AUTH }\n",
             rx->port);
    svc *s = fx_svc(notify, "", FAILING);
    const char *const env[] = { "HOOK_KEY=KEYSECRET", "HOOK_AUTH=Bearer TOKENSECRET", NULL };

    int rc = once(s, env, &out, &err);
    cr_assert_eq(rc, 1, "a failed run exits 1 with or without webhooks: %d\n%s", rc, err);
    json_t *result = parse_text(out);
    int64_t id = json_integer_value(json_object_get(result, "runId"));
    cr_assert_eq(th_otlp_count(rx), 1, "one POST: %d\n%s", th_otlp_count(rx), err);

    pthread_mutex_lock(&rx->mu);
    cr_assert(strncmp(rx->heads[0], "POST /hooks/PATHSECRET?token=QUERYSECRET ", 41) == 0,
              "%s", rx->heads[0]);
    pthread_mutex_unlock(&rx->mu);
    check_signature(rx, 0, "KEYSECRET");
    char *auth = th_otlp_header(rx, 0, "Authorization");
    char *event = th_otlp_header(rx, 0, "X-Reconciler-Event");
    char *ctype = th_otlp_header(rx, 0, "Content-Type");
    cr_assert_str_eq(auth, "Bearer TOKENSECRET");
    cr_assert_str_eq(event, "failed");
    cr_assert_str_eq(ctype, "application/json");
    json_t *body = th_otlp_body(rx, 0);
    cr_assert_str_eq(json_string_value(json_object_get(body, "event")), "failed");
    cr_assert_eq(json_integer_value(json_object_get(body, "runId")), id);
    cr_assert_str_eq(json_string_value(json_object_get(body, "status")), "failed");
    cr_assert_str_eq(json_string_value(json_object_get(body, "trigger")), "startup");
    cr_assert(json_is_integer(json_object_get(body, "durationMs")));
    cr_assert(strstr(json_string_value(json_array_get(json_object_get(body, "errors"), 0)),
                     "fixture asked to fail"), "%s", json_dumps(body, 0));
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(
                         json_object_get(body, "steps"), 0), "status")), "failed");
    cr_assert(json_is_null(json_object_get(body, "link")), "run --once has no API to link to");

    json_t *run = history_run(s, id);
    check_note(run, "ops", "failed", "delivered", 200, 1);
    cr_assert_eq(json_array_size(json_object_get(run, "notifications")), 1);

    /* The log names the target by scheme://host:port/ only. */
    char shown[64];
    snprintf(shown, sizeof shown, "http://127.0.0.1:%d/", rx->port);
    cr_assert(strstr(err, shown), "%s", err);
    static const char *const secrets[] = { "URLPASS", "PATHSECRET", "QUERYSECRET", "KEYSECRET",
                                           "TOKENSECRET", "hookuser" };
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        cr_assert_null(strstr(err, secrets[i]), "%s in the log:\n%s", secrets[i], err);
        cr_assert_null(strstr(out, secrets[i]), "%s on stdout", secrets[i]);
        cr_assert_eq(th_file_contains(s->hist, secrets[i]), 0, "%s in the history file",
                     secrets[i]);
    }
    free(auth);
    free(event);
    free(ctype);
    json_decref(body);
    json_decref(run);
    json_decref(result);
    free(out);
    free(err);
}

/*
 * failed -> good -> good: the default target hears "failed", then "recovered"
 * once, then nothing; a target on [success] hears both good runs as
 * "success". A dry run in between changes nothing.
 */
Test(webhook, once_recovered_fires_once, .timeout = 40, SVC_FIXTURE)
{
    char notify[1024], *out = NULL, *err = NULL;
    fx_db(DB_SQLITE);
    th_otlp *def = fx_otlp(200, 0);
    th_otlp *all = fx_otlp(200, 0);
    snprintf(notify, sizeof notify,
             "notify:\n  - url: http://127.0.0.1:%d/\n    name: pager\n"
             "  - url: http://127.0.0.1:%d/\n    name: log\n    on: success\n",
             def->port, all->port);
    svc *s = fx_svc(notify, "", FAILING);

    cr_assert_eq(once(s, no_env, &out, &err), 1, "%s", err);
    free(out);
    free(err);
    mend(s->yaml);
    const char *const dry[] = { "run", "--once", "--dry-run", "-c", s->yaml, NULL };
    cr_assert_eq(th_run_cli(dry, NULL, &out, &err), 0, "%s", err);
    free(out);
    free(err);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(once(s, no_env, &out, &err), 0, "%s", err);
        free(out);
        free(err);
    }
    cr_assert_eq(th_otlp_count(def), 2, "pager: %d requests", th_otlp_count(def));
    json_t *b0 = th_otlp_body(def, 0), *b1 = th_otlp_body(def, 1);
    cr_assert_str_eq(json_string_value(json_object_get(b0, "event")), "failed");
    cr_assert_str_eq(json_string_value(json_object_get(b1, "event")), "recovered");
    cr_assert_str_eq(json_string_value(json_object_get(b1, "status")), "success");
    cr_assert_eq(th_otlp_count(all), 2, "log: %d requests", th_otlp_count(all));
    for (int i = 0; i < 2; i++) {
        json_t *b = th_otlp_body(all, i);
        cr_assert_str_eq(json_string_value(json_object_get(b, "event")), "success");
        json_decref(b);
    }
    /* History: run 1 failed (pager), 2 dry (none), 3 recovered + success, 4 success. */
    json_t *r3 = history_run(s, 3), *r4 = history_run(s, 4), *r2 = history_run(s, 2);
    cr_assert_eq(json_array_size(json_object_get(r2, "notifications")), 0);
    cr_assert_eq(json_array_size(json_object_get(r3, "notifications")), 2, "%s", json_dumps(r3, 0));
    cr_assert_eq(json_array_size(json_object_get(r4, "notifications")), 1, "%s", json_dumps(r4, 0));
    check_note(r4, "log", "success", "delivered", 200, 1);
    json_decref(b0);
    json_decref(b1);
    json_decref(r2);
    json_decref(r3);
    json_decref(r4);
}

/*
 * Receivers that answer 500 (retried as configured), 404 (not retried), hang
 * past the timeout, or are not there: the run succeeds and exits 0 all the
 * same, its own duration unaffected, and history records each outcome.
 */
Test(webhook, once_receivers_that_fail, .timeout = 40, SVC_FIXTURE)
{
    char notify[2048], *out = NULL, *err = NULL;
    fx_db(DB_SQLITE);
    th_otlp *e500 = fx_otlp(500, 0);
    th_otlp *e404 = fx_otlp(404, 0);
    th_otlp *hang = fx_otlp(200, 4000);
    int dead = closed_port();
    snprintf(notify, sizeof notify,
             "notify:\n"
             "  - { url: \"http://127.0.0.1:%d/\", name: e500, on: success, retries: 2, backoff: 100ms }\n"
             "  - { url: \"http://127.0.0.1:%d/\", name: e404, on: success, retries: 2, backoff: 100ms }\n"
             "  - { url: \"http://127.0.0.1:%d/\", name: hang, on: success, retries: 1, backoff: 100ms, timeout: 1s }\n"
             "  - { url: \"http://127.0.0.1:%d/\", name: dead, on: success, retries: 1, backoff: 100ms }\n",
             e500->port, e404->port, hang->port, dead);
    svc *s = fx_svc(notify, "", GOOD);

    int64_t t0 = mono_ms();
    int rc = once(s, no_env, &out, &err);
    int64_t took = mono_ms() - t0;
    cr_assert_eq(rc, 0, "a good run exits 0 whatever its receivers do: %d\n%s", rc, err);
    json_t *result = parse_text(out);
    cr_assert_str_eq(json_string_value(json_object_get(result, "status")), "success");
    /* The run itself never waited for a receiver (hang alone holds 2 x 1 s). */
    cr_assert_lt(json_integer_value(json_object_get(result, "durationMs")), 1900, "%s", out);
    /* Bounded: within run --once's 10 s budget, with room for a loaded machine. */
    cr_assert_lt(took, WEBHOOK_ONCE_BUDGET_MS + 5000, "run --once took %lld ms", (long long)took);
    cr_assert_eq(th_otlp_count(e500), 3, "500: first try + 2 retries, got %d",
                 th_otlp_count(e500));
    cr_assert_eq(th_otlp_count(e404), 1, "404 is not retried, got %d", th_otlp_count(e404));
    cr_assert_eq(th_otlp_wait(hang, 2, 2000), 2, "hang: first try + 1 retry, got %d",
                 th_otlp_count(hang));

    json_t *run = history_run(s, json_integer_value(json_object_get(result, "runId")));
    json_t *notes = json_object_get(run, "notifications");
    cr_assert_eq(json_array_size(notes), 4, "%s", json_dumps(run, 0));
    check_note(run, "e500", "success", "failed", 500, 3);
    check_note(run, "e404", "success", "failed", 404, 1);
    check_note(run, "hang", "success", "failed", 0, 2);
    check_note(run, "dead", "success", "failed", 0, 2);
    cr_assert(strstr(json_string_value(json_object_get(note_of(run, "hang"), "error")),
                     "Timeout"), "%s", json_dumps(run, 0));
    cr_assert(strstr(err, "notify: target e500"), "%s", err);
    json_decref(run);
    json_decref(result);
    free(out);
    free(err);
}

/*
 * A receiver that never answers, with retries that would take a minute:
 * `run --once` gives up at its budget (10 s), records why, and exits with
 * the run's code.
 */
Test(webhook, once_bounded_total_time, .timeout = 40, SVC_FIXTURE)
{
    char notify[512], *out = NULL, *err = NULL;
    fx_db(DB_SQLITE);
    th_otlp *hang = fx_otlp(200, 60000);
    snprintf(notify, sizeof notify, "notify:\n  - url: http://127.0.0.1:%d/\n    name: stuck\n"
             "    timeout: 5s\n    retries: 10\n    backoff: 100ms\n", hang->port);
    svc *s = fx_svc(notify, "", FAILING);
    int64_t t0 = mono_ms();
    int rc = once(s, no_env, &out, &err);
    int64_t took = mono_ms() - t0;
    cr_assert_eq(rc, 1, "the failed run's exit code, got %d:\n%s", rc, err);
    /* It tried until its budget, and no longer (11 attempts of 5 s would be a minute). */
    cr_assert_geq(took, WEBHOOK_ONCE_BUDGET_MS - 1000, "gave up after %lld ms", (long long)took);
    cr_assert_lt(took, WEBHOOK_ONCE_BUDGET_MS + 8000, "run --once took %lld ms", (long long)took);
    json_t *run = run_of(s, out);
    json_t *n = note_of(run, "stuck");
    cr_assert_str_eq(json_string_value(json_object_get(n, "status")), "failed");
    cr_assert_eq(json_integer_value(json_object_get(n, "attempts")), 2, "%s", json_dumps(n, 0));
    cr_assert(strstr(json_string_value(json_object_get(n, "error")), "out of time"), "%s",
              json_dumps(n, 0));
    json_decref(run);
    free(out);
    free(err);
}

/* SIGTERM while a receiver hangs: run --once stops delivering at once, with the run's exit code. */
Test(webhook, once_sigterm_while_delivering, .timeout = 30, SVC_FIXTURE)
{
    char notify[512], *outp;
    fx_db(DB_SQLITE);
    th_otlp *hang = fx_otlp(200, 20000);
    snprintf(notify, sizeof notify, "notify:\n  - url: http://127.0.0.1:%d/\n    name: slow\n"
             "    timeout: 30s\n", hang->port);
    svc *s = fx_svc(notify, "", FAILING);
    outp = th_path(th_tmpdir(), "once.json");
    s->pid = spawn(s, NULL, outp);
    cr_assert_eq(th_otlp_wait(hang, 1, 10000), 1, "no delivery:\n%s", th_read(s->errlog));
    int64_t t0 = mono_ms();
    kill(s->pid, SIGTERM);
    int rc = svc_wait_exit(s, 5000);
    cr_assert_eq(rc, 1, "the failed run's exit code, got %d:\n%s", rc, th_read(s->errlog));
    cr_assert_lt(mono_ms() - t0, 4000);
    char *out = th_read(outp);
    json_t *run = run_of(s, out);
    check_note(run, "slow", "failed", "failed", 0, 1);
    json_decref(run);
    free(out);
    free(outp);
}

/* A secret_env or header variable that is not set: nothing is sent (never unsigned), recorded. */
Test(webhook, once_missing_variable_sends_nothing, .timeout = 30, SVC_FIXTURE)
{
    char notify[512], *out = NULL, *err = NULL;
    fx_db(DB_SQLITE);
    th_otlp *rx = fx_otlp(200, 0);
    snprintf(notify, sizeof notify,
             "notify:\n  - { url: \"http://127.0.0.1:%d/\", name: signed, secret_env: NO_SUCH_KEY }\n"
             "  - { url: \"http://127.0.0.1:%d/\", name: bearer, headers: { Authorization: NO_SUCH_AUTH } }\n",
             rx->port, rx->port);
    svc *s = fx_svc(notify, "", FAILING);
    cr_assert_eq(once(s, no_env, &out, &err), 1, "%s", err);
    cr_assert_eq(th_otlp_count(rx), 0, "sent without its secret");
    json_t *run = run_of(s, out);
    check_note(run, "signed", "failed", "failed", 0, 0);
    check_note(run, "bearer", "failed", "failed", 0, 0);
    cr_assert(strstr(json_string_value(json_object_get(note_of(run, "signed"), "error")),
                     "NO_SUCH_KEY"), "%s", json_dumps(run, 0));
    json_decref(run);
    free(out);
    free(err);
}

/* ------------------------------------------------------------ formats */

/* Slack and Discord bodies; Discord's is at most 2,000 characters and pings nobody. */
Test(webhook, chat_formats, .timeout = 30, SVC_FIXTURE)
{
    char notify[1024], *out = NULL, *err = NULL;
    fx_db(DB_SQLITE);
    th_otlp *slack = fx_otlp(200, 0);
    th_otlp *discord = fx_otlp(200, 0);
    snprintf(notify, sizeof notify,
             "notify:\n  - { url: \"http://127.0.0.1:%d/\", format: slack }\n"
             "  - { url: \"http://127.0.0.1:%d/\", format: discord }\n", slack->port,
             discord->port);
    /* A 5,000-byte error with multi-byte characters: Discord's body must be cut, cleanly. */
    svc *s = fx_svc(notify, "", "  - plugin: fixture\n    options: { fail_text: long }\n");
    cr_assert_eq(once(s, no_env, &out, &err), 1, "%s", err);
    cr_assert_eq(th_otlp_count(slack), 1);
    cr_assert_eq(th_otlp_count(discord), 1);

    json_t *sb = th_otlp_body(slack, 0), *dc = th_otlp_body(discord, 0);
    const char *text = json_string_value(json_object_get(sb, "text"));
    cr_assert_not_null(text, "%s", json_dumps(sb, 0));
    cr_assert(strstr(text, "a run failed") && strstr(text, "fixture"), "%s", text);
    cr_assert_eq(json_object_size(sb), 1, "only text: %s", json_dumps(sb, 0));
    const char *content = json_string_value(json_object_get(dc, "content"));
    cr_assert_not_null(content, "%s", json_dumps(dc, 0));
    cr_assert(strstr(content, "a run failed"), "%s", content);
    cr_assert_leq(strlen(content), WEBHOOK_DISCORD_MAX, "%zu bytes", strlen(content));
    cr_assert(strstr(content, "(cut)"), "the long error was not cut");
    cr_assert_eq(json_array_size(json_object_get(json_object_get(dc, "allowed_mentions"), "parse")),
                 0, "%s", json_dumps(dc, 0));
    json_decref(sb);
    json_decref(dc);
    free(out);
    free(err);
}

/* Slack would read "<!channel>" in an error as a ping of everyone: escaped, as Slack asks. */
Test(webhook, slack_text_is_escaped)
{
    json_t *r = json_pack("{s:s, s:I, s:s, s:b, s:i, s:[s], s:[]}", "status", "failed",
                          "runId", (json_int_t)5, "trigger", "manual", "dryRun", 0,
                          "durationMs", 3, "errors", "leases: <!channel> & <@U1>", "steps");
    char *body = webhook_payload(r, "failed", CFG_HOOK_SLACK, NULL, NULL);
    json_t *j = json_loads(body, 0, NULL);
    const char *text = json_string_value(json_object_get(j, "text"));
    cr_assert(strstr(text, "leases: &lt;!channel&gt; &amp; &lt;@U1&gt;"), "%s", text);
    cr_assert_null(strchr(text, '<'), "%s", text);
    json_decref(j);
    free(body);
    /* Discord takes its text as is; its mentions are off in allowed_mentions. */
    body = webhook_payload(r, "failed", CFG_HOOK_DISCORD, NULL, NULL);
    j = json_loads(body, 0, NULL);
    cr_assert(strstr(json_string_value(json_object_get(j, "content")), "<!channel> & <@U1>"));
    json_decref(j);
    free(body);
    json_decref(r);
}

/* ------------------------------------------------------------ validate */

static const struct {
    const char *notify;   /* the notify: section */
    const char *message;  /* in the error */
    const char *position; /* ":LINE:COL:" */
} refusals[] = {
    { "notify:\n  - url: ftp://u:SECRET@h.example/p?t=SECRET\n",
      "must be an http:// or https:// URL, not ftp://; got ftp://h.example/", ":2:10:" },
    { "notify:\n  - url: \"h.example/SECRET\"\n", "is not a valid URL", ":2:10:" },
    { "notify:\n  - url: http://h.example/\n    on: [failed, fialed]\n",
      "unknown event 'fialed'; events: failed, partial, interrupted, skipped_too_long, recovered, success",
      ":3:18:" },
    { "notify:\n  - url: http://h.example/\n    on: []\n", "empty list", ":3:9:" },
    { "notify:\n  - url: http://h.example/\n    format: teams\n",
      "'format' must be one of json, slack, discord; got 'teams'", ":3:13:" },
    { "notify:\n  - url: http://h.example/\n    headers: { Authorization: Bearer SECRET }\n",
      "header 'Authorization' must name the name of an environment variable", ":3:31:" },
    { "notify:\n  - url: http://h.example/\n    headers: { Content-Type: CT }\n",
      "is set by the delivery itself", ":3:16:" },
    { "notify:\n  - url: http://h.example/\n    secret_env: \"my SECRET\"\n",
      "'secret_env' must be the name of an environment variable", ":3:17:" },
    { "notify:\n  - url: http://h.example/\n    retries: 11\n", "'retries' must be at most 10",
      ":3:14:" },
    { "notify:\n  - url: http://h.example/\n    timeout: 50ms\n",
      "'timeout' must be from 100ms to 1m", ":3:14:" },
    { "notify:\n  - url: http://h.example/\n    color: red\n",
      "unknown key 'color' in a notify target; valid keys: url, name, on, format, secret_env, "
      "timeout, retries, backoff, headers", ":3:5:" },
    { "notify:\n  - name: x\n", "missing required key 'url' in a notify target", ":2:5:" },
    { "notify:\n  - url: http://a.example/\n  - url: http://b.example/\n    name: \"1\"\n",
      "two notify targets are named '1'", ":3:5:" },
    { "notify:\n  url: http://h.example/\n", "'notify' expects a list of targets", ":2:3:" },
};

Test(webhook, validate_refuses)
{
    char *dir = th_path(th_tmpdir(), "v.yaml"), *text = NULL, *out = NULL, *err = NULL;
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        cr_assert_neq(asprintf(&text, "%ssteps:\n  - plugin: leases\n", refusals[i].notify), -1);
        th_write(dir, text);
        const char *const args[] = { "validate", "-c", dir, NULL };
        int rc = th_run_cli(args, NULL, &out, &err);
        cr_assert_eq(rc, 2, "case %zu: exit %d\n%s", i, rc, err);
        cr_assert(strstr(err, refusals[i].message), "case %zu: %s", i, err);
        cr_assert(strstr(err, refusals[i].position), "case %zu: not at %s: %s", i,
                  refusals[i].position, err);
        cr_assert_null(strstr(err, "SECRET"), "case %zu shows a secret: %s", i, err);
        free(text);
        free(out);
        free(err);
    }
    free(dir);
}

/* validate --help lists the notify keys with their defaults and ranges. */
Test(webhook, validate_help)
{
    char *out = NULL, *err = NULL;
    const char *const args[] = { "validate", "--help", NULL };
    cr_assert_eq(th_run_cli(args, NULL, &out, &err), 0);
    cr_assert(strstr(out, "notify[].url"), "%s", out);
    cr_assert(strstr(out, "[failed, partial, recovered]"), "%s", out);
    cr_assert(strstr(out, "json|slack|discord"), "%s", out);
    cr_assert(strstr(out, "notify[].retries") && strstr(out, "(at most 10)"), "%s", out);
    free(out);
    free(err);
}

/* ------------------------------------------------------------ the service */

/* GET path until its notifications number n; the run. */
static json_t *wait_notes(svc *s, int64_t id, size_t n, int ms)
{
    char path[64];
    int64_t end = mono_ms() + ms;
    snprintf(path, sizeof path, "/v1/reconciliation/runs/%lld", (long long)id);
    for (;;) {
        json_t *run = wait_for(s, path, 200, ms);
        if (json_array_size(json_object_get(run, "notifications")) >= n)
            return run;
        cr_assert_lt(mono_ms(), end, "run %lld: no %zu notifications: %s", (long long)id, n,
                     json_dumps(run, 0));
        json_decref(run);
        sleep_ms(50);
    }
}

static void wait_log_line(svc *s, const char *needle, int ms)
{
    int64_t end = mono_ms() + ms;
    while (th_file_contains(s->errlog, needle) != 1) {
        cr_assert_lt(mono_ms(), end, "no \"%s\" in the log:\n%s", needle, th_read(s->errlog));
        sleep_ms(20);
    }
}

/*
 * The service: a failed startup run is told (with a link to the run), a
 * hanging receiver holds up no run, recovered fires once after the pipeline
 * is mended, the API's run JSON and /metrics show the deliveries, and
 * SIGTERM still exits 0 within 5 s while a delivery hangs.
 */
Test(webhook, service_delivers_from_its_thread, .timeout = 60, SVC_FIXTURE)
{
    char notify[1024];
    fx_db(DB_SQLITE);
    th_otlp *ok = fx_otlp(200, 0);
    th_otlp *hang = fx_otlp(200, 30000);
    snprintf(notify, sizeof notify,
             "schedule:\n  interval: 1h\nnotify:\n"
             "  - url: http://127.0.0.1:%d/svc/PATHSECRET?k=QUERYSECRET\n    name: ops\n"
             "    secret_env: HOOK_KEY\n"
             "  - url: http://127.0.0.1:%d/\n    name: slow\n    on: [failed, success]\n"
             "    timeout: 20s\n    retries: 0\n", ok->port, hang->port);
    svc *s = fx_svc(notify, "", FAILING);
    const char *const env[] = { "HOOK_KEY=svc-key", NULL };
    svc_start(s, env);

    /* Startup run 1 failed: told, signed, with a link to it. */
    cr_assert_eq(th_otlp_wait(ok, 1, 10000), 1, "no alert:\n%s", th_read(s->errlog));
    check_signature(ok, 0, "svc-key");
    json_t *b = th_otlp_body(ok, 0);
    char link[128];
    snprintf(link, sizeof link, "http://127.0.0.1:%d/v1/reconciliation/runs/1", s->port);
    cr_assert_str_eq(json_string_value(json_object_get(b, "link")), link);
    cr_assert_str_eq(json_string_value(json_object_get(b, "event")), "failed");
    json_decref(b);
    json_t *run = wait_notes(s, 1, 1, 5000);
    check_note(run, "ops", "failed", "delivered", 200, 1);
    json_decref(run);
    cr_assert_eq(th_otlp_wait(hang, 1, 5000), 1, "the slow target got nothing");

    /* Mended; two manual runs go through while "slow" still hangs on run 1's alert. */
    mend(s->yaml);
    kill(s->pid, SIGHUP);
    wait_log_line(s, "1 step in force", 5000);
    for (int i = 0; i < 2; i++) {
        int64_t t0 = mono_ms();
        int64_t id = post_run(s, "", 202);
        json_t *r = wait_run(s, id, 10000);
        cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "success");
        /* The hanging receiver (20 s) did not hold the run up. */
        cr_assert_lt(mono_ms() - t0, 8000);
        json_decref(r);
    }
    cr_assert_eq(th_otlp_wait(ok, 2, 5000), 2);
    sleep_ms(300);
    cr_assert_eq(th_otlp_count(ok), 2, "recovered fired more than once");
    b = th_otlp_body(ok, 1);
    cr_assert_str_eq(json_string_value(json_object_get(b, "event")), "recovered");
    cr_assert_eq(json_integer_value(json_object_get(b, "runId")), 2);
    json_decref(b);
    run = wait_notes(s, 2, 1, 5000);
    check_note(run, "ops", "recovered", "delivered", 200, 1);
    json_decref(run);

    th_response m;
    cr_assert_eq(th_http(s->port, "GET", "/metrics", NULL, NULL, &m), 0);
    cr_assert(strstr(m.body, "# TYPE reconciler_notifications_total counter"), "%s", m.body);
    cr_assert(strstr(m.body, "reconciler_notifications_total{target=\"ops\",result=\"delivered\"} 2"),
              "%s", m.body);
    cr_assert(strstr(m.body, "reconciler_notifications_total{target=\"ops\",result=\"failed\"} 0"),
              "%s", m.body);
    th_response_free(&m);

    /* Exit 0 within 5 s though "slow" still hangs; what it had left is recorded. */
    svc_term(s);
    json_t *r1 = history_run(s, 1);
    json_t *notes = json_object_get(r1, "notifications");
    cr_assert_eq(json_array_size(notes), 2, "%s", json_dumps(r1, 0));
    check_note(r1, "slow", "failed", "failed", 0, 1);
    json_t *r3 = history_run(s, 3);
    check_note(r3, "slow", "success", "dropped", 0, 0);
    static const char *const secrets[] = { "svc-key", "PATHSECRET", "QUERYSECRET" };
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        cr_assert_eq(th_file_contains(s->errlog, secrets[i]), 0, "%s in the log", secrets[i]);
        cr_assert_eq(th_file_contains(s->hist, secrets[i]), 0, "%s in the history", secrets[i]);
    }
    json_decref(r1);
    json_decref(r3);
}

/*
 * skipped_too_long: another holder keeps the run lock; after 3 intervals of
 * skipped scheduled runs the target is told once, on a skipped run's record.
 */
Test(webhook, service_skipped_too_long, .timeout = 40, SVC_FIXTURE)
{
    char notify[512];
    th_db *t = fx_db(DB_SQLITE);
    cr_assert_eq(db_exec(t->conn, "INSERT INTO reconciler_locks (name, holder, locked_at, "
                         "lock_until) VALUES ('reconciler', 'elsewhere:1:stuck', "
                         "strftime('%Y-%m-%d %H:%M:%f', 'now'), '2999-01-01 00:00:00.000')",
                         NULL, 0, NULL), 0, "%s", db_errmsg(t->conn));
    th_otlp *rx = fx_otlp(200, 0);
    snprintf(notify, sizeof notify,
             "schedule:\n  on_startup: false\n  interval: 1s\n  jitter: 0s\n"
             "notify:\n  - url: http://127.0.0.1:%d/\n    name: watch\n"
             "    on: [skipped_too_long, failed]\n", rx->port);
    svc *s = fx_svc(notify, "", GOOD);
    int64_t t0 = mono_ms();
    svc_start(s, NULL);
    cr_assert_eq(th_otlp_wait(rx, 1, 12000), 1, "not told:\n%s", th_read(s->errlog));
    cr_assert_geq(mono_ms() - t0, 2500, "told before 3 intervals");
    sleep_ms(2500);
    cr_assert_eq(th_otlp_count(rx), 1, "told more than once");
    json_t *b = th_otlp_body(rx, 0);
    cr_assert_str_eq(json_string_value(json_object_get(b, "event")), "skipped_too_long");
    cr_assert_str_eq(json_string_value(json_object_get(b, "status")), "skipped");
    cr_assert(strstr(json_string_value(json_object_get(b, "note")), "elsewhere:1:stuck"), "%s",
              json_dumps(b, 0));
    json_t *run = wait_notes(s, json_integer_value(json_object_get(b, "runId")), 1, 5000);
    check_note(run, "watch", "skipped_too_long", "delivered", 200, 1);
    json_decref(run);
    json_decref(b);
    svc_term(s);
}
