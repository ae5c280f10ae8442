-- SPDX-License-Identifier: MIT
-- 008: change records (docs/internals.md "Change records"). One row per
-- row a step changed through the core's write paths, written in the same
-- transaction as the change: run, job, step, the table and the row's key,
-- and changes = {"column": [before, after], ...} as JSON text.
-- (run_id, id) serves a run's list; (table_name, row_key, id) one row's
-- history; both page by id (keyset). Pruning walks the primary key from
-- the oldest id, so `at` needs no index.

CREATE TABLE IF NOT EXISTS reconciler_changes (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  run_id BIGINT NOT NULL,
  job VARCHAR(128) NOT NULL,
  step VARCHAR(128) NOT NULL,
  table_name VARCHAR(64) NOT NULL,
  row_key VARCHAR(191) NOT NULL,
  changes MEDIUMTEXT NOT NULL,
  at DATETIME(3) NOT NULL,
  KEY idx_reconciler_changes_run (run_id, id),
  KEY idx_reconciler_changes_row (table_name, row_key, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
