-- SPDX-License-Identifier: MIT
-- 002: reconciler's own lease table, as in sql/mysql/002_reconciler_locks.sql.

CREATE TABLE IF NOT EXISTS reconciler_locks (
  name TEXT NOT NULL PRIMARY KEY,
  holder TEXT NOT NULL,
  locked_at TEXT NOT NULL,
  lock_until TEXT NOT NULL
);
