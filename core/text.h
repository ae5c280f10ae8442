/*
 * text.h - foreign text made safe for JSON, logs and HTTP.
 *
 * jansson refuses strings that are not valid UTF-8 (json_string returns NULL),
 * and a message cut at a fixed buffer size can end in the middle of a
 * character. Every place where text we did not write ourselves (a database
 * error, a plugin's message, a request path) goes into JSON, a log line or an
 * HTTP reply passes it through here first: invalid bytes become U+FFFD, and
 * cuts fall on character boundaries.
 */
#ifndef RC_TEXT_H
#define RC_TEXT_H

#include <stddef.h>

/* 1 when the n bytes at s are valid UTF-8 (no overlongs, no surrogates, no NUL). */
int text_valid(const char *s, size_t n);

/*
 * A copy of s (malloc'd, NUL-terminated, valid UTF-8): every byte that does
 * not start a well-formed character becomes U+FFFD, and the copy is cut at
 * the last character boundary that leaves it at most max bytes long (max 0:
 * no limit). A NULL s gives "".
 */
char *text_repair(const char *s, size_t max);

/*
 * The same in place, for a buffer an snprintf may have cut: the result is
 * valid UTF-8 and at most bufsize - 1 bytes. Replacements that would not fit
 * are dropped at a character boundary.
 */
void text_repair_buf(char *buf, size_t bufsize);

#endif
