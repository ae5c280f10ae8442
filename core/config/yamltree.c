/* SPDX-License-Identifier: MIT */
/* yamltree.c - see yamltree.h. */
#include "config/yamltree.h"
#include "base/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* A pipeline file is a few kilobytes; anything this big is the wrong file. */
#define YT_MAX_FILE (1024 * 1024)
/* The pipeline needs four levels; the bound keeps the recursion off the guard page. */
#define YT_MAX_DEPTH 64
/* Tags a file may spell out (!!str, !!int, ...): they change nothing here. */
#define YT_STD_TAG_PREFIX "tag:yaml.org,2002:"

typedef struct ybuild {
    yaml_parser_t parser;
    const char *name;   /* for messages */
    const char *text;   /* the whole input, to place reader errors */
    size_t len;
    size_t chars;       /* its characters, less a BOM: what marks count (see place) */
    char *err;
    size_t errlen;
} ybuild;

static int fail_at(ybuild *b, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(ybuild *b, int line, int col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(b->err, b->errlen, "%s:%d:%d: %s", b->name, line, col, msg);
    return -1;
}

/*
 * Line and column (1-based) of byte off in text. Columns count characters as
 * libyaml's marks do: UTF-8 continuation bytes add none.
 */
static void offset_to_pos(const char *text, size_t len, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

/* Is a line break at s (n bytes left)? Its length, else 0: libyaml's breaks. */
static size_t break_len(const unsigned char *s, size_t n)
{
    if (s[0] == '\n' || s[0] == '\r')
        return 1;
    if (n >= 2 && s[0] == 0xC2 && s[1] == 0x85) /* NEL */
        return 2;
    if (n >= 3 && s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9)) /* LS, PS */
        return 3;
    return 0;
}

/*
 * A mark as "LINE:COL" numbers. At the end of a text with no final line
 * break, libyaml's marks stand on a line that does not exist (it adds a break
 * of its own: "steps: [" fails at 2:1); such a mark is placed just past the
 * last character instead (1:9), where an editor finds it. Marks count
 * characters (a BOM not among them), as b->chars does.
 */
static void place(const ybuild *b, yaml_mark_t m, int *line, int *col)
{
    const unsigned char *t = (const unsigned char *)b->text;
    *line = (int)m.line + 1;
    *col = (int)m.column + 1;
    if (m.index < b->chars || m.column != 0 || m.line == 0 || b->len == 0 ||
        t[b->len - 1] == '\n' || t[b->len - 1] == '\r')
        return;
    /* The last line's characters: after the last break. */
    int last = 0;
    for (size_t i = strncmp(b->text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0; i < b->len;) {
        size_t brk = break_len(t + i, b->len - i);
        last = brk ? 0 : last + ((t[i] & 0xC0) != 0x80);
        i += brk ? brk : 1;
    }
    *line = (int)m.line;
    *col = last + 1;
}

static int parser_failed(ybuild *b)
{
    const yaml_parser_t *p = &b->parser;
    int line, col;

    if (p->error == YAML_MEMORY_ERROR)
        return fail_at(b, 1, 1, "out of memory while parsing");
    if (p->error == YAML_READER_ERROR) {
        offset_to_pos(b->text, b->len, p->problem_offset, &line, &col);
        return fail_at(b, line, col, "%s", p->problem ? p->problem : "cannot read the text");
    }
    place(b, p->problem_mark, &line, &col);
    if (p->context) {
        int cline, ccol;
        place(b, p->context_mark, &cline, &ccol);
        return fail_at(b, line, col, "%s (%s, which starts at %d:%d)",
                       p->problem ? p->problem : "syntax error", p->context, cline, ccol);
    }
    return fail_at(b, line, col, "%s", p->problem ? p->problem : "syntax error");
}

static int next_event(ybuild *b, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&b->parser, ev))
        return parser_failed(b);
    return 0;
}

static yt_node *node_new(const ybuild *b, yt_kind kind, yaml_mark_t m)
{
    yt_node *n = xcalloc(1, sizeof *n);
    n->kind = kind;
    place(b, m, &n->line, &n->col);
    return n;
}

