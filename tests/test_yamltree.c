/* SPDX-License-Identifier: MIT */
/* test_yamltree.c - YAML text into a positioned tree; every refusal names FILE:LINE:COL. */
#include "helpers.h"
#include "config/yamltree.h"

#include <stdlib.h>
#include <string.h>

/* A file as config_load reads it: yt_read_file, then yt_load_string. */
static int load_file(const char *path, yt_node **root, char *err, size_t errlen)
{
    *root = NULL;
    char *text = yt_read_file(path, err, errlen);
    if (!text)
        return -1;
    int rc = yt_load_string(text, path, root, err, errlen);
    free(text);
    return rc;
}

/* Load text that must fail; returns the message (static). */
static const char *refusal(const char *text)
{
    static char err[1024];
    yt_node *root = (yt_node *)1;
    err[0] = '\0';
    cr_assert_eq(yt_load_string(text, "t.yaml", &root, err, sizeof err), -1, "accepted:\n%s", text);
    cr_assert_null(root, "no tree on failure");
    return err;
}

static yt_node *load(const char *text)
{
    char err[1024];
    yt_node *root = NULL;
    cr_assert_eq(yt_load_string(text, "t.yaml", &root, err, sizeof err), 0, "%s", err);
    return root;
}

Test(yamltree, builds_tree_with_positions)
{
    yt_node *r = load("# comment\n"
                      "a: 1\n"
                      "b:\n"
                      "  - x\n"
                      "  - 'y'\n"
                      "c: { d: \"e\", f: [1, 2] }\n");
    cr_assert_eq(r->kind, YT_MAP);
    cr_assert_eq(r->n, 3);
    cr_assert_eq(r->line, 2);
    cr_assert_eq(r->col, 1);

    const yt_node *a = yt_get(r, "a");
    cr_assert_eq(a->kind, YT_SCALAR);
    cr_assert_str_eq(a->scalar, "1");
    cr_assert_eq(a->line, 2);
    cr_assert_eq(a->col, 4);
    cr_assert_eq(a->quoted, 0);
    cr_assert_eq(r->keys[0]->line, 2);
    cr_assert_eq(r->keys[0]->col, 1);

    const yt_node *b = yt_get(r, "b");
    cr_assert_eq(b->kind, YT_SEQ);
    cr_assert_eq(b->n, 2);
    cr_assert_eq(b->line, 4);
    cr_assert_eq(b->col, 3);
    cr_assert_str_eq(b->items[0]->scalar, "x");
    cr_assert_eq(b->items[0]->quoted, 0);
    cr_assert_str_eq(b->items[1]->scalar, "y");
    cr_assert_eq(b->items[1]->quoted, 1);
    cr_assert_eq(b->items[1]->line, 5);
    cr_assert_eq(b->items[1]->col, 5);

    const yt_node *c = yt_get(r, "c");
    cr_assert_eq(c->kind, YT_MAP);
    cr_assert_eq(c->line, 6);
    cr_assert_eq(c->col, 4);
    cr_assert_eq(yt_get(c, "d")->quoted, 1);
    cr_assert_str_eq(yt_get(c, "d")->scalar, "e");
    const yt_node *f = yt_get(c, "f");
    cr_assert_eq(f->kind, YT_SEQ);
    cr_assert_eq(f->n, 2);
    cr_assert_str_eq(f->items[1]->scalar, "2");
    cr_assert_eq(f->items[1]->col, 21);

    cr_assert_null(yt_get(r, "zz"));
    cr_assert_null(yt_get(a, "a"), "yt_get on a scalar");
    cr_assert_null(yt_get(NULL, "a"));
    yt_free(r);
    yt_free(NULL);
}

Test(yamltree, block_scalars_count_as_quoted)
{
    yt_node *r = load("a: |\n  text\nb: !!str 12\nc: 12\n");
    cr_assert_str_eq(yt_get(r, "a")->scalar, "text\n");
    cr_assert_eq(yt_get(r, "a")->quoted, 1);
    cr_assert_eq(yt_get(r, "b")->quoted, 1, "an explicit !!str is text");
    cr_assert_eq(yt_get(r, "c")->quoted, 0);
    yt_free(r);
}

