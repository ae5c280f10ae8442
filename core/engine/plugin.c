/* SPDX-License-Identifier: MIT */
/* plugin.c - see plugin.h. */
#include "engine/plugin.h"
#include "config/options.h"
#include "base/text.h"
#include "base/util.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * The descriptor as ABI 1.0 defines it. A plugin's struct must cover at least
 * this much. The header pins every offset in units of a pointer (its layout
 * checks); the core, built for 64-bit targets only, also pins the bytes, so
 * that a reordering cannot slip past the version number (SQLite once had one
 * that did).
 */
#define RC_PLUGIN_SIZE_1_0 (offsetof(rc_plugin, fini) + sizeof(void (*)(void *)))
/* ABI 1.1 appended check(): a descriptor this long has it. */
#define RC_PLUGIN_SIZE_1_1 (offsetof(rc_plugin, check) + sizeof(int (*)(rc_ctx *)))
/* ABI 1.2 appended prepare(). */
#define RC_PLUGIN_SIZE_1_2 (offsetof(rc_plugin, prepare) + sizeof(int (*)(rc_ctx *)))
/* ABI 1.4 appended min_abi_minor. */
#define RC_PLUGIN_SIZE_1_4 (offsetof(rc_plugin, min_abi_minor) + sizeof(uint32_t))
/* ABI 1.5 appended figures. */
#define RC_PLUGIN_SIZE_1_5 (offsetof(rc_plugin, figures) + sizeof(const rc_figure *))
_Static_assert(offsetof(rc_plugin, name) == 16, "rc_plugin.name moved");
_Static_assert(offsetof(rc_plugin, run) == 56, "rc_plugin.run moved");
_Static_assert(RC_PLUGIN_SIZE_1_0 == 72, "rc_plugin 1.0 size changed");
_Static_assert(RC_PLUGIN_SIZE_1_1 == 80, "rc_plugin 1.1 size changed");
_Static_assert(RC_PLUGIN_SIZE_1_2 == 88, "rc_plugin 1.2 size changed");
_Static_assert(RC_PLUGIN_SIZE_1_4 == 92, "rc_plugin 1.4 size changed");
_Static_assert(RC_PLUGIN_SIZE_1_5 == 104 && sizeof(rc_plugin) == 104, "rc_plugin 1.5 size changed");
_Static_assert(sizeof(rc_figure) == 48, "rc_figure (1.5) changed");
_Static_assert(offsetof(rc_api, db_chunked) == 200, "rc_api 1.0 entries moved");
_Static_assert(offsetof(rc_api, fail_option) == 208, "rc_api.fail_option (1.1) moved");
_Static_assert(offsetof(rc_api, db_prepare) == 216, "rc_api.db_prepare (1.2) moved");
_Static_assert(offsetof(rc_api, db_chunked_by) == 224, "rc_api.db_chunked_by (1.3) moved");
_Static_assert(offsetof(rc_api, declare_changes) == 232, "rc_api.declare_changes (1.6) moved");
_Static_assert(sizeof(rc_api) == 240, "rc_api 1.6 size changed (1.4 and 1.5 added no entry)");
_Static_assert(sizeof(rc_chunk_key) == 32, "rc_chunk_key (1.3) changed");
_Static_assert(sizeof(rc_value) == 32 && sizeof(rc_option) == 32, "rc_value or rc_option changed");

/*
 * The lowest minor a descriptor says it needs: its min_abi_minor (ABI 1.4),
 * or, when it has none (an older descriptor) or left it 0, its own minor.
 */
static uint32_t needed_minor(const rc_plugin *d)
{
    if (d->size >= RC_PLUGIN_SIZE_1_4 && d->min_abi_minor != 0)
        return d->min_abi_minor;
    return d->abi_minor;
}

/* A Prometheus-safe name: [a-z][a-z0-9_]{0,63}. */
static int figure_name_ok(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len > 64 || !(n[0] >= 'a' && n[0] <= 'z'))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9') || n[i] == '_'))
            return 0;
    return 1;
}

