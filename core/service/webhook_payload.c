/* SPDX-License-Identifier: MIT */
/* webhook_payload.c - see webhook_payload.h. */
#include "service/webhook_payload.h"
#include "base/json.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "engine/runner.h"

#include <stdlib.h>
#include <string.h>

/* At most this many errors listed in a chat message: the rest are a link away. */
#define CHAT_ERRORS_MAX 10

static json_t *json_body(const json_t *r, const char *event, const char *link, const char *note)
{
    json_t *steps = jx(json_array());
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(r, "steps"), i, s)
        json_array_append_new(steps, jx(json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}",
                                                  "name", json_object_get(s, "name"),
                                                  "status", json_object_get(s, "status"),
                                                  "durationMs", json_object_get(s, "durationMs"),
                                                  "rowsChanged", json_object_get(s, "rowsChanged"),
                                                  "results", json_object_get(s, "results"),
                                                  "error", json_object_get(s, "error"))));
    char *summary = runner_summary(r);
    json_t *errors = json_object_get(r, "errors");
    json_t *body = jx(json_pack("{s:s, s:O?, s:O?, s:O?, s:b, s:b, s:O?, s:O?, s:O?, s:o, s:o, s:o, "
                                "s:o, s:o}",
                                "event", event,
                                "runId", json_object_get(r, "runId"),
                                "status", json_object_get(r, "status"),
                                "trigger", json_object_get(r, "trigger"),
                                "dryRun", json_is_true(json_object_get(r, "dryRun")),
                                "interrupted", json_is_true(json_object_get(r, "interrupted")),
                                "timestamp", json_object_get(r, "timestamp"),
                                "durationMs", json_object_get(r, "durationMs"),
                                "rowsChanged", json_object_get(r, "rowsChanged"),
                                "summary", jx_text(summary),
                                "errors", errors ? json_incref(errors) : jx(json_array()),
                                "steps", steps,
                                "link", link ? jx_text(link) : json_null(),
                                "note", note ? jx_text(note) : json_null()));
    free(summary);
    /* A job's run says which job and slot (the receiver routes by job). */
    if (json_is_string(json_object_get(r, "job")))
        json_object_set(body, "job", json_object_get(r, "job"));
    if (json_object_get(r, "scheduledFor"))
        json_object_set(body, "scheduledFor", json_object_get(r, "scheduledFor"));
    /* tracing: the run's trace, for a receiver that links to it. */
    if (json_is_string(json_object_get(r, "traceId")))
        json_object_set(body, "traceId", json_object_get(r, "traceId"));
    return body;
}

/* The first lines a person reads: what happened, then why, then where to look. */
static const char *headline(const char *event)
{
    if (strcmp(event, "recovered") == 0)
        return "recovered: this run succeeded after one that did not";
    if (strcmp(event, "skipped_too_long") == 0)
        return "no reconciliation run has happened for too long";
    if (strcmp(event, "interrupted") == 0)
        return "a run was interrupted";
    if (strcmp(event, "failed") == 0)
        return "a run failed";
    if (strcmp(event, "partial") == 0)
        return "a run failed in part";
    return "a run succeeded";
}

/* Cut s to at most max bytes at a character boundary, marking the cut. */
static void cut_utf8(char *s, size_t max)
{
    static const char mark[] = "\n(cut)";
    if (strlen(s) <= max)
        return;
    size_t end = max - (sizeof mark - 1);
    while (end > 0 && ((unsigned char)s[end] & 0xC0) == 0x80) /* continuation byte */
        end--;
    /* Nor in the middle of an escape ("&amp;"): back to its '&'. */
    for (size_t k = end; k > 0 && end - k < 5; k--)
        if (s[k - 1] == ';')
            break;
        else if (s[k - 1] == '&') {
            end = k - 1;
            break;
        }
    memcpy(s + end, mark, sizeof mark);
}

/*
 * Slack reads <...> as links and mentions ("<!channel>" pings everyone) and &
 * as an entity: text from outside (an error) is escaped, as Slack asks.
 */
