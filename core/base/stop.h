/* SPDX-License-Identifier: MIT */
/*
 * stop.h - the process was asked to stop (SIGTERM, SIGINT). The signal
 * handler stores to a lock-free atomic_int (async-signal-safe, and seen by
 * every thread); everyone else only asks.
 */
#ifndef RC_STOP_H
#define RC_STOP_H

/* Async-signal-safe: call it from a signal handler. */
void stop_request(void);
/* Non-zero once stop_request() was called. */
int stop_requested(void);

#endif
