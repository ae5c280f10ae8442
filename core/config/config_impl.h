/* SPDX-License-Identifier: MIT */
/*
 * config_impl.h - the private half of config: the shape of the pipeline
 * file's key table, for config.c and for the tests that feed the table's
 * checker a table of their own or walk every key (tests/test_config_keys.c).
 * Nothing else includes it: the rest of the program acts on keys through
 * config.h's functions.
 */
#ifndef RC_CONFIG_IMPL_H
#define RC_CONFIG_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include "config/config.h"
#include "config/options.h"

enum {
    K_REQUIRED = 1 << 0, /* absence is an error (positioned at the parent mapping) */
    K_PATH = 1 << 1,     /* a non-empty string resolved against the file's folder */
    K_INDEX = 1 << 2,    /* one of choices, kept as its index in an int-sized field */
    K_NO_ECHO = 1 << 3,  /* messages never quote the value: a secret may stand there by mistake */
};

typedef struct loader loader;
typedef struct cfg_key cfg_key;

/* For a value that is not one scalar. node is NULL when applying the default. */
typedef int (*cfg_setter)(loader *ld, const cfg_key *k, yt_node *node, void *base);
/* A rule for a string's text: NULL when text follows it, else what it must be. */
typedef const char *(*cfg_check)(const char *text);
/*
 * The variables a CFG_ENVNAME key with a setter names (notify[].headers):
 * fn(user, "KEY.PART", VARIABLE) for each, key being how messages name the
 * key ("notify[0].headers"). Returns how many.
 */
typedef size_t (*cfg_each_env)(const void *base, const char *key, config_name_fn fn,
                               void *user);

/* One key the file may hold. */
struct cfg_key {
    const char *path;      /* "database.url": the part before the dot is a section */
    rc_opt_type type;      /* how the scalar parses (0 for setter-only keys) */
    const char *def;       /* default as it would stand in the file; NULL: none */
    const char *desc;      /* one line, for config_help */
    size_t off;            /* the field, in config (or cfg_step for step keys) */
    unsigned flags;
    const char *choices;   /* "a|b|c": the value must be one of these */
    /* Ints and durations (ms): the value must be in min..max; help prints the
     * range. Every one needs a max (none would refuse all but 0, the default
     * too), so that no number the file gives overflows what is computed from it. */
    int64_t min, max;
    cfg_check check;       /* strings: a rule beyond the type */
    cfg_setter set;        /* replaces the scalar handling */
    const char *type_text; /* the type for help when opt_type_name does not say it */
    /* Top-level keys: CFG_BOUND and CFG_WORKER (config.h), what a key's value does after
     * start. Only keys with a plain scalar field (a type, no setter) may have them: the
     * generic copy, comparison and hand-off below work by type (config_table_check). */
    unsigned scope;
    /* Where the value stood in the file (two int fields: line, col), for messages that come
     * later; 0 when the key keeps no position. Copied along with a bound or worker key. */
    size_t at_line, at_col;
    /* CFG_ENVNAME and CFG_SECRET (config.h): what the value is, in any table. A
     * CFG_ENVNAME key is a plain string field, or has each_env to list what its
     * setter built; a CFG_SECRET key is text, shown as redact says. */
    unsigned holds;
    cfg_redact redact;
    cfg_each_env each_env;
};

typedef struct key_table {
    const cfg_key *keys;
    size_t n;
    const char *where; /* " in a step": how messages name a map of this table; "" at top */
} key_table;

/*
 * The rules config_table_check applies to every table, over one table t
 * whose keys are shown as prefix + path ("notify[]."); top says whether it is
 * the top-level table (only that one may give a key a scope). 0, or -1 with
 * err naming the key and the rule it breaks.
 */
int config_table_check_keys(const key_table *t, const char *prefix, int top, char *err,
                            size_t errlen);

/* The top-level table, for tests that walk every key. */
const key_table *config_top_table(void);

/*
 * Whether a and b hold the same value of k, a key with a scope (compared by
 * its type alone; an unset string and an empty one are the same setting).
 */
int config_key_same(const cfg_key *k, const config *a, const config *b);

#endif
