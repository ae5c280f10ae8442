/* SPDX-License-Identifier: MIT */
/* webhook_url.c - see webhook_url.h. */
#include "config/webhook_url.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The parts of url, parsed as libcurl will: 0, or -1 (why in *code). */
static int parse(const char *url, CURLU **out, CURLUcode *code)
{
    CURLU *u = curl_url();
    *out = NULL;
    if (!u) {
        *code = CURLUE_OUT_OF_MEMORY;
        return -1;
    }
    /* No default scheme: "hooks.example.com/x" is a mistake, not an http URL. */
    *code = curl_url_set(u, CURLUPART_URL, url, 0);
    if (*code != CURLUE_OK) {
        curl_url_cleanup(u);
        return -1;
    }
    *out = u;
    return 0;
}

const char *webhook_url_check(const char *url, char *why, size_t whylen)
{
    CURLU *u;
    CURLUcode code;
    char *scheme = NULL, *host = NULL;
    const char *bad = NULL;

    if (parse(url, &u, &code) != 0) {
        /* curl's message describes the fault, never the text. */
        snprintf(why, whylen, "is not a valid URL (%s)", curl_url_strerror(code));
        return why;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        /* A scheme is letters, digits, + - . only: safe to show, but cut short. */
        snprintf(why, whylen, "must be an http:// or https:// URL, not %.16s://",
                 scheme ? scheme : "?");
        bad = why;
    } else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
        bad = "has no host";
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return bad;
}

void webhook_url_redact(const char *url, char *out, size_t outlen)
{
    CURLU *u;
    CURLUcode code;
    char *scheme = NULL, *host = NULL, *port = NULL;

    if (!url || parse(url, &u, &code) != 0) {
        snprintf(out, outlen, "(not a URL)");
        return;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        /* The port only when the URL names one. */
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        snprintf(out, outlen, "%s://%s%s%s/", scheme, host, port ? ":" : "", port ? port : "");
    } else {
        snprintf(out, outlen, "(not a URL)");
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}
