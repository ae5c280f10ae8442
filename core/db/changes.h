/* SPDX-License-Identifier: MIT */
/*
 * changes.h - change records: one for every row a chunked statement
 * changes, written in the chunk's own transaction, as sets of up to 500 in
 * reconciler_change_sets, and a key row each in reconciler_change_keys
 * written after the run (docs/internals.md "Change records"; migrations
 * 008 and 009).
 */
#ifndef RC_CHANGES_H
#define RC_CHANGES_H

#include <jansson.h>
#include "db/db.h"

/* Who made the changes, for every record a chunk loop writes. */
typedef struct changes_meta {
    const rc_change_decl *decls; /* decls[i] for statement i; NULL: none declared */
    size_t ndecls;
    int64_t run_id;              /* the run's history id, 0 when it has none */
    const char *job;
    const char *step;
    int64_t written;             /* records written in chunks that committed */
    int64_t pending;             /* records written in the chunk still open */
    int64_t missed;              /* rows changed whose before-values were not read */
    /*
     * The open chunk's changed rows (changes.c): a row two statements
     * change is one record (the first before, the last after). Owned; NULL
     * until a row changes.
     */
    struct change_set *rows;
    /*
     * MySQL: per declaration, whether and how its statement notes its own
     * rows (changes_noted); looked up once per chunked call. Owned, freed by
     * changes_meta_done.
     */
    struct capture_plan *plans;
} changes_meta;

/* Free what the chunked call's meta gathered (the plans; the open chunk's rows). */
void changes_meta_done(changes_meta *m);

/* The rows one statement is about to change, read before it runs (opaque). */
typedef struct change_rows change_rows;

/* Is decl usable (names, column count, where_param within n params)? 0, or -1 with err. */
int changes_check(const rc_change_decl *decl, size_t nparams, char *err, size_t errlen);

/*
 * A deep copy of decls[0..n) (the array, each string and column list) in one
 * block, freed with free(): the core keeps a declaration until the chunked
 * call that consumes it, while the plugin's own may live on its stack only
 * for the declare_changes call. An entry whose table is NULL is copied as
 * all zero. NULL when n is 0.
 */
rc_change_decl *changes_copy(const rc_change_decl *decls, size_t n);

/*
 * In the chunk's open transaction, before the statement: read the key and
 * the declared columns of the rows its WHERE matches (params are the
 * statement's, bounds included), locking them on MySQL (FOR UPDATE; SQLite's
 * write lock covers it). *out is NULL when there are none. 0, or -1 (db_errmsg).
 */
int changes_before(db *d, const rc_change_decl *decl, const rc_value *params, size_t n,
                   change_rows **out);

/*
 * After the statement: read the same rows again and note in m->rows each
 * row whose declared columns changed. Frees rows (NULL is nothing to do).
 * 0, or -1 (db_errmsg).
 */
int changes_after(db *d, const rc_change_decl *decl, change_rows *rows, changes_meta *m);

/*
 * Before the chunk commits: write one record per row in m->rows whose values
 * differ in the end, counted in m->pending, and empty m->rows. 0, or -1.
 */
int changes_flush(db *d, changes_meta *m);

/*
 * SQLite: can stmt run as "stmt RETURNING key, columns" (an UPDATE ending
 * with " WHERE " and its declared where)? Then changes_returning reads the
 * after-values in the statement's own pass instead of changes_after.
 */
int changes_returning_ok(db *d, const rc_change_decl *decl, const char *stmt);

/*
 * Run stmt (in the chunk's transaction) with RETURNING, note in m->rows
 * each row of rows it changed, *affected its row count. Frees rows. 0, or
 * -1 (db_errmsg).
 */
int changes_returning(db *d, const rc_change_decl *decl, const char *stmt,
                      const rc_value *params, size_t n, change_rows *rows, changes_meta *m,
                      int64_t *affected);

/* Forget the open chunk's rows (it rolled back). */
void changes_discard(changes_meta *m);

void change_rows_free(change_rows *rows);

/*
 * MySQL: the statement rewritten to note the key of every row it matches in
 * the session variable @rc_changed (its SET clause gains `key` = `key`), so
 * that only rows this very statement changed get a record; malloc'd. NULL
 * on SQLite (one writer: the rows read are the rows written) or when the
 * statement does not end with " WHERE " and its declared where.
 */
char *changes_capture_sql(db *d, const rc_change_decl *decl, const char *stmt);

/*
 * MySQL: run stmt (an UPDATE of decl's table ending with " WHERE " and its
 * where) so that it notes each row it matches, its key and its declared
 * columns' values before and after, in session variables, and note in
 * m->rows every row whose values changed: no read of the rows before or
 * after, and the before-values are those under the statement's own row
 * locks. rows_hint is the chunk's row count (the find's). Returns 1 when it
 * ran stmt (*affected set), 0 when stmt cannot be run so (the caller reads
 * the rows instead: changes_before, changes_capture_sql), -1 on a database
 * error (db_errmsg). Rows it matched whose note was lost go to m->missed.
 */
int changes_noted(db *d, size_t i, const rc_change_decl *decl, const char *stmt,
                  const rc_value *params, size_t n, int64_t rows_hint, changes_meta *m,
                  int64_t *affected);

/* Clear @rc_changed before a captured statement: 0, or -1 (db_errmsg). */
int changes_capture_reset(db *d);

/*
 * After a captured statement: keep in rows only those it matched. Rows it
 * matched that the before-read did not see are added to *missed (their
 * before-values are unknown: counted, not recorded). 0, or -1.
 */
int changes_capture_keep(db *d, change_rows *rows, int64_t *missed);

/*
 * Write the key rows (reconciler_change_keys) of up to max_sets sets not
 * keyed yet, oldest first, about 20 sets a transaction, and mark them
 * keyed: the sets keyed, or -1 (db_errmsg). A run writes only the sets;
 * this index of them comes after it (the service after each run, `reconciler
 * changes` before a lookup by row), and a row's history reads the sets not
 * keyed yet as well, so a record is found either way.
 */
int64_t changes_key_sets(db *d, int64_t max_sets);

/*
 * Delete the oldest sets of records older than keep_s seconds (the
 * database's clock), whole, with their key rows, in one transaction: at
 * least one set, and no more than limit records past the first set. The
 * records deleted (0: none is old enough), or -1 (db_errmsg).
 */
int64_t changes_prune(db *d, int64_t keep_s, int64_t limit);
#define CHANGES_PRUNE_CHUNK 1000



/* What `reconciler changes` and GET /v1/changes ask for; NULL / 0 fields match all. */
typedef struct changes_filter {
    int64_t run_id;
    const char *table, *key, *step, *job;
    const char *since;  /* "YYYY-MM-DD HH:MM:SS": records at or after it */
    int64_t before;     /* keyset paging: records whose id is below it */
    int64_t limit;      /* 1..CHANGES_LIST_MAX */
} changes_filter;
#define CHANGES_LIST_MAX 1000
/* A record's id: its set's id times CHANGES_ID_SPAN plus its place in the set (from 1). */
#define CHANGES_ID_SPAN 65536

/*
 * The matching records, newest first, as a JSON array of {id, runId, job,
 * step, table, key, changes: {column: [before, after]}, at} (owned), or
 * NULL (db_errmsg).
 */
json_t *changes_list(db *d, const changes_filter *f);
#endif
