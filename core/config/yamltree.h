/* SPDX-License-Identifier: MIT */
/*
 * yamltree.h - a YAML file as a small tree of maps, sequences and scalars,
 * each node carrying its 1-based line and column for error messages.
 *
 * Built from libyaml's event API. Aliases and anchors are refused (they can
 * form cycles and nobody needs them in a pipeline file); duplicate keys in a
 * mapping are refused; only one document is read.
 */
#ifndef RC_YAMLTREE_H
#define RC_YAMLTREE_H

#include <stddef.h>

typedef enum yt_kind { YT_SCALAR = 1, YT_MAP = 2, YT_SEQ = 3 } yt_kind;

typedef struct yt_node {
    yt_kind kind;
    int line, col;        /* 1-based */
    char *scalar;         /* YT_SCALAR: the text */
    int quoted;           /* YT_SCALAR: written in quotes */
    size_t n;             /* YT_MAP: pairs; YT_SEQ: items */
    struct yt_node **keys;   /* YT_MAP: scalar key nodes */
    struct yt_node **items;  /* YT_MAP: values; YT_SEQ: items */
} yt_node;

/*
 * The whole file as a NUL-terminated string (malloc'd), refused when it is
 * too large or holds a NUL byte: NULL with err naming FILE (and LINE:COL).
 */
char *yt_read_file(const char *path, char *err, size_t errlen);
/*
 * Parse text. Returns 0 and *root (a YT_MAP, or NULL for empty text), or -1
 * with err "NAME:LINE:COL: message"; name stands for the file in messages.
 */
int yt_load_string(const char *text, const char *name, yt_node **root, char *err, size_t errlen);
void yt_free(yt_node *n); /* accepts NULL */

/* Value of key in a map, or NULL. */
const yt_node *yt_get(const yt_node *map, const char *key);
/* "a mapping", "a list", "a scalar" */
const char *yt_kind_name(yt_kind k);

#endif
