/* SPDX-License-Identifier: MIT */
/* pipeline.c - see pipeline.h. */
#include "engine/pipeline.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bind cfg's steps to p's registry (loading, or only the described plugins in it). */
static int build(const config *cfg, pipeline *p, pipeline **out, char *err, size_t errlen)
{
    char why[1024];
    *out = NULL;
    p->steps = xcalloc(cfg->n_steps, sizeof *p->steps);
    for (size_t i = 0; i < cfg->n_steps; i++) {
        const cfg_step *cs = &cfg->steps[i];
        pipeline_step *ps = &p->steps[i];
        ps->cfg = cs;
        if (registry_get(&p->reg, cs->plugin, &ps->plugin, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s:%d:%d: step '%s': %s", cfg->path, cs->line, cs->col,
                     cs->name, why);
            goto fail;
        }
        /* p->n counts the steps whose opts need freeing. */
        if (opt_set_build(ps->plugin->desc->options, cs->options, cfg->path, cs->name,
                          &ps->opts, err, errlen) != 0)
            goto fail;
        p->n = i + 1;
    }
    *out = p;
    return 0;
fail:
    pipeline_free(p);
    return -1;
}

int pipeline_build(const config *cfg, pipeline **out, char *err, size_t errlen)
{
    pipeline *p = xcalloc(1, sizeof *p);
    p->cfg = cfg;
    registry_init(&p->reg, cfg->plugin_dirs, cfg->n_plugin_dirs);
    return build(cfg, p, out, err, errlen);
}

int pipeline_build_described(const config *cfg, plugin **described, size_t n, pipeline **out,
                             char *err, size_t errlen)
{
    pipeline *p = xcalloc(1, sizeof *p);
    p->cfg = cfg;
    registry_init(&p->reg, cfg->plugin_dirs, cfg->n_plugin_dirs);
    for (size_t i = 0; i < n; i++)
        registry_add(&p->reg, described[i]);
    p->reg.described_only = 1;
    return build(cfg, p, out, err, errlen);
}

void pipeline_free(pipeline *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        opt_set_free(&p->steps[i].opts);
    free(p->steps);
    for (size_t i = 0; i < p->n_probes; i++)
        opt_set_free(&p->probes[i].opts);
    registry_free(&p->reg);
    free(p);
}

int pipeline_add_probe(pipeline *p, const char *name, char *err, size_t errlen)
{
    const cfg_step *cs = NULL;
    plugin *pl;
    char why[1024];

    for (size_t i = 0; i < p->n_probes; i++)
        if (strcmp(p->probes[i].plugin->name, name) == 0)
            return 0; /* already one */
    if (p->n_probes == PIPELINE_MAX_PROBES) {
        snprintf(err, errlen, "probe '%s': too many probes", name);
        return -1;
    }
    if (registry_get(&p->reg, name, &pl, why, sizeof why) != 0) {
        snprintf(err, errlen, "probe '%s': %s", name, why);
        return -1;
    }
    /* The options of the step that runs this plugin, so that the probe
     * counts what the step counts (e.g. the same max_attempts). */
    for (size_t i = 0; i < p->n && !cs; i++)
        if (strcmp(p->steps[i].cfg->plugin, name) == 0)
            cs = p->steps[i].cfg;
    pipeline_step *ps = &p->probes[p->n_probes];
    memset(ps, 0, sizeof *ps);
    if (!cs) {
        ps->own_cfg.name = pl->name;
        ps->own_cfg.plugin = pl->name;
        ps->own_cfg.enabled = 1;
        ps->own_cfg.max_changes = CFG_NO_MAX_CHANGES;
        cs = &ps->own_cfg;
    }
    ps->cfg = cs;
    ps->plugin = pl;
    if (opt_set_build(pl->desc->options, cs->options, p->cfg->path, name, &ps->opts,
                      err, errlen) != 0)
        return -1;
    p->n_probes++;
    return 0;
}

const rc_figure *pipeline_figure(const pipeline *p, const char *name, const plugin **by)
{
    for (size_t i = 0; i < p->n_probes; i++) {
        const rc_figure *f = plugin_figures(p->probes[i].plugin);
        for (; f && f->name; f++)
            if (strcmp(f->name, name) == 0) {
                if (by)
                    *by = p->probes[i].plugin;
                return f;
            }
    }
    return NULL;
}
