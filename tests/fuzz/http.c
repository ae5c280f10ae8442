/* SPDX-License-Identifier: MIT */
/*
 * http.c - what the API does first with every request, without a socket:
 * the target is split and %-decoded as libmicrohttpd does it (its own
 * MHD_http_unescape; '+' in the query is a space), routed through the API's
 * real table (http_route_find, api_routes), checked for UTF-8, and its
 * arguments parsed by the handlers' own functions (api_arg_*). Every refusal
 * is built into its JSON reply (http_reply_error).
 *
 * Input: "METHOD TARGET" (the first space splits; no space: GET).
 * Properties: a hit is a route of the method whose path (or prefix, with a
 * non-empty tail) matches; path_known and Allow agree with the table; a
 * parsed argument is in its range; every error reply is JSON with the
 * status and a UTF-8 message, whatever bytes the request held.
 */
#include "fuzz.h"
#include "base/text.h"
#include "base/util.h"
#include "service/api.h"
#include "service/http.h"

#include <jansson.h>
#include <microhttpd.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reply http_reply_error builds: JSON {"error": text, "status": status}. */
static void check_reply(int status, const char *fmt, const char *arg)
{
    http_response resp = { 0, NULL, NULL };
    http_reply_error(&resp, status, fmt, arg);
    FZ_ASSERT(resp.status == status && resp.body, "no reply for %d", status);
    json_error_t je;
    json_t *j = json_loads(resp.body, 0, &je);
    FZ_ASSERT(j, "reply is not JSON (%s): %s", je.text, resp.body);
    const char *msg = json_string_value(json_object_get(j, "error"));
    FZ_ASSERT(msg && text_valid(msg, strlen(msg)), "no error text");
    FZ_ASSERT(json_integer_value(json_object_get(j, "status")) == status, "status");
    json_decref(j);
    free(resp.body);
}

/* The first value of key in the decoded arguments (NULL: absent or without '='). */
static const char *arg_of(char **keys, char **vals, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i], key) == 0)
            return vals[i];
    return NULL;
}

static void check_match(const http_route *routes, size_t n, const char *method, const char *path,
                        const http_match *m)
{
    size_t plen = strlen(path);
    int known = 0;
    for (size_t i = 0; i < n; i++) {
        size_t rlen = strlen(routes[i].path);
        known |= routes[i].prefix ? strncmp(path, routes[i].path, rlen) == 0 && plen > rlen
                                  : strcmp(path, routes[i].path) == 0;
    }
    FZ_ASSERT(m->path_known == known, "path_known %d for '%s'", m->path_known, path);
    FZ_ASSERT(!m->hit || m->path_known, "a hit on an unknown path");
    FZ_ASSERT(m->path_known == (m->allow[0] != '\0'), "Allow '%s'", m->allow);
    if (!m->hit)
        return;
    FZ_ASSERT(strcmp(m->hit->method, method) == 0, "hit for another method");
    FZ_ASSERT(m->open == m->hit->open, "open is not the hit's");
    FZ_ASSERT(strstr(m->allow, method), "Allow '%s' lacks %s", m->allow, method);
    FZ_ASSERT(m->tail_off <= plen, "tail past the path");
    if (m->hit->prefix)
        FZ_ASSERT(m->tail_off == strlen(m->hit->path) && path[m->tail_off],
                  "prefix route with tail '%s'", path + m->tail_off);
    else
        FZ_ASSERT(m->tail_off == plen, "exact route with a tail");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *method, *target, *keys[64], *vals[64], why[API_WHY_MAX];
    size_t n_args = 0, n_routes;
    const http_route *routes = api_routes(&n_routes);

    fz_split(data, size, ' ', &method, &target);
    if (!*target) { /* no space: the whole input is the target */
        free(target);
        target = method;
        method = xstrdup("GET");
    }
    char *query = strchr(target, '?');
    if (query)
        *query++ = '\0';
    MHD_http_unescape(target);
    for (char *p = query; p && n_args < 64;) {
        char *amp = strchr(p, '&'), *eq;
        if (amp)
            *amp = '\0';
        for (char *c = p; *c; c++)
            if (*c == '+')
                *c = ' ';
        eq = strchr(p, '=');
        if (eq)
            *eq++ = '\0';
        MHD_http_unescape(p);
        if (eq)
            MHD_http_unescape(eq);
        keys[n_args] = p;
        vals[n_args++] = eq;
        p = amp ? amp + 1 : NULL;
    }

    http_match m;
    http_route_find(routes, n_routes, method, target, &m);
    check_match(routes, n_routes, method, target, &m);
    if (!m.hit) { /* the 404 and 405 replies quote the request as it came */
        check_reply(404, "no such resource: %.200s", target);
        check_reply(405, "method %.16s not allowed here", method);
        goto out;
    }
    if (!text_valid(target, strlen(target)))
        goto out; /* 400 before any handler */
    for (size_t i = 0; i < n_args; i++) {
        if (!text_valid(keys[i], strlen(keys[i])) ||
            (vals[i] && !text_valid(vals[i], strlen(vals[i])))) {
            check_reply(400, "query argument '%.64s' is not valid UTF-8", keys[i]);
            goto out;
        }
    }
    int64_t v;
    int dry;
    const char *tail = target + m.tail_off;
    if (m.hit->prefix) {
        if (api_arg_run_id(tail, &v, why, sizeof why) == 0)
            FZ_ASSERT(v >= 1, "run id %lld from '%s'", (long long)v, tail);
        else
            check_reply(400, "%s", why);
    } else if (strcmp(m.hit->path, "/v1/reconciliation/history") == 0) {
        if (api_arg_limit(arg_of(keys, vals, n_args, "limit"), &v, why, sizeof why) == 0)
            FZ_ASSERT(v >= 1 && v <= 1000, "limit %lld", (long long)v);
        else
            check_reply(400, "%s", why);
        if (api_arg_before(arg_of(keys, vals, n_args, "before"), &v, why, sizeof why) == 0)
            FZ_ASSERT(v >= 0, "before %lld", (long long)v);
        else
            check_reply(400, "%s", why);
        static const char *const times[] = { "since", "until" };
        for (size_t i = 0; i < 2; i++) {
            const char *t = arg_of(keys, vals, n_args, times[i]);
            if (api_arg_time(times[i], t, why, sizeof why) == 0)
                FZ_ASSERT(!t || !*t || (strlen(t) >= 10 && t[4] == '-'), "%s '%s'", times[i], t);
            else
                check_reply(400, "%s", why);
        }
        if (api_arg_choice("status", arg_of(keys, vals, n_args, "status"), "a|b", why,
                           sizeof why) != 0)
            check_reply(400, "%s", why);
    } else if (strcmp(m.hit->path, "/v1/reconciliation/run") == 0) {
        if (api_arg_dry_run(arg_of(keys, vals, n_args, "dryRun"), &dry, why, sizeof why) == 0)
            FZ_ASSERT(dry == 0 || dry == 1, "dryRun %d", dry);
        else
            check_reply(400, "%s", why);
    }
out:
    free(method);
    free(target);
    return 0;
}
