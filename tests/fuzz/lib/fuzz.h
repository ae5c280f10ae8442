/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - what the libFuzzer harnesses (tests/fuzz/NAME.c) share.
 *
 * A harness is one file that defines LLVMFuzzerTestOneInput; it is linked
 * with the core built by clang under ASan + UBSan ($(BUILD)/fuzz/libcore.a),
 * with this library, and with every built-in step plugin (plugins/NAME.c,
 * compiled in, never dlopen()ed: see fz_plugin). A harness touches no file,
 * no network and no database.
 */
#ifndef RC_FUZZ_H
#define RC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "reconciler.h"

/*
 * A property that must hold for every input. On failure the message and the
 * condition go to stderr and the harness abort()s, which libFuzzer reports as
 * a crash and saves the input for.
 */
#define FZ_ASSERT(cond, ...)                                                            \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz: %s:%d: property failed: %s: ", __FILE__, __LINE__,   \
                    #cond);                                                             \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
            abort();                                                                    \
        }                                                                               \
    } while (0)

/* The input as a C string (malloc'd): it ends at its first NUL byte, if any. */
char *fz_cstr(const uint8_t *data, size_t size);

/*
 * Split the input at its first byte sep: *a and *b are malloc'd C strings
 * (b is "" when sep is absent). For harnesses that take two texts.
 */
void fz_split(const uint8_t *data, size_t size, char sep, char **a, char **b);

/* The built-in plugins' entries: a table that tools/make/fuzz.mk makes. */
typedef struct fz_builtin {
    const char *name;
    const rc_plugin *(*entry)(void);
} fz_builtin;
extern const fz_builtin fz_builtins[];
extern const size_t fz_n_builtins;

/* Log errors only: the fuzzer's own lines stay readable. Call once. */
void fz_quiet(void);

/*
 * A built-in step plugin by name (plugins/NAME.c, compiled into the harness
 * with its entry renamed), or NULL. The list is made by tools/make/fuzz.mk
 * from plugins/NAME.c, so a new plugin is there without editing anything here.
 */
const rc_plugin *fz_plugin(const char *name);

/*
 * From pipeline text to a checked pipeline, as `validate` does it but without
 * loading any file: config_load_text (path names the file in messages and
 * anchors relative paths, which are only computed, never opened), then each
 * step's options against its plugin's table (fz_plugin; a plugin that is not
 * built in gets a table with one option of every type, one of them
 * required), then each plugin's check(). Returns 0, or -1 with err. On 0 it
 * also asserts what a checked configuration promises (ranges, names).
 */
int fz_check_pipeline(const char *path, const char *text, char *err, size_t errlen);

/*
 * text as a YAML double-quoted scalar (malloc'd): control characters, '"'
 * and '\\' escaped, other bytes as they are (libyaml refuses text that is
 * not UTF-8, as it would in a file). For harnesses that place fuzzed text as
 * one value in a pipeline file (a plugin's option, e.g. an SQL statement).
 */
char *fz_yaml_quote(const char *text);

#endif
