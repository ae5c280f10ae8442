/* SPDX-License-Identifier: MIT */
/* proto.c - see proto.h. */
#include "engine/proto.h"
#include "base/json.h"
#include "base/util.h"

#include <errno.h>
#include <poll.h>
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
