/* SPDX-License-Identifier: MIT */
/*
 * test_config_keys.c - the key table drives what is done per key, for every
 * key: these tests walk the table itself (config_impl.h) rather than name
 * fields, so that a key added tomorrow is covered by them without an edit.
 *
 * - the checker (config_table_check_keys) refuses a broken table, naming the
 *   key and the rule;
 * - every top-level key is kept by a reload when CFG_BOUND and taken when
 *   not, and reaches a worker when CFG_WORKER and only then;
 * - every CFG_ENVNAME key is listed by config_each_env_name (what validate and
 *   doctor check), every CFG_SECRET key is redacted in GET /v1/service/config.
 */
#include "helpers.h"
#include "config/config.h"
#include "config/config_impl.h"
#include "service/reload_state.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ the checker */

/* A struct for the tables below; no field at offset 0, which means "no field" in the table. */
typedef struct sample {
    int64_t first;
    int f_int;
    char *f_text;
    int64_t f_num;
} sample;

static int dummy_set(loader *ld, const cfg_key *k, yt_node *node, void *base)
{
    (void)ld, (void)k, (void)node, (void)base;
    return 0;
}

static size_t dummy_each(const void *base, const char *key, config_name_fn fn, void *user)
{
    (void)base, (void)key, (void)fn, (void)user;
    return 0;
}

/* A table of one good key and one broken one: refused, naming the broken one and why. */
static void refused(const cfg_key *bad, int top, const char *want)
{
    char err[512] = "";
    const cfg_key keys[] = {
        { "good.key", RC_OPT_STRING, NULL, "fine", offsetof(sample, f_text) },
        *bad,
    };
    const key_table t = { keys, 2, "" };
    cr_assert_eq(config_table_check_keys(&t, "x[].", top, err, sizeof err), -1,
                 "'%s' accepted", bad->path);
    cr_assert_str_eq(err, want);
    /* The same table without the broken key passes: the refusal is the key's. */
    const key_table good = { keys, 1, "" };
    cr_assert_eq(config_table_check_keys(&good, "x[].", top, err, sizeof err), 0, "%s", err);
}

Test(config_keys, the_checker_refuses_a_scope_below_the_top)
{
    const cfg_key k = { "deep", RC_OPT_INT, "1", "d", offsetof(sample, f_num), .max = 9,
                        .scope = CFG_BOUND };
    refused(&k, 0, "key 'x[].deep' has a scope but is not a top-level key");
}

Test(config_keys, the_checker_refuses_a_worker_key_with_a_setter)
{
    const cfg_key k = { "list", 0, NULL, "l", offsetof(sample, f_text), .set = dummy_set,
                        .type_text = "list", .scope = CFG_BOUND | CFG_WORKER };
    refused(&k, 1, "key 'x[].list' has a scope but no plain field (a type, an offset, "
                   "no setter)");
}

Test(config_keys, the_checker_refuses_half_a_position)
{
    const cfg_key k = { "url", RC_OPT_STRING, NULL, "u", offsetof(sample, f_text),
                        .at_line = offsetof(sample, f_int) };
    refused(&k, 1, "key 'x[].url' keeps half a position");
}

Test(config_keys, the_checker_refuses_an_envname_on_a_non_string)
{
    const cfg_key num = { "count_env", RC_OPT_INT, "1", "n", offsetof(sample, f_num),
                          .max = 9, .holds = CFG_ENVNAME };
    refused(&num, 1, "key 'x[].count_env' is CFG_ENVNAME but neither a plain string field "
                     "nor has each_env to list what its setter built");
    const cfg_key map = { "headers", 0, NULL, "h", 0, .set = dummy_set,
                          .type_text = "mapping", .holds = CFG_ENVNAME };
    refused(&map, 1, "key 'x[].headers' is CFG_ENVNAME but neither a plain string field "
                     "nor has each_env to list what its setter built");
    /* The other side: the same mapping with a lister is fine. */
    char err[256] = "";
    const cfg_key listed[] = { { "headers", 0, NULL, "h", 0, .set = dummy_set,
                                 .type_text = "mapping", .holds = CFG_ENVNAME,
                                 .each_env = dummy_each } };
    const key_table t = { listed, 1, "" };
    cr_assert_eq(config_table_check_keys(&t, "", 1, err, sizeof err), 0, "%s", err);
}

