/* SPDX-License-Identifier: MIT */
/*
 * figure_defaults.h - conf/figures.yaml, compiled in (build/gen/, written by
 * tools/embed-text): the defaults of http.figure_plugins,
 * http.dashboard_figures and http.queue_figures.
 */
#ifndef RC_FIGURE_DEFAULTS_H
#define RC_FIGURE_DEFAULTS_H

extern const char figure_defaults_yaml[];

/* How messages name the compiled-in file. */
#define FIGURE_DEFAULTS_NAME "(built-in conf/figures.yaml)"

#endif
