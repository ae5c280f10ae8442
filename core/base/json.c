/* json.c - see json.h. */
#include "base/json.h"
#include "base/text.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *util_json_dump(const json_t *j, int pretty)
{
    size_t flags = JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15);
    return json_dumps(j, flags | (pretty ? JSON_INDENT(2) : JSON_COMPACT));
}

json_t *jx(json_t *j)
{
    if (!j) {
        fprintf(stderr, "reconciler: cannot build a JSON value (out of memory)\n");
        abort();
    }
    return j;
}

json_t *jx_text(const char *s)
{
    if (!s)
        return json_null();
    if (text_valid(s, strlen(s)))
        return jx(json_string(s));
    char *fixed = text_repair(s, 0);
    json_t *j = jx(json_string(fixed));
    free(fixed);
    return j;
}
