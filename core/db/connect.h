/* SPDX-License-Identifier: MIT */
/*
 * connect.h - the one connection factory: the configured database, with the
 * configured password source, time zone and timeouts. Every part that talks
 * to the bot's database opens its connections here (the run, the run lock,
 * the API's live figures, the readiness watch), so none of them needs the
 * command line to connect.
 */
#ifndef RC_CONNECT_H
#define RC_CONNECT_H

#include <stddef.h>
#include "config/config.h"
#include "db/db.h"

/* Timeouts in seconds that override the configured ones (0: the configured one). */
typedef struct connect_timeouts {
    int connect_s, read_s, write_s;
    int busy_ms; /* SQLite: wait this long for another writer (0: write_s or the configured) */
} connect_timeouts;

/*
 * Parse cfg's database URL into *u: EXIT_OK, or EXIT_USAGE with err naming
 * FILE:LINE:COL of database.url (or --db) and the URL redacted.
 */
int connect_parse_url(const config *cfg, db_url *u, char *err, size_t errlen);

/*
 * What can be checked without connecting: the URL parses and the password
 * source can be read. EXIT_OK, or EXIT_USAGE with err. A command checks this
 * first, so that a configuration error is exit 2, not a failed run.
 */
int connect_preflight(const config *cfg, char *err, size_t errlen);

/*
 * Connect (t may be NULL). EXIT_OK and *out, or an exit code with err (no
 * password in it): EXIT_USAGE for the URL or password source, EXIT_DATABASE
 * when the server cannot be reached or refuses.
 */
int connect_open(const config *cfg, const connect_timeouts *t, db **out, char *err,
                 size_t errlen);

/*
 * Make *d a working connection: a connection that does not answer a ping (a
 * server restarted since its last use) is closed and opened again, and a
 * NULL *d is opened. EXIT_OK, or an exit code with err (*d is then NULL).
 */
/*
 * A copy of what connect_open and connect_check read from cfg (the database
 * keys, the file's path and folder for messages and relative paths), for a
 * thread that may outlive cfg (library.h): everything else is zero/NULL.
 * Freed with config_free.
 */
config *connect_config_dup(const config *cfg);

int connect_check(const config *cfg, const connect_timeouts *t, db **d, char *err,
                  size_t errlen);

#endif
