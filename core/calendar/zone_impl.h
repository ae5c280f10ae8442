/* SPDX-License-Identifier: MIT */
/*
 * zone_impl.h - what a cal_zone holds: the private half of zone.c, shared
 * with tzfile.c, which builds zones from TZif files.
 */
#ifndef RC_CAL_ZONE_IMPL_H
#define RC_CAL_ZONE_IMPL_H

#include "calendar/tzposix.h"
#include "calendar/zone.h"

/* A local time type (RFC 8536 "ttinfo"). */
typedef struct cal_ttype {
    int32_t utoff;
    int isdst;
    const char *abbr; /* into cal_zone.abbrs */
} cal_ttype;

struct cal_zone {
    char *name;
    size_t ntrans;       /* transition instants, strictly ascending */
    int64_t *trans;
    uint8_t *trans_type; /* index into types of the type from trans[i] on */
    size_t ntypes;       /* at least 1: types[0] rules before the first transition */
    cal_ttype *types;
    char *abbrs;         /* NUL-separated abbreviations */
    int has_rule;        /* rule governs from the last transition on (or always, with none) */
    cal_posix rule;
};

/* A zone with one type and no transitions (fixed offset). Takes name. */
cal_zone *zone_new_fixed(char *name, int32_t utoff, const char *abbr);

/* Bounds of a plausible offset (RFC 8536: -89999 to 93599): the search in
 * next.c relies on every offset being within 26 hours of UTC. */
#define CAL_UTOFF_MIN (-89999)
#define CAL_UTOFF_MAX 93599

#endif
