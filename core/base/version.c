/* SPDX-License-Identifier: MIT */
/* version.c - see version.h. */
#include "base/version.h"

static const char *g_version = "unknown";

void rc_version_set(const char *v)
{
    g_version = v ? v : "unknown";
}

const char *rc_version(void)
{
    return g_version;
}
