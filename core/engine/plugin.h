/* SPDX-License-Identifier: MIT */
/*
 * plugin.h - finding, loading and checking step plugins.
 *
 * A plugin NAME lives in NAME.so in one of the plugin folders. The loader
 * lstat()s it (a regular file only, which neither a group nor other users
 * may write, in a folder they may not write either, as sshd's StrictModes
 * has it), dlopen()s it with RTLD_NOW|RTLD_LOCAL,
 * calls its one exported symbol and checks the descriptor it returns before
 * anything else is touched: ABI major, struct size, a minor not newer than
 * ours or (ABI 1.4) a newer one whose min_abi_minor is not above ours,
 * name present and equal to the file's base name, run present, options table
 * sound. Every refusal names the file and what was expected vs found, and
 * dlclose()s the handle.
 */
#ifndef RC_PLUGIN_H
#define RC_PLUGIN_H

#include <stddef.h>
#include <jansson.h>
#include "reconciler.h"

/*
 * A plugin: loaded (handle set: its code may run) or described (handle
 * NULL: its descriptor as a worker read it, data only, with no callback
 * that runs plugin code). The supervisor, validate and `plugins` only ever
 * hold described plugins: nothing a plugin contains runs in them.
 */
typedef struct plugin {
    char *name;
    char *path;
    void *handle;
    const rc_plugin *desc;
    rc_plugin *own_desc;     /* described: desc, with its strings and options, owned */
} plugin;

/* The plugins loaded so far, by name; each loaded once however often used. */
typedef struct plugin_registry {
    char **dirs; /* not owned */
    size_t ndirs;
    plugin **items;
    size_t n;
    int described_only; /* never load: only the described plugins added are there */
} plugin_registry;

/*
 * Load one file. expected_name is the name the file must declare (its base
 * name without ".so"). Returns 0 and *out, or -1 with err.
 */
int plugin_load_file(const char *path, const char *expected_name, plugin **out,
                     char *err, size_t errlen);
void plugin_free(plugin *p); /* dlclose; accepts NULL */

/*
 * A loaded plugin's descriptor as data (new reference): what a worker sends
 * its supervisor. plugin_described makes a described plugin of it (checked
 * as plugin_load_file checks a descriptor): 0 and *out, or -1 with err.
 */
json_t *plugin_description(const plugin *p);
int plugin_described(json_t *description, plugin **out, char *err, size_t errlen);

/*
 * Tell fn (NULL: nobody) what plugin code is about to run in this process:
 * what = "loading" (its constructors, then its entry symbol), "check()" or
 * "prepare()" (step: the step's name). A worker passes it on, so that its
 * supervisor can name the plugin that crashed it.
 */
typedef void (*plugin_observer)(const char *plugin, const char *path, const char *what,
                                const char *step);
void plugin_set_observer(plugin_observer fn);
void plugin_observe(const plugin *p, const char *what, const char *step);

/* The plugin's check() callback, or NULL (none, or a 1.0 plugin, whose descriptor has no room for one). */
int (*plugin_check_fn(const plugin *p))(rc_ctx *);

/* The plugin's prepare() callback (ABI 1.2), or NULL (none, or an older descriptor). */
int (*plugin_prepare_fn(const plugin *p))(rc_ctx *);

/* The figures the plugin declares (ABI 1.5), ending with RC_FIGURES_END, or NULL (none, or an older descriptor). */
const rc_figure *plugin_figures(const plugin *p);

void registry_init(plugin_registry *r, char **dirs, size_t ndirs);
void registry_free(plugin_registry *r);
/* Add p (taken) to r: a described plugin, before anything asks for it. */
void registry_add(plugin_registry *r, plugin *p);

/*
 * The plugin called name, loading it on first use. A name found in more than
 * one plugin folder is refused as a duplicate naming both files; a name found
 * nowhere names the folders searched. Returns 0 and *out or -1 with err.
 */
int registry_get(plugin_registry *r, const char *name, plugin **out, char *err, size_t errlen);

/* Is name a valid plugin/step name: [A-Za-z0-9_-]{1,64}? */
int plugin_name_valid(const char *name);

#endif
