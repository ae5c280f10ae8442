/* SPDX-License-Identifier: MIT */
/*
 * config.c - the pipeline file, from text to checked configuration: libyaml
 * and the YAML tree, the key table (types, ranges, choices, required keys,
 * unknown keys), every step's options against its plugin's table, and the
 * built-in plugins' check(). No file is read and no plugin loaded (see
 * fz_check_pipeline). Properties: no crash, leak or undefined behaviour; a
 * refusal names the file; an accepted file keeps every documented range and
 * loads the same from the text it kept.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    char err[2048];
    if (!quiet++)
        fz_quiet();
    char *text = fz_cstr(data, size);
    (void)fz_check_pipeline("fuzz.yaml", text, err, sizeof err);
    free(text);
    return 0;
}
