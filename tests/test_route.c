/* SPDX-License-Identifier: MIT */
/*
 * test_route.c - routing and request arguments without a server: the pure
 * functions that http.c and api.c call first with every request (and that
 * tests/fuzz/http.c fuzzes). The same answers over real sockets are in
 * test_http.c and test_service.c.
 */
#include "helpers.h"
#include "service/api.h"
#include "service/http.h"

#include <stdint.h>
#include <string.h>

static void h_none(void *user, const http_request *req, http_response *resp)
{
    (void)user;
    (void)req;
    (void)resp;
}

static const http_route routes[] = {
    { "GET", "/healthz", 0, 1, h_none },
    { "GET", "/things", 0, 0, h_none },
    { "POST", "/things", 0, 0, h_none },
    { "GET", "/things", 0, 0, h_none }, /* a second GET: listed once in Allow */
    { "GET", "/runs/", 1, 0, h_none },
    { "PUT", "/open", 0, 1, h_none },
    { "GET", "/open", 0, 0, h_none },
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

static http_match find(const char *method, const char *path)
{
    http_match m;
    http_route_find(routes, N_ROUTES, method, path, &m);
    return m;
}

Test(route, exact_path_and_method)
{
    http_match m = find("GET", "/things");
    cr_assert_eq(m.hit, &routes[1]); /* the first that matches wins */
    cr_assert_eq(m.tail_off, strlen("/things"));
    cr_assert(m.path_known);
    cr_assert_not(m.open);
    cr_assert_str_eq(m.allow, "GET, HEAD, POST");
    cr_assert_eq(find("POST", "/things").hit, &routes[2]);
}

Test(route, unknown_path_and_near_misses)
{
    const char *misses[] = { "/thing", "/things/", "/thingsx", "/Things", "", "/", "/healthz?",
                             "/runs" };
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
        http_match m = find("GET", misses[i]);
        cr_assert_null(m.hit, "%s", misses[i]);
        cr_assert_not(m.path_known, "%s", misses[i]);
        cr_assert_str_eq(m.allow, "", "%s", misses[i]);
        cr_assert_not(m.open, "%s", misses[i]);
    }
}

Test(route, known_path_other_method_lists_allow)
{
    http_match m = find("DELETE", "/things");
    cr_assert_null(m.hit);
    cr_assert(m.path_known);
    cr_assert_str_eq(m.allow, "GET, HEAD, POST");
    /* Methods compare exactly, as HTTP says. */
    cr_assert_null(find("get", "/things").hit);
}

Test(route, prefix_needs_a_tail)
{
    http_match m = find("GET", "/runs/12");
    cr_assert_eq(m.hit, &routes[4]);
    cr_assert_str_eq("/runs/12" + m.tail_off, "12");
    cr_assert_null(find("GET", "/runs/").hit, "an empty tail is not the prefix route");
    cr_assert_not(find("GET", "/runs/").path_known);
    m = find("GET", "/runs//x");
    cr_assert_str_eq("/runs//x" + m.tail_off, "/x");
}

Test(route, open_is_the_hit_s_or_any_route_s_of_the_path)
{
    cr_assert(find("GET", "/healthz").open);
    cr_assert(find("POST", "/healthz").open, "a 405 on an open path needs no token");
    cr_assert(find("PUT", "/open").open);
    cr_assert_not(find("GET", "/open").open, "the hit's own flag wins");
    cr_assert(find("POST", "/open").open);
}

Test(route, no_routes)
{
    http_match m;
    http_route_find(NULL, 0, "GET", "/x", &m);
    cr_assert_null(m.hit);
    cr_assert_not(m.path_known);
}