const rc_figure *plugin_figures(const plugin *p)
{
    return p->desc->size >= RC_PLUGIN_SIZE_1_5 ? p->desc->figures : NULL;
}

/* The figures table (ABI 1.5): every entry sound, names unique. 0, or -1 with why. */
static int figures_check(const rc_figure *f, char *why, size_t whylen)
{
    for (size_t i = 0; f[i].name || f[i].key; i++) {
        const rc_figure *x = &f[i];
        if (!figure_name_ok(x->name) || strncmp(x->name, "reconciler_", 11) == 0) {
            snprintf(why, whylen, "figure %zu: name '%.64s' must be 1 to 64 of a-z, 0-9 and _, "
                     "start with a letter and not with reconciler_", i + 1,
                     x->name ? x->name : "(null)");
            return -1;
        }
        if (!x->key || !*x->key) {
            snprintf(why, whylen, "figure '%s': no result key", x->name);
            return -1;
        }
        if (x->type != RC_FIGURE_GAUGE && x->type != RC_FIGURE_COUNTER) {
            snprintf(why, whylen, "figure '%s': type %d is neither RC_FIGURE_GAUGE (1) nor "
                     "RC_FIGURE_COUNTER (2)", x->name, (int)x->type);
            return -1;
        }
        if (!x->help || !*x->help) {
            snprintf(why, whylen, "figure '%s': no help text", x->name);
            return -1;
        }
        if (x->label && !figure_name_ok(x->label)) {
            snprintf(why, whylen, "figure '%s': label '%.64s' must be 1 to 64 of a-z, 0-9 and _",
                     x->name, x->label);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(f[j].name, x->name) == 0) {
                snprintf(why, whylen, "figure '%s' is declared twice", x->name);
                return -1;
            }
    }
    return 0;
}

int plugin_name_valid(const char *name)
{
    return text_name_ok(name, 0);
}