Test(config_keys, the_checker_refuses_an_envname_that_may_echo_a_secret)
{
    const cfg_key k = { "pw_env", RC_OPT_STRING, NULL, "p", offsetof(sample, f_text),
                        .holds = CFG_ENVNAME };
    refused(&k, 1, "key 'x[].pw_env' is CFG_ENVNAME but does not check its value as a "
                   "variable's name without quoting it (.check = check_env_name, K_NO_ECHO)");
}

Test(config_keys, the_checker_refuses_a_lister_without_the_flag)
{
    const cfg_key k = { "headers", 0, NULL, "h", 0, .set = dummy_set, .type_text = "mapping",
                        .each_env = dummy_each };
    refused(&k, 1, "key 'x[].headers' has each_env but is not CFG_ENVNAME");
}

Test(config_keys, the_checker_refuses_a_secret_that_is_not_text)
{
    const cfg_key num = { "pin", RC_OPT_INT, "1", "p", offsetof(sample, f_num), .max = 9,
                          .holds = CFG_SECRET };
    refused(&num, 1, "key 'x[].pin' is CFG_SECRET but its value is not text (a string type, "
                     "not a choice)");
    const cfg_key choice = { "mode", RC_OPT_STRING, "a", "m", offsetof(sample, f_int),
                             K_INDEX, .choices = "a|b", .holds = CFG_SECRET };
    refused(&choice, 1, "key 'x[].mode' is CFG_SECRET but its value is not text (a string "
                        "type, not a choice)");
    const cfg_key list = { "tokens", 0, NULL, "t", 0, .set = dummy_set, .type_text = "list",
                           .holds = CFG_SECRET };
    refused(&list, 1, "key 'x[].tokens' is CFG_SECRET but its value is not text (a string "
                      "type, not a choice)");
}

Test(config_keys, the_checker_refuses_a_redaction_without_the_flag)
{
    const cfg_key k = { "url", RC_OPT_STRING, NULL, "u", offsetof(sample, f_text),
                        .redact = CFG_REDACT_URL };
    refused(&k, 1, "key 'x[].url' has a redaction but is not CFG_SECRET");
}

Test(config_keys, the_checker_refuses_a_secret_variable_name)
{
    const cfg_key k = { "key_env", RC_OPT_STRING, NULL, "k", offsetof(sample, f_text),
                        .holds = CFG_ENVNAME | CFG_SECRET };
    refused(&k, 1, "key 'x[].key_env' is both CFG_ENVNAME and CFG_SECRET: a variable's name "
                   "is shown, a secret is not");
}

/* ------------------------------------------------ scopes, for every key */

static const char base_text[] =
    "database:\n  url: \"sqlite:a.db\"\n"
    "steps:\n  - plugin: leases\n";

/* The keys whose value the generic code moves: a type, an offset, no setter. */
static int plain(const cfg_key *k)
{
    return k->type && k->off && !k->set;
}

static void *field(const cfg_key *k, config *c)
{
    return (char *)c + k->off;
}

/* Give every plain key of c another value than it had (and another position). */
static void change_every_key(config *c)
{
    const key_table *t = config_top_table();
    for (size_t i = 0; i < t->n; i++) {
        const cfg_key *k = &t->keys[i];
        void *x = field(k, c);
        if (!plain(k))
            continue;
        if (k->flags & K_INDEX) {
            *(int *)x = *(int *)x == 0 ? 1 : 0;
        } else {
            switch (k->type) {
            case RC_OPT_STRING: {
                char **s = x;
                char v[64];
                snprintf(v, sizeof v, "changed-%zu", i);
                free(*s);
                *s = strdup(v);
                break;
            }
            case RC_OPT_INT:
            case RC_OPT_DURATION: *(int64_t *)x += 1; break;
            case RC_OPT_BOOL: *(int *)x = !*(int *)x; break;
            case RC_OPT_DOUBLE: *(double *)x += 1; break;
            }
        }
        if (k->at_line) {
            *(int *)((char *)c + k->at_line) += 100;
            *(int *)((char *)c + k->at_col) += 100;
        }
    }
}