Test(yamltree, many_items_grow)
{
    char text[8192] = "k:\n";
    for (int i = 0; i < 300; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "  - v%d\n", i);
    yt_node *r = load(text);
    const yt_node *k = yt_get(r, "k");
    cr_assert_eq(k->n, 300);
    cr_assert_str_eq(k->items[299]->scalar, "v299");
    cr_assert_eq(k->items[299]->line, 301);
    yt_free(r);
}

Test(yamltree, kind_names)
{
    cr_assert_str_eq(yt_kind_name(YT_MAP), "a mapping");
    cr_assert_str_eq(yt_kind_name(YT_SEQ), "a list");
    cr_assert_str_eq(yt_kind_name(YT_SCALAR), "a scalar");
}

Test(yamltree, empty_input_is_null_root)
{
    const char *empties[] = { "", "\n\n", "# only a comment\n", "---\n", "--- ~\n" };
    for (size_t i = 0; i < sizeof empties / sizeof *empties; i++) {
        char err[256];
        yt_node *root = (yt_node *)1;
        cr_assert_eq(yt_load_string(empties[i], "t.yaml", &root, err, sizeof err), 0,
                     "[%zu] %s", i, err);
        cr_assert_null(root, "[%zu] '%s'", i, empties[i]);
    }
}

Test(yamltree, duplicate_key_names_both_lines)
{
    cr_assert_str_eq(refusal("a: 1\nb:\n  x: 1\n  y: 2\n  x: 3\n"),
                     "t.yaml:5:3: duplicate key 'x' (lines 3 and 5)");
    cr_assert_str_eq(refusal("a: 1\nb: 2\na: 3\n"), "t.yaml:3:1: duplicate key 'a' (lines 1 and 3)");
    /* Quoting does not make a different key. */
    cr_assert_str_eq(refusal("{ a: 1, \"a\": 2 }\n"), "t.yaml:1:9: duplicate key 'a' (twice on line 1)");
}

/*
 * 120,000 keys in one mapping, the last repeating one from the middle: found,
 * with both lines. The check is a hash lookup per key; a scan of the keys
 * before each one took tens of seconds here (measured by hand, not asserted).
 */
Test(yamltree, duplicate_after_many_keys, .timeout = 20)
{
    enum { N = 120000 };
    size_t cap = (size_t)N * 24 + 64, len = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    len += (size_t)snprintf(text + len, cap - len, "big:\n");
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(text + len, cap - len, "  k%d: %d\n", i, i);
    /* Every key distinct: it loads, and the keys keep their order. */
    yt_node *r = load(text);
    const yt_node *big = yt_get(r, "big");
    cr_assert_eq(big->n, N);
    cr_assert_str_eq(big->keys[N - 1]->scalar, "k119999");
    cr_assert_str_eq(yt_get(big, "k60000")->scalar, "60000");
    yt_free(r);
    snprintf(text + len, cap - len, "  k60000: again\n");
    cr_assert_str_eq(refusal(text), "t.yaml:120002:3: duplicate key 'k60000' (lines 60002 and "
                                    "120002)");
    free(text);
}

/* Keys that differ in one byte or only in length are different keys. */
Test(yamltree, near_keys_are_distinct)
{
    yt_node *r = load("a: 1\nab: 2\nb: 3\nba: 4\n\"\": 5\n\"a \": 6\nA: 7\n");
    cr_assert_eq(r->n, 7);
    cr_assert_str_eq(yt_get(r, "")->scalar, "5");
    cr_assert_str_eq(yt_get(r, "a ")->scalar, "6");
    yt_free(r);
    cr_assert_str_eq(refusal("a: 1\nab: 2\n\"\": 3\nb: 4\n'': 5\n"),
                     "t.yaml:5:1: duplicate key '' (lines 3 and 5)");
}

Test(yamltree, aliases_and_anchors_refused)
{
    cr_assert_str_eq(refusal("a: &x 1\nb: 2\n"), "t.yaml:1:4: anchors (&x) are not allowed in this file");
    cr_assert_str_eq(refusal("a: &m { k: 1 }\n"), "t.yaml:1:4: anchors (&m) are not allowed in this file");
    cr_assert_str_eq(refusal("a: 1\nb: *x\n"), "t.yaml:2:4: aliases (*x) are not allowed in this file");
    cr_assert_str_eq(refusal("a: [[{ b: [c, *y] }]]\n"),
                     "t.yaml:1:15: aliases (*y) are not allowed in this file");
    /* With both, the anchor comes first and is refused first. */
    cr_assert_str_eq(refusal("a: &x 1\nb: *x\n"), "t.yaml:1:4: anchors (&x) are not allowed in this file");
}