/* Check what the descriptor says before trusting any of it. */
static int check_descriptor(const char *path, const char *expected, const rc_plugin *d,
                            char *err, size_t errlen)
{
    char why[512];
    if (!d) {
        snprintf(err, errlen, "%s: %s() returned NULL", path, RC_PLUGIN_SYMBOL);
        return -1;
    }
    if (d->abi_major != RC_ABI_MAJOR) {
        snprintf(err, errlen, "%s: plugin ABI major version %u instead of %u: rebuild it "
                 "against this reconciler's include/reconciler.h", path, d->abi_major,
                 RC_ABI_MAJOR);
        return -1;
    }
    if (d->size < RC_PLUGIN_SIZE_1_0) {
        snprintf(err, errlen, "%s: plugin descriptor is %u bytes, expected at least %zu",
                 path, d->size, (size_t)RC_PLUGIN_SIZE_1_0);
        return -1;
    }
    uint32_t need = needed_minor(d);
    if (need > d->abi_minor) {
        snprintf(err, errlen, "%s: plugin built for ABI %u.%u says it needs at least %u.%u, "
                 "above its own minor: fix its RC_PLUGIN_NEEDS_MINOR", path, d->abi_major,
                 d->abi_minor, d->abi_major, need);
        return -1;
    }
    /* A newer minor loads when the plugin needs no more than ours (ABI 1.4). */
    if (need > RC_ABI_MINOR) {
        if (need == d->abi_minor)
            snprintf(err, errlen, "%s: plugin built for ABI %u.%u but this reconciler provides "
                     "%u.%u: upgrade reconciler", path, d->abi_major, d->abi_minor,
                     RC_ABI_MAJOR, RC_ABI_MINOR);
        else
            snprintf(err, errlen, "%s: plugin built for ABI %u.%u needs at least %u.%u but "
                     "this reconciler provides %u.%u: upgrade reconciler", path, d->abi_major,
                     d->abi_minor, d->abi_major, need, RC_ABI_MAJOR, RC_ABI_MINOR);
        return -1;
    }
    if (!d->name || !*d->name) {
        snprintf(err, errlen, "%s: plugin descriptor has no name", path);
        return -1;
    }
    if (strcmp(d->name, expected) != 0) {
        snprintf(err, errlen, "%s: plugin calls itself '%.64s' but its file is named '%s.so': "
                 "rename one to match", path, d->name, expected);
        return -1;
    }
    if (!d->run) {
        snprintf(err, errlen, "%s: plugin '%s' has no run callback", path, d->name);
        return -1;
    }
    if (d->options && opt_table_check(d->options, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: plugin '%s' options table: %s", path, d->name, why);
        return -1;
    }
    if (d->size >= RC_PLUGIN_SIZE_1_5 && d->figures &&
        figures_check(d->figures, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: plugin '%s' figures table: %s", path, d->name, why);
        return -1;
    }
    return 0;
}

/*
 * As sshd's StrictModes: a plugin file, or the folder it is in, that a
 * group or other users may write is refused; whoever can write it can run
 * code as reconciler. 0, or -1 with err naming the path and its mode.
 */
static int writable_by_others(const char *path, const struct stat *st, char *err,
                              size_t errlen)
{
    struct stat ds;
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    int rc = 0;
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen, "%s: writable by group or others (mode %04o): refused, since "
                 "whoever can write it can run code as reconciler; chmod go-w %s", path,
                 (unsigned)(st->st_mode & 07777), path);
        rc = -1;
    } else if (stat(dir, &ds) == 0 && (ds.st_mode & (S_IWGRP | S_IWOTH))) {
        snprintf(err, errlen, "%s: its folder %s is writable by group or others (mode %04o): "
                 "refused, since whoever can write there can replace it; chmod go-w %s", path,
                 dir, (unsigned)(ds.st_mode & 07777), dir);
        rc = -1;
    }
    free(dir);
    return rc;
}

int plugin_load_file(const char *path, const char *expected_name, plugin **out,
                     char *err, size_t errlen)
{
    struct stat st;
    void *h = NULL;
    *out = NULL;

    if (lstat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file (links and devices are not loaded)", path);
        goto fail;
    }
    if (writable_by_others(path, &st, err, errlen) != 0)
        goto fail;
    plugin_observe(&(plugin){ .name = (char *)expected_name, .path = (char *)path }, "loading",
                   NULL);
    h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "%s: cannot load: %s", path, dlerror());
        goto fail;
    }
    dlerror();
    rc_plugin_entry_fn entry;
    *(void **)&entry = dlsym(h, RC_PLUGIN_SYMBOL);
    if (!entry) {
        snprintf(err, errlen, "%s: no symbol '%s': not a reconciler plugin (define it with "
                 "RC_PLUGIN(...))", path, RC_PLUGIN_SYMBOL);
        goto fail;
    }
    const rc_plugin *d = entry();
    if (check_descriptor(path, expected_name, d, err, errlen) != 0)
        goto fail;

    plugin *p = xcalloc(1, sizeof *p);
    p->name = xstrdup(expected_name);
    p->path = xstrdup(path);
    p->handle = h;
    p->desc = d;
    *out = p;
    return 0;

fail:
    if (h)
        dlclose(h);
    return -1;
}

int (*plugin_check_fn(const plugin *p))(rc_ctx *)
{
    /* A 1.0 descriptor ends before check: reading it would read past it. */
    return p->desc->size >= RC_PLUGIN_SIZE_1_1 ? p->desc->check : NULL;
}

int (*plugin_prepare_fn(const plugin *p))(rc_ctx *)
{
    /* A 1.0 or 1.1 descriptor ends before prepare. */
    return p->desc->size >= RC_PLUGIN_SIZE_1_2 ? p->desc->prepare : NULL;
}