static int same_position(const cfg_key *k, config *a, config *b)
{
    return !k->at_line ||
           (*(int *)((char *)a + k->at_line) == *(int *)((char *)b + k->at_line) &&
            *(int *)((char *)a + k->at_col) == *(int *)((char *)b + k->at_col));
}

typedef struct named {
    char keys[2048];
} named;

static void note(void *user, const char *key)
{
    named *n = user;
    size_t len = strlen(n->keys);
    snprintf(n->keys + len, sizeof n->keys - len, "%s,", key);
}

/*
 * A reload whose file changes every key: each CFG_BOUND key keeps the
 * running value (and position) and is named, each other key takes the new
 * one and is not.
 */
Test(config_keys, every_key_is_bound_or_reloadable_as_the_table_says)
{
    config *run = th_config_text("run.yaml", base_text);
    config *next = th_config_text("next.yaml", base_text);
    const key_table *t = config_top_table();
    named n = { "" };
    change_every_key(next);
    config_keep_bound(next, run, note, &n);
    size_t bound = 0, reloadable = 0;
    for (size_t i = 0; i < t->n; i++) {
        const cfg_key *k = &t->keys[i];
        char item[128];
        snprintf(item, sizeof item, "%.120s,", k->path);
        int was_named = strstr(n.keys, item) != NULL;
        if (!plain(k)) {
            cr_assert_not(was_named, "%s has no plain field but was kept", k->path);
            continue;
        }
        if (k->scope & CFG_BOUND) {
            bound++;
            cr_assert(was_named, "bound key %s not named: %s", k->path, n.keys);
            cr_assert(config_key_same(k, next, run), "bound key %s took the new value", k->path);
            cr_assert(same_position(k, next, run), "bound key %s: position not kept", k->path);
        } else {
            reloadable++;
            cr_assert_not(was_named, "reloadable key %s named: %s", k->path, n.keys);
            cr_assert_not(config_key_same(k, next, run), "reloadable key %s kept the old value",
                          k->path);
        }
    }
    /* Both kinds exist, so that neither branch above is vacuous. */
    cr_assert_gt(bound, 0);
    cr_assert_gt(reloadable, 0);
    config_free(run);
    config_free(next);
}

/*
 * The worker hand-off, through text as over the pipe: a worker whose own
 * file says something else for every key takes the supervisor's value of each
 * CFG_WORKER key and of no other.
 */
Test(config_keys, every_worker_key_and_only_those_reach_the_worker)
{
    config *sup = th_config_text("sup.yaml", base_text);
    config *wrk = th_config_text("wrk.yaml", base_text);
    const key_table *t = config_top_table();
    char err[512] = "";
    change_every_key(wrk);
    json_t *keys = config_keys_json(sup, CFG_WORKER);
    char *line = json_dumps(keys, JSON_COMPACT);
    json_t *back = json_loads(line, 0, NULL);
    cr_assert_not_null(back, "%s", line);
    cr_assert_eq(config_keys_take(wrk, back, CFG_WORKER, err, sizeof err), 0, "%s", err);
    size_t workers = 0, others = 0;
    for (size_t i = 0; i < t->n; i++) {
        const cfg_key *k = &t->keys[i];
        int sent = json_object_get(json_object_get(keys, "values"), k->path) != NULL;
        if (!plain(k))
            continue;
        if (k->scope & CFG_WORKER) {
            workers++;
            cr_assert(sent, "worker key %s not sent: %s", k->path, line);
            cr_assert(config_key_same(k, wrk, sup), "worker key %s did not reach the worker",
                      k->path);
            cr_assert(same_position(k, wrk, sup), "worker key %s: position lost", k->path);
        } else {
            others++;
            cr_assert_not(sent, "%s sent to workers: %s", k->path, line);
            cr_assert_not(config_key_same(k, wrk, sup), "%s reached the worker", k->path);
        }
    }
    cr_assert_gt(workers, 0);
    cr_assert_gt(others, 0);
    free(line);
    json_decref(back);
    json_decref(keys);
    config_free(sup);
    config_free(wrk);
}

/* ---------------------------------------------- variables and secrets */

