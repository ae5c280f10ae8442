/* SPDX-License-Identifier: MIT */
/*
 * version.h - the binary's version, for the layers that report it (the API's
 * build info). Its one source is the file VERSION, which the Makefile passes
 * to main.c only (-DRC_VERSION); main hands it on here before any command.
 */
#ifndef RC_VERSION_H
#define RC_VERSION_H

/* Set once, by main, before any thread starts (v: a string literal). */
void rc_version_set(const char *v);
/* The version, or "unknown" when main did not set it (tests that link the core alone). */
const char *rc_version(void);

#endif