Test(route, api_table_serves_what_the_readme_lists)
{
    size_t n;
    const http_route *r = api_routes(&n);
    http_match m;
    http_route_find(r, n, "GET", "/v1/reconciliation/runs/7", &m);
    cr_assert_not_null(m.hit);
    cr_assert_str_eq("/v1/reconciliation/runs/7" + m.tail_off, "7");
    http_route_find(r, n, "POST", "/v1/reconciliation/run", &m);
    cr_assert_not_null(m.hit);
    http_route_find(r, n, "GET", "/v1/reconciliation/run", &m);
    cr_assert_null(m.hit);
    cr_assert_str_eq(m.allow, "POST");
    http_route_find(r, n, "GET", "/readyz", &m);
    cr_assert(m.open);
    http_route_find(r, n, "GET", "/metrics", &m);
    cr_assert_not(m.open);
}

Test(api_args, limit_default_and_both_sides_of_each_bound)
{
    int64_t v = -1;
    char why[API_WHY_MAX];
    cr_assert_eq(api_arg_limit(NULL, &v, why, sizeof why), 0);
    cr_assert_eq(v, 20);
    cr_assert_eq(api_arg_limit("1", &v, why, sizeof why), 0);
    cr_assert_eq(v, 1);
    cr_assert_eq(api_arg_limit("1000", &v, why, sizeof why), 0);
    cr_assert_eq(v, 1000);
    cr_assert_eq(api_arg_limit("0", &v, why, sizeof why), -1);
    cr_assert_str_eq(why, "limit must be from 1 to 1000, got '0'");
    cr_assert_eq(api_arg_limit("1001", &v, why, sizeof why), -1);
    cr_assert_eq(api_arg_limit("5x", &v, why, sizeof why), -1);
    cr_assert_str_eq(why, "limit must be a whole number from 1 to 1000, got '5x'");
    cr_assert_eq(api_arg_limit("", &v, why, sizeof why), -1);
}

Test(api_args, before)
{
    int64_t v = -1;
    char why[API_WHY_MAX];
    cr_assert_eq(api_arg_before(NULL, &v, why, sizeof why), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(api_arg_before("1", &v, why, sizeof why), 0);
    cr_assert_eq(v, 1);
    cr_assert_eq(api_arg_before("0", &v, why, sizeof why), -1);
    cr_assert_str_eq(why, "before must be a run id, from 1 to 9223372036854775807, got '0'");
    cr_assert_eq(api_arg_before("x", &v, why, sizeof why), -1);
    cr_assert(strstr(why, "a whole number from 1"));
}

Test(api_args, run_id)
{
    int64_t v = -1;
    char why[API_WHY_MAX];
    cr_assert_eq(api_arg_run_id("1", &v, why, sizeof why), 0);
    cr_assert_eq(v, 1);
    cr_assert_eq(api_arg_run_id("9223372036854775807", &v, why, sizeof why), 0);
    cr_assert_eq(v, INT64_MAX);
    cr_assert_eq(api_arg_run_id("0", &v, why, sizeof why), -1);
    cr_assert(strstr(why, "got '0', which is out of range"));
    cr_assert_eq(api_arg_run_id("9223372036854775808", &v, why, sizeof why), -1);
    cr_assert(strstr(why, "which is out of range"));
    cr_assert_eq(api_arg_run_id("12/x", &v, why, sizeof why), -1);
    cr_assert(strstr(why, "got '12/x'") && !strstr(why, "range"));
}

Test(api_args, dry_run)
{
    int dry = -1;
    char why[API_WHY_MAX];
    cr_assert_eq(api_arg_dry_run(NULL, &dry, why, sizeof why), 0);
    cr_assert_eq(dry, 0);
    cr_assert_eq(api_arg_dry_run("false", &dry, why, sizeof why), 0);
    cr_assert_eq(dry, 0);
    cr_assert_eq(api_arg_dry_run("true", &dry, why, sizeof why), 0);
    cr_assert_eq(dry, 1);
    cr_assert_eq(api_arg_dry_run("TRUE", &dry, why, sizeof why), -1);
    cr_assert_str_eq(why, "dryRun must be true or false, got 'TRUE'");
    cr_assert_eq(api_arg_dry_run("", &dry, why, sizeof why), -1);
}
