-- SPDX-License-Identifier: MIT
-- 009: change records stored one row per chunk, table and step
-- (docs/internals.md "Change records"). A row per changed row, with its two
-- indexes, cost a run with records half again its time (issue 22).
--   reconciler_change_sets: records = [[key, {"column": [before, after]}],
--     ...] as JSON text, nrecords of them, written in the chunk's own
--     transaction; (run_id, id) serves a run's list. A record's id is
--     set id * 65536 + its place in the set (from 1). keyed = 1 once the
--     set's key rows are written.
--   reconciler_change_keys: (table, key, set) for every record of a keyed
--     set: one row's history, newest set first. Written after the run, not
--     in it (the service after its runs, `reconciler changes` before a
--     lookup): a row's history reads the sets not keyed yet as well.
--   reconciler_change_rows: a view with one row per record, in the shape of
--     008's reconciler_changes, for reading by hand.
-- Re-runnable (migrate.c): the old table is made if a run before dropped
-- it, its rows are copied under their own ids (INSERT IGNORE), then it goes.

CREATE TABLE IF NOT EXISTS reconciler_change_sets (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  run_id BIGINT NOT NULL,
  job VARCHAR(128) NOT NULL,
  step VARCHAR(128) NOT NULL,
  table_name VARCHAR(64) NOT NULL,
  nrecords INT NOT NULL,
  records MEDIUMTEXT NOT NULL,
  at DATETIME(3) NOT NULL,
  keyed TINYINT NOT NULL DEFAULT 0,
  KEY idx_reconciler_change_sets_run (run_id, id),
  KEY idx_reconciler_change_sets_keyed (keyed, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS reconciler_change_keys (
  table_name VARCHAR(64) NOT NULL,
  row_key VARCHAR(191) NOT NULL,
  set_id BIGINT NOT NULL,
  PRIMARY KEY (table_name, row_key, set_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS reconciler_changes (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  run_id BIGINT NOT NULL,
  job VARCHAR(128) NOT NULL,
  step VARCHAR(128) NOT NULL,
  table_name VARCHAR(64) NOT NULL,
  row_key VARCHAR(191) NOT NULL,
  changes MEDIUMTEXT NOT NULL,
  at DATETIME(3) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT IGNORE INTO reconciler_change_sets (id, run_id, job, step, table_name, nrecords, records, at,
                                          keyed)
  SELECT id, run_id, job, step, table_name, 1,
         JSON_ARRAY(JSON_ARRAY(row_key, JSON_EXTRACT(changes, '$'))), at, 1
  FROM reconciler_changes;

INSERT IGNORE INTO reconciler_change_keys (table_name, row_key, set_id)
  SELECT table_name, row_key, id FROM reconciler_changes;

DROP TABLE reconciler_changes;

CREATE OR REPLACE VIEW reconciler_change_rows AS
  SELECT s.id * 65536 + r.ord AS id, s.run_id, s.job, s.step, s.table_name, r.row_key,
         r.changes, s.at
  FROM reconciler_change_sets s,
       JSON_TABLE(s.records, '$[*]' COLUMNS (ord FOR ORDINALITY,
                  row_key VARCHAR(191) CHARACTER SET utf8mb4 PATH '$[0]',
                  changes JSON PATH '$[1]')) r;