Test(yamltree, custom_tags_refused)
{
    cr_assert_str_eq(refusal("a: !secret x\n"),
                     "t.yaml:1:4: tag '!secret' is not allowed; only the standard !! tags are");
    yt_node *r = load("a: !!int 3\n");
    cr_assert_str_eq(yt_get(r, "a")->scalar, "3");
    yt_free(r);
}

Test(yamltree, non_scalar_keys_refused)
{
    cr_assert_str_eq(refusal("? [a, b]\n: 1\n"), "t.yaml:1:3: a key must be a plain value, not a list");
    cr_assert_str_eq(refusal("x:\n  ? { a: 1 }\n  : 2\n"),
                     "t.yaml:2:5: a key must be a plain value, not a mapping");
}

Test(yamltree, syntax_errors_give_libyaml_problem_and_position)
{
    cr_assert_str_eq(refusal("a: 1\nb: [1, 2\nc: 3\n"),
                     "t.yaml:3:2: did not find expected ',' or ']' "
                     "(while parsing a flow sequence, which starts at 2:4)");
    cr_assert_str_eq(refusal("a: 1\n b: 2\n"),
                     "t.yaml:2:3: mapping values are not allowed in this context");
    cr_assert_str_eq(refusal("a:\n\t- x\n"),
                     "t.yaml:2:1: found character that cannot start any token "
                     "(while scanning for the next token, which starts at 2:1)");
}

/* Found by the config fuzzer: libyaml ends a text that has no final line
 * break with a break of its own, and its marks there stood on a line the
 * file does not have. */
Test(yamltree, error_at_the_end_of_a_last_line_without_a_break)
{
    cr_assert_str_eq(refusal("steps: ["), "t.yaml:1:9: did not find expected node content "
                     "(while parsing a flow node, which starts at 1:9)");
    cr_assert_str_eq(refusal("a: 1\nb: [x,"), "t.yaml:2:7: did not find expected node content "
                     "(while parsing a flow node, which starts at 2:7)");
    cr_assert_str_eq(refusal("a: \"h\xc3\xa9"), "t.yaml:1:7: found unexpected end of stream "
                     "(while scanning a quoted scalar, which starts at 1:4)");
    /* Marks count characters, not bytes, and libyaml's other line breaks. */
    cr_assert_str_eq(refusal("steps:\n- plug \xc3\xa9\n_P"), "t.yaml:3:3: could not find "
                     "expected ':' (while scanning a simple key, which starts at 3:1)");
    cr_assert_str_eq(refusal("steps:\n- plug o\xe2\x80\xa9_P"), "t.yaml:3:3: could not find "
                     "expected ':' (while scanning a simple key, which starts at 3:1)");
    cr_assert_str_eq(refusal("\xef\xbb\xbfsteps: ["), "t.yaml:1:9: did not find expected "
                     "node content (while parsing a flow node, which starts at 1:9)");
    /* With the break in the file, the line after it is real: left as it is. */
    cr_assert_str_eq(refusal("steps: [\n"), "t.yaml:2:1: did not find expected node content "
                     "(while parsing a flow node, which starts at 2:1)");
}

Test(yamltree, one_document_only)
{
    cr_assert_str_eq(refusal("a: 1\n---\nb: 2\n"),
                     "t.yaml:2:1: a second document starts here; the file must hold one");
}

Test(yamltree, top_level_must_be_mapping)
{
    cr_assert_str_eq(refusal("- a\n- b\n"),
                     "t.yaml:1:1: the top level must be a mapping (key: value lines), not a list");
    cr_assert_str_eq(refusal("just text\n"),
                     "t.yaml:1:1: the top level must be a mapping (key: value lines), not a scalar");
}

Test(yamltree, nul_in_value_refused)
{
    cr_assert_str_eq(refusal("a: \"x\\0y\"\n"), "t.yaml:1:4: a NUL character is not allowed in a value");
}

