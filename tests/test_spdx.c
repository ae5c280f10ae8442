/* SPDX-License-Identifier: MIT */
/*
 * test_spdx.c - the licence (docs/build.md): LICENSE and the package's
 * copyright say MIT, and tools/spdx adds and checks the SPDX line of each
 * source file, in the file's own comment syntax. Run on copies in a
 * temporary folder: the tree itself is not changed here.
 */
#include "helpers.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SPDX_ID "SPDX-License-Identifier: MIT"

/* tools/spdx MODE on the files of dir named in names (NULL-terminated, at most 8). */
static int spdx(const char *mode, const char *dir, const char *const *names, char **out, char **err)
{
    char *paths[8] = { 0 };
    const char *args[10] = { mode };
    size_t n = 0;
    for (; names[n]; n++) {
        cr_assert_lt(n, 8);
        paths[n] = th_path(dir, names[n]);
        args[n + 1] = paths[n];
    }
    args[n + 1] = NULL;
    int rc = th_run_prog("tools/spdx", args, NULL, out, err);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    return rc;
}

/* The first line of dir/name that is not a #! line, malloc'd. */
static char *line_of(const char *dir, const char *name, int nth)
{
    char *p = th_path(dir, name), *text = th_read(p);
    cr_assert_not_null(text, "cannot read %s", p);
    char *l = text;
    for (int i = 1; i < nth && l; i++)
        l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL;
    cr_assert_not_null(l, "%s has fewer than %d lines", p, nth);
    char *line = strndup(l, strcspn(l, "\n"));
    free(text);
    free(p);
    return line;
}

Test(spdx, fix_adds_the_line_in_each_syntax_then_check_passes)
{
    const char *d = th_tmpdir();
    char *p;
    const struct { const char *name, *text; } files[] = {
        { "a.c", "/* a.c - a file. */\nint a(void);\nint a(void) { return 1; }\n" },
        { "a.h", "#ifndef A_H\n#define A_H\n#endif\n" },
        { "run", "#!/bin/sh\n# Usage: run\nexit 0\n" },
        { "x.mk", "# a make file\nX = 1\n" },
        { "Makefile", "all:\n\t@true\n" },
        { "t.sql", "-- 001: a table\nCREATE TABLE t (id INT);\n" },
        { "p.py", "\"\"\"A module.\"\"\"\n" },
        { "notes.md", "# Notes\n" },
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        p = th_path(d, files[i].name);
        th_write(p, files[i].text);
        free(p);
    }
    p = th_path(d, "run");
    cr_assert_eq(chmod(p, 0755), 0);
    free(p);

    const char *sources[] = { "a.c", "a.h", "run", "x.mk", "Makefile", "t.sql", "p.py", "notes.md", NULL };
    char *out = NULL, *err = NULL;
    cr_assert_eq(spdx("--check", d, sources, &out, &err), 1, "%s%s", out, err);
    for (size_t i = 0; i < 7; i++)
        cr_assert(strstr(out, sources[i]), "--check does not name %s:\n%s", sources[i], out);
    cr_assert(!strstr(out, "notes.md"), "a document is not a source file:\n%s", out);
    free(out);
    free(err);

    cr_assert_eq(spdx("--fix", d, sources, &out, &err), 0, "%s%s", out, err);
    cr_assert(strstr(out, "spdx: 7 file(s) changed"), "%s", out);
    free(out);
    free(err);
    const struct { const char *name; int nth; const char *want; } lines[] = {
        { "a.c", 1, "/* " SPDX_ID " */" },   { "a.c", 2, "/* a.c - a file. */" },
        { "a.h", 1, "/* " SPDX_ID " */" },   { "run", 1, "#!/bin/sh" },
        { "run", 2, "# " SPDX_ID },          { "run", 3, "# Usage: run" },
        { "x.mk", 1, "# " SPDX_ID },         { "Makefile", 1, "# " SPDX_ID },
        { "t.sql", 1, "-- " SPDX_ID },       { "t.sql", 2, "-- 001: a table" },
        { "p.py", 1, "# " SPDX_ID },         { "notes.md", 1, "# Notes" },
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char *l = line_of(d, lines[i].name, lines[i].nth);
        cr_assert_str_eq(l, lines[i].want, "%s line %d", lines[i].name, lines[i].nth);
        free(l);
    }
    struct stat st;
    p = th_path(d, "run");
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0755, "the script lost its mode: %o", st.st_mode & 0777);
    free(p);

    /* The C file still compiles; a second --fix changes nothing; --check passes. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cc -std=c11 -Wall -Werror -c -o /dev/null %s/a.c", d);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    cr_assert_eq(spdx("--fix", d, sources, &out, &err), 0, "%s%s", out, err);
    cr_assert(strstr(out, "spdx: 0 file(s) changed"), "%s", out);
    free(out);
    free(err);
    cr_assert_eq(spdx("--check", d, sources, &out, &err), 0, "%s%s", out, err);
    free(out);
    free(err);
}

Test(spdx, another_licence_is_reported_and_kept)
{
    const char *d = th_tmpdir();
    char *p = th_path(d, "gpl.c");
    const char *text = "/* SPDX-License-Identifier: GPL-2.0-only */\nint x;\n";
    th_write(p, text);
    const char *names[] = { "gpl.c", NULL };
    char *out = NULL, *err = NULL;
    cr_assert_eq(spdx("--check", d, names, &out, &err), 1);
    cr_assert(strstr(err, "gpl.c: names SPDX-License-Identifier: GPL-2.0-only, not MIT"), "%s", err);
    free(out);
    free(err);
    cr_assert_eq(spdx("--fix", d, names, &out, &err), 1);
    free(out);
    free(err);
    char *after = th_read(p);
    cr_assert_str_eq(after, text, "--fix changed a file under another licence");
    free(after);
    free(p);
}

Test(spdx, the_tree_and_the_package_say_mit)
{
    char *lic = th_read("LICENSE");
    cr_assert_not_null(lic, "no LICENSE at the top of the tree");
    cr_assert_eq(strncmp(lic, "MIT License\n", 12), 0, "LICENSE: %.40s", lic);
    cr_assert(strstr(lic, "Permission is hereby granted, free of charge"));
    /* Debian's machine-readable format (DEP-5): the files' paragraph names
     * MIT, and a stand-alone paragraph holds its text. */
    char *cp = th_read("conf/deb/copyright");
    cr_assert_not_null(cp);
    cr_assert(strstr(cp, "\nFiles: *\nCopyright: "), "%s", cp);
    cr_assert(strstr(cp, "\nLicense: MIT\n\nLicense: MIT\n Permission is hereby granted"), "%s", cp);
    cr_assert(!strstr(cp, "not yet published"), "%s", cp);
    free(cp);
    free(lic);
}

/* Every source file git tracks carries the line (tools/spdx --check on the tree). */
Test(spdx, every_source_file_says_mit)
{
    char *out = NULL, *err = NULL;
    const char *const args[] = { "--check", NULL };
    int rc = th_run_prog("tools/spdx", args, NULL, &out, &err);
    cr_assert_eq(rc, 0, "tools/spdx --check (run `tools/spdx --fix`):\n%s%s", out, err);
    free(out);
    free(err);
}