void yt_free(yt_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys)
            yt_free(n->keys[i]);
        yt_free(n->items[i]);
    }
    free(n->keys);
    free(n->items);
    free(n->scalar);
    free(n);
}

/* Append one item (and its key, for a mapping); the arrays double as they fill. */
static void append(yt_node *n, yt_node *key, yt_node *item)
{
    if ((n->n & (n->n - 1)) == 0) { /* n is 0 or a power of two: full */
        size_t cap = n->n ? n->n * 2 : 4;
        n->items = xrealloc(n->items, cap * sizeof *n->items);
        if (n->kind == YT_MAP)
            n->keys = xrealloc(n->keys, cap * sizeof *n->keys);
    }
    if (n->kind == YT_MAP)
        n->keys[n->n] = key;
    n->items[n->n++] = item;
}

/* Anchors and aliases can build cycles and shared nodes; tags could ask for types we ignore. */
static int check_props(ybuild *b, const yaml_event_t *ev, const yaml_char_t *anchor,
                       const yaml_char_t *tag)
{
    int line, col;
    place(b, ev->start_mark, &line, &col);
    if (anchor)
        return fail_at(b, line, col, "anchors (&%.64s) are not allowed in this file",
                       (const char *)anchor);
    if (tag && strncmp((const char *)tag, YT_STD_TAG_PREFIX, strlen(YT_STD_TAG_PREFIX)) != 0)
        return fail_at(b, line, col, "tag '%.64s' is not allowed; only the standard !! tags are",
                       (const char *)tag);
    return 0;
}

static int build_node(ybuild *b, yaml_event_t *ev, int depth, yt_node **out);

static int scalar_node(ybuild *b, const yaml_event_t *ev, yt_node **out)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;

    if (check_props(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag) != 0)
        return -1;
    /* "\0" in a quoted scalar would silently cut every later string short. */
    if (memchr(v, '\0', len)) {
        int line, col;
        place(b, ev->start_mark, &line, &col);
        return fail_at(b, line, col, "a NUL character is not allowed in a value");
    }
    yt_node *n = node_new(b, YT_SCALAR, ev->start_mark);
    n->scalar = xmalloc(len + 1);
    memcpy(n->scalar, v, len);
    n->scalar[len] = '\0';
    /* Any style but plain (quotes, | or >) or an explicit !!str makes it text for sure. */
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
                (ev->data.scalar.tag &&
                 strcmp((const char *)ev->data.scalar.tag, YAML_STR_TAG) == 0);
    *out = n;
    return 0;
}

/*
 * The keys of the mapping being built, for the duplicate check: an open
 * addressing table of indexes into map->keys (0 = empty slot, else index + 1),
 * kept at most half full. A list scan per key made a mapping of n keys cost
 * n^2/2 comparisons (120,000 keys: tens of seconds).
 */
typedef struct keyset {
    size_t *slot;
    size_t cap; /* a power of two, or 0 before the first key */
} keyset;

/* FNV-1a: short keys, no adversary worth a keyed hash (the file is the operator's). */
static size_t key_hash(const char *s)
{
    uint64_t h = 14695981039346656037u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return (size_t)h;
}

/* The slot that holds key (an index + 1), or the empty slot where it would go. */
static size_t *keyset_find(const keyset *ks, const yt_node *map, const char *key)
{
    size_t i = key_hash(key) & (ks->cap - 1);
    while (ks->slot[i] && strcmp(map->keys[ks->slot[i] - 1]->scalar, key) != 0)
        i = (i + 1) & (ks->cap - 1);
    return &ks->slot[i];
}

/* Make room for map->n + 1 keys (at most half full, so probes stay short). */
static void keyset_reserve(keyset *ks, const yt_node *map)
{
    if (ks->cap && (map->n + 1) * 2 <= ks->cap)
        return;
    keyset grown = { .cap = ks->cap ? ks->cap * 2 : 16 };
    grown.slot = xcalloc(grown.cap, sizeof *grown.slot);
    for (size_t i = 0; i < map->n; i++)
        *keyset_find(&grown, map, map->keys[i]->scalar) = i + 1;
    free(ks->slot);
    *ks = grown;
}

