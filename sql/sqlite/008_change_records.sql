-- SPDX-License-Identifier: MIT
-- 008: change records, as in sql/mysql/008_change_records.sql.

CREATE TABLE IF NOT EXISTS reconciler_changes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL,
  job TEXT NOT NULL,
  step TEXT NOT NULL,
  table_name TEXT NOT NULL,
  row_key TEXT NOT NULL,
  changes TEXT NOT NULL,
  at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_reconciler_changes_run ON reconciler_changes (run_id, id);
CREATE INDEX IF NOT EXISTS idx_reconciler_changes_row ON reconciler_changes (table_name, row_key, id);
