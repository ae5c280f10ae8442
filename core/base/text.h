/* SPDX-License-Identifier: MIT */
/*
 * text.h - text at the core's edges, one rule each:
 *   - foreign text made safe for JSON, logs and HTTP (text_valid,
 *     text_repair): jansson refuses strings that are not valid UTF-8, and a
 *     message cut at a fixed buffer size can end in the middle of a
 *     character. Every place where text we did not write ourselves (a
 *     database error, a plugin's message, a request path) goes into JSON, a
 *     log line or an HTTP reply passes it through here first: invalid bytes
 *     become U+FFFD, and cuts fall on character boundaries.
 *   - the one integer parser (text_int): every number the user types
 *     (pipeline keys, plugin options, -n, --run, ?limit=, run ids in paths).
 *   - the one name rule (text_name_ok): every name that becomes a file name,
 *     a YAML key or a result key (plugins, steps, plugin options), so the
 *     same text is accepted or refused alike everywhere.
 */
#ifndef RC_TEXT_H
#define RC_TEXT_H

#include <stddef.h>
#include <stdint.h>



/* 1 when the n bytes at s are valid UTF-8 (no overlongs, no surrogates, no NUL). */
int text_valid(const char *s, size_t n);

/*
 * A copy of s (malloc'd, NUL-terminated, valid UTF-8): every byte that does
 * not start a well-formed character becomes U+FFFD, and the copy is cut at
 * the last character boundary that leaves it at most max bytes long (max 0:
 * no limit). A NULL s gives "".
 */
char *text_repair(const char *s, size_t max);

/* Flag for text_clean: control characters (C0, DEL, C1) become '?'. */
#define TEXT_CTL_VISIBLE 1u

/*
 * in (NULL reads as "") copied to out (outlen > 0, always terminated) as
 * valid UTF-8, each byte that does not start a well-formed character
 * replaced by U+FFFD; with TEXT_CTL_VISIBLE control characters become '?',
 * so that a decoded %0A cannot forge a log line. Stops before a character
 * that does not fit whole. Returns the length written.
 */
size_t text_clean(const char *in, char *out, size_t outlen, unsigned flags);

/*
 * The same in place, for a buffer an snprintf may have cut: the result is
 * valid UTF-8 and at most bufsize - 1 bytes. Replacements that would not fit
 * are dropped at a character boundary.
 */
void text_repair_buf(char *buf, size_t bufsize);

/* ---------------------------------------------------- numbers and names */



/* What text_int found; callers word the two refusals differently. */
#define TEXT_OK 0
#define TEXT_SYNTAX (-1) /* not a whole decimal number */
#define TEXT_RANGE (-2)  /* a whole number, but outside [lo, hi] or beyond 64 bits */

/*
 * Parse all of s as a whole decimal number in [lo, hi]: an optional sign, then
 * digits (leading zeros are decimal, 010 is ten). No spaces, no 0x, no
 * underscores, nothing after the digits. A syntax error wins over a range
 * error ("99999999999999999999x" is TEXT_SYNTAX). Returns TEXT_OK with *out
 * set, or TEXT_SYNTAX / TEXT_RANGE with *out untouched.
 */
int text_int(const char *s, int64_t lo, int64_t hi, int64_t *out);

/* Longest name text_name_ok accepts. */
#define TEXT_NAME_MAX 64
/* Flag for text_name_ok: '.' is allowed too (plugin option names). */
#define TEXT_NAME_DOT 1u

/*
 * 1 when s is 1 to TEXT_NAME_MAX ASCII letters, digits, '_' or '-' (and '.'
 * with TEXT_NAME_DOT), else 0. Names become file names (NAME.so), YAML keys
 * and result keys: no '/', no spaces, and no '.' where a dotted key nests.
 */
int text_name_ok(const char *s, unsigned flags);

/* The rule in words for messages: "1 to 64 letters, digits, '_' or '-'". */
const char *text_name_rule(unsigned flags);

#endif
