/* SPDX-License-Identifier: MIT */
/*
 * test_layers.c - tools/check-layers on planted trees: a clean tree passes;
 * an upward include, an include cycle (two or three modules, in one layer or
 * across), a plugin including a core header, an include that resolves
 * nowhere, and a file outside the layer folders each fail with a message
 * that names the file, the line and the layers. The real repository passes
 * (make test also runs the script before the suite).
 */
#include "helpers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CHECK_LAYERS "tools/check-layers"

/* ROOT = th_tmpdir()/name, a fresh planted tree (caller frees). */
static char *tree(const char *name)
{
    char *root = th_path(th_tmpdir(), name);
    cr_assert_eq(mkdir(root, 0755), 0, "mkdir %s: %s", root, strerror(errno));
    return root;
}

/* Write ROOT/rel, creating its folders. */
static void put(const char *root, const char *rel, const char *text)
{
    char *p = th_path(root, rel);
    for (char *s = p + strlen(root) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        cr_assert(mkdir(p, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", p, strerror(errno));
        *s = '/';
    }
    th_write(p, text);
    free(p);
}

/*
 * A small tree that obeys every rule: base, db and engine layers, includes
 * written every allowed way (layer path, own folder, <reconciler.h>, system
 * headers), a tool above everything and a plugin that sees only the public
 * header. 13 files in 3 layers.
 */
static void plant_clean(const char *root)
{
    put(root, "include/reconciler.h", "#ifndef RECONCILER_H\n#define RECONCILER_H\n#endif\n");
    put(root, "core/base/util.h", "#include <stddef.h>\n");
    put(root, "core/base/util.c", "#include \"base/util.h\"\n#include <string.h>\n");
    put(root, "core/base/log.h", "#include \"reconciler.h\"\n");
    put(root, "core/base/log.c", "#include \"log.h\"\n#include \"base/util.h\"\n");
    put(root, "core/db/db.h", "#include <reconciler.h>\n");
    put(root, "core/db/db.c",
        "#include \"db/db.h\"\n#  include \"base/log.h\"\n#include \"base/util.h\"\n");
    put(root, "core/engine/runner.h", "#include \"db/db.h\"\n");
    put(root, "core/engine/runner.c",
        "#include \"engine/runner.h\"\n#include \"host.h\"\n#include \"base/log.h\"\n");
    put(root, "core/engine/host.h", "#include \"db/db.h\"\n");
    put(root, "core/engine/host.c", "#include \"engine/host.h\"\n#include \"base/util.h\"\n");
    put(root, "tools/scenario_check.c", "#include \"engine/runner.h\"\n#include \"db/db.h\"\n");
    put(root, "plugins/leases.c", "#include <stdio.h>\n#include \"reconciler.h\"\n");
}

static int check(const char *root, char **out, char **err)
{
    const char *args[] = { root, NULL };
    return th_run_prog(CHECK_LAYERS, args, NULL, out, err);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *s = hay; (s = strstr(s, needle)); s += strlen(needle))
        n++;
    return n;
}

Test(layers, clean_tree_passes)
{
    char *root = tree("clean"), *out, *err;
    plant_clean(root);
    cr_assert_eq(check(root, &out, &err), 0, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert_str_eq(out, "check-layers: 13 files, 3 layers, no upward include, no cycle\n");
    cr_assert_str_eq(err, "");
    free(out); free(err); free(root);
}

Test(layers, default_root_is_the_scripts_parent)
{
    /* The script copied into a planted tree checks that tree when given no argument. */
    char *root = tree("self"), *out, *err, *cmd = NULL;
    plant_clean(root);
    cr_assert_neq(asprintf(&cmd, "cp %s '%s/tools/check-layers'", CHECK_LAYERS, root), -1);
    cr_assert_eq(system(cmd), 0);
    char *self = th_path(root, "tools/check-layers");
    int rc = th_run_prog(self, (const char *const[]){ NULL }, NULL, &out, &err);
    cr_assert_eq(rc, 0, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert(strstr(out, "13 files, 3 layers"), "%s", out);
    free(out); free(err); free(self); free(cmd); free(root);
}

Test(layers, upward_include_is_refused)
{
    char *root = tree("upward"), *out, *err;
    plant_clean(root);
    put(root, "core/engine/y.h", "#include \"db/db.h\"\n");
    put(root, "core/base/x.c",
        "/* x.c */\n#include \"base/util.h\"\n#include \"engine/y.h\"\n#include \"log.h\"\n");
    cr_assert_eq(check(root, &out, &err), 1, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert(strstr(err, "core/base/x.c:3: includes \"engine/y.h\" (layer core/engine) from layer "
                          "core/base: a file may only include its own layer or those below it\n"),
              "%s", err);
    /* Its own layer's headers (line 2 by layer path, line 4 by own folder) are fine. */
    cr_assert_null(strstr(err, "x.c:2:"), "%s", err);
    cr_assert_null(strstr(err, "x.c:4:"), "%s", err);
    cr_assert_eq(count(err, "includes"), 1, "%s", err);
    cr_assert_str_eq(out, "");
    free(out); free(err); free(root);
}

Test(layers, own_layer_and_lower_layers_are_fine)
{
    /* The boundary: the same file, including only its own layer's header. */
    char *root = tree("boundary"), *out, *err;
    plant_clean(root);
    put(root, "core/engine/y.h", "#include \"db/db.h\"\n");
    put(root, "core/base/x.c", "/* x.c */\n#include \"base/util.h\"\n#include \"log.h\"\n");
    put(root, "core/engine/z.c", "#include \"engine/y.h\"\n#include \"base/x.h\"\n");
    put(root, "core/base/x.h", "#include \"reconciler.h\"\n");
    cr_assert_eq(check(root, &out, &err), 0, "stdout:\n%s\nstderr:\n%s", out, err);
    free(out); free(err); free(root);
}

Test(layers, upward_include_from_a_header_and_through_angle_brackets)
{
    /* A header counts like a .c; <db/db.h> is what -Icore finds, so it is checked too. */
    char *root = tree("upward2"), *out, *err;
    plant_clean(root);
    put(root, "core/base/strbuf.h", "#include <stdio.h>\n#include \"engine/host.h\"\n");
    put(root, "core/base/text.c", "#include <db/db.h>\n");
    cr_assert_eq(check(root, &out, &err), 1, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert(strstr(err, "core/base/strbuf.h:2: includes \"engine/host.h\" (layer core/engine) "
                          "from layer core/base"), "%s", err);
    cr_assert(strstr(err, "core/base/text.c:1: includes \"db/db.h\" (layer core/db) from layer "
                          "core/base"), "%s", err);
    free(out); free(err); free(root);
}

Test(layers, calendar_sits_between_base_and_config)
{
    /*
     * calendar/ (cron expressions, zones) is layer 2: it may include base/,
     * config/ may include it, and it may include nothing above (config, db,
     * engine).
     */
    char *root = tree("calendar"), *out, *err;
    plant_clean(root);
    put(root, "core/calendar/cron.h", "#include <stdint.h>\n");
    put(root, "core/calendar/cron.c", "#include \"calendar/cron.h\"\n#include \"base/util.h\"\n");
    put(root, "core/config/config.c", "#include \"calendar/cron.h\"\n");
    cr_assert_eq(check(root, &out, &err), 0, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert(strstr(out, "16 files, 5 layers"), "%s", out);
    free(out); free(err);

    put(root, "core/config/config.h", "\n");
    put(root, "core/calendar/zone.c", "#include \"config/config.h\"\n#include \"db/db.h\"\n");
    cr_assert_eq(check(root, &out, &err), 1, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert(strstr(err, "core/calendar/zone.c:1: includes \"config/config.h\" (layer core/config) "
                          "from layer core/calendar"), "%s", err);
    cr_assert(strstr(err, "core/calendar/zone.c:2: includes \"db/db.h\" (layer core/db) "
                          "from layer core/calendar"), "%s", err);
    cr_assert_eq(count(err, "includes"), 2, "%s", err);
    free(out); free(err); free(root);
}

Test(layers, two_module_cycle_in_one_layer)
{
    char *root = tree("cycle2"), *out, *err;
    plant_clean(root);
    put(root, "core/engine/a.h", "#include \"db/db.h\"\n");
    put(root, "core/engine/a.c", "#include \"engine/a.h\"\n#include \"engine/b.h\"\n");
    put(root, "core/engine/b.h", "\n");
    put(root, "core/engine/b.c", "#include \"engine/b.h\"\n#include \"engine/a.h\"\n");
    cr_assert_eq(check(root, &out, &err), 1, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert(strstr(err, "cycle: engine/a -> engine/b -> engine/a\n"), "%s", err);
    cr_assert_eq(count(err, "cycle:"), 1, "reported once: %s", err);
    cr_assert_eq(count(err, "includes"), 0, "no layer violation: %s", err);
    free(out); free(err); free(root);
}

Test(layers, three_module_cycle)
{
    /* a.h -> b, b.c -> c, c.h -> a (through headers and sources, own-folder includes). */
    char *root = tree("cycle3"), *out, *err;
    plant_clean(root);
    put(root, "core/engine/a.h", "#include \"b.h\"\n");
    put(root, "core/engine/a.c", "#include \"a.h\"\n");
    put(root, "core/engine/b.h", "\n");
    put(root, "core/engine/b.c", "#include \"b.h\"\n#include \"engine/c.h\"\n");
    put(root, "core/engine/c.h", "#include \"engine/a.h\"\n");
    put(root, "core/engine/c.c", "#include \"c.h\"\n");
    cr_assert_eq(check(root, &out, &err), 1, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert(strstr(err, "cycle: engine/a -> engine/b -> engine/c -> engine/a\n"), "%s", err);
    cr_assert_eq(count(err, "cycle:"), 1, "reported once: %s", err);
    free(out); free(err); free(root);
}

Test(layers, chain_without_back_edge_is_no_cycle)
{
    char *root = tree("chain"), *out, *err;
    plant_clean(root);
    put(root, "core/engine/a.c", "#include \"engine/b.h\"\n");
    put(root, "core/engine/b.c", "#include \"engine/c.h\"\n");
    put(root, "core/engine/b.h", "#include \"engine/c.h\"\n");
    put(root, "core/engine/c.h", "\n");
    put(root, "core/engine/a.h", "#include \"engine/c.h\"\n");
    cr_assert_eq(check(root, &out, &err), 0, "stdout:\n%s\nstderr:\n%s", out, err);
    free(out); free(err); free(root);
}

Test(layers, cycle_across_layers)
{
    char *root = tree("cyclex"), *out, *err;
    plant_clean(root);
    put(root, "core/db/d.h", "\n");
    put(root, "core/db/d.c", "#include \"db/d.h\"\n#include \"engine/e.h\"\n");
    put(root, "core/engine/e.h", "\n");
    put(root, "core/engine/e.c", "#include \"engine/e.h\"\n#include \"db/d.h\"\n");
    cr_assert_eq(check(root, &out, &err), 1, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert(strstr(err, "core/db/d.c:2: includes \"engine/e.h\" (layer core/engine) from layer core/db"),
              "%s", err);
    cr_assert(strstr(err, "cycle: db/d -> engine/e -> db/d\n"), "%s", err);
    cr_assert_eq(count(err, "cycle:"), 1, "%s", err);
    free(out); free(err); free(root);
}

Test(layers, plugin_including_a_core_header)
{
    char *root = tree("plugin"), *out, *err;
    plant_clean(root);
    put(root, "plugins/orders.c", "#include <stdio.h>\n#include \"base/util.h\"\n#include <reconciler.h>\n");
    put(root, "plugins/queue.c", "#include <db/db.h>\n");
    cr_assert_eq(check(root, &out, &err), 1, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert(strstr(err, "plugins/orders.c:2: includes \"base/util.h\" (layer core/base) from plugins: "
                          "a plugin may only include the public header reconciler.h\n"), "%s", err);
    cr_assert(strstr(err, "plugins/queue.c:1: includes \"db/db.h\" (layer core/db) from plugins"),
              "%s", err);
    cr_assert_eq(count(err, "includes"), 2, "%s", err);
    free(out); free(err); free(root);
}

Test(layers, include_that_resolves_nowhere)
{
    /* A misspelled layer path must not pass as "no violation". */
    char *root = tree("nowhere"), *out, *err;
    plant_clean(root);
    put(root, "core/engine/runlock.c", "#include \"engine/runner.h\"\n#include \"egnine/host.h\"\n");
    put(root, "tools/bench.c", "#include \"no_such.h\"\n");
    cr_assert_eq(check(root, &out, &err), 1, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert(strstr(err, "core/engine/runlock.c:2: includes \"egnine/host.h\", which resolves nowhere"),
              "%s", err);
    cr_assert(strstr(err, "tools/bench.c:1: includes \"no_such.h\", which resolves nowhere"), "%s", err);
    free(out); free(err); free(root);
}

Test(layers, file_directly_in_core)
{
    char *root = tree("stray"), *out, *err;
    plant_clean(root);
    put(root, "core/stray.c", "#include \"base/util.h\"\n");
    put(root, "core/misc/other.h", "\n");
    cr_assert_eq(check(root, &out, &err), 1, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert(strstr(err, "core/stray.c: not in a layer folder"), "%s", err);
    cr_assert(strstr(err, "core/misc/other.h: not in a layer folder"), "%s", err);
    free(out); free(err); free(root);
}

Test(layers, usage_errors)
{
    char *root = tree("usage"), *out, *err, *missing = th_path(th_tmpdir(), "no-such-root");
    cr_assert_eq(check(missing, &out, &err), 2, "%s", err);
    cr_assert(strstr(err, "no-such-root"), "%s", err);
    free(out); free(err);
    cr_assert_eq(check(root, &out, &err), 2, "a root without core/: %s", err);
    free(out); free(err);
    plant_clean(root);
    cr_assert_eq(th_run_prog(CHECK_LAYERS, (const char *const[]){ root, root, NULL }, NULL, &out, &err),
                 2, "%s", err);
    free(out); free(err); free(missing); free(root);
}

Test(layers, sixty_files_well_under_a_second)
{
    /* 6 layers of 5 modules (a .c and a .h each): each .h includes the public
     * header, each .c its own header and one of the layer below (base: only
     * its own). */
    static const char *const layer[] = { "base", "config", "db", "engine", "service", "cli" };
    char *root = tree("big"), *out, *err, rel[64], text[256];
    put(root, "include/reconciler.h", "\n");
    for (int l = 0; l < 6; l++) {
        for (int m = 0; m < 5; m++) {
            snprintf(rel, sizeof rel, "core/%s/m%d.h", layer[l], m);
            put(root, rel, "#include \"reconciler.h\"\n");
            snprintf(rel, sizeof rel, "core/%s/m%d.c", layer[l], m);
            if (l == 0)
                snprintf(text, sizeof text, "#include <string.h>\n#include \"base/m%d.h\"\n", m);
            else
                snprintf(text, sizeof text, "#include <string.h>\n#include \"%s/m%d.h\"\n#include \"%s/m%d.h\"\n",
                         layer[l], m, layer[l - 1], (m + 1) % 5);
            put(root, rel, text);
        }
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = check(root, &out, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert_eq(rc, 0, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert_str_eq(out, "check-layers: 61 files, 6 layers, no upward include, no cycle\n");
    cr_assert_lt(secs, 1.0, "check-layers took %.3f s on 61 files", secs);
    free(out); free(err); free(root);
}

/* core/trace sits above db and below engine: engine may use it, it may not use engine. */
Test(layers, trace_layer_between_db_and_engine)
{
    char *root = tree("trace"), *out, *err;
    plant_clean(root);
    put(root, "core/trace/span.h", "#include \"db/db.h\"\n#include \"base/util.h\"\n");
    put(root, "core/trace/span.c", "#include \"trace/span.h\"\n");
    put(root, "core/engine/run.c", "#include \"trace/span.h\"\n#include \"engine/host.h\"\n");
    cr_assert_eq(check(root, &out, &err), 0, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert(strstr(out, "4 layers"), "%s", out);
    free(out); free(err);
    put(root, "core/trace/export.c", "#include \"trace/span.h\"\n#include \"engine/host.h\"\n");
    put(root, "core/db/x.c", "#include \"trace/span.h\"\n");
    cr_assert_eq(check(root, &out, &err), 1, "stdout:\n%s\nstderr:\n%s", out, err);
    cr_assert(strstr(err, "core/trace/export.c:2: includes \"engine/host.h\" (layer core/engine) "
                          "from layer core/trace"), "%s", err);
    cr_assert(strstr(err, "core/db/x.c:1: includes \"trace/span.h\" (layer core/trace) from layer "
                          "core/db"), "%s", err);
    free(out); free(err); free(root);
}

/* x_impl.h is the private half of module x: db.c and db_impl.h are one module. */
Test(layers, impl_header_belongs_to_its_module)
{
    char *root = tree("impl");
    char *out = NULL, *err = NULL;
    put(root, "core/db/db.h", "#include <stddef.h>\n");
    put(root, "core/db/db_impl.h", "#include \"db/db.h\"\n");
    put(root, "core/db/db.c", "#include \"db/db_impl.h\"\n");
    put(root, "core/db/db_mysql.c", "#include \"db/db_impl.h\"\n");
    const char *args[] = { root, NULL };
    cr_assert_eq(th_run_prog(CHECK_LAYERS, args, NULL, &out, &err), 0, "%s", err);
    free(out);
    free(err);
    /* A header with another stem is a module of its own: the cycle is real. */
    put(root, "core/db/driver.h", "#include \"db/db.h\"\n");
    put(root, "core/db/db.c", "#include \"db/driver.h\"\n");
    cr_assert_eq(th_run_prog(CHECK_LAYERS, args, NULL, &out, &err), 1, "%s", out);
    cr_assert(strstr(err, "cycle: db/db -> db/driver -> db/db"), "%s", err);
    free(out);
    free(err);
    free(root);
}

/* The repository itself obeys the rules. */
Test(layers, this_repository_passes)
{
    char *out = NULL, *err = NULL;
    const char *args[] = { ".", NULL };
    cr_assert_eq(th_run_prog(CHECK_LAYERS, args, NULL, &out, &err), 0, "%s", err);
    free(out);
    free(err);
}
