-- SPDX-License-Identifier: MIT
-- 001: the bot's own tables, as in sql/mysql/001_bot_tables.sql.
--
-- Datetimes are TEXT 'YYYY-MM-DD HH:MM:SS' in UTC, which compares correctly
-- as text; created_at of a log line has milliseconds. (A DATETIME column
-- would get NUMERIC affinity and could turn some values into numbers.)
-- The MySQL ENUMs are CHECK constraints. total_amount is REAL so that it
-- always reads back as a double, as the MySQL DECIMAL does.
-- SQLite has no ON UPDATE CURRENT_TIMESTAMP: writers set updated_at.
-- Every statement is re-runnable (IF NOT EXISTS).

CREATE TABLE IF NOT EXISTS processing_jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_type TEXT NOT NULL,
  payload TEXT NULL,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending','processing','retry','completed','failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  locked_by TEXT NULL,
  locked_until TEXT NULL,
  last_error TEXT NULL,
  started_at TEXT NULL,
  finished_at TEXT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%S','now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%S','now'))
);
CREATE INDEX IF NOT EXISTS idx_processing_jobs_status_locked_until
  ON processing_jobs (status, locked_until);
CREATE INDEX IF NOT EXISTS idx_processing_jobs_locked_until ON processing_jobs (locked_until);

CREATE TABLE IF NOT EXISTS user_sessions (
  user_id TEXT NOT NULL PRIMARY KEY,
  contact_status TEXT NOT NULL DEFAULT 'ACTIVE',
  follow_up_attempts INTEGER NOT NULL DEFAULT 0,
  cooldown_until TEXT NULL,
  last_activity TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_user_sessions_cooldown_until ON user_sessions (cooldown_until);
CREATE INDEX IF NOT EXISTS idx_user_sessions_followup
  ON user_sessions (contact_status, follow_up_attempts, last_activity);

CREATE TABLE IF NOT EXISTS orders (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  order_number TEXT NOT NULL,
  customer_phone TEXT NULL,
  processing_status TEXT NOT NULL DEFAULT 'pending'
    CHECK (processing_status IN ('pending','processing','completed','failed','cancelled')),
  total_amount REAL NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%S','now'))
);
CREATE INDEX IF NOT EXISTS idx_orders_processing_status ON orders (processing_status);

CREATE TABLE IF NOT EXISTS processing_job_logs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id INTEGER NOT NULL DEFAULT 0,
  level TEXT NOT NULL,
  category TEXT NOT NULL,
  message TEXT NOT NULL,
  details TEXT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f','now'))
);
CREATE INDEX IF NOT EXISTS idx_processing_job_logs_category_created_at
  ON processing_job_logs (category, created_at);
