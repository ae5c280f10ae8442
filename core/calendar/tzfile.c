/* SPDX-License-Identifier: MIT */
/*
 * tzfile.c - cal_zone_open: zone names checked and looked up under the zone
 * folder, TZif files (RFC 8536) read and checked into a cal_zone. The only
 * file in calendar/ that does I/O.
 *
 * A TZif file: a 44-byte header and version 1 data with 32-bit times, then
 * (version 2 and later) a second header and the same data with 64-bit times,
 * then a footer "\nTZ string\n" for instants after the last transition. We
 * skip the version 1 data when version 2 data follows, and check every count,
 * index and offset before trusting it: a truncated or foreign file is an
 * error naming the zone, never a wrong offset.
 */
#include "calendar/zone_impl.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TZIF_MAX_SIZE (1 << 20) /* real files are a few kB */
#define NAME_MAX_LEN 255

/* A byte reader over the file's contents. */
typedef struct rd {
    const unsigned char *p, *end;
} rd;

static int need(const rd *r, size_t n)
{
    return (size_t)(r->end - r->p) >= n;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzhead {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} tzhead;

static int read_head(rd *r, tzhead *h, char *why, size_t whylen)
{
    if (!need(r, 44) || memcmp(r->p, "TZif", 4) != 0) {
        snprintf(why, whylen, "not a compiled zone file (no TZif header)");
        return -1;
    }
    h->version = (char)r->p[4];
    h->isutcnt = be32(r->p + 20);
    h->isstdcnt = be32(r->p + 24);
    h->leapcnt = be32(r->p + 28);
    h->timecnt = be32(r->p + 32);
    h->typecnt = be32(r->p + 36);
    h->charcnt = be32(r->p + 40);
    r->p += 44;
    if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0 || h->charcnt > 65536 ||
        (h->isutcnt && h->isutcnt != h->typecnt) || (h->isstdcnt && h->isstdcnt != h->typecnt) ||
        h->timecnt > 1000000 || h->leapcnt > 100000) {
        snprintf(why, whylen, "corrupt TZif header (counts out of range)");
        return -1;
    }
    return 0;
}

static size_t data_len(const tzhead *h, size_t tsize)
{
    return h->timecnt * tsize + h->timecnt + h->typecnt * 6 + h->charcnt +
           h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

/* The data block after header h, times tsize (4 or 8) bytes wide, into z. */
static int read_data(rd *r, const tzhead *h, size_t tsize, cal_zone *z, char *why, size_t whylen)
{
    if (!need(r, data_len(h, tsize))) {
        snprintf(why, whylen, "truncated zone file");
        return -1;
    }
    if (h->leapcnt) {
        snprintf(why, whylen, "it counts leap seconds (a \"right/\" zone), which Unix time does not");
        return -1;
    }
    z->ntrans = h->timecnt;
    z->trans = xmalloc((h->timecnt ? h->timecnt : 1) * sizeof *z->trans);
    z->trans_type = xmalloc(h->timecnt ? h->timecnt : 1);
    for (size_t i = 0; i < h->timecnt; i++, r->p += tsize) {
        z->trans[i] = tsize == 8 ? be64(r->p) : (int32_t)be32(r->p);
        if (i && z->trans[i] <= z->trans[i - 1]) {
            snprintf(why, whylen, "corrupt zone file (transitions out of order)");
            return -1;
        }
    }
    for (size_t i = 0; i < h->timecnt; i++) {
        z->trans_type[i] = r->p[i];
        if (r->p[i] >= h->typecnt) {
            snprintf(why, whylen, "corrupt zone file (type index out of range)");
            return -1;
        }
    }
    r->p += h->timecnt;
    const unsigned char *ti = r->p;
    r->p += h->typecnt * 6;
    /* Abbreviations: copied, NUL-terminated whatever the file says. */
    z->abbrs = xmalloc(h->charcnt + 1);
    memcpy(z->abbrs, r->p, h->charcnt);
    z->abbrs[h->charcnt] = '\0';
    r->p += h->charcnt;
    z->ntypes = h->typecnt;
    z->types = xcalloc(h->typecnt, sizeof *z->types);
    for (size_t i = 0; i < h->typecnt; i++, ti += 6) {
        int32_t off = (int32_t)be32(ti);
        if (off < CAL_UTOFF_MIN || off > CAL_UTOFF_MAX || ti[4] > 1 || ti[5] >= h->charcnt) {
            snprintf(why, whylen, "corrupt zone file (local time type %zu out of range)", i);
            return -1;
        }
        z->types[i].utoff = off;
        z->types[i].isdst = ti[4];
        z->types[i].abbr = z->abbrs + ti[5];
    }
    r->p += h->isstdcnt + h->isutcnt; /* leapcnt is 0 */
    return 0;
}

static void zone_reset(cal_zone *z)
{
    free(z->trans);
    free(z->trans_type);
    free(z->types);
    free(z->abbrs);
    z->trans = NULL;
    z->trans_type = NULL;
    z->types = NULL;
    z->abbrs = NULL;
}

/* The zone in the TZif bytes buf[0..len): 0, or -1 with why. */
static int parse_tzif(const unsigned char *buf, size_t len, cal_zone *z, char *why, size_t whylen)
{
    rd r = { buf, buf + len };
    tzhead h;
    if (read_head(&r, &h, why, whylen))
        return -1;
    if (h.version == 0) /* version 1 only: 32-bit data, no footer */
        return read_data(&r, &h, 4, z, why, whylen);
    if (!need(&r, data_len(&h, 4))) {
        snprintf(why, whylen, "truncated zone file");
        return -1;
    }
    r.p += data_len(&h, 4);
    if (read_head(&r, &h, why, whylen) || read_data(&r, &h, 8, z, why, whylen))
        return -1;
    /* Footer: "\n" TZ "\n"; an empty TZ means no rule (the last type holds). */
    if (!need(&r, 2) || r.p[0] != '\n') {
        snprintf(why, whylen, "truncated zone file (no footer)");
        return -1;
    }
    const unsigned char *nl = memchr(r.p + 1, '\n', (size_t)(r.end - r.p - 1));
    if (!nl || nl - r.p - 1 >= 128) {
        snprintf(why, whylen, "corrupt zone file (footer)");
        return -1;
    }
    if (nl > r.p + 1) {
        char tz[128], perr[160];
        memcpy(tz, r.p + 1, (size_t)(nl - r.p - 1));
        tz[nl - r.p - 1] = '\0';
        if (cal_posix_parse(tz, &z->rule, perr, sizeof perr)) {
            snprintf(why, whylen, "its rule \"%s\" cannot be read: %s", tz, perr);
            return -1;
        }
        if (z->rule.std_off < CAL_UTOFF_MIN || z->rule.std_off > CAL_UTOFF_MAX ||
            z->rule.dst_off < CAL_UTOFF_MIN || z->rule.dst_off > CAL_UTOFF_MAX) {
            snprintf(why, whylen, "its rule \"%s\" has an offset out of range", tz);
            return -1;
        }
        z->has_rule = 1;
    }
    return 0;
}

static int name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > NAME_MAX_LEN || name[0] == '/')
        return 0;
    for (const char *s = name; *s; s++) {
        char c = *s;
        int part_start = s == name || s[-1] == '/';
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+' || c == '.'))
            return 0;
        /* No empty part ("a//b", "a/"), no ".", "..", nor hidden files. */
        if (part_start && (c == '/' || c == '.'))
            return 0;
    }
    return name[n - 1] != '/';
}

