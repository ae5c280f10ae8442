/* SPDX-License-Identifier: MIT */
/*
 * exporter.h - the background exporter: spans are handed over in batches
 * and sent by a thread of its own as OTLP/HTTP JSON requests (otlp_json.h),
 * so that tracing never blocks or fails a run:
 *
 *   - enqueue never waits on the network: it takes a mutex for a list move;
 *     when the queue (settings.queue_max_spans) cannot take a whole batch,
 *     the batch is dropped and counted, never half kept;
 *   - requests carry at most settings.batch_max_spans spans; each attempt has
 *     settings.timeout_ms; a request is retried only on 429, 502, 503 and 504
 *     (after settings.backoff_ms, doubled each time, or the receiver's
 *     Retry-After when it gives one, within 30 s), up to settings.max_attempts;
 *   - stopping is bounded: what is queued is sent until the deadline, then
 *     the transfer in flight is cut off (curl_multi_wakeup: at once, not at
 *     curl's next progress call) and the rest counted as dropped. A thread
 *     that still does not end within TRACE_STOP_GRACE_MS is left behind.
 *
 * Header values are secrets: they go into the request and nowhere else (no
 * log line, no error message). The endpoint is only ever shown as
 * scheme://host:port/.
 */
#ifndef RC_TRACE_EXPORTER_H
#define RC_TRACE_EXPORTER_H

#include <stdint.h>
#include "trace/settings.h"
#include "trace/span.h"

/* run --once flushes for at most this long at exit, as webhooks get. */
#define TRACE_ONCE_BUDGET_MS 2000
/* How long stop waits past its deadline for the thread before leaving it behind. */
#define TRACE_STOP_GRACE_MS 300
/* The longest Retry-After honoured. */
#define TRACE_RETRY_AFTER_MAX_MS 30000

typedef struct trace_exporter trace_exporter;

/*
 * Start the thread with a copy of s. NULL when s is not enabled, or with a
 * logged error when libcurl or the thread cannot start (tracing is then off;
 * nothing else changes).
 */
trace_exporter *trace_exporter_start(const trace_settings *s);

/*
 * The settings from o over the OTEL_* variables (trace_settings_load), and
 * the exporter started with them. who non-NULL: an info line names where
 * the traces go (the endpoint as shown, never its headers).
 */
trace_exporter *trace_exporter_open(const trace_overrides *o, const char *who);

/*
 * Queue b's spans (b is left empty whatever happens). 0 queued; -1 dropped
 * and counted (e is NULL, the queue cannot take them all, or e is stopping).
 * Never blocks on the network.
 */
int trace_exporter_enqueue(trace_exporter *e, trace_batch *b);


typedef struct trace_export_stats {
    uint64_t sent;       /* spans a receiver accepted (2xx) */
    uint64_t failed;     /* spans of requests refused or given up after their attempts */
    uint64_t dropped;    /* spans never sent: the queue was full, or out of time stopping */
    uint64_t requests;   /* POSTs made, retries included */
    uint64_t retries;    /* of those, the retries */
    uint64_t queued;     /* spans waiting now */
} trace_export_stats;

/* The counts so far (e may be NULL: all zero). */
void trace_exporter_stats(trace_exporter *e, trace_export_stats *out);

/*
 * Send what is queued until deadline_ms (monotonic, util_mono_ms), then
 * stop, and free e; the final counts in *final (may be NULL). Returns by
 * deadline_ms + TRACE_STOP_GRACE_MS at the latest. Accepts NULL.
 */
void trace_exporter_stop(trace_exporter *e, int64_t deadline_ms, trace_export_stats *final);

#endif