typedef struct listed {
    char text[2048];
} listed;

static void list_var(void *user, const char *key, const char *var)
{
    listed *l = user;
    size_t len = strlen(l->text);
    snprintf(l->text + len, sizeof l->text - len, "%s=%s\n", key, var);
}

/* What validate and doctor check: every variable the file names, in the table's order. */
Test(config_keys, every_variable_the_file_names_is_listed)
{
    config *c = th_config_text("vars.yaml",
                          "database:\n  url: \"sqlite:a.db\"\n  password_env: V_PW\n"
                          "http:\n  token_env: V_TOKEN\n"
                          "tracing:\n  headers_env: V_OTLP\n"
                          "notify:\n  - url: https://hooks.example/a\n    secret_env: V_HOOK\n"
                          "    headers:\n      X-Token: V_HDR\n      X-Other: V_HDR2\n"
                          "  - url: https://hooks.example/b\n"
                          "steps:\n  - plugin: leases\n");
    listed l = { "" };
    cr_assert_eq(config_each_env_name(c, list_var, &l), 6);
    cr_assert_str_eq(l.text, "database.password_env=V_PW\nhttp.token_env=V_TOKEN\n"
                             "tracing.headers_env=V_OTLP\nnotify[0].secret_env=V_HOOK\n"
                             "notify[0].headers.X-Token=V_HDR\n"
                             "notify[0].headers.X-Other=V_HDR2\n");
    config_free(c);

    /* The other side: a file that names none lists none. */
    c = th_config_text("novars.yaml", base_text);
    listed none = { "" };
    cr_assert_eq(config_each_env_name(c, list_var, &none), 0);
    cr_assert_str_eq(none.text, "");
    config_free(c);
}

/* Every top-level CFG_ENVNAME key is listed once set, whichever it is: set them all. */
Test(config_keys, every_envname_key_of_the_table_is_listed)
{
    config *c = th_config_text("allvars.yaml", base_text);
    const key_table *t = config_top_table();
    char want[2048] = "";
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const cfg_key *k = &t->keys[i];
        if (!(k->holds & CFG_ENVNAME) || k->each_env)
            continue;
        char **s = field(k, c), v[32];
        snprintf(v, sizeof v, "VAR_%zu", i);
        free(*s);
        *s = strdup(v);
        size_t len = strlen(want);
        snprintf(want + len, sizeof want - len, "%s=%s\n", k->path, v);
        n++;
    }
    cr_assert_geq(n, 3, "database.password_env, http.token_env, tracing.headers_env at least");
    listed l = { "" };
    cr_assert_eq(config_each_env_name(c, list_var, &l), n);
    cr_assert_str_eq(l.text, want);
    config_free(c);
}

/*
 * A secret written where its variable's name belongs is refused, naming the
 * key and never quoting the value: for every top-level CFG_ENVNAME key.
 */
Test(config_keys, every_envname_key_refuses_a_secret_in_its_place)
{
    const key_table *t = config_top_table();
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const cfg_key *k = &t->keys[i];
        char text[512], err[2048] = "";
        size_t sec = strcspn(k->path, ".");
        config *c = NULL;
        if (!(k->holds & CFG_ENVNAME) || k->each_env)
            continue;
        cr_assert_eq(k->path[sec], '.', "%s: a top-level key in a section", k->path);
        /* The database section holds the url too, which the file needs. */
        snprintf(text, sizeof text, "%s%.*s:\n  %s: \"pa$$-S3KRET\"\n%s",
                 strncmp(k->path, "database.", 9) == 0 ? "" : "database:\n  url: \"sqlite:a.db\"\n",
                 (int)sec, k->path, k->path + sec + 1,
                 strncmp(k->path, "database.", 9) == 0 ? "  url: \"sqlite:a.db\"\n" : "");
        strncat(text, "steps:\n  - plugin: leases\n", sizeof text - strlen(text) - 1);
        char *path = th_path(th_tmpdir(), "envname.yaml");
        th_write(path, text);
        cr_assert_eq(config_load(path, &c, err, sizeof err), -1, "%s accepted:\n%s", k->path,
                     text);
        char want[160];
        snprintf(want, sizeof want, "'%.100s' must be the name of an environment variable",
                 k->path);
        cr_assert_not_null(strstr(err, want), "%s", err);
        cr_assert_null(strstr(err, "S3KRET"), "%s", err);
        free(path);
        n++;
    }
    cr_assert_geq(n, 3);
}

