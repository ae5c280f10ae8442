/* SPDX-License-Identifier: MIT */
/*
 * webhook.h - tell people about runs: the "notify:" targets of the pipeline
 * file, POSTed to with libcurl from delivery threads of their own, one per
 * target, so that a receiver that hangs holds up no other target.
 *
 * A delivery never blocks or fails a run, nor delays the schedule: the run's
 * thread only decides the events and queues (a bounded queue per target; a
 * delivery that does not fit is dropped, recorded and counted). The target's
 * thread makes the attempts (each within notify[].timeout, retried after a backoff
 * on no answer, 5xx, 408 or 429), logs each outcome with the URL shown as
 * scheme://host/, records it with its run in the history
 * (history_notified) and counts it (webhook_metrics). A secret_env target's
 * body is signed: X-Reconciler-Signature: t=<unix seconds>,v1=<hex
 * HMAC-SHA256(secret, "<t>.<body>")>, as Stripe does.
 *
 * Events of a run that ran (dry runs and skipped runs have none, but see
 * skipped_too_long): "interrupted" (stopped by SIGTERM, max_run_time or a lost
 * lock) else its status "failed" or "partial"; a success is "success", and
 * also "recovered" when the previous real run that ran was not a success (a
 * target that wants both is sent "recovered", once). "skipped_too_long"
 * (service only): this instance's scheduled runs have been skipped (another
 * holder had the run lock) and none has run for WEBHOOK_SKIPPED_INTERVALS
 * intervals; sent once, again only after a run has run.
 */
#ifndef RC_WEBHOOK_H
#define RC_WEBHOOK_H

#include <jansson.h>
#include <stdint.h>
#include "base/strbuf.h"
#include "config/config.h"
#include "engine/history.h"

/* skipped_too_long: no run for this many schedule.interval. */
#define WEBHOOK_SKIPPED_INTERVALS 3
/* Deliveries waiting per target at most; more are dropped (a receiver that is down must not grow memory). */
#define WEBHOOK_QUEUE_MAX 64
/* `run --once` delivers within this long after its run, whatever the targets' timeouts. */
#define WEBHOOK_ONCE_BUDGET_MS 10000
/* The service, stopping, gives the queue this long: it must exit within 5 s of SIGTERM. */
#define WEBHOOK_STOP_BUDGET_MS 2000

typedef struct webhook webhook;

/*
 * Start the delivery thread. h records each outcome (may be NULL; not owned,
 * it must outlive the webhook; its handle is shared under its own mutex).
 * Returns NULL (after logging why) only when the thread cannot start.
 */
webhook *webhook_start(history *h);

/*
 * After each run, on the run's thread: the run's events (see above), and a
 * delivery queued for each target of cfg whose "on" names one. The link to
 * the run: cfg's http.public_url + "/#/runs/ID" (the console's page of it)
 * when set; else listen (the service's http.listen) makes a link to its
 * JSON; NULL: no link (`run --once`). Never waits for the network; accepts
 * w == NULL (no deliveries).
 */
void webhook_after_run(webhook *w, const config *cfg, const json_t *result, const char *listen);

/*
 * Deliver what is queued until deadline (monotonic ms; a SIGTERM meanwhile
 * makes it now when watch_stop is set), then stop the thread and free w.
 * What is left at the deadline is given up: an attempt on the wire is cut
 * off, the rest recorded as "dropped". Accepts NULL.
 */
void webhook_finish(webhook *w, int64_t deadline_ms, int watch_stop);

/* reconciler_notifications_total{target,result}, family and samples, into b. Accepts NULL. */
void webhook_metrics(webhook *w, strbuf *b);

/*
 * The CFG_EV_* bits of a finished run, given the status of the real run that
 * ran before it (NULL: none): see above. 0 for dry and skipped runs.
 */
unsigned webhook_run_events(const json_t *result, const char *previous_status);

/* The one event a target that wants `on` is sent for a run's events, or 0. */
unsigned webhook_pick_event(unsigned on, unsigned events);

#endif
