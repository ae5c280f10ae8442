/* SPDX-License-Identifier: MIT */
/* cmd_new_plugin.c - `reconciler new-plugin NAME [DIR]`: a step plugin's skeleton. */
#include "cli/cli.h"
#include "cli/skeleton.h"
#include "base/text.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char new_plugin_help[] =
    "Usage: reconciler new-plugin NAME [DIR]\n"
    "Write a working step plugin skeleton into DIR (default ./NAME): NAME.c (an\n"
    "options table, check(), run() with a dry-run branch and a chunked write) and\n"
    "a Makefile that builds it against the installed SDK with pkg-config\n"
    "(`make && make install`). NAME is the plugin's name and file name: letters,\n"
    "digits, '_' and '-'. Files that exist are never overwritten (exit 2).\n"
    "See reconciler-plugin(3).\n\n"
    "  -h, --help           this help\n";

/* template with every @NAME@ replaced by name; malloc'd. */
static char *fill(const char *template, const char *name)
{
    static const char mark[] = "@NAME@";
    size_t n = 0, mlen = sizeof mark - 1, nlen = strlen(name);
    for (const char *p = template; (p = strstr(p, mark)); p += mlen)
        n++;
    char *out = xmalloc(strlen(template) + n * nlen + 1), *o = out;
    for (const char *p = template, *hit; *p; p = hit + mlen) {
        if (!(hit = strstr(p, mark))) {
            strcpy(o, p);
            return out;
        }
        memcpy(o, p, (size_t)(hit - p));
        o += hit - p;
        memcpy(o, name, nlen);
        o += nlen;
    }
    *o = '\0';
    return out;
}

/* Create path (never over an existing file) holding text; 0, or -1 after saying why. */
static int write_new(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        cli_error("new-plugin: cannot create %s: %s%s", path, strerror(errno),
                  errno == EEXIST ? " (existing files are never overwritten)" : "");
        return -1;
    }
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            cli_error("new-plugin: cannot write %s: %s", path, strerror(errno));
            close(fd);
            unlink(path);
            return -1;
        }
        done += (size_t)w;
    }
    if (close(fd) != 0) {
        cli_error("new-plugin: cannot write %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

int cmd_new_plugin(int argc, char **argv)
{
    static const struct option longopts[] = { { "help", no_argument, NULL, 'h' },
                                               { NULL, 0, NULL, 0 } };
    char *src_path = NULL, *mk_path = NULL, *src = NULL, *mk = NULL;
    int ch, rc = EXIT_USAGE, wrote_src = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        fputs(new_plugin_help, ch == 'h' ? stdout : stderr);
        return ch == 'h' ? EXIT_OK : EXIT_USAGE;
    }
    if (argc - optind < 1 || argc - optind > 2) {
        fputs(new_plugin_help, stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    const char *dir = argc - optind == 2 ? argv[optind + 1] : name;
    if (!text_name_ok(name, 0)) {
        cli_error("new-plugin: '%.128s' is not a plugin name: %s", name, text_name_rule(0));
        return EXIT_USAGE;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        cli_error("new-plugin: cannot create the folder %s: %s", dir, strerror(errno));
        return EXIT_USAGE;
    }
    src_path = xasprintf("%s/%s.c", dir, name);
    mk_path = xasprintf("%s/Makefile", dir);
    /* Both or neither: look before writing, so that a clash leaves nothing half done. */
    if (access(src_path, F_OK) == 0 || access(mk_path, F_OK) == 0) {
        cli_error("new-plugin: %s already exists: existing files are never overwritten",
                  access(src_path, F_OK) == 0 ? src_path : mk_path);
        goto out;
    }
    src = fill(skeleton_plugin_c, name);
    mk = fill(skeleton_makefile, name);
    if (write_new(src_path, src) != 0)
        goto out;
    wrote_src = 1;
    if (write_new(mk_path, mk) != 0)
        goto out;
    printf("wrote %s and %s\nbuild it with: make -C %s && make -C %s install\n", src_path,
           mk_path, dir, dir);
    rc = EXIT_OK;
out:
    if (rc != EXIT_OK && wrote_src)
        unlink(src_path);
    free(src);
    free(mk);
    free(src_path);
    free(mk_path);
    return rc;
}