/* Refuse a key that is not a scalar or that map already holds; else note it in ks. */
static int check_key(ybuild *b, yt_node *map, keyset *ks, const yt_node *key)
{
    if (key->kind != YT_SCALAR)
        return fail_at(b, key->line, key->col, "a key must be a plain value, not %s",
                       yt_kind_name(key->kind));
    keyset_reserve(ks, map);
    /* libyaml keeps duplicates silently; the later one would win unseen. */
    size_t *slot = keyset_find(ks, map, key->scalar);
    if (!*slot) {
        *slot = map->n + 1; /* the index append gives the key next */
        return 0;
    }
    const yt_node *first = map->keys[*slot - 1];
    if (first->line == key->line)
        return fail_at(b, key->line, key->col, "duplicate key '%.64s' (twice on line %d)",
                       key->scalar, key->line);
    return fail_at(b, key->line, key->col, "duplicate key '%.64s' (lines %d and %d)",
                   key->scalar, first->line, key->line);
}

/* Read the children of a mapping or sequence n up to its end event. */
static int build_children(ybuild *b, yt_node *n, int depth)
{
    yaml_event_type_t end = n->kind == YT_MAP ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
    yaml_event_t ev;
    yt_node *key = NULL, *item = NULL;
    keyset ks = { 0 };
    int rc = -1;

    for (;;) {
        if (next_event(b, &ev) != 0)
            goto out;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            break;
        }
        if (n->kind == YT_MAP) {
            if (build_node(b, &ev, depth + 1, &key) != 0 || check_key(b, n, &ks, key) != 0)
                goto out;
            if (next_event(b, &ev) != 0)
                goto out;
        }
        if (build_node(b, &ev, depth + 1, &item) != 0)
            goto out;
        append(n, key, item);
        key = item = NULL;
    }
    rc = 0;
out:
    free(ks.slot);
    yt_free(key);
    yt_free(item);
    return rc;
}

/* Build the node that ev starts; consumes ev. */
static int build_node(ybuild *b, yaml_event_t *ev, int depth, yt_node **out)
{
    int line, col;
    place(b, ev->start_mark, &line, &col);
    yt_node *n = NULL;
    int rc = -1;

    *out = NULL;
    if (depth > YT_MAX_DEPTH) {
        fail_at(b, line, col, "nested deeper than %d levels", YT_MAX_DEPTH);
        goto out;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        rc = scalar_node(b, ev, out);
        goto out;
    case YAML_ALIAS_EVENT:
        fail_at(b, line, col, "aliases (*%.64s) are not allowed in this file",
                (const char *)ev->data.alias.anchor);
        goto out;
    case YAML_MAPPING_START_EVENT:
        if (check_props(b, ev, ev->data.mapping_start.anchor, ev->data.mapping_start.tag) != 0)
            goto out;
        n = node_new(b, YT_MAP, ev->start_mark);
        break;
    case YAML_SEQUENCE_START_EVENT:
        if (check_props(b, ev, ev->data.sequence_start.anchor, ev->data.sequence_start.tag) != 0)
            goto out;
        n = node_new(b, YT_SEQ, ev->start_mark);
        break;
    default: /* the parser never gives another event here */
        fail_at(b, line, col, "unexpected YAML event %d", (int)ev->type);
        goto out;
    }
    yaml_event_delete(ev);
    if (build_children(b, n, depth) != 0)
        goto out;
    *out = n;
    n = NULL;
    rc = 0;
out:
    yaml_event_delete(ev); /* safe twice: delete zeroes the event */
    yt_free(n);
    return rc;
}

/* A document that is only "---", "~" or "null" holds nothing: treat it as empty. */
static int is_empty_doc(const yt_node *n)
{
    if (n->kind != YT_SCALAR || n->quoted)
        return 0;
    return !*n->scalar || strcmp(n->scalar, "~") == 0 || strcmp(n->scalar, "null") == 0;
}

