/* SPDX-License-Identifier: MIT */
/*
 * test_history_absent.c - a lookup tells "absent" from "failed":
 * history_get is 0 for a run the store does not hold and -1 when the store
 * cannot be read (here: a file whose table pages are damaged, its first
 * page intact, so that it still opens). The API answers 404 for the one
 * and 500 with the error for the other; `reconciler history --run N` exits
 * 2 for the one and 5 (local history store error) for the other.
 */
#include "helpers.h"
#include "th_http.h"
#include "engine/history.h"
#include "service/api.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUN(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* TMP/name with one finished run (id 1) whose result fills a few pages; its path. */
static char *store_with_a_run(const char *name)
{
    char err[512], *path = th_path(th_tmpdir(), name);
    history *h = NULL;
    cr_assert_eq(history_open(path, 100, HISTORY_BUSY_DEFAULT_MS, &h, err, sizeof err), 0, "%s",
                 err);
    int64_t id = 0;
    cr_assert_eq(history_begin(h, "manual", 0, 1000, &id), 0, "%s", history_error(h));
    cr_assert_eq(id, 1);
    char *big = calloc(1, 20000);
    memset(big, 'x', 19999);
    json_t *r = json_pack("{s:s, s:I, s:s}", "status", "success", "runId", (json_int_t)id,
                          "note", big);
    cr_assert_eq(history_finish(h, id, 1010, r), 0, "%s", history_error(h));
    json_decref(r);
    free(big);
    history_close(h); /* the last connection: the WAL is checkpointed into the file */
    return path;
}

/* Overwrite every page but the first (the schema) with garbage. */
static void damage_pages(const char *path)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    unsigned char hdr[18];
    cr_assert_eq(pread(fd, hdr, sizeof hdr, 0), (ssize_t)sizeof hdr);
    size_t page = (size_t)hdr[16] << 8 | hdr[17];
    page = page == 1 ? 65536 : page;
    off_t end = lseek(fd, 0, SEEK_END);
    cr_assert_gt(end, (off_t)page, "the store has a single page");
    char *junk = malloc((size_t)end - page);
    memset(junk, 0xA5, (size_t)end - page);
    cr_assert_eq(pwrite(fd, junk, (size_t)end - page, (off_t)page), (ssize_t)(end - page));
    free(junk);
    close(fd);
}

Test(history_absent, get_tells_absent_from_failed)
{
    char err[512];
    char *path = store_with_a_run("h.db");
    history *h = NULL;
    cr_assert_eq(history_open_read(path, &h, err, sizeof err), 0, "%s", err);
    json_t *r = NULL;
    cr_assert_eq(history_get(h, 1, &r), 1, "%s", history_error(h));
    json_decref(r);
    cr_assert_eq(history_get(h, 2, &r), 0, "absent is not an error: %s", history_error(h));
    cr_assert_null(r);
    history_close(h);

    damage_pages(path);
    cr_assert_eq(history_open_read(path, &h, err, sizeof err), 0, "%s", err);
    cr_assert_eq(history_get(h, 1, &r), -1, "a damaged store read as %s",
                 r ? "a run" : "no such run");
    cr_assert_null(r);
    cr_assert_neq(history_error(h)[0], '\0');
    history_close(h);
    free(path);
}

/* GET path from an API server whose history handle is on path; the response. */
static void api_get(const char *hist, const char *path, th_response *out)
{
    char err[512], listen[64];
    history *h = NULL;
    cr_assert_eq(history_open_read(hist, &h, err, sizeof err), 0, "%s", err);
    int port = th_free_port();
    cr_assert_gt(port, 0);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    api_deps deps = { .h = h, .listen = listen };
    http_server *srv = NULL;
    cr_assert_eq(api_start(&deps, &srv, err, sizeof err), 0, "%s", err);
    cr_assert_eq(th_http(port, "GET", path, NULL, NULL, out), 0);
    http_stop(srv);
    history_close(h);
}

Test(history_absent, api_404_for_absent_500_for_failed)
{
    char *path = store_with_a_run("api.db");
    th_response r;
    api_get(path, "/v1/reconciliation/runs/1", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    th_response_free(&r);
    api_get(path, "/v1/reconciliation/runs/2", &r);
    cr_assert_eq(r.status, 404, "%s", r.body);
    th_response_free(&r);

    damage_pages(path);
    api_get(path, "/v1/reconciliation/runs/1", &r);
    cr_assert_eq(r.status, 500, "a damaged store answered %d: %s", r.status, r.body);
    cr_assert(strstr(r.body, "cannot read run 1 from the history"), "%s", r.body);
    th_response_free(&r);
    free(path);
}

Test(history_absent, cli_exit_2_for_absent_5_for_failed)
{
    char *hist = store_with_a_run("cli.db"), *yaml = th_path(th_tmpdir(), "p.yaml"), *text;
    /* Relative paths: the pipeline file sits beside the store. */
    cr_assert_neq(asprintf(&text, "database:\n  url: \"sqlite:bot.db\"\nhistory:\n  path: cli.db\n"
                           "plugin_dir: %s\nsteps:\n  - plugin: fixture\n",
                           th_build_path("tests/plugins")), -1);
    th_write(yaml, text);
    char *out, *err;
    cr_assert_eq(th_run_cli(RUN("history", "--run", "1", "-c", yaml), NULL, &out, &err), 0, "%s",
                 err);
    free(out); free(err);
    cr_assert_eq(th_run_cli(RUN("history", "--run", "2", "-c", yaml), NULL, &out, &err), 2, "%s",
                 err);
    cr_assert(strstr(err, "no finished run 2"), "%s", err);
    free(out); free(err);

    damage_pages(hist);
    cr_assert_eq(th_run_cli(RUN("history", "--run", "1", "-c", yaml), NULL, &out, &err), 5,
                 "a damaged store: %s", err);
    cr_assert(strstr(err, "cannot read run 1"), "%s", err);
    free(out); free(err);
    free(text); free(yaml); free(hist);
}
