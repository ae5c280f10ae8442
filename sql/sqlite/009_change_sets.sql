-- SPDX-License-Identifier: MIT
-- 009: change records stored one row per chunk, table and step, as in
-- sql/mysql/009_change_sets.sql (one transaction here: no re-run needed).

CREATE TABLE IF NOT EXISTS reconciler_change_sets (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL,
  job TEXT NOT NULL,
  step TEXT NOT NULL,
  table_name TEXT NOT NULL,
  nrecords INTEGER NOT NULL,
  records TEXT NOT NULL,
  at TEXT NOT NULL,
  keyed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_reconciler_change_sets_run ON reconciler_change_sets (run_id, id);
CREATE INDEX IF NOT EXISTS idx_reconciler_change_sets_keyed ON reconciler_change_sets (keyed, id);

CREATE TABLE IF NOT EXISTS reconciler_change_keys (
  table_name TEXT NOT NULL,
  row_key TEXT NOT NULL,
  set_id INTEGER NOT NULL,
  PRIMARY KEY (table_name, row_key, set_id)
) WITHOUT ROWID;

INSERT OR IGNORE INTO reconciler_change_sets (id, run_id, job, step, table_name, nrecords, records, at,
                                             keyed)
  SELECT id, run_id, job, step, table_name, 1, json_array(json_array(row_key, json(changes))), at, 1
  FROM reconciler_changes;

INSERT OR IGNORE INTO reconciler_change_keys (table_name, row_key, set_id)
  SELECT table_name, row_key, id FROM reconciler_changes;

DROP TABLE reconciler_changes;

CREATE VIEW IF NOT EXISTS reconciler_change_rows AS
  SELECT s.id * 65536 + r.key + 1 AS id, s.run_id, s.job, s.step, s.table_name,
         json_extract(r.value, '$[0]') AS row_key, json_extract(r.value, '$[1]') AS changes, s.at
  FROM reconciler_change_sets s, json_each(s.records) r;