Test(yamltree, nesting_is_bounded)
{
    char text[512] = "a: ";
    for (int i = 0; i < 100; i++)
        strcat(text, "[");
    for (int i = 0; i < 100; i++)
        strcat(text, "]");
    strcat(text, "\n");
    const char *e = refusal(text);
    cr_assert(strstr(e, "t.yaml:1:") && strstr(e, "nested deeper than 64 levels"), "%s", e);
}

Test(yamltree, invalid_utf8_is_positioned)
{
    const char *e = refusal("a: 1\nb: \xff\n");
    cr_assert(strncmp(e, "t.yaml:2:4: ", 12) == 0, "%s", e);
}

Test(yamltree, load_file_and_its_errors)
{
    char err[1024];
    yt_node *root = NULL;
    char *p = th_path(th_tmpdir(), "f.yaml");
    th_write(p, "k: v\nk: w\n");
    cr_assert_eq(load_file(p, &root, err, sizeof err), -1);
    char want[2048];
    snprintf(want, sizeof want, "%s:2:1: duplicate key 'k' (lines 1 and 2)", p);
    cr_assert_str_eq(err, want);

    th_write(p, "k: v\n");
    cr_assert_eq(load_file(p, &root, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(yt_get(root, "k")->scalar, "v");
    yt_free(root);

    char *missing = th_path(th_tmpdir(), "absent.yaml");
    cr_assert_eq(load_file(missing, &root, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", missing);
    cr_assert_str_eq(err, want);

    cr_assert_eq(load_file(th_tmpdir(), &root, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot read: Is a directory", th_tmpdir());
    cr_assert_str_eq(err, want);
    free(p);
    free(missing);
}

/* Write len bytes of data to path. */
static void write_bytes(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

/* A NUL byte is placed (line, column in characters) and the message says what to do. */
Test(yamltree, nul_byte_in_file_is_positioned)
{
    char err[1024], want[2048];
    yt_node *root = NULL;
    char *p = th_path(th_tmpdir(), "nul.yaml");
    write_bytes(p, "a: 1\nb: x\0y\n", 12);
    cr_assert_eq(load_file(p, &root, err, sizeof err), -1);
    cr_assert_null(root);
    snprintf(want, sizeof want, "%s:2:5: a NUL byte; a pipeline file is UTF-8 text: remove it, "
             "or save the file as UTF-8 if it was saved as UTF-16", p);
    cr_assert_str_eq(err, want);
    /* After a two-byte character the column is still counted in characters. */
    write_bytes(p, "a: \xc3\xa9\0\n", 7);
    cr_assert_eq(load_file(p, &root, err, sizeof err), -1);
    cr_assert(strncmp(err + strlen(p), ":1:5: a NUL byte", 16) == 0, "%s", err);
    /* UTF-16 text is ASCII with a NUL after each byte: the first one is placed (the
     * two bytes of the byte order mark count as two characters). */
    write_bytes(p, "\xff\xfe" "a\0:\0", 6);
    cr_assert_eq(load_file(p, &root, err, sizeof err), -1);
    cr_assert(strncmp(err + strlen(p), ":1:4: a NUL byte", 16) == 0, "%s", err);
    cr_assert(strstr(err, "UTF-16"), "%s", err);
    free(p);
}

Test(yamltree, oversized_file_names_it_and_what_to_do)
{
    char err[1024], want[2048];
    yt_node *root = NULL;
    char *p = th_path(th_tmpdir(), "big.yaml");
    size_t max = 1024 * 1024;
    char *text = malloc(max + 1);
    cr_assert_not_null(text);
    /* Exactly 1 MiB is read (and parsed); one byte more is refused unread. */
    memset(text, '#', max + 1);
    text[max - 1] = '\n';
    write_bytes(p, text, max);
    cr_assert_eq(load_file(p, &root, err, sizeof err), 0, "%s", err);
    cr_assert_null(root, "only a comment");
    text[max - 1] = '#';
    text[max] = '\n';
    write_bytes(p, text, max + 1);
    cr_assert_eq(load_file(p, &root, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: larger than 1048576 bytes (1 MiB), so not a pipeline file "
             "(those are a few kilobytes): check that the path names the pipeline file", p);
    cr_assert_str_eq(err, want);
    free(text);
    free(p);
}
