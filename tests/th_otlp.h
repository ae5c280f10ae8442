/* SPDX-License-Identifier: MIT */
/*
 * th_otlp.h - a loopback OTLP/HTTP receiver for the tests, on a thread of
 * its own: it reads each POST whole, keeps its request line, headers and
 * body, and answers what the test scripts (a status per request in order,
 * then a default; optionally a Retry-After; or it hangs without answering).
 * No collector is packaged in Debian 12: this is the real HTTP a collector
 * would see, and the checks a collector's OTLP/JSON decoder would make.
 * It is also the webhook tests' receiver (test_webhook.c): any POST whole,
 * whatever its path.
 */
#ifndef RC_TH_OTLP_H
#define RC_TH_OTLP_H

#include <jansson.h>
#include <pthread.h>

#define TH_OTLP_MAX 64

typedef struct th_otlp {
    int fd, port;
    volatile int stop;
    int status;              /* the answer once the script is used up */
    int script[16];          /* the first answers, in order (0 ends the script) */
    const char *retry_after; /* sent with every 429/503 when set */
    int hang_ms;             /* > 0: read the request, then answer nothing for this long */
    pthread_t th;
    pthread_t conns[TH_OTLP_MAX];
    int n_conns;
    pthread_mutex_t mu;
    char *heads[TH_OTLP_MAX]; /* request line and headers */
    char *bodies[TH_OTLP_MAX];
    long long at_ms[TH_OTLP_MAX]; /* monotonic ms each request came in */
    int n;
} th_otlp;

/* Start a receiver on a free 127.0.0.1 port answering status (hang_ms > 0: hanging). */
void th_otlp_start(th_otlp *rx, int status, int hang_ms);
/* Stop it (hanging connections are let go) and free what it kept; again: nothing. */
void th_otlp_stop(th_otlp *rx);
/* "http://127.0.0.1:PORT/v1/traces" (static buffer, overwritten by the next call). */
const char *th_otlp_url(const th_otlp *rx);

/* Requests so far; wait up to ms for at least n (the count). */
int th_otlp_count(th_otlp *rx);
int th_otlp_wait(th_otlp *rx, int n, int ms);
/* Request i's header value (malloc'd, case-insensitive name), or NULL. */
char *th_otlp_header(th_otlp *rx, int i, const char *name);
/* Request i's body parsed (new reference); fails the test when it is not JSON. */
json_t *th_otlp_body(th_otlp *rx, int i);
/* 1 when needle occurs in any request's head or body. */
int th_otlp_saw(th_otlp *rx, const char *needle);

/*
 * Every span of every request (new reference: an array), checked the way
 * the OTLP/JSON mapping says they must look: resourceSpans[].scopeSpans[]
 * .spans[]; traceId 32 and spanId 16 lowercase hex digits, not all zeros;
 * parentSpanId absent or 16 hex; start/endTimeUnixNano decimal strings,
 * end >= start; kind and status.code integers; every attribute value one
 * typed AnyValue, intValue a decimal string. resource_out (may be NULL): the
 * first request's resource attributes (new reference).
 */
json_t *th_otlp_spans(th_otlp *rx, json_t **resource_out);

/* The span named name in spans (borrowed), or NULL; the first one when several. */
json_t *th_otlp_find(json_t *spans, const char *name);
/* Span s's attribute key as its AnyValue (borrowed), or NULL. */
json_t *th_otlp_attr(json_t *s, const char *key);

/*
 * Every span's parent is another span of spans, or (for roots) outside_parent
 * (NULL: roots have none); every span's traceId is trace_id.
 */
void th_otlp_check_tree(json_t *spans, const char *trace_id, const char *outside_parent);

#endif
