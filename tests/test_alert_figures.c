/* SPDX-License-Identifier: MIT */
/*
 * test_alert_figures.c - a chat alert (Slack, Discord) says what the run
 * found and repaired: rows changed in all and per step, and each step's
 * figures, a third-party step's nested ones too; a message cut to the
 * chat's limit loses figures, never the errors or the link to the run.
 */
#include "helpers.h"
#include "service/webhook_payload.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define LINK "https://ops.example/reconciler/#/runs/9"

/* A run of three steps: a built-in with figures, a third-party one, one with none. */
static json_t *partial_run(const char *status, size_t extra_figures)
{
    json_t *r = json_pack(
        "{s:s, s:I, s:s, s:b, s:i, s:I, s:[s], s:[{s:s, s:s, s:i, s:I, s:{s:i, s:i}},"
        " {s:s, s:s, s:i, s:I, s:{s:{s:i, s:b}}}, {s:s, s:s, s:i, s:I, s:{s:i}}]}",
        "status", status, "runId", (json_int_t)9, "trigger", "scheduled", "dryRun", 0,
        "durationMs", 1200, "rowsChanged", (json_int_t)7, "errors", "metrics: it broke",
        "steps", "name", "leases", "status", "ok", "durationMs", 3, "rowsChanged",
        (json_int_t)5, "results", "leasesRepaired", 5, "jobsFailed", 0,
        "name", "invoices", "status", "ok", "durationMs", 4, "rowsChanged", (json_int_t)2,
        "results", "acme", "invoicesFixed", 2, "audited", 1,
        "name", "metrics", "status", "failed", "durationMs", 4, "rowsChanged", (json_int_t)0,
        "results", "orders", 0);
    cr_assert_not_null(r);
    /* Many figures on the first step: more than a Discord message holds. */
    json_t *res = json_object_get(json_array_get(json_object_get(r, "steps"), 0), "results");
    for (size_t i = 0; i < extra_figures; i++) {
        char key[64];
        snprintf(key, sizeof key, "someRatherLongFigureName%zu", i);
        json_object_set_new(res, key, json_integer(1));
    }
    return r;
}

static char *chat(const json_t *r, cfg_hook_format f)
{
    char *body = webhook_payload(r, "recovered", f, LINK, NULL);
    json_t *j = json_loads(body, 0, NULL);
    cr_assert_not_null(j, "%s", body);
    const char *t = json_string_value(json_object_get(j, f == CFG_HOOK_SLACK ? "text" : "content"));
    cr_assert_not_null(t, "%s", body);
    char *copy = strdup(t);
    json_decref(j);
    free(body);
    return copy;
}

Test(alert_figures, each_steps_figures_in_chat_alerts)
{
    json_t *r = partial_run("partial", 0);
    static const cfg_hook_format formats[] = { CFG_HOOK_SLACK, CFG_HOOK_DISCORD };
    for (size_t i = 0; i < 2; i++) {
        char *t = chat(r, formats[i]);
        cr_assert_not_null(strstr(t, "changed 7 rows: leases 5, invoices 2"), "%s", t);
        cr_assert_not_null(strstr(t, "\nfigures:\nleases: leasesRepaired=5\n"
                                     "invoices: acme.invoicesFixed=2 acme.audited=true"), "%s", t);
        /* Zero figures, and a step with only those, are left out. */
        cr_assert_null(strstr(t, "jobsFailed"), "%s", t);
        cr_assert_null(strstr(t, "metrics:  "), "%s", t);
        cr_assert_null(strstr(t, "orders="), "%s", t);
        cr_assert_not_null(strstr(t, "- metrics: it broke"), "%s", t);
        cr_assert_not_null(strstr(t, LINK), "%s", t);
        free(t);
    }
    json_decref(r);
}

/* Figures past Discord's 2000 characters are cut; the error and the link stay. */
Test(alert_figures, a_cut_message_keeps_errors_and_link)
{
    json_t *r = partial_run("partial", 200);
    char *t = chat(r, CFG_HOOK_DISCORD);
    cr_assert_leq(strlen(t), 2000, "%zu", strlen(t));
    cr_assert_not_null(strstr(t, "- metrics: it broke"), "%s", t);
    cr_assert_not_null(strstr(t, LINK), "%s", t);
    cr_assert_not_null(strstr(t, "figures:\nleases: leasesRepaired=5"), "%s", t);
    cr_assert_null(strstr(t, "someRatherLongFigureName199"), "%s", t);
    free(t);
    json_decref(r);
}
