/* SPDX-License-Identifier: MIT */
/* proto.c - see proto.h. */
#include "engine/proto.h"
#include "base/json.h"
#include "base/util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A complete line in the buffer: parse and remove it. 1, 0 (none yet) or -1. */
static int take_line(proto_in *in, json_t **msg)
{
    char *nl = in->len ? memchr(in->buf, '\n', in->len) : NULL;
    if (!nl) {
        in->too_long = in->len > PROTO_MAX_LINE;
        return in->too_long ? -1 : 0;
    }
    *nl = '\0';
    json_t *j = json_loads(in->buf, 0, NULL);
    size_t used = (size_t)(nl - in->buf) + 1;
    memmove(in->buf, nl + 1, in->len - used);
    in->len -= used;
    if (!json_is_object(j)) {
        json_decref(j);
        return -1;
    }
    *msg = j;
    return 1;
}

int proto_read(proto_in *in, json_t **msg, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? 0 : util_mono_ms() + timeout_ms;
    *msg = NULL;
    for (;;) {
        int got = take_line(in, msg);
        if (got != 0)
            return got;
        if (in->eof)
            return -1;
        int wait = -1;
        if (timeout_ms >= 0) {
            /* At least one look, also at timeout 0: what is already in the pipe is read. */
            int64_t left = deadline - util_mono_ms();
            wait = left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
        }
        struct pollfd p = { .fd = in->fd, .events = POLLIN };
        int r = poll(&p, 1, wait);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0) {
            if (timeout_ms >= 0 && util_mono_ms() >= deadline)
                return 0;
            continue;
        }
        if (in->cap - in->len < 65536) {
            in->cap = in->cap ? in->cap * 2 : 65536;
            in->buf = xrealloc(in->buf, in->cap);
        }
        ssize_t n = read(in->fd, in->buf + in->len, in->cap - in->len - 1);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            in->eof = 1;
        else
            in->len += (size_t)n;
    }
}

void proto_in_free(proto_in *in)
{
    free(in->buf);
    in->buf = NULL;
    in->len = in->cap = 0;
}

int proto_write(int fd, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(msg);
    if (!text)
        return -1;
    size_t len = strlen(text), off = 0;
    text[len++] = '\n'; /* over the NUL: the length is known */
    int rc = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = -1;
            break;
        }
        off += (size_t)n;
    }
    free(text);
    return rc;
}

static const char *type_text(proto_type t)
{
    switch (t) {
    case PROTO_STRING: return "a string";
    case PROTO_STRING_OR_NULL: return "a string or null";
    case PROTO_INT: return "an integer";
    case PROTO_BOOL: return "a boolean";
    case PROTO_OBJECT: return "an object";
    case PROTO_ARRAY: return "an array";
    }
    return "?";
}

static int is_type(const json_t *v, proto_type t)
{
    switch (t) {
    case PROTO_STRING: return json_is_string(v);
    case PROTO_STRING_OR_NULL: return json_is_string(v) || json_is_null(v);
    case PROTO_INT: return json_is_integer(v);
    case PROTO_BOOL: return json_is_boolean(v);
    case PROTO_OBJECT: return json_is_object(v);
    case PROTO_ARRAY: return json_is_array(v);
    }
    return 0;
}

json_t *proto_get(proto_reader *r, const char *path, proto_type t, int optional)
{
    char part[128];
    const json_t *v = r->msg;
    if (r->err[0])
        return NULL;
    for (const char *p = path; v && *p;) {
        size_t n = strcspn(p, ".");
        snprintf(part, sizeof part, "%.*s", (int)n, p);
        v = json_is_object(v) ? json_object_get(v, part) : NULL;
        p += n + (p[n] == '.');
    }
    if (!v && optional)
        return NULL;
    if (!v || !is_type(v, t)) {
        snprintf(r->err, sizeof r->err, "%s: field '%s' must be %s, got %s", r->what, path,
                 type_text(t), jx_type_name(v));
        return NULL;
    }
    return (json_t *)v;
}

const char *proto_str(proto_reader *r, const char *path, int optional)
{
    return json_string_value(proto_get(r, path, PROTO_STRING, optional));
}

json_int_t proto_int(proto_reader *r, const char *path, int optional)
{
    return json_integer_value(proto_get(r, path, PROTO_INT, optional));
}

int proto_bool(proto_reader *r, const char *path, int optional)
{
    return json_is_true(proto_get(r, path, PROTO_BOOL, optional));
}

int proto_version_ok(proto_reader *r)
{
    json_int_t v = proto_int(r, "v", 0);
    if (!r->err[0] && v != PROTO_VERSION)
        snprintf(r->err, sizeof r->err, "%s: field 'v' says protocol version %lld; this "
                 "reconciler speaks version %d", r->what, (long long)v, PROTO_VERSION);
    return r->err[0] == '\0';
}
