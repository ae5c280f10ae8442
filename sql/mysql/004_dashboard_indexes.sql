-- SPDX-License-Identifier: MIT
-- 004: indexes for the live endpoints (GET /v1/processing/queue and
-- /api/admin/dashboard), which query the bot's tables at request time. Each
-- one lets a figure be read from an index alone (a covering index) instead
-- of from every row; see "Indexes for the live figures" in docs/internals.md.
--
-- Re-runnable on MySQL too, which has no ADD INDEX IF NOT EXISTS: each index
-- is added only when information_schema does not list it yet. ALGORITHM and
-- LOCK make the build online (the bot keeps writing) or make it fail
-- instead of locking the table.

-- oldest pending job (MIN(created_at) WHERE status = 'pending': one entry
-- read) and the mean duration of completed jobs (started_at and finished_at
-- read from the index, not from the rows).
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
    AND table_name = 'processing_jobs' AND index_name = 'idx_processing_jobs_status_times') = 0,
  'ALTER TABLE processing_jobs ADD INDEX idx_processing_jobs_status_times (status, created_at, started_at, finished_at), ALGORITHM=INPLACE, LOCK=NONE',
  'DO 0');
PREPARE ddl FROM @ddl;
EXECUTE ddl;
DEALLOCATE PREPARE ddl;

-- revenue (SUM(total_amount) of completed orders) from the index alone.
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
    AND table_name = 'orders' AND index_name = 'idx_orders_status_amount') = 0,
  'ALTER TABLE orders ADD INDEX idx_orders_status_amount (processing_status, total_amount), ALGORITHM=INPLACE, LOCK=NONE',
  'DO 0');
PREPARE ddl FROM @ddl;
EXECUTE ddl;
DEALLOCATE PREPARE ddl;

-- follow-up candidates: a range on (contact_status, last_activity), with
-- the attempts and the cooldown checked in the index.
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
    AND table_name = 'user_sessions' AND index_name = 'idx_user_sessions_candidates') = 0,
  'ALTER TABLE user_sessions ADD INDEX idx_user_sessions_candidates (contact_status, last_activity, follow_up_attempts, cooldown_until), ALGORITHM=INPLACE, LOCK=NONE',
  'DO 0');
PREPARE ddl FROM @ddl;
EXECUTE ddl;
DEALLOCATE PREPARE ddl;
