/* SPDX-License-Identifier: MIT */
/* console.c - see console.h. */
#include "service/console.h"
#include "base/util.h"

#include <string.h>

/*
 * Nothing but the page's own files and the API of its own origin: no inline
 * script or style, no other host, no frames, no forms posted anywhere. The
 * chart is SVG built by the script, the only images are data: icons.
 */
#define CONSOLE_CSP                                                                  \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* The reply's headers: thread-local, as the reply is sent on the handler's thread. */
static _Thread_local const char *tl_headers[] = {
    "Content-Security-Policy", CONSOLE_CSP,
    "X-Frame-Options", "DENY",
    "Referrer-Policy", "no-referrer",
    "ETag", NULL,
    NULL,
};

static const console_file *find(const char *name)
{
    for (size_t i = 0; i < console_files_count; i++)
        if (strcmp(console_files[i].name, name) == 0)
            return &console_files[i];
    return NULL;
}

/*
 * no-cache, not max-age: the browser asks again each time and gets 304 while
 * the ETag (a hash of the file, fixed at build time) matches, so a new
 * binary's page is never mixed with an old script.
 */
static void serve(const console_file *f, const http_request *req, http_response *resp)
{
    const char *inm = http_header(req, "If-None-Match");
    resp->content_type = f->content_type;
    resp->cache_control = "no-cache";
    tl_headers[7] = f->etag;
    resp->headers = tl_headers;
    if (inm && strcmp(inm, f->etag) == 0) {
        resp->status = 304;
        return;
    }
    resp->status = 200;
    resp->body = xmalloc(f->len + 1);
    memcpy(resp->body, f->data, f->len);
    resp->body[f->len] = '\0';
}

void console_page(void *user, const http_request *req, http_response *resp)
{
    (void)user;
    const console_file *f = find("index.html");
    if (f)
        serve(f, req, resp);
    else
        http_reply_error(resp, 500, "the console page was not built into this binary");
}

void console_asset(void *user, const http_request *req, http_response *resp)
{
    (void)user;
    const console_file *f = strcmp(req->tail, "index.html") != 0 ? find(req->tail) : NULL;
    if (f)
        serve(f, req, resp);
    else
        http_reply_error(resp, 404, "no such resource: %.200s", req->path);
}
