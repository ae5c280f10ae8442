/* SPDX-License-Identifier: MIT */
/*
 * th_wait.h - waiting on facts instead of sleeping. A test that must wait
 * for something another process or thread does (a log line, an answer of the
 * state endpoint, a socket the server has taken) polls for that fact with a
 * deadline; a fixed sleep would be either too short on a loaded machine or
 * too long everywhere else. Pauses are only for pacing a poll, or for a
 * scenario that needs time to pass (an interval, a deadline).
 */
#ifndef RC_TH_WAIT_H
#define RC_TH_WAIT_H

#include <stdint.h>
#include <criterion/criterion.h>

/*
 * A deadline of ms milliseconds as this run allows it: ms times
 * TH_TIME_SCALE from the environment (a whole number from 1 to 20; unset or
 * anything else: 1). `make tsan` sets it (the service under ThreadSanitizer
 * is several times slower), as may a loaded machine. Only deadlines scale
 * (TH_WAIT, th_wait_log, wait_for, get_fresh, svc_wait_exit and each test's
 * Criterion .timeout, scaled before the first test starts); pacing and the
 * time a scenario needs to pass do not.
 */
int th_ms(int ms);
int th_time_scale(void);

/* The monotonic clock in milliseconds. */
int64_t mono_ms(void);
/* Let ms milliseconds pass: pacing, never synchronisation. */
void sleep_ms(int ms);

/*
 * Poll cond (an expression, evaluated again each time) until it is true;
 * fail the test after ms milliseconds with the message that follows
 * (printf-style: a string literal, then its arguments; may be left out),
 * the condition's text logged before it.
 */
#define TH_WAIT(cond, ms, ...)                                                    \
    do {                                                                          \
        int th_wait_ms_ = th_ms(ms);                                              \
        int64_t th_wait_end_ = mono_ms() + th_wait_ms_;                           \
        while (!(cond)) {                                                         \
            if (mono_ms() >= th_wait_end_) {                                      \
                cr_log_error("not within %d ms: %s", th_wait_ms_, #cond);         \
                cr_assert_fail("" __VA_ARGS__);                                   \
            }                                                                     \
            sleep_ms(TH_WAIT_POLL_MS);                                            \
        }                                                                         \
    } while (0)
#define TH_WAIT_POLL_MS 10

/* How often needle occurs in the file at path (0 when it does not exist). */
int th_log_count(const char *path, const char *needle);

/*
 * Wait until needle occurs at least n times in the file at path (a log);
 * fail the test after ms milliseconds, showing the file.
 */
void th_wait_log(const char *path, const char *needle, int n, int ms);

#endif