/*
 * A value for each CFG_SECRET key with the secret "S3KRET" in it. A key
 * flagged secret tomorrow fails every_secret_is_redacted until it has one
 * here: the test must see it hidden.
 */
static const struct {
    const char *key;  /* prefix + path, as config_each_secret gives it */
    const char *yaml; /* a file holding it */
    const char *shown; /* what stays visible */
} secret_samples[] = {
    { "database.url",
      "database:\n  url: \"mysql://bot:S3KRET@db.example:3306/app\"\n"
      "steps:\n  - plugin: leases\n", "db.example" },
    { "tracing.endpoint",
      "database:\n  url: \"sqlite:a.db\"\n"
      "tracing:\n  enabled: false\n"
      "  endpoint: \"https://otel.example/v1/traces/S3KRET?token=S3KRET\"\n"
      "steps:\n  - plugin: leases\n", "otel.example" },
    { "notify[].url",
      "database:\n  url: \"sqlite:a.db\"\n"
      "notify:\n  - url: https://hooks.example/T0/B0/S3KRET\n    secret_env: HOOK_KEY\n"
      "  - url: https://u:S3KRET@hooks2.example/x\n"
      "steps:\n  - plugin: leases\n", "hooks.example" },
};
#define N_SAMPLES (sizeof secret_samples / sizeof secret_samples[0])

typedef struct secrets {
    char keys[16][64];
    size_t n;
} secrets;

static void note_secret(void *user, const char *prefix, const char *path, cfg_redact how)
{
    secrets *s = user;
    (void)how;
    cr_assert_lt(s->n, 16);
    snprintf(s->keys[s->n++], sizeof s->keys[0], "%.30s%.30s", prefix, path);
}

/* GET /v1/service/config's body for c: what reload_state_config_json returns. */
static char *config_body(const config *c)
{
    reload_state rs;
    reload_state_init(&rs);
    reload_state_loaded(&rs, c, 0);
    json_t *j = reload_state_config_json(&rs, c->path);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    reload_state_destroy(&rs);
    return body;
}

Test(config_keys, every_secret_is_redacted_in_the_config_endpoint)
{
    secrets s = { .n = 0 };
    config_each_secret(note_secret, &s);
    cr_assert_geq(s.n, 3, "database.url, tracing.endpoint and notify[].url at least");
    for (size_t i = 0; i < s.n; i++) {
        size_t j = 0;
        while (j < N_SAMPLES && strcmp(secret_samples[j].key, s.keys[i]) != 0)
            j++;
        cr_assert_lt(j, N_SAMPLES, "secret key %s has no sample in secret_samples", s.keys[i]);
        config *c = th_config_text("secret.yaml", secret_samples[j].yaml);
        char *body = config_body(c);
        cr_assert_null(strstr(body, "S3KRET"), "%s shown: %s", s.keys[i], body);
        /* Redacted, not dropped: the part that is no secret is still there. */
        cr_assert_not_null(strstr(body, secret_samples[j].shown), "%s: %s", s.keys[i], body);
        free(body);
        config_free(c);
    }
    /* And the other way: each sample's key is flagged (a flag dropped would show it). */
    for (size_t j = 0; j < N_SAMPLES; j++) {
        size_t i = 0;
        while (i < s.n && strcmp(secret_samples[j].key, s.keys[i]) != 0)
            i++;
        cr_assert_lt(i, s.n, "%s is no longer CFG_SECRET", secret_samples[j].key);
    }
}

