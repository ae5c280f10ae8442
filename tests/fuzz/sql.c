/* SPDX-License-Identifier: MIT */
/*
 * sql.c - the sql step's statement checks (plugins/sql.c, its check(), the
 * part that needs no database): identifiers, one statement per option, no
 * comment or '?', balanced parentheses and quotes, read-only queries, and a
 * where that is not always true. The options go through a pipeline file
 * (fz_check_pipeline), as a user writes them.
 *
 * Input: byte 0 picks allow_all (bit 0); the rest is table, key, where, set
 * and query, one per line (a missing one is left at its default).
 * Properties, when check() accepts: no option holds ';' or '?'; table and key
 * are plain identifiers; a query starts with SELECT or WITH.
 */
#include "fuzz.h"
#include "base/util.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_FIELDS 5
static const char *const names[N_FIELDS] = { "table", "key", "where", "set", "query" };

static int identifier(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 64 && (isalpha((unsigned char)s[0]) || s[0] == '_') &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    char *field[N_FIELDS] = { NULL }, *rest, err[4096];
    if (!quiet++)
        fz_quiet();
    if (size < 1)
        return 0;
    int allow_all = data[0] & 1;
    rest = fz_cstr(data + 1, size - 1);
    char *text = xasprintf("steps:\n  - plugin: sql\n    options:\n      allow_all: %s\n",
                           allow_all ? "true" : "false");
    char *p = rest;
    for (int i = 0; i < N_FIELDS && p; i++) {
        char *nl = strchr(p, '\n');
        field[i] = xstrndup(p, nl ? (size_t)(nl - p) : strlen(p));
        p = nl ? nl + 1 : NULL;
        char *q = fz_yaml_quote(field[i]), *more = xasprintf("%s      %s: %s\n", text, names[i], q);
        free(q);
        free(text);
        text = more;
    }
    if (fz_check_pipeline("fuzz.yaml", text, err, sizeof err) == 0) {
        for (int i = 0; i < N_FIELDS && field[i]; i++)
            FZ_ASSERT(!strchr(field[i], ';') && !strchr(field[i], '?'),
                      "%s '%s' was accepted", names[i], field[i]);
        int read = field[4] && *field[4];
        if (!read && field[0])
            FZ_ASSERT(identifier(field[0]), "table '%s' was accepted", field[0]);
        if (!read && field[1] && *field[1])
            FZ_ASSERT(identifier(field[1]), "key '%s' was accepted", field[1]);
        if (read) {
            const char *q = field[4] + strspn(field[4], " \t\n\r(");
            FZ_ASSERT(strncasecmp(q, "select", 6) == 0 || strncasecmp(q, "with", 4) == 0,
                      "query '%s' was accepted", field[4]);
        }
    }
    for (int i = 0; i < N_FIELDS; i++)
        free(field[i]);
    free(text);
    free(rest);
    return 0;
}
