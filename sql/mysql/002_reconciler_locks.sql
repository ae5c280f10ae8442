-- SPDX-License-Identifier: MIT
-- 002: reconciler's own table: one lease row per lock name, so that one
-- reconciler runs at a time across hosts. A row is taken or renewed with one
-- conditional UPDATE on the database clock (see the service mode), which
-- survives reconnects, replication and proxies, unlike GET_LOCK().
-- Kept apart from 001, which holds only the bot's tables.

CREATE TABLE IF NOT EXISTS reconciler_locks (
  name VARCHAR(64) NOT NULL,
  holder VARCHAR(128) NOT NULL,
  locked_at DATETIME NOT NULL,
  lock_until DATETIME NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
