/*
 * text.h - the one integer parser and the one name rule of the core.
 *
 * Every number the user types (pipeline keys, plugin options, -n, --run,
 * ?limit=, run ids in paths) goes through text_int, and every name that
 * becomes a file name, a YAML key or a result key (plugins, steps, plugin
 * options) through text_name_ok, so the same text is accepted or refused
 * alike everywhere.
 */
#ifndef RC_TEXT_H
#define RC_TEXT_H

#include <stdint.h>

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
