/* SPDX-License-Identifier: MIT */
/*
 * console.h - the console page: one HTML page, its stylesheet and its
 * script, compiled into the binary from core/service/ui/ by tools/embed-ui
 * (build/gen/console_files.c), served at / and /ui/ with a strict
 * Content-Security-Policy. The page carries no data: it reads everything
 * from the public API, so serving it needs no token.
 */
#ifndef RC_CONSOLE_H
#define RC_CONSOLE_H

#include <stddef.h>
#include "service/http.h"

/* One embedded file (the generated table). */
typedef struct console_file {
    const char *name;          /* "index.html", "app.css", "app.js" */
    const char *content_type;  /* "text/html; charset=utf-8" ... */
    const char *etag;          /* "\"<hash of the content>\"" */
    const unsigned char *data;
    size_t len;
} console_file;

extern const console_file console_files[];
extern const size_t console_files_count;

/* GET / and /ui/: the page. */
void console_page(void *user, const http_request *req, http_response *resp);
/* GET /ui/NAME: the page's stylesheet and script; 404 for any other name. */
void console_asset(void *user, const http_request *req, http_response *resp);

#endif
