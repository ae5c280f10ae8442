/*
 * json.h - jansson, checked and safe for foreign text. The core's policy:
 * allocation failure aborts with a message (as the x* helpers in util.h do),
 * so a NULL from jansson never travels on as a silently missing field.
 */
#ifndef RC_JSON_H
#define RC_JSON_H

#include <jansson.h>

/*
 * The result JSON as text (malloc'd): field order kept, reals with 15
 * significant digits so that 0.3 prints as 0.3. pretty: indented.
 */
char *util_json_dump(const json_t *j, int pretty);

/*
 * jx(j) returns j or aborts; use it only on constructors whose strings are
 * ours or already valid UTF-8. jx_text(s) is for text from outside (a
 * database, a plugin, a request): repaired to valid UTF-8 (text.h), NULL s as
 * JSON null.
 */
json_t *jx(json_t *j);
json_t *jx_text(const char *s);

#endif
