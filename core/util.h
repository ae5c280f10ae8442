/* util.h - small helpers shared by the core: clocks, time text, files. */
#ifndef RC_UTIL_H
#define RC_UTIL_H

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

/* Create path's parent folder (one level, mode 0750) if missing; 0 or -1. */
int util_mkdir_parent(const char *path);

/*
 * The result JSON as text (malloc'd): field order kept, reals with 15
 * significant digits so that 0.3 prints as 0.3. pretty: indented.
 */
struct json_t;
char *util_json_dump(const struct json_t *j, int pretty);

/* malloc that aborts with a message on failure: we cannot go on without memory. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);

#endif
