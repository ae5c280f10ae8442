/* SPDX-License-Identifier: MIT */
/*
 * webhook_url.h - a webhook target's URL, checked and shown without its
 * secrets. Chat services put the secret in the URL itself (a Slack or
 * Discord webhook's path, a Telegram bot token), others in user-info or the
 * query: so only scheme://host[:port]/ is ever printed, logged or stored.
 * Parsed by libcurl's URL API, the parser that later sends to it.
 */
#ifndef RC_WEBHOOK_URL_H
#define RC_WEBHOOK_URL_H

#include <stddef.h>

/*
 * NULL when url is an absolute http:// or https:// URL with a host; else why
 * not, as text that never quotes the URL (a static string, or one written in
 * why[whylen]).
 */
const char *webhook_url_check(const char *url, char *why, size_t whylen);

/* "scheme://host/" or "scheme://host:port/" into out; "(not a URL)" when it does not parse. */
void webhook_url_redact(const char *url, char *out, size_t outlen);

#endif
