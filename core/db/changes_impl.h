/* SPDX-License-Identifier: MIT */
/*
 * changes_impl.h - what changes.c (the records, the read path) shares with
 * changes_noted.c (MySQL: the statement notes its own rows). Nothing outside
 * core/db/changes*.c includes this file.
 */
#ifndef RC_CHANGES_IMPL_H
#define RC_CHANGES_IMPL_H

#include "db/changes.h"

/* A value read from a row, owned (text copied): what the record says of it. */
typedef struct cval {
    rc_value_type type; /* RC_NULL, RC_INT, RC_DOUBLE or RC_TEXT */
    int64_t i;
    double d;
    char *s;
} cval;

/* An open-addressing map from text (not owned) to a row number. */
typedef struct strmap {
    size_t cap, n;
    const char **keys;
    size_t *vals;
} strmap;

struct change_rows {
    size_t n, cap, ncols;
    rc_value *key;        /* as read (text pointing into keytext) */
    char **keytext;       /* the key as text: the record's row_key */
    cval *before;         /* ncols values per row */
    unsigned char *live;  /* 0: the statement did not change the row after all */
    strmap index;         /* keytext -> row number */
};

/* A key's text as records keep it (row_key): integers in decimal, doubles %.17g. Owned. */
char *changes_key_text(const rc_value *v);

/*
 * Note row i of rows in m's open chunk: a column's first before stays, its
 * after is the latest; after NULL: the row is gone. Values are moved out.
 */
void changes_note_row(changes_meta *m, const rc_change_decl *decl, change_rows *rows, size_t i,
                      cval *after);

/* Does stmt end with " WHERE " and decl's where? */
int changes_ends_with_where(const rc_change_decl *decl, const char *stmt);

/* A row callback that reads nothing. */
int changes_ignore_row(void *user, const rc_value *cols, size_t n);
#endif
