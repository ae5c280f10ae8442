/* SPDX-License-Identifier: MIT */
/*
 * duration.c - the option parsers: durations ("1h30m", a bare number is
 * seconds) and, on the same text, every other option type (opt_parse).
 * Properties: an accepted duration is 0 or more and survives
 * duration_format -> duration_parse unchanged; duration_format never writes
 * past its buffer (sizes from 1 byte up) and what it writes is a prefix of
 * the whole text; an int parses exactly as strtoll reads a plain decimal; a
 * double is finite.
 */
#include "fuzz.h"
#include "config/options.h"

#include <errno.h>
#include <math.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A plain decimal: an optional sign, then digits only. */
static int plain_decimal(const char *s)
{
    s += *s == '+' || *s == '-';
    return *s && s[strspn(s, "0123456789")] == '\0';
}

static void check_format(int64_t ms)
{
    char whole[64], cut[64], back_err[256];
    int64_t back = -1;
    opt_value v;
    duration_format(ms, whole, sizeof whole);
    FZ_ASSERT(strlen(whole) < sizeof whole - 1, "'%s' may have been cut", whole);
    FZ_ASSERT(duration_parse(whole, &back) == 0 && back == ms,
              "%lld ms formats as '%s', which parses as %lld", (long long)ms, whole,
              (long long)back);
    FZ_ASSERT(opt_parse(RC_OPT_DURATION, whole, &v, back_err, sizeof back_err) == 0 && v.i == ms,
              "opt_parse('%s'): %s", whole, back_err);
    for (size_t n = 1; n <= strlen(whole) + 1; n++) {
        memset(cut, 'X', sizeof cut);
        duration_format(ms, cut, n);
        FZ_ASSERT(memchr(cut, '\0', n) != NULL, "not terminated within %zu bytes", n);
        FZ_ASSERT(cut[n] == 'X', "wrote past %zu bytes", n);
        FZ_ASSERT(strncmp(cut, whole, strlen(cut)) == 0, "'%s' is not a prefix of '%s'", cut,
                  whole);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_cstr(data, size), err[512];
    int64_t ms = -1;
    opt_value v;

    int rc = duration_parse(s, &ms);
    if (rc == 0) {
        FZ_ASSERT(ms >= 0, "'%s' parsed as %lld ms", s, (long long)ms);
        check_format(ms);
    }
    FZ_ASSERT((opt_parse(RC_OPT_DURATION, s, &v, err, sizeof err) == 0) == (rc == 0),
              "opt_parse and duration_parse disagree on '%s'", s);
    if (rc == 0)
        FZ_ASSERT(v.i == ms, "opt_parse and duration_parse disagree on '%s'", s);

    /* Ints: exactly the plain decimals strtoll reads whole and in range. */
    errno = 0;
    long long ref = plain_decimal(s) ? strtoll(s, NULL, 10) : 0;
    int ref_ok = plain_decimal(s) && errno == 0;
    int got = opt_parse(RC_OPT_INT, s, &v, err, sizeof err);
    FZ_ASSERT((got == 0) == ref_ok, "int '%s': opt_parse %d, strtoll %s", s, got,
              ref_ok ? "ok" : "refuses");
    if (ref_ok)
        FZ_ASSERT(v.i == ref, "int '%s': %lld, strtoll %lld", s, (long long)v.i, ref);

    if (opt_parse(RC_OPT_DOUBLE, s, &v, err, sizeof err) == 0)
        FZ_ASSERT(isfinite(v.d), "double '%s' is not finite", s);
    if (opt_parse(RC_OPT_BOOL, s, &v, err, sizeof err) == 0)
        FZ_ASSERT(v.b == 0 || v.b == 1, "bool '%s' is %d", s, v.b);
    FZ_ASSERT(opt_parse(RC_OPT_STRING, s, &v, err, sizeof err) == 0 && strcmp(v.s, s) == 0,
              "string");
    opt_value_free(&v);

    /* Any number of ms formats and parses back, negative ones as "-". */
    if (size >= 8) {
        int64_t raw;
        memcpy(&raw, data, sizeof raw);
        if (raw >= 0)
            check_format(raw);
        else {
            char out[8];
            duration_format(raw, out, sizeof out);
            FZ_ASSERT(strcmp(out, "-") == 0, "%lld formats as '%s'", (long long)raw, out);
        }
    }
    free(s);
    return 0;
}
