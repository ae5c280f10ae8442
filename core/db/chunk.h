/* chunk.h - keyset-chunked writes (rc_api.db_chunked); see reconciler.h. */
#ifndef RC_CHUNK_H
#define RC_CHUNK_H

#include "db/db.h"

/*
 * Run the chunk loop on d. stop(stop_arg) is asked between chunks (may be
 * NULL). A chunk rolled back by a retryable error (deadlock, lock wait
 * timeout, Galera certification conflict) is run again, up to 5 tries in
 * all; each retry adds 1 to *retries (retries may be NULL). Returns 0, or -1
 * with the database error left in db_errmsg(d) (or err for other failures).
 */
int chunk_run(db *d, const char *find_sql, const rc_value *find_params, size_t find_n,
              rc_value first, int64_t batch, rc_chunk_stmt *stmts, size_t nstmts,
              int (*stop)(void *), void *stop_arg, int64_t *retries, char *err, size_t errlen);

/*
 * The pause before retry number attempt (1, 2, ...) of a chunk that hit a
 * deadlock: 20 ms << attempt plus up to as much again, at random.
 */
int64_t chunk_backoff_ms(int attempt);

#endif
