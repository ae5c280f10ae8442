/* SPDX-License-Identifier: MIT */
/* test_plugin.c - the loader: a good fixture and every refusal. */
#include "helpers.h"
#include "engine/plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *fixture(const char *name)
{
    char *p = NULL;
    cr_assert_neq(asprintf(&p, "%s/tests/plugins/%s.so", th_build(), name), -1);
    return p;
}

/* Load name.so expecting a refusal; return the message (static). */
static const char *refusal(const char *name)
{
    static char err[1024];
    char *path = fixture(name);
    plugin *p = (plugin *)0x1;
    err[0] = '\0';
    cr_assert_eq(plugin_load_file(path, name, &p, err, sizeof err), -1, "%s loaded", name);
    cr_assert_null(p);
    cr_assert(strstr(err, path), "message names the file: %s", err);
    free(path);
    return err;
}

Test(plugin, loads_fixture)
{
    char err[1024] = "";
    char *path = fixture("fixture");
    plugin *p = NULL;
    cr_assert_eq(plugin_load_file(path, "fixture", &p, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(p->desc->name, "fixture");
    cr_assert_str_eq(p->desc->version, "1.2.3");
    cr_assert_eq(p->desc->abi_major, RC_ABI_MAJOR);
    cr_assert_not_null(p->desc->run);
    cr_assert_str_eq(p->desc->options[0].name, "value");
    plugin_free(p);
    free(path);
}

Test(plugin, refuses_wrong_abi_major)
{
    const char *e = refusal("badabi");
    cr_assert(strstr(e, "ABI major version 99 instead of 1"), "%s", e);
}

Test(plugin, refuses_newer_abi_minor)
{
    const char *e = refusal("newminor");
    char want[64];
    snprintf(want, sizeof want, "ABI %d.%d but this reconciler provides %d.%d", RC_ABI_MAJOR,
             RC_ABI_MINOR + 1, RC_ABI_MAJOR, RC_ABI_MINOR);
    cr_assert(strstr(e, want), "%s", e);
}

/* ABI 1.4: a newer minor that needs no more than ours loads, and runs its callbacks. */
Test(plugin, loads_newer_minor_that_needs_ours)
{
    char err[1024] = "";
    char *path = fixture("newminor_fits");
    plugin *p = NULL;
    cr_assert_eq(plugin_load_file(path, "newminor_fits", &p, err, sizeof err), 0, "%s", err);
    cr_assert_eq(p->desc->abi_minor, RC_ABI_MINOR + 1);
    cr_assert_eq(p->desc->min_abi_minor, RC_ABI_MINOR);
    cr_assert_not_null(plugin_check_fn(p), "its check() is found as in any descriptor");
    cr_assert_null(plugin_prepare_fn(p));
    plugin_free(p);
    free(path);
}

Test(plugin, refuses_newer_minor_that_needs_more_than_ours)
{
    const char *e = refusal("newminor_needs");
    char want[128];
    snprintf(want, sizeof want, "built for ABI %d.%d needs at least %d.%d but this reconciler "
             "provides %d.%d", RC_ABI_MAJOR, RC_ABI_MINOR + 2, RC_ABI_MAJOR, RC_ABI_MINOR + 1,
             RC_ABI_MAJOR, RC_ABI_MINOR);
    cr_assert(strstr(e, want), "%s", e);
}

/* An older descriptor has no min_abi_minor: what lies past its size is never read. */
Test(plugin, loads_descriptor_without_min_minor)
{
    char err[1024] = "";
    char *path = fixture("old12");
    plugin *p = NULL;
    cr_assert_eq(plugin_load_file(path, "old12", &p, err, sizeof err), 0, "%s", err);
    cr_assert_eq(p->desc->size, offsetof(rc_plugin, min_abi_minor));
    plugin_free(p);
    free(path);
}

Test(plugin, refuses_small_descriptor)
{
    const char *e = refusal("small");
    cr_assert(strstr(e, "descriptor is 16 bytes, expected at least 72"), "%s", e);
}

Test(plugin, refuses_missing_name)
{
    const char *e = refusal("noname");
    cr_assert(strstr(e, "has no name"), "%s", e);
}

Test(plugin, refuses_missing_run)
{
    const char *e = refusal("norun");
    cr_assert(strstr(e, "has no run callback"), "%s", e);
}

Test(plugin, refuses_name_that_differs_from_file)
{
    const char *e = refusal("misnamed");
    cr_assert(strstr(e, "calls itself 'other' but its file is named 'misnamed.so'"), "%s", e);
}

Test(plugin, refuses_missing_symbol)
{
    const char *e = refusal("nosym");
    cr_assert(strstr(e, "no symbol 'reconciler_plugin'"), "%s", e);
}

Test(plugin, refuses_bad_option_default)
{
    const char *e = refusal("badopt");
    cr_assert(strstr(e, "limit"), "%s", e);
    cr_assert(strstr(e, "lots"), "%s", e);
}

Test(plugin, refuses_symlink_and_missing_file)
{
    char err[1024];
    plugin *p;
    char *target = fixture("fixture");
    char *link = th_path(th_tmpdir(), "fixture.so");
    char abs[4096];
    cr_assert_not_null(realpath(target, abs));
    cr_assert_eq(symlink(abs, link), 0);
    cr_assert_eq(plugin_load_file(link, "fixture", &p, err, sizeof err), -1);
    cr_assert(strstr(err, "not a regular file"), "%s", err);
    char *missing = th_path(th_tmpdir(), "absent.so");
    cr_assert_eq(plugin_load_file(missing, "absent", &p, err, sizeof err), -1);
    cr_assert(strstr(err, "No such file"), "%s", err);
    free(target);
    free(link);
    free(missing);
}

static void copy_file(const char *from, const char *to)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    cr_assert_eq(system(cmd), 0);
}

Test(plugin, registry_loads_once_and_refuses_duplicate)
{
    char err[2048];
    char *a = th_path(th_tmpdir(), "a"), *b = th_path(th_tmpdir(), "b");
    char *src = fixture("fixture");
    mkdir(a, 0755);
    mkdir(b, 0755);
    char *fa = th_path(a, "fixture.so");
    copy_file(src, fa);

    /* One folder: loaded once, the second get returns the same plugin. */
    char *dirs[] = { a, b };
    plugin_registry r;
    registry_init(&r, dirs, 2);
    plugin *p1, *p2;
    cr_assert_eq(registry_get(&r, "fixture", &p1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(registry_get(&r, "fixture", &p2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(p1, p2);
    cr_assert_eq(r.n, 1);
    registry_free(&r);

    /* The same name in both folders: refused, naming both files. */
    char *fb = th_path(b, "fixture.so");
    copy_file(src, fb);
    registry_init(&r, dirs, 2);
    cr_assert_eq(registry_get(&r, "fixture", &p1, err, sizeof err), -1);
    cr_assert(strstr(err, "found twice") && strstr(err, fa) && strstr(err, fb), "%s", err);
    cr_assert_eq(r.n, 0);

    /* Unknown name: names the folders searched. */
    cr_assert_eq(registry_get(&r, "nothere", &p1, err, sizeof err), -1);
    cr_assert(strstr(err, "plugin 'nothere' not found") && strstr(err, a) && strstr(err, b), "%s", err);
    /* Invalid name never reaches the file system. */
    cr_assert_eq(registry_get(&r, "../etc/x", &p1, err, sizeof err), -1);
    cr_assert(strstr(err, "not a valid plugin name"), "%s", err);
    registry_free(&r);
    free(a); free(b); free(fa); free(fb); free(src);
}

Test(plugin, name_rule_boundaries)
{
    char name[80];
    memset(name, 'a', 64);
    name[64] = '\0';
    cr_assert(plugin_name_valid(name));
    name[64] = 'a';
    name[65] = '\0';
    cr_assert_not(plugin_name_valid(name));
    cr_assert_not(plugin_name_valid(""));
    cr_assert(plugin_name_valid("a-b_C9"));
    cr_assert_not(plugin_name_valid("a.b"));
}
