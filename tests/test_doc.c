/* SPDX-License-Identifier: MIT */
/* test_doc.c - the generated documents' text: Markdown escaping and the key table's rows. */
#include "helpers.h"
#include "config/config.h"
#include "base/paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What fn writes for s, as a string (malloc'd). */
static char *written(void (*fn)(FILE *, doc_format, const char *), doc_format fmt, const char *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    fn(f, fmt, s);
    fclose(f);
    return text;
}

static void expect(void (*fn)(FILE *, doc_format, const char *), doc_format fmt, const char *in,
                   const char *want)
{
    char *got = written(fn, fmt, in);
    cr_expect_str_eq(got, want, "for '%s': '%s', not '%s'", in, got, want);
    free(got);
}

Test(doc, markdown_text_escapes_what_would_mark_up)
{
    /* A | would end a table cell; *, < and \ mark up; so does _ at a word's edge. */
    expect(doc_text, DOC_MARKDOWN, "a|b", "a\\|b");
    expect(doc_text, DOC_MARKDOWN, "*x* <b> \\", "\\*x\\* \\<b> \\\\");
    expect(doc_text, DOC_MARKDOWN, "_x_ y_", "\\_x\\_ y\\_");
    /* Inside a word, _ is no markup: left alone, so that password_env reads as written. */
    expect(doc_text, DOC_MARKDOWN, "password_env", "password_env");
    expect(doc_text, DOC_MARKDOWN, "plain text, 1.5", "plain text, 1.5");
}

Test(doc, scdoc_text_is_unchanged)
{
    expect(doc_text, DOC_SCDOC, "a_b *c* d\\", "a\\_b \\*c\\* d\\\\");
    expect(doc_text, DOC_SCDOC, "a|b <c>", "a|b <c>");
}

Test(doc, markdown_code_escapes_only_the_cell_separator)
{
    expect(doc_code, DOC_MARKDOWN, "error|warn", "`error\\|warn`");
    expect(doc_code, DOC_MARKDOWN, "a_b*c", "`a_b*c`");
}

Test(doc, a_sentence_starts_capitalized_unless_it_starts_with_an_identifier)
{
    expect(doc_sentence, DOC_MARKDOWN, "give up after this long", "Give up after this long");
    expect(doc_sentence, DOC_MARKDOWN, "contact_status of sessions", "contact_status of sessions");
    expect(doc_sentence, DOC_MARKDOWN, "last_error of a job", "last_error of a job");
    expect(doc_sentence, DOC_MARKDOWN, "x.y is a key", "x.y is a key");
    expect(doc_sentence, DOC_SCDOC, "a sentence", "A sentence");
    expect(doc_sentence, DOC_MARKDOWN, "", "");
}

/* Cells of a Markdown table row: split at | not preceded by a backslash. */
static int cells(const char *row)
{
    int n = 0;
    for (const char *p = row; *p; p++)
        if (*p == '|' && (p == row || p[-1] != '\\'))
            n++;
    return n - 1;
}

Test(doc, markdown_keys_are_one_table_row_each_with_five_cells)
{
    char *text = NULL, *save = NULL;
    size_t len = 0, rows = 0;
    FILE *f = open_memstream(&text, &len);
    config_doc(f, DOC_MARKDOWN);
    fclose(f);
    int saw_choices = 0, saw_plugin_dir = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        rows++;
        cr_expect_eq(cells(line), 5, "row %zu has %d cells: %s", rows, cells(line), line);
        if (strstr(line, "`log.level`")) {
            saw_choices = 1;
            cr_expect(strstr(line, "`error\\|warn\\|info\\|debug`"), "%s", line);
        }
        if (strstr(line, "`plugin_dir`")) {
            saw_plugin_dir = 1;
            /* The committed document must not depend on where the binary was built. */
            cr_expect(!strstr(line, rc_default_plugin_dir), "%s", line);
            cr_expect(strstr(line, "LIBDIR/reconciler/plugins"), "%s", line);
        }
    }
    cr_expect(saw_choices && saw_plugin_dir, "log.level or plugin_dir missing");
    /* The header, its rule, and at least the keys validate --help shows. */
    cr_expect_geq(rows, 2 + 30, "only %zu rows", rows);
    free(text);
}
