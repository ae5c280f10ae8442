/* SPDX-License-Identifier: MIT */
/* dotkey.h - dotted-key results ("jobs.byStatus.retry") into nested JSON objects. */
#ifndef RC_DOTKEY_H
#define RC_DOTKEY_H

#include <stddef.h>
#include <jansson.h>

/*
 * Set key in obj, creating the intermediate objects a dotted key names.
 * value is stolen (decref'd on failure too). Returns 0, or -1 with err when
 * the key is empty, has an empty part ("a..b"), or passes through a value
 * that is not an object.
 */
int dotkey_set(json_t *obj, const char *key, json_t *value, char *err, size_t errlen);

/* The value a dotted key names in obj (borrowed), or NULL when any part is missing. */
json_t *dotkey_get(json_t *obj, const char *key);

#endif
