/* SPDX-License-Identifier: MIT */
/* strbuf.h - a growable string, for text built piece by piece (/metrics, messages). */
#ifndef RC_STRBUF_H
#define RC_STRBUF_H

#include <stddef.h>

/* A growable string; s is NUL-terminated once anything was written. Start with STRBUF_INIT. */
typedef struct strbuf {
    char *s;
    size_t len, cap;
} strbuf;
#define STRBUF_INIT { NULL, 0, 0 }

/* Append formatted text (aborts when out of memory, like xmalloc). */
void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text (malloc'd, the caller frees; "" when empty); b is reset to empty. */
char *sb_take(strbuf *b);
/* Free the text and reset b. Accepts an empty b. */
void sb_free(strbuf *b);

/* Append one character. */
void sb_putc(strbuf *b, char c);
/* Append n bytes of s (no formatting: for text built in hot loops). */
void sb_addn(strbuf *b, const char *s, size_t n);

#endif
