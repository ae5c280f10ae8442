-- SPDX-License-Identifier: MIT
-- 001: the bot's own tables, with the names and types the bot uses.
--
-- Every statement is re-runnable (IF NOT EXISTS), so that this migration
-- adopts an existing bot database as it finds it, and MySQL, which commits
-- each DDL statement by itself, can simply run it again after a failure.
-- Indexes are declared inside CREATE TABLE: MySQL (unlike MariaDB) has no
-- CREATE INDEX IF NOT EXISTS.
-- payload and details are LONGTEXT, not JSON: MariaDB's JSON adds a
-- json_valid() CHECK and MySQL's JSON does not compare equal to text, and
-- the bot writes whatever its workers give it.
-- db_exec_script splits on ';' at the end of a line: keep one there.

CREATE TABLE IF NOT EXISTS processing_jobs (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  job_type VARCHAR(64) NOT NULL,
  payload LONGTEXT NULL,
  status ENUM('pending','processing','retry','completed','failed') NOT NULL DEFAULT 'pending',
  attempts INT NOT NULL DEFAULT 0,
  locked_by VARCHAR(128) NULL,
  locked_until DATETIME NULL,
  last_error TEXT NULL,
  started_at DATETIME NULL,
  finished_at DATETIME NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY idx_processing_jobs_status_locked_until (status, locked_until),
  KEY idx_processing_jobs_locked_until (locked_until)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS user_sessions (
  user_id VARCHAR(64) NOT NULL,
  contact_status VARCHAR(32) NOT NULL DEFAULT 'ACTIVE',
  follow_up_attempts INT NOT NULL DEFAULT 0,
  cooldown_until DATETIME NULL,
  last_activity DATETIME NOT NULL,
  PRIMARY KEY (user_id),
  KEY idx_user_sessions_cooldown_until (cooldown_until),
  KEY idx_user_sessions_followup (contact_status, follow_up_attempts, last_activity)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS orders (
  id BIGINT NOT NULL AUTO_INCREMENT,
  order_number VARCHAR(64) NOT NULL,
  customer_phone VARCHAR(32) NULL,
  processing_status ENUM('pending','processing','completed','failed','cancelled') NOT NULL DEFAULT 'pending',
  total_amount DECIMAL(12,2) NOT NULL DEFAULT 0,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY idx_orders_processing_status (processing_status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS processing_job_logs (
  id BIGINT NOT NULL AUTO_INCREMENT,
  job_id BIGINT NOT NULL DEFAULT 0,
  level VARCHAR(16) NOT NULL,
  category VARCHAR(64) NOT NULL,
  message TEXT NOT NULL,
  details LONGTEXT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY idx_processing_job_logs_category_created_at (category, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
