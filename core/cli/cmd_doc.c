/* SPDX-License-Identifier: MIT */
/*
 * cmd_doc.c - `reconciler __doc keys|plugins DIR [--markdown]`: what the
 * manual pages are generated from (tools/make/install.mk), in scdoc, and the
 * generated sections of docs/configuration.md (tools/make/docs.mk), in
 * Markdown. Not for people.
 */
#include "cli/cli.h"
#include "config/config.h"
#include "config/options.h"
#include "engine/plugin.h"
#include "engine/supervisor.h"
#include "base/util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void doc_plugin(FILE *f, doc_format fmt, const rc_plugin *d)
{
    /* In docs/steps.md, beside the steps' own sections of the same names. */
    if (fmt == DOC_MARKDOWN) {
        fputs("### Options of ", f);
        doc_code(f, fmt, d->name);
    } else {
        fputs("## ", f);
        doc_text(f, fmt, d->name);
    }
    fputs("\n\n", f);
    doc_text(f, fmt, d->description);
    fputs(". Version ", f);
    doc_text(f, fmt, d->version);
    fputs(".\n\n", f);
    if (!d->options || !d->options[0].name) {
        fputs("No options.\n\n", f);
        return;
    }
    if (fmt == DOC_MARKDOWN)
        fputs("| option | type | default | meaning |\n|---|---|---|---|\n", f);
    for (const rc_option *o = d->options; o->name; o++) {
        if (fmt == DOC_MARKDOWN) {
            fputs("| ", f);
            doc_code(f, fmt, o->name);
            fputs(" | ", f);
            doc_code(f, fmt, opt_type_name(o->type));
            fputs(" | ", f);
            if (o->default_value && *o->default_value)
                doc_code(f, fmt, o->default_value);
            else
                fputs(o->default_value ? "none" : "none (required)", f);
            fputs(" | ", f);
            doc_sentence(f, fmt, o->description);
            fputs(" |\n", f);
            continue;
        }
        fputc('*', f);
        doc_text(f, fmt, o->name);
        fputs("*\n\t", f);
        doc_sentence(f, fmt, o->description);
        fputs(".\n\tType: ", f);
        doc_text(f, fmt, opt_type_name(o->type));
        fputs(". Default: ", f);
        doc_text(f, fmt, !o->default_value ? "none (required)"
                         : *o->default_value ? o->default_value : "none");
        fputs(".\n\n", f);
    }
    if (fmt == DOC_MARKDOWN)
        fputc('\n', f);
}

/* Every plugin of dir, by name, with its options table. */
static int doc_plugins(FILE *f, doc_format fmt, const char *dir)
{
    struct dirent **names = NULL;
    int bad = 0, n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        cli_error("%s: cannot read %s: %m", DOC_COMMAND, dir);
        return EXIT_USAGE;
    }
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]->d_name);
        if (len > 3 && strcmp(names[i]->d_name + len - 3, ".so") == 0) {
            char err[1024], *path = xasprintf("%s/%s", dir, names[i]->d_name);
            char *name = xstrndup(names[i]->d_name, len - 3);
            plugin *p = NULL;
            /* Loaded in a worker: a plugin's constructor does not run here. */
            if (supervise_describe(path, name, &p, err, sizeof err) != 0) {
                cli_error("%s: %s", DOC_COMMAND, err);
                bad = 1;
            } else {
                doc_plugin(f, fmt, p->desc);
            }
            plugin_free(p);
            free(name);
            free(path);
        }
        free(names[i]);
    }
    free(names);
    return bad ? EXIT_USAGE : EXIT_OK;
}

int cmd_doc(int argc, char **argv)
{
    doc_format fmt = DOC_SCDOC;
    int rc = -1;
    /* --markdown last: the Markdown of docs/ (tools/make/docs.mk) instead of scdoc. */
    if (argc >= 2 && strcmp(argv[argc - 1], "--markdown") == 0) {
        fmt = DOC_MARKDOWN;
        argc--;
    }
    if (argc == 2 && strcmp(argv[1], "keys") == 0) {
        /* From the table that checks the file and prints `validate --help`. */
        config_doc(stdout, fmt);
        rc = EXIT_OK;
    } else if (argc == 3 && strcmp(argv[1], "plugins") == 0) {
        rc = doc_plugins(stdout, fmt, argv[2]);
    }
    if (rc < 0) {
        fprintf(stderr, "usage: reconciler %s keys [--markdown] | plugins DIR [--markdown]\n",
                DOC_COMMAND);
        return EXIT_USAGE;
    }
    return fflush(stdout) == 0 ? rc : EXIT_USAGE;
}