void plugin_free(plugin *p)
{
    if (!p)
        return;
    if (p->handle)
        dlclose(p->handle);
    if (p->own_desc) {
        rc_plugin *d = p->own_desc;
        for (rc_option *o = (rc_option *)d->options; o && o->name; o++) {
            free((char *)o->name);
            free((char *)o->default_value);
            free((char *)o->description);
        }
        free((rc_option *)d->options);
        for (rc_figure *f = (rc_figure *)d->figures; f && f->name; f++) {
            free((char *)f->name);
            free((char *)f->key);
            free((char *)f->unit);
            free((char *)f->help);
            free((char *)f->label);
        }
        free((rc_figure *)d->figures);
        free((char *)d->name);
        free((char *)d->description);
        free((char *)d->version);
        free(d);
    }
    free(p->name);
    free(p->path);
    free(p);
}

/* ------------------------------------------------- described plugins */

static json_t *text_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static char *dup_text(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? xstrdup(s) : NULL;
}

json_t *plugin_description(const plugin *p)
{
    const rc_plugin *d = p->desc;
    json_t *opts = json_array();
    for (const rc_option *o = d->options; o && o->name; o++)
        json_array_append_new(opts, json_pack("{s:s, s:i, s:o, s:o}", "name", o->name,
                                              "type", (int)o->type,
                                              "default", text_or_null(o->default_value),
                                              "description", text_or_null(o->description)));
    json_t *figs = json_array();
    for (const rc_figure *f = plugin_figures(p); f && f->name; f++)
        json_array_append_new(figs, json_pack("{s:s, s:o, s:i, s:o, s:o, s:o}", "name", f->name,
                                              "key", text_or_null(f->key), "type", (int)f->type,
                                              "unit", text_or_null(f->unit),
                                              "help", text_or_null(f->help),
                                              "label", text_or_null(f->label)));
    return json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:o, s:o, s:o, s:o, s:o}", "name", p->name,
                     "path", p->path, "abiMajor", (int)d->abi_major, "abiMinor",
                     (int)d->abi_minor, "size", (int)d->size, "minAbiMinor",
                     (int)needed_minor(d), "descName", text_or_null(d->name),
                     "description", text_or_null(d->description),
                     "version", text_or_null(d->version), "options", opts, "figures", figs);
}

/* A described plugin's run(): never called (nothing runs it outside a worker). */
static int described_run(rc_ctx *ctx, void *state)
{
    (void)ctx;
    (void)state;
    return RC_ERROR;
}

