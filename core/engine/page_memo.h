/* SPDX-License-Identifier: MIT */
/*
 * page_memo.h - the last few history pages, kept while the store has not
 * changed: fifty consoles asking for the first page cost one query, not
 * fifty (each waited on the store's one connection: p99 90 ms at 50
 * clients, docs/benchmarks.md). Not thread-safe: the history handle's
 * mutex guards it.
 */
#ifndef RC_PAGE_MEMO_H
#define RC_PAGE_MEMO_H

#include <jansson.h>
#include <stdint.h>

/* Pages kept, the most recently asked first. */
#define PAGE_MEMO_SLOTS 8

/*
 * What the store looked like when a page was read: anything that changes
 * either number may have changed the page (the rows this connection has
 * changed, SQLite's total_changes(); and PRAGMA data_version, which moves
 * when another connection commits).
 */
typedef struct page_stamp {
    int64_t own_changes;
    int64_t data_version;
} page_stamp;

typedef struct page_memo page_memo;

page_memo *page_memo_new(void);
void page_memo_free(page_memo *m);

/*
 * The page kept under key at stamp: a deep copy in *runs (the caller's)
 * and its total, 1; 0 when none is (a different stamp forgets them all).
 */
int page_memo_get(page_memo *m, const char *key, const page_stamp *stamp, json_t **runs,
                  int64_t *total);

/* Keep a deep copy of runs under key, read at stamp. */
void page_memo_put(page_memo *m, const char *key, const page_stamp *stamp, const json_t *runs,
                   int64_t total);
#endif
