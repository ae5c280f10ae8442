/* SPDX-License-Identifier: MIT */
/* page_memo.c - see page_memo.h. */
#include "engine/page_memo.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

typedef struct slot {
    char *key; /* NULL: empty */
    json_t *runs;
    int64_t total;
} slot;

struct page_memo {
    page_stamp stamp; /* what every kept page was read at */
    slot slots[PAGE_MEMO_SLOTS];
};

page_memo *page_memo_new(void)
{
    return xcalloc(1, sizeof(page_memo));
}

static void forget(slot *s)
{
    free(s->key);
    json_decref(s->runs);
    memset(s, 0, sizeof *s);
}

static void forget_all(page_memo *m)
{
    for (size_t i = 0; i < PAGE_MEMO_SLOTS; i++)
        forget(&m->slots[i]);
}

void page_memo_free(page_memo *m)
{
    if (!m)
        return;
    forget_all(m);
    free(m);
}

static int same_stamp(const page_stamp *a, const page_stamp *b)
{
    return a->own_changes == b->own_changes && a->data_version == b->data_version;
}

int page_memo_get(page_memo *m, const char *key, const page_stamp *stamp, json_t **runs,
                  int64_t *total)
{
    if (!same_stamp(&m->stamp, stamp)) {
        forget_all(m);
        m->stamp = *stamp;
        return 0;
    }
    for (size_t i = 0; i < PAGE_MEMO_SLOTS && m->slots[i].key; i++) {
        if (strcmp(m->slots[i].key, key) != 0)
            continue;
        /* The most recently asked first: the first page stays near the front. */
        slot hit = m->slots[i];
        memmove(&m->slots[1], &m->slots[0], i * sizeof hit);
        m->slots[0] = hit;
        *runs = json_deep_copy(hit.runs);
        *total = hit.total;
        return *runs != NULL;
    }
    return 0;
}

void page_memo_put(page_memo *m, const char *key, const page_stamp *stamp, const json_t *runs,
                   int64_t total)
{
    if (!same_stamp(&m->stamp, stamp)) {
        forget_all(m);
        m->stamp = *stamp;
    }
    json_t *copy = json_deep_copy(runs);
    if (!copy)
        return;
    /* The least recently asked goes. */
    forget(&m->slots[PAGE_MEMO_SLOTS - 1]);
    memmove(&m->slots[1], &m->slots[0], (PAGE_MEMO_SLOTS - 1) * sizeof m->slots[0]);
    m->slots[0] = (slot){ xstrdup(key), copy, total };
}
