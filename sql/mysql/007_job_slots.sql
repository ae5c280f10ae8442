-- SPDX-License-Identifier: MIT
-- 007: the jobs' shared state (issue 19), beside reconciler_locks.
-- reconciler_job_slots: one row per slot (a fire time a job was scheduled
-- for) that an instance claimed, ran or skipped. Its primary key makes a slot
-- run at most once across every instance; the newest row of a job tells a
-- starting instance which slots were missed. scheduled_for is Unix seconds
-- (UTC), the calendar's own unit. Rows older than a job's missed_within
-- (at least a day) are pruned by the service.
-- reconciler_job_pauses: a paused job, so that every instance obeys the pause
-- and it survives restarts.

CREATE TABLE IF NOT EXISTS reconciler_job_slots (
  job VARCHAR(64) NOT NULL,
  scheduled_for BIGINT NOT NULL,
  claim VARCHAR(200) NOT NULL,
  kind VARCHAR(16) NOT NULL,
  status VARCHAR(16) NOT NULL,
  reason VARCHAR(255) NULL,
  run_id BIGINT NULL,
  claimed_at DATETIME(3) NOT NULL,
  PRIMARY KEY (job, scheduled_for)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS reconciler_job_pauses (
  job VARCHAR(64) NOT NULL,
  paused TINYINT NOT NULL,
  paused_by VARCHAR(255) NOT NULL,
  paused_at DATETIME(3) NOT NULL,
  reason VARCHAR(500) NULL,
  PRIMARY KEY (job)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
