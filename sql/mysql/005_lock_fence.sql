-- SPDX-License-Identifier: MIT
-- 005: a counter the run's fence writes (lock_fence, docs/internals.md
-- "Fencing"). Every write transaction of a run bumps it in the same
-- transaction, only while its lease is live on the database clock: a real
-- change of the lock row, so that on Galera certification orders it against
-- another instance's take of the lock. Re-runnable (IF NOT EXISTS).

ALTER TABLE reconciler_locks
  ADD COLUMN IF NOT EXISTS fences BIGINT NOT NULL DEFAULT 0;
