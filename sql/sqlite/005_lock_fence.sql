-- SPDX-License-Identifier: MIT
-- 005: the fence's counter, as in sql/mysql/005_lock_fence.sql.

ALTER TABLE reconciler_locks ADD COLUMN fences INTEGER NOT NULL DEFAULT 0;
