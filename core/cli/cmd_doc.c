/*
 * cmd_doc.c - `reconciler __doc keys|plugins DIR`: what the manual pages are
 * generated from (tools/make/install.mk), in scdoc. Not for people.
 */
#include "cli/cli.h"
#include "config/options.h"
#include "engine/plugin.h"
#include "base/util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* scdoc marks *bold* and _underline_ and escapes with a backslash. */
static void scdoc_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '*' || *s == '_' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
}

/* text as a sentence: its first letter capitalized. */
static void scdoc_sentence(FILE *f, const char *s)
{
    if (!s || !*s)
        return;
    fputc(*s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s, f);
    scdoc_text(f, s + 1);
}

static void doc_plugin(FILE *f, const rc_plugin *d)
{
    fputs("## ", f);
    scdoc_text(f, d->name);
    fputs("\n\n", f);
    scdoc_text(f, d->description);
    fputs(". Version ", f);
    scdoc_text(f, d->version);
    fputs(".\n\n", f);
    if (!d->options || !d->options[0].name) {
        fputs("No options.\n\n", f);
        return;
    }
    for (const rc_option *o = d->options; o->name; o++) {
        fputc('*', f);
        scdoc_text(f, o->name);
        fputs("*\n\t", f);
        scdoc_sentence(f, o->description);
        fputs(".\n\tType: ", f);
        scdoc_text(f, opt_type_name(o->type));
        fputs(". Default: ", f);
        scdoc_text(f, o->default_value ? o->default_value : "none (required)");
        fputs(".\n\n", f);
    }
}

/* Every plugin of dir, by name, with its options table. */
static int doc_plugins(FILE *f, const char *dir)
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
            if (plugin_load_file(path, name, &p, err, sizeof err) != 0) {
                cli_error("%s: %s", DOC_COMMAND, err);
                bad = 1;
            } else {
                doc_plugin(f, p->desc);
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
    int rc = -1;
    if (argc == 2 && strcmp(argv[1], "keys") == 0) {
        /* From the table that checks the file and prints `validate --help`. */
        config_doc(stdout);
        rc = EXIT_OK;
    } else if (argc == 3 && strcmp(argv[1], "plugins") == 0) {
        rc = doc_plugins(stdout, argv[2]);
    }
    if (rc < 0) {
        fprintf(stderr, "usage: reconciler %s keys | plugins DIR\n", DOC_COMMAND);
        return EXIT_USAGE;
    }
    return fflush(stdout) == 0 ? rc : EXIT_USAGE;
}
