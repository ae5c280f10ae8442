/* SPDX-License-Identifier: MIT */
/* dotkey.c - see dotkey.h. */
#include "engine/dotkey.h"

#include <stdio.h>
#include <string.h>

int dotkey_set(json_t *obj, const char *key, json_t *value, char *err, size_t errlen)
{
    json_t *node = obj;
    const char *part = key;
    int rc = -1;

    if (!value) {
        snprintf(err, errlen, "result '%s': out of memory", key);
        return -1;
    }
    for (;;) {
        const char *dot = strchr(part, '.');
        size_t len = dot ? (size_t)(dot - part) : strlen(part);
        if (len == 0) {
            snprintf(err, errlen, "result key '%s' has an empty part", key);
            goto out;
        }
        if (!dot) {
            if (json_object_setn_new(node, part, len, value) != 0) {
                snprintf(err, errlen, "result '%s': cannot set", key);
                return -1; /* jansson already released value */
            }
            return 0;
        }
        json_t *child = json_object_getn(node, part, len);
        if (!child) {
            child = json_object();
            if (!child || json_object_setn_new(node, part, len, child) != 0) {
                snprintf(err, errlen, "result '%s': out of memory", key);
                goto out;
            }
        } else if (!json_is_object(child)) {
            snprintf(err, errlen, "result key '%s' passes through '%.*s', which already "
                     "holds a value", key, (int)(dot - key), key);
            goto out;
        }
        node = child;
        part = dot + 1;
    }
out:
    json_decref(value);
    return rc;
}

json_t *dotkey_get(json_t *obj, const char *key)
{
    const char *part = key;
    while (obj && json_is_object(obj)) {
        const char *dot = strchr(part, '.');
        if (!dot)
            return json_object_get(obj, part);
        obj = json_object_getn(obj, part, (size_t)(dot - part));
        part = dot + 1;
    }
    return NULL;
}