/* The other side: what is no secret (a variable's name, a path) is shown as it is. */
Test(config_keys, what_is_no_secret_is_shown_as_it_is)
{
    config *c = th_config_text("plain.yaml",
                          "database:\n  url: \"sqlite:plain-S3KRET.db\"\n"
                          "  password_env: PW_VAR\n"
                          "notify:\n  - url: https://hooks.example/x\n    secret_env: HOOK_VAR\n"
                          "steps:\n  - plugin: leases\n");
    char *body = config_body(c);
    /* An sqlite: URL is a path, with no password in it. */
    cr_assert_not_null(strstr(body, "plain-S3KRET.db"), "%s", body);
    cr_assert_not_null(strstr(body, "\"passwordEnv\":\"PW_VAR\""), "%s", body);
    cr_assert_not_null(strstr(body, "\"secretEnv\":\"HOOK_VAR\""), "%s", body);
    free(body);
    config_free(c);
}

/*
 * GET /v1/service/config shows every top-level key with a plain field, from
 * the table, under its JSON name: a key added tomorrow is shown with no code
 * for it, and the names clients read today stay.
 */
Test(config_keys, every_key_is_shown_in_the_config_endpoint)
{
    config *c = th_config_text("shown.yaml", base_text);
    const key_table *t = config_top_table();
    json_t *p = reload_state_pipeline_json(c);
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const cfg_key *k = &t->keys[i];
        char section[64] = "", name[72];
        const char *leaf = k->path;
        if (!plain(k))
            continue;
        size_t slen = strcspn(k->path, ".");
        json_t *in = p;
        if (k->path[slen] == '.') {
            config_json_name(k->path, slen, section, sizeof section);
            in = json_object_get(p, section);
            leaf += slen + 1;
        }
        config_json_name(leaf, strlen(leaf), name, sizeof name - 2);
        if (k->type == RC_OPT_DURATION)
            strcat(name, "Ms");
        cr_assert(json_is_object(in), "%s: no section '%s'", k->path, section);
        cr_assert_not_null(json_object_get(in, name), "%s is not shown as %s.%s", k->path,
                           section, name);
        n++;
    }
    cr_assert_gt(n, 20);
    /* Names and values as docs/http-api.md shows them. */
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(p, "database"), "url")),
                     "sqlite:a.db");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(p, "database"),
                                                    "connectTimeoutMs")), 10000);
    cr_assert(json_is_null(json_object_get(json_object_get(p, "database"), "passwordEnv")));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(p, "schedule"),
                                                    "intervalMs")), 6 * 3600 * 1000);
    cr_assert(json_is_true(json_object_get(json_object_get(p, "schedule"), "onStartup")));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(p, "history"), "keepRuns")),
                 1000);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(p, "log"), "level")),
                     "info");
    /* tracing.enabled unset: null, not false (the variables decide). */
    cr_assert(json_is_null(json_object_get(json_object_get(p, "tracing"), "enabled")));
    cr_assert(json_is_array(json_object_get(p, "pluginDir")));
    cr_assert_eq(json_array_size(json_object_get(p, "steps")), 1);
    cr_assert(json_is_array(json_object_get(p, "notify")));
    json_decref(p);
    config_free(c);
}

/* Steps and notify targets: their tables' keys, and what their setters build, by name. */
Test(config_keys, steps_and_targets_are_shown_in_the_config_endpoint)
{
    config *c = th_config_text("targets.yaml",
                          "database:\n  url: \"sqlite:a.db\"\n"
                          "notify:\n  - url: https://hooks.example/x\n    secret_env: HK\n"
                          "    format: slack\n    headers:\n      X-Token: HV\n"
                          "steps:\n  - plugin: leases\n    on_error: abort\n"
                          "    max_changes: 5\n  - plugin: metrics\n");
    json_t *p = reload_state_pipeline_json(c);
    json_t *s0 = json_array_get(json_object_get(p, "steps"), 0);
    json_t *s1 = json_array_get(json_object_get(p, "steps"), 1);
    char *dump = json_dumps(p, JSON_COMPACT);
    cr_assert_str_eq(json_string_value(json_object_get(s0, "name")), "leases", "%s", dump);
    cr_assert_str_eq(json_string_value(json_object_get(s0, "plugin")), "leases");
    cr_assert(json_is_true(json_object_get(s0, "enabled")));
    cr_assert_str_eq(json_string_value(json_object_get(s0, "onError")), "abort");
    cr_assert_str_eq(json_string_value(json_object_get(s1, "onError")), "continue");
    cr_assert_eq(json_integer_value(json_object_get(s0, "timeoutMs")), 600000);
    cr_assert_eq(json_integer_value(json_object_get(s0, "maxChanges")), 5);
    /* Unset: no cap, null (not the -1 it is kept as). */
    cr_assert(json_is_null(json_object_get(s1, "maxChanges")), "%s", dump);
    cr_assert(json_is_true(json_object_get(s0, "recordChanges")), "%s", dump);
    cr_assert(json_is_object(json_object_get(s0, "options")));
    cr_assert_eq(json_integer_value(json_object_get(s0, "memoryLimit")), INT64_C(1) << 30);
    json_t *n = json_array_get(json_object_get(p, "notify"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(n, "name")), "1", "%s", dump);
    cr_assert_str_eq(json_string_value(json_object_get(n, "url")), "https://hooks.example/");
    cr_assert_str_eq(json_string_value(json_object_get(n, "format")), "slack");
    cr_assert_str_eq(json_string_value(json_object_get(n, "secretEnv")), "HK");
    cr_assert_eq(json_integer_value(json_object_get(n, "timeoutMs")), 5000);
    cr_assert_eq(json_integer_value(json_object_get(n, "retries")), 2);
    cr_assert_eq(json_integer_value(json_object_get(n, "backoffMs")), 1000);
    cr_assert_eq(json_array_size(json_object_get(n, "on")), 3, "%s", dump);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(n, "headersEnv"),
                                                       "X-Token")), "HV");
    free(dump);
    json_decref(p);
    config_free(c);
}

