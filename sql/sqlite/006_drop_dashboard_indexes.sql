-- SPDX-License-Identifier: MIT
-- 006: drop two of migration 004's covering indexes, as in
-- sql/mysql/006_drop_dashboard_indexes.sql (why: there). The orders index
-- stays.

DROP INDEX IF EXISTS idx_processing_jobs_status_times;
DROP INDEX IF EXISTS idx_user_sessions_candidates;