/* Expect ev to be of type want; any other event is a structure we do not read. */
static int expect(ybuild *b, yaml_event_t *ev, yaml_event_type_t want, const char *what)
{
    int line, col;
    place(b, ev->start_mark, &line, &col);
    yaml_event_type_t got = ev->type;
    yaml_event_delete(ev);
    if (got == want)
        return 0;
    if (got == YAML_DOCUMENT_START_EVENT)
        return fail_at(b, line, col, "a second document starts here; the file must hold one");
    return fail_at(b, line, col, "expected %s", what);
}

/* The document's root node, or NULL for an empty stream. */
static int build_root(ybuild *b, yt_node **root)
{
    yaml_event_t ev;
    yt_node *n = NULL;
    int rc = -1;

    if (next_event(b, &ev) != 0 || expect(b, &ev, YAML_STREAM_START_EVENT, "a stream") != 0)
        goto out;
    if (next_event(b, &ev) != 0)
        goto out;
    if (ev.type == YAML_STREAM_END_EVENT) { /* nothing but comments and blanks */
        yaml_event_delete(&ev);
        rc = 0;
        goto out;
    }
    if (expect(b, &ev, YAML_DOCUMENT_START_EVENT, "a document") != 0)
        goto out;
    if (next_event(b, &ev) != 0 || build_node(b, &ev, 0, &n) != 0)
        goto out;
    if (next_event(b, &ev) != 0 || expect(b, &ev, YAML_DOCUMENT_END_EVENT, "the end of the document") != 0)
        goto out;
    if (next_event(b, &ev) != 0 || expect(b, &ev, YAML_STREAM_END_EVENT, "the end of the file") != 0)
        goto out;
    if (is_empty_doc(n)) {
        rc = 0;
        goto out;
    }
    if (n->kind != YT_MAP) {
        fail_at(b, n->line, n->col, "the top level must be a mapping (key: value lines), not %s",
                yt_kind_name(n->kind));
        goto out;
    }
    *root = n;
    n = NULL;
    rc = 0;
out:
    yt_free(n);
    return rc;
}

int yt_load_string(const char *text, const char *name, yt_node **root, char *err, size_t errlen)
{
    ybuild b = { .name = name, .text = text, .len = strlen(text), .err = err, .errlen = errlen };
    for (size_t i = 0; i < b.len; i++)
        b.chars += ((unsigned char)text[i] & 0xC0) != 0x80;
    if (strncmp(text, "\xEF\xBB\xBF", 3) == 0)
        b.chars--;
    int rc;

    *root = NULL;
    if (!yaml_parser_initialize(&b.parser)) {
        snprintf(err, errlen, "%s: cannot start the YAML parser (out of memory)", name);
        return -1;
    }
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, b.len);
    rc = build_root(&b, root);
    yaml_parser_delete(&b.parser);
    return rc;
}

/* The whole file as a NUL-terminated string (malloc'd), or NULL with err. */
char *yt_read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL, *nul;
    size_t len = 0;
    int ok = 0, line, col;

    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    buf = xmalloc(YT_MAX_FILE + 2);
    len = fread(buf, 1, YT_MAX_FILE + 1, f);
    if (ferror(f)) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    } else if (len > YT_MAX_FILE) {
        snprintf(err, errlen, "%s: larger than %d bytes (1 MiB), so not a pipeline file (those "
                 "are a few kilobytes): check that the path names the pipeline file", path,
                 YT_MAX_FILE);
    } else if ((nul = memchr(buf, '\0', len))) {
        /* libyaml would read past a NUL but our strlen would not: refuse, not read half. */
        offset_to_pos(buf, len, (size_t)(nul - buf), &line, &col);
        snprintf(err, errlen, "%s:%d:%d: a NUL byte; a pipeline file is UTF-8 text: remove it, "
                 "or save the file as UTF-8 if it was saved as UTF-16", path, line, col);
    } else {
        ok = 1;
    }
out:
    if (f)
        fclose(f);
    if (!ok) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

const yt_node *yt_get(const yt_node *map, const char *key)
{
    if (!map || map->kind != YT_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i]->scalar, key) == 0)
            return map->items[i];
    return NULL;
}

const char *yt_kind_name(yt_kind k)
{
    switch (k) {
    case YT_SCALAR: return "a scalar";
    case YT_MAP: return "a mapping";
    case YT_SEQ: return "a list";
    }
    return "an unknown node";
}
