/* SPDX-License-Identifier: MIT */
/*
 * webhook_payload.h - what a webhook target is sent about a run: the body in
 * the target's format. Separate from the delivery (webhook.c) so that the
 * bodies can be read, and tested, on their own.
 *
 *   json     {event, runId, status, trigger, dryRun, interrupted, timestamp,
 *             durationMs, summary, errors[], steps[{name,status,durationMs,error}],
 *             link, note}
 *   slack    {"text": "..."}               (an incoming webhook's message; & < >
 *             escaped, so that no error text becomes a "<!channel>" ping)
 *   discord  {"content": "...", "allowed_mentions": {"parse": []}}
 *             (at most 2,000 characters; a step's error can never ping @everyone)
 */
#ifndef RC_WEBHOOK_PAYLOAD_H
#define RC_WEBHOOK_PAYLOAD_H

#include <jansson.h>
#include "config/config.h"

/* Discord refuses a longer "content"; Slack shows about this much before "see more". */
#define WEBHOOK_DISCORD_MAX 2000
#define WEBHOOK_SLACK_MAX 3000

/*
 * The body (malloc'd JSON text) telling about result (a run's result JSON)
 * as event ("failed", "recovered" ...). link: where the run can be read
 * (the API's /v1/reconciliation/runs/ID), or NULL; note: a line more (the
 * skipped_too_long reason), or NULL.
 */
char *webhook_payload(const json_t *result, const char *event, cfg_hook_format format,
                      const char *link, const char *note);

#endif