/* validate --help names the keys whose variables it checks, from the table. */
Test(config_keys, help_names_every_envname_key)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    config_help(f);
    cr_assert_eq(fclose(f), 0);
    const char *line = strstr(text, "Keys naming a variable that holds a secret");
    cr_assert_not_null(line, "%s", text);
    const key_table *t = config_top_table();
    for (size_t i = 0; i < t->n; i++)
        if (t->keys[i].holds & CFG_ENVNAME)
            cr_assert_not_null(strstr(line, t->keys[i].path), "%s", line);
    cr_assert_not_null(strstr(line, "notify[].secret_env, notify[].headers."), "%s", line);
    /* The other side: a key that names no variable is not there. */
    cr_assert_null(strstr(line, "database.url"), "%s", line);
    free(text);
}

/*
 * `reconciler validate` warns for every variable the file names and this
 * environment lacks, the ones no test named before too (tracing.headers_env,
 * notify[].headers), and for none once they are set.
 */
Test(config_keys, validate_warns_for_every_unset_variable, .timeout = 30)
{
    char *out = NULL, *err = NULL, *text = NULL;
    char *plugins = strdup(th_build_path("tests/plugins"));
    char *yaml = th_path(th_tmpdir(), "v.yaml");
    char abs[PATH_MAX];
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    char *dbp = th_path(abs, "v.db");
    cr_assert_neq(asprintf(&text, "database:\n  url: \"sqlite:%s\"\n  password_env: CKV_PW\n"
                           "plugin_dir: %s\n"
                           "tracing:\n  enabled: false\n  headers_env: CKV_OTLP\n"
                           "notify:\n  - url: https://hooks.example/x\n"
                           "    headers:\n      X-Token: CKV_HDR\n"
                           "steps:\n  - plugin: fixture\n", dbp, plugins), -1);
    th_write(yaml, text);
    const char *const args[] = { "validate", "-c", yaml, NULL };
    int rc = th_run_cli(args, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_not_null(strstr(err, "database.password_env names the variable CKV_PW"), "%s", err);
    cr_assert_not_null(strstr(err, "tracing.headers_env names the variable CKV_OTLP"), "%s", err);
    cr_assert_not_null(strstr(err, "notify[0].headers.X-Token names the variable CKV_HDR"), "%s",
                       err);
    cr_assert_not_null(strstr(out, "3 warnings above"), "%s", out);
    free(out);
    free(err);

    const char *const env[] = { "CKV_PW=x", "CKV_OTLP=y", "CKV_HDR=z", NULL };
    rc = th_run_cli(args, env, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    cr_assert_null(strstr(err, "warning"), "%s", err);
    free(out);
    free(err);
    free(text);
    free(dbp);
    free(yaml);
    free(plugins);
}
