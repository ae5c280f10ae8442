/* SPDX-License-Identifier: MIT */
/* util.h - small helpers shared by the core: clocks, time text, files. */
#ifndef RC_UTIL_H
#define RC_UTIL_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Wall clock and monotonic clock in milliseconds. */
int64_t util_wall_ms(void);
int64_t util_mono_ms(void);

/* ISO-8601 UTC with milliseconds: "2026-11-29T03:00:00.123Z". */
void util_iso_time(int64_t wall_ms, char *out, size_t outlen);

/* Seconds since the process started (util_mark_start in main). */
void util_mark_start(void);
int64_t util_uptime_s(void);

/*
 * 64 random bits from the kernel (getrandom), different in every process and
 * every call; falls back to the clock and pid if the kernel has none to give.
 */
uint64_t util_random_u64(void);

/* Create path's parent folder (one level, mode 0700) if missing; 0 or -1. */
int util_mkdir_parent(const char *path);


/*
 * Numbers as text and back in the C locale whatever the process locale is
 * (a plugin may call setlocale): "0.5", never "0,5". util_strtod is strtod
 * in the C locale; util_format_double writes v with %.<prec>g.
 */
double util_strtod(const char *s, char **end);
void util_format_double(char *out, size_t outlen, int prec, double v);

/*
 * Allocation that aborts with a message on failure: we cannot go on without
 * memory, and one policy everywhere means no half-checked paths.
 */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Wipe and free a secret (a password, a token); accepts NULL. */
void util_free_secret(char *s);

/*
 * pthread_create with SIGINT, SIGTERM, SIGHUP and SIGPIPE blocked in the new
 * thread (the caller's mask is left as it was): the process's signals are
 * handled on the thread that installed the handlers (the service's main
 * thread), never on a helper thread, where a handler would race with the
 * main thread over what it touches (the wake pipe, which the main thread
 * closes at the end). Every thread of the core starts through it; the HTTP
 * server's (libmicrohttpd's) do the same around MHD_start_daemon. Returns
 * pthread_create's code. Child processes set their own mask (posix_spawn).
 */
int util_thread_start(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

/*
 * Block INT, TERM, HUP and PIPE on the calling thread, the mask it had in
 * *old (restore with pthread_sigmask(SIG_SETMASK, old, NULL)): threads
 * created meanwhile, by us or by a library, inherit the blocked mask.
 */
void util_block_signals(sigset_t *old);

#endif
