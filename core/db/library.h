/* SPDX-License-Identifier: MIT */
/*
 * library.h - the database client libraries' set-up and tear-down, once per
 * process, in the one layer that knows them (nothing above core/db includes
 * <mysql.h> or <sqlite3.h>; tools/check-layers fails a build that does).
 *
 * The rule for threads that may outlive their caller (a close left behind
 * after a timeout, a statement abandoned on a hung server): such a thread
 * owns copies of what it uses (connect_config_dup, its own connection) and
 * holds the library (db_library_hold) until it has closed its connection,
 * so that db_library_end never pulls the client library from under it.
 */
#ifndef RC_DB_LIBRARY_H
#define RC_DB_LIBRARY_H

/* Before any thread (Connector/C asks for it): mysql_library_init, sqlite3_initialize. */
void db_library_init(void);

/*
 * At the end of main: mysql_library_end and sqlite3_shutdown, unless a
 * thread still holds the library. That thread may be mid-statement on a hung
 * server; ending the library under it would crash it, so the tear-down is
 * skipped and the process's exit reclaims what the libraries hold.
 * Returns 1 when it tore down, 0 when it skipped.
 */
int db_library_end(void);

/* A thread that may outlive its caller holds the library while it uses it. */
void db_library_hold(void);
void db_library_release(void);
/* How many holds are outstanding (tests, the skip's log line). */
int db_library_holds(void);

#endif
