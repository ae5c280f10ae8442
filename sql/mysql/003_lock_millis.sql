-- SPDX-License-Identifier: MIT
-- 003: the run lock's times to the millisecond. Whole seconds are too coarse
-- for short intervals: a lease taken at 10:00:00.900 "until 10:00:01" would
-- last 0.1 s. Re-runnable: MODIFY to the same type changes nothing.
-- (SQLite keeps the times as 'YYYY-MM-DD HH:MM:SS.mmm' text: nothing to do.)

ALTER TABLE reconciler_locks
  MODIFY locked_at DATETIME(3) NOT NULL,
  MODIFY lock_until DATETIME(3) NOT NULL;
