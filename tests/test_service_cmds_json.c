/* SPDX-License-Identifier: MIT */
/*
 * test_service_cmds_json.c - `reconciler reload` and `status` with a
 * pipeline file that does not load (the moment a reload is refused) and
 * --log-format json: every stderr line is a JSON object, the note that the
 * file does not load and the error both; without it, plain text as before.
 * The real binary; no service answers on the file's http.listen.
 */
#include "helpers.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A file that does not load, naming an http.listen where nothing listens. */
static char *broken_file(void)
{
    char *yaml = th_path(th_tmpdir(), "broken.yaml");
    th_write(yaml, "database: { url: \"sqlite:bot.db\" }\nhttp:\n  listen: 127.0.0.1:1\n"
                   "steps: [\n");
    return yaml;
}

/* Every line of err is a JSON object; how many have a msg holding needle. */
static int json_lines_saying(const char *err, const char *needle)
{
    char *copy = strdup(err), *save = NULL;
    int found = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(line, 0, NULL);
        cr_assert_not_null(o, "not a JSON line: %s\n(all of it: %s)", line, err);
        const char *msg = json_string_value(json_object_get(o, "msg"));
        found += msg && strstr(msg, needle) != NULL;
        json_decref(o);
    }
    free(copy);
    return found;
}

Test(service_cmds_json, broken_file_notes_are_json_lines, .timeout = 30)
{
    char *yaml = broken_file(), *out = NULL, *err = NULL;
    static const char *const cmds[] = { "reload", "status", "trigger" };
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        const char *const args[] = { cmds[i], "--log-format", "json", "-c", yaml, NULL };
        int rc = th_run_cli(args, NULL, &out, &err);
        cr_assert_eq(rc, 6, "%s: exit %d: %s", cmds[i], rc, err);
        cr_assert_eq(json_lines_saying(err, "does not load"), 1, "%s: %s", cmds[i], err);
        cr_assert_eq(json_lines_saying(err, "does not answer"), 1, "%s: %s", cmds[i], err);
        free(out);
        free(err);
    }
    /* The other side: without --log-format json, the same as text lines. */
    const char *const args[] = { "reload", "-c", yaml, NULL };
    int rc = th_run_cli(args, NULL, &out, &err);
    cr_assert_eq(rc, 6, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(err, "reconciler: note: "), "%s", err);
    cr_assert_not_null(strstr(err, "does not load"), "%s", err);
    cr_assert_eq(err[0], 'r', "%s", err);
    free(out);
    free(err);
    free(yaml);
}
