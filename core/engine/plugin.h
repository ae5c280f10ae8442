/*
 * plugin.h - finding, loading and checking step plugins.
 *
 * A plugin NAME lives in NAME.so in one of the plugin folders. The loader
 * lstat()s it (a regular file only), dlopen()s it with RTLD_NOW|RTLD_LOCAL,
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
#include "reconciler.h"

typedef struct plugin {
    char *name;
    char *path;
    void *handle;
    const rc_plugin *desc;
} plugin;

/* The plugins loaded so far, by name; each loaded once however often used. */
typedef struct plugin_registry {
    char **dirs; /* not owned */
    size_t ndirs;
    plugin **items;
    size_t n;
} plugin_registry;

/*
 * Load one file. expected_name is the name the file must declare (its base
 * name without ".so"). Returns 0 and *out, or -1 with err.
 */
int plugin_load_file(const char *path, const char *expected_name, plugin **out,
                     char *err, size_t errlen);
void plugin_free(plugin *p); /* dlclose; accepts NULL */

/* The plugin's check() callback, or NULL (none, or a 1.0 plugin, whose descriptor has no room for one). */
int (*plugin_check_fn(const plugin *p))(rc_ctx *);

/* The plugin's prepare() callback (ABI 1.2), or NULL (none, or an older descriptor). */
int (*plugin_prepare_fn(const plugin *p))(rc_ctx *);

/* The figures the plugin declares (ABI 1.5), ending with RC_FIGURES_END, or NULL (none, or an older descriptor). */
const rc_figure *plugin_figures(const plugin *p);

void registry_init(plugin_registry *r, char **dirs, size_t ndirs);
void registry_free(plugin_registry *r);

/*
 * The plugin called name, loading it on first use. A name found in more than
 * one plugin folder is refused as a duplicate naming both files; a name found
 * nowhere names the folders searched. Returns 0 and *out or -1 with err.
 */
int registry_get(plugin_registry *r, const char *name, plugin **out, char *err, size_t errlen);

/* Is name a valid plugin/step name: [A-Za-z0-9_-]{1,64}? */
int plugin_name_valid(const char *name);

#endif
