/* SPDX-License-Identifier: MIT */
/*
 * json.h - jansson, checked and safe for foreign text. The core's policy:
 * allocation failure aborts with a message (as the x* helpers in util.h do),
 * so a NULL from jansson never travels on as a silently missing field.
 */
#ifndef RC_JSON_H
#define RC_JSON_H

#include <jansson.h>

/*
 * The result JSON as text (malloc'd): field order kept, reals with the
 * fewest significant digits (15 to 17) that read back as the same double for
 * every real in j, so that 0.3 prints as 0.3 and 1.7976931348623157e308 does
 * not overflow when it is read again. pretty: indented.
 */
char *util_json_dump(const json_t *j, int pretty);
/* That precision as jansson flags (JSON_REAL_PRECISION(15..17)), for other json_dumps calls. */
size_t util_json_real_flags(const json_t *j);

/*
 * Parse text that we wrote earlier (a stored result), never losing it to one
 * bad value: a number too large for a double (written with too few digits
 * by an older version) is kept as a string of its text. *salvaged (may be
 * NULL) says how many were; NULL when the text is not JSON even then.
 */
json_t *util_json_load_stored(const char *text, size_t *salvaged);

/*
 * jx(j) returns j or aborts; use it only on constructors whose strings are
 * ours or already valid UTF-8. jx_text(s) is for text from outside (a
 * database, a plugin, a request): repaired to valid UTF-8 (text.h), NULL s as
 * JSON null.
 */
json_t *jx(json_t *j);
json_t *jx_text(const char *s);

/* What j is, for a message about a field of the wrong type: "a string", "an integer",
 * "null" ..., "nothing" for NULL (the field is missing). */
const char *jx_type_name(const json_t *j);

#endif
