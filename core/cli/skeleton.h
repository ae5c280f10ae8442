/* SPDX-License-Identifier: MIT */
/*
 * skeleton.h - the templates `reconciler new-plugin` writes, compiled in from
 * the .in files of core/cli/skeleton/ by tools/embed-text. Every @NAME@ in them becomes
 * the plugin's name.
 */
#ifndef RC_CLI_SKELETON_H
#define RC_CLI_SKELETON_H

extern const char skeleton_plugin_c[]; /* NAME.c */
extern const char skeleton_makefile[]; /* Makefile */

#endif
