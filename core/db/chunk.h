/* SPDX-License-Identifier: MIT */
/* chunk.h - keyset-chunked writes (rc_api.db_chunked); see reconciler.h. */
#ifndef RC_CHUNK_H
#define RC_CHUNK_H

#include "db/db.h"

/* What chunk_hooks.before_commit decides for a chunk whose statements ran. */
enum { CHUNK_COMMIT = 0, CHUNK_ROLLBACK = 1, CHUNK_REFUSE = 2 };

typedef struct chunk_hooks {
    /* Asked between chunks: non-zero ends the loop (not an error). May be NULL. */
    int (*stop)(void *arg);
    /*
     * Asked before each chunk commits, with the rows each statement matched
     * in it (may be NULL: always commit). CHUNK_COMMIT; CHUNK_ROLLBACK: roll
     * the chunk back and go on as if it had committed (a rehearsal);
     * CHUNK_REFUSE: roll it back and fail with the message the hook wrote
     * in err. steps[].max_changes is enforced here (engine/host.c).
     */
    int (*before_commit)(void *arg, const int64_t *counts, size_t n, char *err, size_t errlen);
    void *arg;
    /*
     * Change records to write in each chunk's transaction (db/changes.h), or
     * NULL: none. changes->written counts those of committed chunks.
     */
    struct changes_meta *changes;
    /*
     * Told of each chunk once it committed, or failed for good (failed 1):
     * when it started (its find) and ended, in Unix ns, the rows its
     * statements changed and how often it was run again. May be NULL.
     * Tracing's chunk spans come from here (engine/host.c).
     */
    void (*chunk_done)(void *arg, int64_t start_ns, int64_t end_ns, int64_t rows,
                       int64_t retries, int failed);
} chunk_hooks;

/*
 * Run the chunk loop on d (rc_api.db_chunked_by; db_chunked is the key of
 * one column bound once). hooks may be NULL. A chunk rolled back by a
 * retryable error (deadlock, lock wait timeout, Galera certification
 * conflict) is run again, up to 5 tries in all; each retry adds 1 to
 * *retries (retries may be NULL). Returns 0, or -1 with the database error
 * left in db_errmsg(d) (or err for other failures, err[0] set: a key or
 * parameters that do not fit, a find that returned a NULL key or too few
 * columns, a chunk the hook refused).
 */
int chunk_run(db *d, const char *find_sql, const rc_value *find_params, size_t find_n,
              const rc_chunk_key *key, int64_t batch, rc_chunk_stmt *stmts, size_t nstmts,
              const chunk_hooks *hooks, int64_t *retries, char *err, size_t errlen);

/*
 * The pause before retry number attempt (1, 2, ...) of a chunk that hit a
 * deadlock: 20 ms << attempt plus up to as much again, at random.
 */
int64_t chunk_backoff_ms(int attempt);

#endif