int plugin_described(json_t *j, plugin **out, char *err, size_t errlen)
{
    const char *name = json_string_value(json_object_get(j, "name"));
    const char *path = json_string_value(json_object_get(j, "path"));
    json_t *opts = json_object_get(j, "options");
    *out = NULL;
    if (!name || !path || !json_is_array(opts)) {
        snprintf(err, errlen, "a plugin description without a name, path or options");
        return -1;
    }
    plugin *p = xcalloc(1, sizeof *p);
    rc_plugin *d = xcalloc(1, sizeof *d);
    p->name = xstrdup(name);
    p->path = xstrdup(path);
    p->own_desc = d;
    p->desc = d;
    d->abi_major = (uint32_t)json_integer_value(json_object_get(j, "abiMajor"));
    d->abi_minor = (uint32_t)json_integer_value(json_object_get(j, "abiMinor"));
    /* What this core reads of it: the fields as they are, with no callback. */
    d->size = sizeof *d;
    d->min_abi_minor = (uint32_t)json_integer_value(json_object_get(j, "minAbiMinor"));
    d->name = dup_text(j, "descName");
    d->description = dup_text(j, "description");
    d->version = dup_text(j, "version");
    d->run = described_run;
    rc_option *o = xcalloc(json_array_size(opts) + 1, sizeof *o);
    d->options = o;
    for (size_t i = 0; i < json_array_size(opts); i++) {
        json_t *e = json_array_get(opts, i);
        o[i].name = dup_text(e, "name");
        o[i].type = (rc_opt_type)json_integer_value(json_object_get(e, "type"));
        o[i].default_value = dup_text(e, "default");
        o[i].description = dup_text(e, "description");
        if (!o[i].name) {
            snprintf(err, errlen, "%s: an option without a name in its description", path);
            plugin_free(p);
            return -1;
        }
    }
    /* ABI 1.5: the figures, as data too (a description without them declares none). */
    json_t *figs = json_object_get(j, "figures");
    if (json_array_size(figs) > 0) {
        rc_figure *f = xcalloc(json_array_size(figs) + 1, sizeof *f);
        d->figures = f;
        for (size_t i = 0; i < json_array_size(figs); i++) {
            json_t *e = json_array_get(figs, i);
            if (!(f[i].name = dup_text(e, "name"))) {
                snprintf(err, errlen, "%s: a figure without a name in its description", path);
                plugin_free(p);
                return -1;
            }
            f[i].key = dup_text(e, "key");
            f[i].type = (rc_figure_type)json_integer_value(json_object_get(e, "type"));
            f[i].unit = dup_text(e, "unit");
            f[i].help = dup_text(e, "help");
            f[i].label = dup_text(e, "label");
        }
    }
    if (check_descriptor(path, name, d, err, errlen) != 0) {
        plugin_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

static plugin_observer observer;

void plugin_set_observer(plugin_observer fn)
{
    observer = fn;
}

void plugin_observe(const plugin *p, const char *what, const char *step)
{
    if (observer)
        observer(p->name, p->path, what, step);
}

void registry_init(plugin_registry *r, char **dirs, size_t ndirs)
{
    memset(r, 0, sizeof *r);
    r->dirs = dirs;
    r->ndirs = ndirs;
}

void registry_add(plugin_registry *r, plugin *p)
{
    r->items = xrealloc(r->items, (r->n + 1) * sizeof *r->items);
    r->items[r->n++] = p;
}

void registry_free(plugin_registry *r)
{
    for (size_t i = 0; i < r->n; i++)
        plugin_free(r->items[i]);
    free(r->items);
    memset(r, 0, sizeof *r);
}

int registry_get(plugin_registry *r, const char *name, plugin **out, char *err, size_t errlen)
{
    char *found = NULL;
    int rc = -1;
    *out = NULL;

    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->items[i]->name, name) == 0) {
            *out = r->items[i];
            return 0;
        }
    }
    if (!plugin_name_valid(name)) {
        snprintf(err, errlen, "'%.80s' is not a valid plugin name (letters, digits, '_' and "
                 "'-', at most 64)", name);
        return -1;
    }
    if (r->described_only) {
        snprintf(err, errlen, "plugin '%s' was not inspected", name);
        return -1;
    }
    for (size_t i = 0; i < r->ndirs; i++) {
        char *path = xasprintf("%s/%s.so", r->dirs[i], name);
        struct stat st;
        if (lstat(path, &st) != 0) {
            free(path);
            continue;
        }
        if (found) {
            snprintf(err, errlen, "plugin '%s' is found twice, as %s and as %s: remove one "
                     "or drop one folder from plugin_dir", name, found, path);
            free(path);
            goto out;
        }
        found = path;
    }
    if (!found) {
        size_t off = (size_t)snprintf(err, errlen, "plugin '%s' not found: no %s.so in", name, name);
        for (size_t i = 0; i < r->ndirs && off < errlen; i++)
            off += (size_t)snprintf(err + off, errlen - off, "%s %s", i ? "," : "", r->dirs[i]);
        goto out;
    }
    plugin *p;
    if (plugin_load_file(found, name, &p, err, errlen) != 0)
        goto out;
    registry_add(r, p);
    *out = p;
    rc = 0;
out:
    free(found);
    return rc;
}
