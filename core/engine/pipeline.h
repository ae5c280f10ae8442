/* SPDX-License-Identifier: MIT */
/*
 * pipeline.h - the pipeline file's steps bound to their loaded plugins and
 * checked options, plus the probes the API runs. Nothing here touches a
 * database: building a pipeline is what `validate` checks.
 */
#ifndef RC_PIPELINE_H
#define RC_PIPELINE_H

#include <stddef.h>
#include "config/config.h"
#include "config/options.h"
#include "engine/plugin.h"

typedef struct pipeline_step {
    const cfg_step *cfg;
    plugin *plugin; /* owned by the registry */
    opt_set opts;
    cfg_step own_cfg; /* a probe no step uses: cfg points here (name = plugin) */
} pipeline_step;

#define PIPELINE_MAX_PROBES 8

typedef struct pipeline {
    const config *cfg;  /* not owned */
    plugin_registry reg;
    pipeline_step *steps;
    size_t n;
    /*
     * Probes: plugins run read-only on demand (the HTTP API's live queue and
     * dashboard), so that their SQL lives in one place, the plugin. A probe
     * takes the options of the pipeline step that uses the same plugin, else
     * the plugin's defaults. Loaded by pipeline_add_probe, never during a run.
     */
    pipeline_step probes[PIPELINE_MAX_PROBES];
    size_t n_probes;
} pipeline;

/*
 * Load every step's plugin and check its options against the plugin's
 * table. Returns 0 and *out, or -1 with err (config file positions, plugin
 * files). Nothing touches a database.
 */
int pipeline_build(const config *cfg, pipeline **out, char *err, size_t errlen);
void pipeline_free(pipeline *p); /* accepts NULL */

/*
 * The same from plugins a worker described (engine/plugin.h; all n taken,
 * whatever the outcome): nothing is loaded, no plugin code runs. What the
 * supervisor, validate and the service build (engine/supervisor.h).
 */
int pipeline_build_described(const config *cfg, plugin **described, size_t n, pipeline **out,
                             char *err, size_t errlen);

/*
 * The figure called name (ABI 1.5) among the probes' declarations, with the
 * plugin that declares it in *by (may be NULL), or NULL.
 */
const rc_figure *pipeline_figure(const pipeline *p, const char *name, const plugin **by);

/* Load plugin name as a probe of p. 0, or -1 with err (the plugin is missing or refused). */
int pipeline_add_probe(pipeline *p, const char *name, char *err, size_t errlen);

#endif
