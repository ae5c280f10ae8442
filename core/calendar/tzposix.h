/* SPDX-License-Identifier: MIT */
/*
 * tzposix.h - the POSIX TZ strings that end a TZif file (RFC 8536 section
 * 3.3, with its version 3 extensions), e.g. "CET-1CEST,M3.5.0,M10.5.0/3" or
 * "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0": the rule a zone follows after the
 * last transition of its table. Parsing and evaluation only; pure.
 */
#ifndef RC_CAL_TZPOSIX_H
#define RC_CAL_TZPOSIX_H

#include <stddef.h>
#include <stdint.h>

/* When in a year a change happens. */
typedef struct cal_rule_date {
    char kind;    /* 'J': Julian day 1-365, February 29 never counted;
                     'N': zero-based day 0-365, February 29 counted;
                     'M': month m, week w (1-5, 5 = the last), weekday d (0 Sunday) */
    int day;      /* J, N */
    int m, w, d;  /* M */
    int32_t time; /* local seconds after midnight, -167 h to +167 h (RFC 8536 v3) */
} cal_rule_date;

#define CAL_ABBR_MAX 16

typedef struct cal_posix {
    char std_abbr[CAL_ABBR_MAX], dst_abbr[CAL_ABBR_MAX];
    int32_t std_off, dst_off; /* seconds EAST of UTC (POSIX writes them west: sign flipped) */
    int has_dst;
    cal_rule_date start, end; /* DST starts (in standard time), ends (in daylight time) */
} cal_posix;

/*
 * Parse s (the whole string). Daylight time without a rule (",start,end")
 * is refused: POSIX leaves it to the implementation, and zic always writes
 * one. Returns 0, or -1 with a message in err.
 */
int cal_posix_parse(const char *s, cal_posix *out, char *err, size_t errlen);

/*
 * The instants DST starts and ends in the given year (a rule with has_dst).
 * In the southern hemisphere end < start.
 */
void cal_posix_year(const cal_posix *p, int64_t year, int64_t *start, int64_t *end);

#endif