/* "+HH:MM", "-HH:MM", "+HH", "-HH": 0 and *off, else -1. */
static int fixed_offset(const char *s, int32_t *off)
{
    int sign = s[0] == '-' ? -1 : 1, h, m = 0;
    size_t n = strlen(s);
    if ((s[0] != '+' && s[0] != '-') || (n != 3 && n != 6))
        return -1;
    for (size_t i = 1; i < n; i++)
        if (i == 3 ? s[i] != ':' : (s[i] < '0' || s[i] > '9'))
            return -1;
    h = (s[1] - '0') * 10 + (s[2] - '0');
    if (n == 6)
        m = (s[4] - '0') * 10 + (s[5] - '0');
    if (h > 23 || m > 59)
        return -1;
    *off = sign * (h * 3600 + m * 60);
    return 0;
}

/* Read all of path (at most TZIF_MAX_SIZE bytes): 0, or -1 with errno set. */
static int slurp(const char *path, unsigned char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;
    struct stat st;
    unsigned char *buf = NULL;
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0)
        goto out;
    if (!S_ISREG(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        goto out;
    }
    if (st.st_size > TZIF_MAX_SIZE) {
        errno = EFBIG;
        goto out;
    }
    buf = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = EIO;
            goto out;
        }
        got += (size_t)k;
    }
    *out = buf;
    *len = got;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

int cal_zone_open(const char *name, const char *tzdir, cal_zone **out, char *err, size_t errlen)
{
    int32_t off;
    *out = NULL;
    if (strcmp(name, "UTC") == 0) {
        *out = zone_new_fixed(xstrdup("UTC"), 0, "UTC");
        return 0;
    }
    if (name[0] == '+' || name[0] == '-') {
        if (fixed_offset(name, &off)) {
            snprintf(err, errlen, "time zone '%s': a fixed offset is +HH:MM or -HH:MM "
                                  "(-23:59 to +23:59)", name);
            return -1;
        }
        *out = zone_new_fixed(xstrdup(name), off, name);
        return 0;
    }
    if (strcmp(name, "Z") == 0 || strcmp(name, "z") == 0) {
        snprintf(err, errlen, "unknown time zone '%s': write UTC", name);
        return -1;
    }
    if (!name_ok(name)) {
        snprintf(err, errlen, "unknown time zone '%.300s': a zone name is like Europe/Berlin "
                              "(letters, digits, '/', '_', '-', '+', '.'; no '..'), UTC, "
                              "or an offset like +05:30", name);
        return -1;
    }
    if (!tzdir) {
        tzdir = getenv("TZDIR");
        if (!tzdir || !*tzdir)
            tzdir = CAL_TZDIR_DEFAULT;
    }
    char *path = xasprintf("%s/%s", tzdir, name), why[512];
    unsigned char *buf = NULL;
    size_t len = 0;
    cal_zone *z = NULL;
    int rc = -1;
    if (slurp(path, &buf, &len) != 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR)
            snprintf(err, errlen, "unknown time zone '%s' (no such zone file %s)", name, path);
        else
            snprintf(err, errlen, "time zone '%s': cannot read %s: %s", name, path, strerror(errno));
        goto out;
    }
    z = xcalloc(1, sizeof *z);
    if (parse_tzif(buf, len, z, why, sizeof why) != 0) {
        snprintf(err, errlen, "time zone '%s': %s: %s", name, path, why);
        zone_reset(z);
        free(z);
        z = NULL;
        goto out;
    }
    z->name = xstrdup(name);
    *out = z;
    rc = 0;
out:
    free(buf);
    free(path);
    return rc;
}
