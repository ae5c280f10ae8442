/* SPDX-License-Identifier: MIT */
/*
 * paths.h - the folders a binary was built for.
 *
 * Defined by one generated file per binary (tools/make/install.mk writes it):
 * the in-tree binaries ($(BUILD)/reconciler, the tests) get the build's own
 * plugin folder, so they work straight from the checkout; the binary that
 * `make install` links gets the prefix's folders. Nothing else differs
 * between the two, and nothing is looked up beside the executable.
 */
#ifndef RC_PATHS_H
#define RC_PATHS_H

/* plugin_dir when the pipeline file sets none: an absolute folder. */
extern const char rc_default_plugin_dir[];

/*
 * The folder for plugins of one's own, searched after rc_default_plugin_dir
 * when the pipeline file sets no plugin_dir: /usr/local/lib/reconciler/plugins
 * for the Debian package (whose own folder dpkg owns), PREFIX/lib/... for a
 * source install. Empty when there is none: the in-tree build, or a
 * prefix where it is the default folder itself.
 */
extern const char rc_local_plugin_dir[];

/* The pipeline file when neither -c nor $RECONCILER_CONFIG gives one. */
extern const char rc_default_config[];

/*
 * The environment variable that names the binary a supervisor starts as its
 * step workers instead of itself: "RECONCILER_WORKER" in the in-tree
 * (test) builds, whose test binary is not reconciler; "" in the installed
 * binary, which always starts itself (/proc/self/exe).
 */
extern const char rc_worker_env[];

#endif
