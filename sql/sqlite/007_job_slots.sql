-- SPDX-License-Identifier: MIT
-- 007: the jobs' shared state, as in sql/mysql/007_job_slots.sql.

CREATE TABLE IF NOT EXISTS reconciler_job_slots (
  job TEXT NOT NULL,
  scheduled_for INTEGER NOT NULL,
  claim TEXT NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  run_id INTEGER,
  claimed_at TEXT NOT NULL,
  PRIMARY KEY (job, scheduled_for)
);

CREATE TABLE IF NOT EXISTS reconciler_job_pauses (
  job TEXT NOT NULL PRIMARY KEY,
  paused INTEGER NOT NULL,
  paused_by TEXT NOT NULL,
  paused_at TEXT NOT NULL,
  reason TEXT
);
