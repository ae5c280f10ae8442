-- SPDX-License-Identifier: MIT
-- 004: indexes for the live endpoints, as in sql/mysql/004_dashboard_indexes.sql
-- (numbered like it; SQLite needs no 003). Each lets a figure be read from
-- the index alone.

CREATE INDEX IF NOT EXISTS idx_processing_jobs_status_times
  ON processing_jobs (status, created_at, started_at, finished_at);
CREATE INDEX IF NOT EXISTS idx_orders_status_amount ON orders (processing_status, total_amount);
CREATE INDEX IF NOT EXISTS idx_user_sessions_candidates
  ON user_sessions (contact_status, last_activity, follow_up_attempts, cooldown_until);