static char *slack_escape(const char *s)
{
    strbuf b = STRBUF_INIT;
    for (; *s; s++) {
        if (*s == '&')
            sb_printf(&b, "&amp;");
        else if (*s == '<')
            sb_printf(&b, "&lt;");
        else if (*s == '>')
            sb_printf(&b, "&gt;");
        else
            sb_putc(&b, *s);
    }
    return b.s ? sb_take(&b) : xstrdup("");
}

/* "changed 5 rows: leases 3, followups 2" (a dry run: "would change"): what was repaired. */
static void what_changed(strbuf *b, const json_t *r)
{
    json_int_t rows = json_integer_value(json_object_get(r, "rowsChanged"));
    size_t i, shown = 0;
    json_t *s;
    if (!json_array_size(json_object_get(r, "steps")))
        return;
    sb_printf(b, "\n%s %lld row%s", json_is_true(json_object_get(r, "dryRun")) ? "would change"
                                                                              : "changed",
              (long long)rows, rows == 1 ? "" : "s");
    json_array_foreach(json_object_get(r, "steps"), i, s) {
        json_int_t n = json_integer_value(json_object_get(s, "rowsChanged"));
        if (n > 0)
            sb_printf(b, "%s%s %lld", shown++ ? ", " : ": ",
                      json_string_value(json_object_get(s, "name")), (long long)n);
    }
}

/*
 * Each step's figures, a line each ("leases: leasesRepaired=5 jobsRequeued=2"),
 * the steps without any left out. Last in the message: a message cut to the
 * chat's limit loses figures (in the JSON body and the run's page), never
 * the errors or the link.
 */
static void step_figures(strbuf *b, const json_t *r)
{
    size_t i, shown = 0;
    json_t *s;
    json_array_foreach(json_object_get(r, "steps"), i, s) {
        char *f = runner_figures_text(json_object_get(s, "results"));
        if (*f)
            sb_printf(b, "%s\n%s: %s", shown++ ? "" : "\nfigures:",
                      json_string_value(json_object_get(s, "name")), f);
        free(f);
    }
}

static char *chat_text(const json_t *r, const char *event, const char *link, const char *note,
                       size_t max, int slack)
{
    strbuf b = STRBUF_INIT;
    char *summary = runner_summary(r);
    size_t i;
    json_t *e;
    sb_printf(&b, "reconciler: %s\n%s", headline(event), summary);
    what_changed(&b, r);
    if (note)
        sb_printf(&b, "\n%s", note);
    json_array_foreach(json_object_get(r, "errors"), i, e) {
        if (i == CHAT_ERRORS_MAX) {
            sb_printf(&b, "\n... and %zu more", json_array_size(json_object_get(r, "errors")) - i);
            break;
        }
        sb_printf(&b, "\n- %s", json_string_value(e) ? json_string_value(e) : "?");
    }
    if (link)
        sb_printf(&b, "\n%s", link);
    step_figures(&b, r);
    free(summary);
    char *text = sb_take(&b);
    if (slack) {
        char *escaped = slack_escape(text);
        free(text);
        text = escaped;
    }
    cut_utf8(text, max);
    return text;
}

char *webhook_payload(const json_t *result, const char *event, cfg_hook_format format,
                      const char *link, const char *note)
{
    json_t *body;
    char *text = NULL;
    switch (format) {
    case CFG_HOOK_SLACK:
        text = chat_text(result, event, link, note, WEBHOOK_SLACK_MAX, 1);
        body = jx(json_pack("{s:o}", "text", jx_text(text)));
        break;
    case CFG_HOOK_DISCORD:
        text = chat_text(result, event, link, note, WEBHOOK_DISCORD_MAX, 0);
        body = jx(json_pack("{s:o, s:{s:[]}}", "content", jx_text(text), "allowed_mentions",
                            "parse"));
        break;
    default:
        body = json_body(result, event, link, note);
        break;
    }
    free(text);
    char *out = util_json_dump(body, 0);
    json_decref(body);
    return out;
}
