/* SPDX-License-Identifier: MIT */
/*
 * th_disk.h - a small filesystem of a test's own: a tmpfs mounted under the
 * test's folder (root only; without the right the test skips and says why),
 * filled to the last byte, remounted, and unmounted whatever happens to the
 * test (use th_unmount_disk as the test's .fini).
 */
#ifndef RC_TH_DISK_H
#define RC_TH_DISK_H

/* A tmpfs of size (e.g. "1m") at TMP/name; its path (malloc'd). Skips without the right. */
char *th_small_disk(const char *name, const char *size);
/* Mount it again with flags (MS_RDONLY, or 0 for read-write). */
void th_remount(const char *dir, unsigned long flags);
/* Take every free byte of the filesystem at dir with one file; its path (malloc'd). */
char *th_fill_disk(const char *dir);
/* Unmount the tmpfs th_small_disk mounted, if any: a test's .fini. */
void th_unmount_disk(void);

#endif
