/* SPDX-License-Identifier: MIT */
/*
 * test_worker_proto.c - the worker protocol checks its version and the JSON
 * type of every field it reads, on both sides: the real binary started as a
 * worker (`reconciler __worker`) with a hand-written assignment on its
 * standard input, and a supervisor (run --once) whose worker, a script
 * named by RECONCILER_WORKER (test builds only), says a hand-written hello.
 * A missing or mistyped field is refused with its name, never read as 0.
 */
#include "helpers.h"
#include "engine/proto.h"

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Start the built reconciler as a worker, write input (one line) on its
 * standard input and close it; its replies on fd 3 in *replies (malloc'd),
 * its stderr in *err; returns its exit code.
 */
static int run_worker(const char *input, char **replies, char **err)
{
    int in[2], out[2];
    char *bin = th_path(th_build(), "reconciler"), *errp = th_path(th_tmpdir(), "worker.err");
    cr_assert_eq(pipe(in), 0);
    cr_assert_eq(pipe(out), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* Out of the way of 0..3 first, so that no dup2 below overwrites another. */
        int i = fcntl(in[0], F_DUPFD, 10), o = fcntl(out[1], F_DUPFD, 10);
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (i < 0 || o < 0 || e < 0 || dup2(i, 0) < 0 || dup2(o, WORKER_REPLY_FD) < 0 ||
            dup2(e, 2) < 0)
            _exit(127);
        /* Only 0, 2 and 3: a write end of its own input left open would never let it
         * see the end of that input. */
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        close(i);
        close(o);
        close(e);
        execl(bin, "reconciler", WORKER_COMMAND, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    size_t len = strlen(input);
    cr_assert_eq(write(in[1], input, len), (ssize_t)len);
    cr_assert_eq(write(in[1], "\n", 1), 1);
    close(in[1]);
    char *buf = calloc(1, 1);
    size_t n = 0;
    for (;;) {
        char chunk[4096];
        ssize_t got = read(out[0], chunk, sizeof chunk);
        if (got <= 0)
            break;
        buf = realloc(buf, n + (size_t)got + 1);
        memcpy(buf + n, chunk, (size_t)got);
        n += (size_t)got;
        buf[n] = '\0';
    }
    close(out[0]);
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    *replies = buf;
    *err = th_read(errp);
    free(bin);
    free(errp);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The worker refuses input: exit 2, and its one reply is a fatal naming want. */
static void refused(const char *input, const char *want)
{
    char *replies = NULL, *err = NULL;
    int rc = run_worker(input, &replies, &err);
    cr_assert_eq(rc, 2, "exit %d for %s\nreplies: %s\nstderr: %s", rc, input, replies, err);
    json_t *j = json_loads(replies, JSON_DISABLE_EOF_CHECK, NULL);
    cr_assert_not_null(j, "no reply: %s", replies);
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "fatal", "%s", replies);
    const char *e = json_string_value(json_object_get(j, "error"));
    cr_assert(e && strstr(e, want), "the worker's error does not say %s:\n%s", want, replies);
    cr_assert(strstr(err, want), "its log does not say %s:\n%s", want, err);
    json_decref(j);
    free(replies);
    free(err);
}

/*
 * A whole assignment in mode run on a SQLite file, with one field replaced
 * (field "keys.values.database.connect_timeout" style, value as JSON text;
 * NULL value: the field deleted). Its step's plugin is the build's own
 * (the in-tree default plugin_dir).
 */
static char *assignment(const char *field, const char *value)
{
    char abs[PATH_MAX], *path, *dbfile, *text = NULL;
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    path = th_path(abs, "p.yaml");
    dbfile = th_path(abs, "w.db");
    cr_assert_neq(asprintf(&text, "database:\n  url: \"sqlite:%s\"\nsteps:\n  - plugin: leases\n", dbfile), -1);
    th_write(path, text);
    json_t *a = json_pack(
        "{s:i, s:s, s:{s:s, s:s}, s:{s:{s:s+, s:n, s:n, s:i, s:i, s:i, s:s}, s:{s:[i, i]}},"
        " s:{s:i, s:i}, s:b, s:{s:i, s:i, s:s, s:s}}",
        "v", PROTO_VERSION, "mode", "run", "config", "path", path, "text", text,
        "keys", "values", "database.url", "sqlite:", dbfile, "database.password_env",
        "database.password_file", "database.connect_timeout", 10000, "database.read_timeout",
        300000, "database.write_timeout", 60000, "database.time_zone", "server",
        "at", "database.url", 2, 8,
        "log", "level", 2, "format", 0, "dryRun", 1,
        "clock", "unix", 1700000000, "offset", 0, "text", "2023-11-14 22:13:20", "zone", "UTC");
    cr_assert_not_null(a);
    if (field) {
        /* One level of nesting, or a key of the table's (whose name holds dots). */
        json_t *parent = a;
        const char *leaf = field, *dot = strchr(field, '.');
        char part[64];
        if (strncmp(field, "keys.values.", 12) == 0 || strncmp(field, "keys.at.", 8) == 0) {
            parent = json_object_get(json_object_get(a, "keys"), field[5] == 'v' ? "values" : "at");
            leaf = field + (field[5] == 'v' ? 12 : 8);
        } else if (dot) {
            snprintf(part, sizeof part, "%.*s", (int)(dot - field), field);
            parent = json_object_get(a, part);
            leaf = dot + 1;
        }
        cr_assert_not_null(parent, "%s", field);
        if (value)
            json_object_set_new(parent, leaf, json_loads(value, JSON_DECODE_ANY, NULL));
        else
            json_object_del(parent, leaf);
    }
    char *line = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    free(text);
    free(path);
    free(dbfile);
    return line;
}

Test(worker_proto, another_version_is_refused)
{
    char *a = assignment("v", "1");
    refused(a, "the assignment: field 'v' says protocol version 1; this reconciler speaks "
               "version 2");
    free(a);
    a = assignment("v", NULL);
    refused(a, "the assignment: field 'v' must be an integer, got nothing");
    free(a);
}

Test(worker_proto, a_missing_field_is_named_not_read_as_zero)
{
    static const struct {
        const char *field, *want;
    } cases[] = {
        { "log.level", "the assignment: field 'log.level' must be an integer, got nothing" },
        { "mode", "the assignment: field 'mode' must be a string, got nothing" },
        { "dryRun", "the assignment: field 'dryRun' must be a boolean, got nothing" },
        { "clock.unix", "the assignment: field 'clock.unix' must be an integer, got nothing" },
        { "config.text", "the assignment: field 'config.text' must be a string, got nothing" },
        { "keys", "the assignment: field 'keys' must be an object, got nothing" },
        { "keys.values.database.time_zone", "the assignment: 'keys.values' has no "
                                            "'database.time_zone'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *a = assignment(cases[i].field, NULL);
        refused(a, cases[i].want);
        free(a);
    }
}

Test(worker_proto, a_field_of_another_type_is_named)
{
    static const struct {
        const char *field, *value, *want;
    } cases[] = {
        { "log.level", "\"2\"", "the assignment: field 'log.level' must be an integer, got a string" },
        { "log.level", "7", "the assignment: field 'log.level' must be 0 to 3, got 7" },
        { "mode", "\"walk\"", "the assignment: field 'mode' must be run, probe, inspect or "
                              "describe, got 'walk'" },
        { "dryRun", "1", "the assignment: field 'dryRun' must be a boolean, got an integer" },
        { "clock.text", "null", "the assignment: field 'clock.text' must be a string, got null" },
        { "lock", "{\"name\": \"x\", \"ttlMs\": 1}",
          "the assignment: field 'lock.holder' must be a string, got nothing" },
        { "keys.values.database.connect_timeout", "\"10s\"",
          "the assignment: 'keys.values' 'database.connect_timeout' must be an integer in its "
          "range, got a string" },
        { "keys.at.database.url", "[2]",
          "the assignment: 'keys.at' 'database.url' must be [line, column], got an array" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *a = assignment(cases[i].field, cases[i].value);
        refused(a, cases[i].want);
        free(a);
    }
}

/* The other side: the whole assignment is taken, and the hello says the version. */
Test(worker_proto, a_whole_assignment_gets_a_hello_of_this_version)
{
    char *a = assignment(NULL, NULL), *replies = NULL, *err = NULL;
    int rc = run_worker(a, &replies, &err);
    cr_assert_eq(rc, 0, "exit %d\nreplies: %s\nstderr: %s", rc, replies, err);
    json_t *j = json_loads(replies, JSON_DISABLE_EOF_CHECK, NULL);
    cr_assert_not_null(j, "%s", replies);
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "hello", "%s", replies);
    cr_assert_eq(json_integer_value(json_object_get(j, "v")), PROTO_VERSION, "%s", replies);
    cr_assert(json_is_integer(json_object_get(j, "connectionId")), "%s", replies);
    json_decref(j);
    free(a);
    free(replies);
    free(err);
}

/*
 * The supervisor's side: a worker (a script, as RECONCILER_WORKER lets a
 * test build start) whose hello is hand-written. run --once refuses it,
 * naming the field, and the run does not go on with a connection id of 0.
 */
static void supervisor_refuses_hello(const char *hello, const char *want)
{
    rig r;
    char *script = th_path(th_tmpdir(), "worker.sh"), *text = NULL, *out = NULL, *err = NULL;
    rig_up(&r, DB_SQLITE, "tests/plugins", "  - plugin: fixture\n");
    cr_assert_neq(asprintf(&text, "#!/bin/sh\necho '%s' >&3\nexec cat >/dev/null\n", hello), -1);
    th_write(script, text);
    cr_assert_eq(chmod(script, 0755), 0);
    char *env_kv = NULL;
    cr_assert_neq(asprintf(&env_kv, "RECONCILER_WORKER=%s", script), -1);
    const char *env[] = { env_kv, NULL };
    const char *args[] = { "run", "--once", "-c", r.yaml, NULL };
    int rc = th_run_cli(args, env, &out, &err);
    cr_assert_neq(rc, 0, "a run with the hello %s went on:\n%s\n%s", hello, out, err);
    cr_assert(strstr(err, want), "run --once does not say %s:\n%s", want, err);
    free(env_kv);
    free(text);
    free(out);
    free(err);
    free(script);
    rig_down(&r);
}

Test(worker_proto, supervisor_refuses_a_hello_of_another_version)
{
    supervisor_refuses_hello("{\"type\":\"hello\",\"v\":1,\"pid\":1,\"connectionId\":0}",
                             "the step worker's hello: field 'v' says protocol version 1; "
                             "this reconciler speaks version 2");
}

Test(worker_proto, supervisor_refuses_a_hello_without_its_fields)
{
    supervisor_refuses_hello("{\"type\":\"hello\",\"v\":2,\"pid\":1}",
                             "the step worker's hello: field 'connectionId' must be an integer, "
                             "got nothing");
    supervisor_refuses_hello("{\"type\":\"hello\",\"v\":2,\"pid\":\"1\",\"connectionId\":0}",
                             "the step worker's hello: field 'pid' must be an integer, got a "
                             "string");
}

/*
 * A step's reply with a field of another type fails the step with the
 * field's name (it was read as 0 before). The script hands the plugin
 * inspection to the real worker and answers the run itself.
 */
Test(worker_proto, supervisor_fails_a_step_whose_reply_is_mistyped, .timeout = 60)
{
    rig r;
    char *script = th_path(th_tmpdir(), "worker.sh"), *text = NULL, *out = NULL, *err = NULL;
    char *real = th_path(th_build(), "reconciler");
    rig_up(&r, DB_SQLITE, "tests/plugins", "  - plugin: fixture\n");
    cr_assert_neq(asprintf(&text,
        "#!/bin/sh\n"
        "IFS= read -r line\n"
        "case \"$line\" in\n"
        "*'\"mode\":\"run\"'*)\n"
        "  echo '{\"type\":\"hello\",\"v\":%d,\"pid\":1,\"connectionId\":0}' >&3\n"
        "  IFS= read -r cmd\n"
        "  echo '{\"type\":\"step\",\"index\":0,\"status\":\"ok\",\"durationMs\":\"5\","
        "\"rowsChanged\":0,\"retries\":0,\"changesRecorded\":0,\"unrecordedChanges\":0,"
        "\"results\":{},\"error\":null}' >&3\n"
        "  exec cat >/dev/null ;;\n"
        "*) { printf '%%s\\n' \"$line\"; cat; } | '%s' " WORKER_COMMAND " ;;\n"
        "esac\n", PROTO_VERSION, real), -1);
    th_write(script, text);
    cr_assert_eq(chmod(script, 0755), 0);
    char *env_kv = NULL;
    cr_assert_neq(asprintf(&env_kv, "RECONCILER_WORKER=%s", script), -1);
    const char *env[] = { env_kv, NULL };
    const char *args[] = { "run", "--once", "--json", "-c", r.yaml, NULL };
    int rc = th_run_cli(args, env, &out, &err);
    cr_assert_eq(rc, 1, "exit %d:\n%s\n%s", rc, out, err);
    json_t *res = json_loads(out, 0, NULL);
    cr_assert_not_null(res, "%s\n%s", out, err);
    json_t *step = json_array_get(json_object_get(res, "steps"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(step, "status")), "failed");
    const char *e = json_string_value(json_object_get(step, "error"));
    cr_assert(e && strstr(e, "the step worker's reply: field 'durationMs' must be an integer, "
                             "got a string"), "%s", out);
    json_decref(res);
    free(env_kv);
    free(text);
    free(out);
    free(err);
    free(real);
    free(script);
    rig_down(&r);
}

/* A command after the hello is checked too: a step index of another type is named. */
Test(worker_proto, a_command_of_another_type_is_named)
{
    char *a = assignment(NULL, NULL), *input = NULL, *replies = NULL, *err = NULL;
    cr_assert_neq(asprintf(&input, "%s\n{\"run\":\"0\"}", a), -1);
    int rc = run_worker(input, &replies, &err);
    cr_assert_eq(rc, 2, "exit %d\nreplies: %s\nstderr: %s", rc, replies, err);
    cr_assert(strstr(replies, "\"type\":\"hello\""), "%s", replies);
    cr_assert(strstr(replies, "the command: field 'run' must be a step's index, 0 to 0, got a "
                              "string"), "%s", replies);
    free(input);
    free(a);
    free(replies);
    free(err);
}
