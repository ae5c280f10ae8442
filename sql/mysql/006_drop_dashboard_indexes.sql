-- SPDX-License-Identifier: MIT
-- 006: drop two of migration 004's covering indexes. The live figures are
-- served from a snapshot refreshed in the background (docs/http-api.md),
-- so no request reads these tables any more, while every repair paid for
-- the indexes on each row it changed (the leases step writes
-- processing_jobs.status and its times, the followups step
-- user_sessions.cooldown_until): at 1M jobs the same pipeline took 4.2 to
-- 6.8 s without them and 7.2 to 8.2 s with them. idx_orders_status_amount
-- stays: no step writes orders, and the revenue figure reads it alone.
-- `make bench` prints the repair's time with and without each index.
--
-- Re-runnable (MySQL has no DROP INDEX IF EXISTS): each index is dropped
-- only while information_schema lists it. ALGORITHM and LOCK keep the
-- table writable meanwhile, or make the statement fail instead of locking.

SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
    AND table_name = 'processing_jobs' AND index_name = 'idx_processing_jobs_status_times') > 0,
  'ALTER TABLE processing_jobs DROP INDEX idx_processing_jobs_status_times, ALGORITHM=INPLACE, LOCK=NONE',
  'DO 0');
PREPARE ddl FROM @ddl;
EXECUTE ddl;
DEALLOCATE PREPARE ddl;

SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
    AND table_name = 'user_sessions' AND index_name = 'idx_user_sessions_candidates') > 0,
  'ALTER TABLE user_sessions DROP INDEX idx_user_sessions_candidates, ALGORITHM=INPLACE, LOCK=NONE',
  'DO 0');
PREPARE ddl FROM @ddl;
EXECUTE ddl;
DEALLOCATE PREPARE ddl;
