/* SPDX-License-Identifier: MIT */
/* reload_state.c - see reload_state.h. */
#include "service/reload_state.h"
#include "base/json.h"
#include "base/util.h"
#include "config/webhook_url.h"
#include "db/db.h"
#include "service/prom.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void reload_state_init(reload_state *rs)
{
    memset(rs, 0, sizeof *rs);
    pthread_mutex_init(&rs->mu, NULL);
}

void reload_state_destroy(reload_state *rs)
{
    free(rs->error);
    json_decref(rs->pipeline);
    pthread_mutex_destroy(&rs->mu);
}

static void sha256_hex(const char *data, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    out[0] = '\0';
    if (EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) != 1)
        return;
    for (unsigned int i = 0; i < len && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int64_t mtime_ms_of(const char *path)
{
    struct stat st;
    if (!path || stat(path, &st) != 0)
        return 0;
    return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

/* A YAML subtree as JSON: scalars stay text (the plugin's table gives them their type). */
static json_t *yaml_json(const yt_node *n)
{
    if (!n)
        return json_null();
    if (n->kind == YT_SCALAR)
        return jx_text(n->scalar ? n->scalar : "");
    json_t *out = jx(n->kind == YT_MAP ? json_object() : json_array());
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == YT_MAP)
            json_object_set_new(out, n->keys[i]->scalar ? n->keys[i]->scalar : "",
                                yaml_json(n->items[i]));
        else
            json_array_append_new(out, yaml_json(n->items[i]));
    }
    return out;
}

/*
 * The secrets: every key the key table flags CFG_SECRET is found in the
 * pipeline's JSON by its name there (each part of its path by
 * config_json_name: "database.url" is database.url, "notify[].url" each
 * notify[i].url) and replaced by its redacted form. The JSON is built from
 * the values as they are, so that flagging a key in the table is all it
 * takes to hide it.
 */
static void redact_member(json_t *obj, const char *path, cfg_redact how)
{
    char name[128], shown[2048];
    size_t len = strcspn(path, ".");
    config_json_name(path, len, name, sizeof name);
    json_t *v = json_object_get(obj, name);
    if (path[len] == '.') {
        if (json_is_object(v))
            redact_member(v, path + len + 1, how);
        return;
    }
    if (!json_is_string(v))
        return;
    if (how == CFG_REDACT_DSN)
        db_url_redact(json_string_value(v), shown, sizeof shown);
    else if (how == CFG_REDACT_URL)
        webhook_url_redact(json_string_value(v), shown, sizeof shown);
    else
        snprintf(shown, sizeof shown, "***");
    json_object_set_new(obj, name, jx_text(shown));
}

/* prefix: "" (the top), "notify[]." (each item of a list), "jobs.NAME." (each value of a map). */
static void redact_key(void *user, const char *prefix, const char *path, cfg_redact how)
{
    json_t *root = user, *v, *item;
    char name[128];
    size_t i;
    const char *key;
    if (!*prefix) {
        redact_member(root, path, how);
        return;
    }
    config_json_name(prefix, strcspn(prefix, ".["), name, sizeof name);
    v = json_object_get(root, name);
    if (json_is_array(v)) {
        json_array_foreach(v, i, item)
            if (json_is_object(item))
                redact_member(item, path, how);
    } else if (json_is_object(v)) {
        json_object_foreach(v, key, item)
            if (json_is_object(item))
                redact_member(item, path, how);
    }
}

json_t *reload_state_pipeline_json(const config *c)
{
    json_t *steps = jx(json_array()), *notify = jx(json_array()), *dirs = jx(json_array());
    for (size_t i = 0; i < c->n_plugin_dirs; i++)
        json_array_append_new(dirs, jx_text(c->plugin_dirs[i]));
    /* Each step's and target's plain keys from the table; what their setters build, here. */
    for (size_t i = 0; i < c->n_steps; i++) {
        json_t *s = config_api_step_json(&c->steps[i]);
        json_object_set_new(s, "options", yaml_json(c->steps[i].options));
        json_object_set_new(s, "memoryLimit", jx(json_integer(c->steps[i].memory_limit)));
        json_array_append_new(steps, s);
    }
    for (size_t i = 0; i < c->n_notify; i++) {
        const cfg_notify *n = &c->notify[i];
        json_t *on = jx(json_array()), *headers = jx(json_object());
        json_t *t = config_api_notify_json(n);
        for (unsigned bit = 1; bit < (1u << CFG_N_EVENTS); bit <<= 1)
            if (n->on & bit)
                json_array_append_new(on, jx_text(cfg_event_name(bit)));
        for (size_t k = 0; k < n->n_headers; k++) /* names and variables only, never values */
            json_object_set_new(headers, n->headers[k].name, jx_text(n->headers[k].env));
        json_object_set_new(t, "url", jx_text(n->url));
        json_object_set_new(t, "on", on);
        json_object_set_new(t, "headersEnv", headers);
        json_array_append_new(notify, t);
    }
    /* Every top-level key with a plain field comes from the table; what setters build, here. */
    json_t *pipeline = config_api_json(c);
    json_object_set_new(pipeline, "pluginDir", dirs);
    json_object_set_new(pipeline, "steps", steps);
    json_object_set_new(pipeline, "notify", notify);
    config_each_secret(redact_key, pipeline);
    return pipeline;
}

