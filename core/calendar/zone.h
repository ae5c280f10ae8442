/* SPDX-License-Identifier: MIT */
/*
 * zone.h - time zones as objects: the system's compiled tz database
 * (/usr/share/zoneinfo, TZif files as RFC 8536 describes them) read into
 * one immutable object per zone, and fixed offsets.
 *
 * Why our own reader and not ICU (libicu's ucal_*): the zone files are the
 * system's tzdata package, so an `apt upgrade` of tzdata takes effect at the
 * next start, exactly the data Python's zoneinfo (our test oracle) reads; and
 * it adds no dependency. Why not libc: glibc's localtime() follows the one
 * process-wide TZ (setenv + tzset), which is neither per zone nor safe beside
 * threads. Nothing here calls setenv, tzset, localtime or mktime, and no
 * result depends on the process's TZ.
 *
 * A cal_zone is immutable once made: share it between threads freely. Only
 * cal_zone_open reads files (tzfile.c); everything else is pure arithmetic.
 *
 * Instants are int64 Unix seconds (UTC, leap seconds not counted, as
 * everywhere in POSIX). Offsets are seconds east of UTC (+02:00 = 7200).
 */
#ifndef RC_CAL_ZONE_H
#define RC_CAL_ZONE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cal_zone cal_zone;

/* The instants the calendar handles: 0001-01-03 .. 9999-12-29 UTC (margins
 * of two days keep every local time of them inside years 1..9999). */
#define CAL_T_MIN (-62135596800LL + 2 * 86400)
#define CAL_T_MAX (253402300799LL - 2 * 86400)

/* Where zone files are looked up when neither the caller nor $TZDIR says. */
#define CAL_TZDIR_DEFAULT "/usr/share/zoneinfo"

/*
 * Open the zone called name:
 *   - "UTC": built in (no file needed);
 *   - "+HH:MM" or "-HH:MM" (00:00 to 23:59): a fixed offset, no DST; also
 *     "+HH" and "-HH";
 *   - anything else: a tz database name ("Europe/Berlin", "Etc/GMT+5"),
 *     read from tzdir/NAME. tzdir NULL means $TZDIR when set and not empty
 *     (as glibc), else CAL_TZDIR_DEFAULT. The name must be 1-255 characters
 *     of letters, digits, '/', '_', '-', '+' and '.', relative, with no
 *     empty, "." or ".." part (a name never escapes tzdir).
 * "Z" is not a zone name (it marks an instant as UTC): write UTC.
 * Zones counting leap seconds ("right/...") are refused: Unix time does not.
 * Returns 0 and *out (free with cal_zone_free), or -1 with a message naming
 * the zone in err ("unknown time zone 'Europe/Berln' (no such file
 * /usr/share/zoneinfo/Europe/Berln)").
 */
int cal_zone_open(const char *name, const char *tzdir, cal_zone **out, char *err, size_t errlen);

/* A fixed-offset zone (utoff seconds east, |utoff| < 24 h); name as given
 * (NULL: "+HH:MM"). Never fails. */
cal_zone *cal_zone_fixed(int32_t utoff, const char *name);

/* Accepts NULL. */
void cal_zone_free(cal_zone *z);

/* The name it was opened with. */
const char *cal_zone_name(const cal_zone *z);

/*
 * A stretch of time with one offset: [start, end) (INT64_MIN / INT64_MAX
 * when unbounded), the offset, DST flag and abbreviation ("CEST", "+0530";
 * valid as long as the zone). Every instant lies in exactly one span; two
 * neighbouring spans may have the same offset (a change of abbreviation or
 * DST flag only).
 */
typedef struct cal_span {
    int64_t start, end;
    int32_t utoff;
    int isdst;
    const char *abbr;
} cal_span;

/* The span holding instant t. */
void cal_zone_span(const cal_zone *z, int64_t t, cal_span *out);

/* The offset at instant t (seconds east of UTC). */
int32_t cal_zone_offset(const cal_zone *z, int64_t t);

/*
 * Instant t as ISO 8601 with the zone's offset at t:
 * "2026-03-29T03:00:00+02:00" (offsets with seconds, as some zones had
 * before 1900, print "+00:53:28"). out must hold CAL_ISO_MAX bytes.
 * Returns out.
 */
#define CAL_ISO_MAX 40
char *cal_format_iso(const cal_zone *z, int64_t t, char *out);

/*
 * Parse an instant: ISO 8601 "YYYY-MM-DDTHH:MM[:SS[.fraction]]" (or a space
 * for the T) followed by "Z" or an offset "+HH:MM", "+HHMM", "+HH"; or
 * "@SECONDS" (Unix time). A fraction is dropped (the instant is rounded down
 * to the second, which leaves "strictly after it" unchanged for whole-second
 * fire times). A local time without offset is refused: in a DST change it
 * would be ambiguous. Returns 0 and *t, or -1 with a message in err.
 */
int cal_parse_instant(const char *s, int64_t *t, char *err, size_t errlen);

#endif
