/* SPDX-License-Identifier: MIT */
/*
 * options.h - typed option values, parsed from text by one set of rules.
 *
 * Used for plugin options (each plugin's rc_option table) and for the
 * pipeline file's own keys (config.c declares them in the same kind of table),
 * so defaults, validation and help all come from one declaration.
 */
#ifndef RC_OPTIONS_H
#define RC_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include "reconciler.h"
#include "config/yamltree.h"

typedef struct opt_value {
    rc_opt_type type;
    char *s;     /* RC_OPT_STRING (owned) */
    int64_t i;   /* RC_OPT_INT; RC_OPT_DURATION in milliseconds */
    int b;       /* RC_OPT_BOOL */
    double d;    /* RC_OPT_DOUBLE */
    int line, col; /* where the value stands in the pipeline file; 0: the default */
} opt_value;

/* "string", "int", "bool", "double", "duration" */
const char *opt_type_name(rc_opt_type t);

/*
 * Parse text as type t. Returns 0, or -1 with err like
 * "expects an integer, got 'abc'" (the caller prefixes file:line:col and name).
 */
int opt_parse(rc_opt_type t, const char *text, opt_value *out, char *err, size_t errlen);
void opt_value_free(opt_value *v);

/* Durations: "250ms", "30s", "5m", "6h", "1d", "1h30m"; bare integer = seconds. */
int duration_parse(const char *text, int64_t *ms);
/* ms the way a file would say it ("1d", "1h30m", "1500ms" as "1s500ms", "0s"); negative: "-". */
void duration_format(int64_t ms, char *out, size_t outlen);

/* A plugin's options after checking: one value per table entry, same order. */
typedef struct opt_set {
    const rc_option *defs; /* the plugin's table (not owned) */
    size_t n;
    opt_value *values;
} opt_set;

/*
 * Check a table itself: every entry has a name, a known type, no duplicate
 * name, and a default that parses. Returns 0 or -1 with err naming the option.
 */
int opt_table_check(const rc_option *defs, char *err, size_t errlen);

/*
 * Build the values for one step: map is the step's "options:" mapping (NULL
 * when absent). An unknown key is an error that names it and lists the valid
 * ones; a value of the wrong type names the option; a required option
 * (NULL default) that is missing is an error. Errors are
 * "FILE:LINE:COL: step 'S': ..." using file and the node's marks.
 */
int opt_set_build(const rc_option *defs, const yt_node *map, const char *file,
                  const char *step, opt_set *out, char *err, size_t errlen);
void opt_set_free(opt_set *s);

/* Look up a value by name and type; NULL when absent or of another type. */
const opt_value *opt_set_get(const opt_set *s, const char *name, rc_opt_type t);

/* Comma-separated list of the table's names into out ("a, b, c"). */
void opt_names(const rc_option *defs, char *out, size_t outlen);

#endif