void reload_state_loaded(reload_state *rs, const config *cfg, int is_reload)
{
    char sha[65];
    json_t *p = reload_state_pipeline_json(cfg);
    int64_t mtime = mtime_ms_of(cfg->path), now = util_wall_ms();
    sha256_hex(cfg->text ? cfg->text : "", cfg->text ? strlen(cfg->text) : 0, sha);
    pthread_mutex_lock(&rs->mu);
    if (is_reload) {
        rs->generation++;
        rs->last_attempt_ms = now;
    }
    rs->last_ok = 1;
    rs->last_success_ms = now;
    free(rs->error);
    rs->error = NULL;
    memcpy(rs->sha256, sha, sizeof sha);
    rs->mtime_ms = mtime;
    rs->refused_sha256[0] = '\0';
    rs->refused_mtime_ms = 0;
    json_decref(rs->pipeline);
    rs->pipeline = p;
    pthread_mutex_unlock(&rs->mu);
}

void reload_state_refused(reload_state *rs, const char *path, const char *err)
{
    char sha[65] = "", why[64];
    char *text = yt_read_file(path, why, sizeof why);
    if (text)
        sha256_hex(text, strlen(text), sha);
    free(text);
    int64_t mtime = mtime_ms_of(path);
    pthread_mutex_lock(&rs->mu);
    rs->generation++;
    rs->last_attempt_ms = util_wall_ms();
    rs->last_ok = 0;
    free(rs->error);
    rs->error = xstrdup(err);
    memcpy(rs->refused_sha256, sha, sizeof sha);
    rs->refused_mtime_ms = mtime;
    pthread_mutex_unlock(&rs->mu);
}

static json_t *iso_or_null(int64_t ms)
{
    char ts[32];
    if (!ms)
        return json_null();
    util_iso_time(ms, ts, sizeof ts);
    return jx(json_string(ts));
}

/* Called with rs->mu held. */
static json_t *reload_locked(reload_state *rs)
{
    return jx(json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}",
                        "generation", (json_int_t)rs->generation,
                        "outcome", !rs->generation ? json_null()
                                   : jx(json_string(rs->last_ok ? "ok" : "refused")),
                        "at", iso_or_null(rs->last_attempt_ms),
                        "error", rs->error ? jx_text(rs->error) : json_null(),
                        "lastSuccessAt", iso_or_null(rs->last_success_ms),
                        "refusedFile", rs->last_ok ? json_null()
                                       : jx(json_pack("{s:o, s:o}", "sha256",
                                                      rs->refused_sha256[0]
                                                          ? jx(json_string(rs->refused_sha256))
                                                          : json_null(),
                                                      "mtime", iso_or_null(rs->refused_mtime_ms)))));
}

json_t *reload_state_json(reload_state *rs)
{
    pthread_mutex_lock(&rs->mu);
    json_t *j = reload_locked(rs);
    pthread_mutex_unlock(&rs->mu);
    return j;
}

json_t *reload_state_config_json(reload_state *rs, const char *path)
{
    pthread_mutex_lock(&rs->mu);
    json_t *j = jx(json_pack("{s:o, s:s, s:o, s:o, s:o}", "path", jx_text(path ? path : ""),
                             "sha256", rs->sha256, "mtime", iso_or_null(rs->mtime_ms),
                             "pipeline", rs->pipeline ? json_deep_copy(rs->pipeline)
                                                      : json_null(),
                             "reload", reload_locked(rs)));
    pthread_mutex_unlock(&rs->mu);
    return j;
}

void reload_state_metrics(reload_state *rs, strbuf *b)
{
    pthread_mutex_lock(&rs->mu);
    double ok = rs->last_ok ? 1.0 : 0.0, at = (double)rs->last_success_ms / 1000.0;
    pthread_mutex_unlock(&rs->mu);
    prom_family(b, "reconciler_config_last_reload_successful", "gauge",
                "1 when the pipeline file was taken at the last reload (or at start), 0 when "
                "the file on disk was refused and an older pipeline runs.");
    prom_sample(b, "reconciler_config_last_reload_successful", ok, NULL);
    prom_family(b, "reconciler_config_last_reload_success_timestamp_seconds", "gauge",
                "When the pipeline in force was loaded (Unix time).");
    prom_sample(b, "reconciler_config_last_reload_success_timestamp_seconds", at, NULL);
}
