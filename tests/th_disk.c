/* SPDX-License-Identifier: MIT */
/* th_disk.c - see th_disk.h. */
#include "th_disk.h"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* The tmpfs this test mounted: one per test process (each test runs in its own). */
static char g_mnt[PATH_MAX];

void th_unmount_disk(void)
{
    if (g_mnt[0]) {
        umount2(g_mnt, MNT_DETACH);
        g_mnt[0] = '\0';
    }
}

char *th_small_disk(const char *name, const char *size)
{
    char abs[PATH_MAX], opts[32];
    cr_assert_not_null(realpath(th_tmpdir(), abs));
    char *dir = th_path(abs, name);
    cr_assert(mkdir(dir, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", dir, strerror(errno));
    snprintf(opts, sizeof opts, "size=%s", size);
    if (mount("tmpfs", dir, "tmpfs", 0, opts) != 0)
        cr_skip_test("cannot mount a tmpfs at %s (%s): this test needs root", dir,
                     strerror(errno));
    snprintf(g_mnt, sizeof g_mnt, "%s", dir);
    return dir;
}

void th_remount(const char *dir, unsigned long flags)
{
    cr_assert_eq(mount("tmpfs", dir, "tmpfs", MS_REMOUNT | flags, NULL), 0, "remount %s: %s",
                 dir, strerror(errno));
}

char *th_fill_disk(const char *dir)
{
    static char block[16384];
    char *path = th_path(dir, "filler");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    size_t chunk = sizeof block;
    while (chunk > 0) { /* smaller and smaller writes fill the last partial pages too */
        if (write(fd, block, chunk) < 0) {
            cr_assert_eq(errno, ENOSPC, "filling %s: %s", dir, strerror(errno));
            chunk /= 2;
        }
    }
    close(fd);
    return path;
}
