/* SPDX-License-Identifier: MIT */
/*
 * prom.h - the Prometheus text exposition format 0.0.4, written directly into
 * a growable string (serve it as PROM_CONTENT_TYPE). Names and label names
 * are the caller's constants and are not checked; label values and help text
 * are escaped.
 */
#ifndef RC_PROM_H
#define RC_PROM_H

#include <stddef.h>
#include <stdint.h>
#include "base/strbuf.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* "# HELP name help" and "# TYPE name type" (counter|gauge|histogram). */
void prom_family(strbuf *b, const char *name, const char *type, const char *help);

/*
 * name{k1="v1",k2="v2"} value: labels as k, v, ... pairs ending with NULL
 * (prom_sample(b, "x_total", 3, NULL) has none). Integral values print as
 * integers ("1733000000"), others in the shortest form that reads back the
 * same double; NaN, +Inf and -Inf as Prometheus spells them.
 */
void prom_sample(strbuf *b, const char *name, double value, ...) __attribute__((sentinel));

/*
 * A histogram's samples: bounds[n] ascending, counts[n + 1] per bucket, not
 * cumulative (counts[n]: above the last bound). Writes cumulative
 * name_bucket{...,le="B"} lines ending with le="+Inf", then name_sum and
 * name_count; labels as for prom_sample.
 */
void prom_histogram(strbuf *b, const char *name, const double *bounds, const uint64_t *counts,
                    size_t n, double sum, ...) __attribute__((sentinel));

#endif
