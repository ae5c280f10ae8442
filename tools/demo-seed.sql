-- SPDX-License-Identifier: MIT
-- A realistic sample for `make demo` (SQLite): a bot that was down for two
-- hours. Every scenario the steps handle is here, among ordinary rows.
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2400)
INSERT INTO processing_jobs (job_type, payload, status, attempts, locked_by, locked_until,
                             started_at, finished_at, created_at, updated_at)
SELECT
  CASE i % 3 WHEN 0 THEN 'send_message' WHEN 1 THEN 'sync_order' ELSE 'follow_up' END,
  '{"n":' || i || '}',
  CASE
    WHEN i <= 40 THEN 'processing'                  -- expired lease: worker died
    WHEN i <= 52 THEN 'processing'                  -- no lease at all: orphaned
    WHEN i <= 82 THEN 'processing'                  -- live lease: a worker is on it
    WHEN i <= 97 THEN 'pending'                     -- pending with a stale lease
    WHEN i % 10 < 6 THEN 'completed'
    WHEN i % 10 < 8 THEN 'pending'
    WHEN i % 10 = 8 THEN 'retry'
    ELSE 'failed'
  END,
  CASE WHEN i <= 52 THEN i % 5 ELSE i % 3 END,
  CASE WHEN i <= 40 OR (i > 52 AND i <= 97) THEN 'worker-' || (i % 4) END,
  CASE
    WHEN i <= 40 THEN datetime('now', '-' || (30 + i) || ' minutes')
    WHEN i <= 52 THEN NULL
    WHEN i <= 82 THEN datetime('now', '+' || (5 + i % 10) || ' minutes')
    WHEN i <= 97 THEN datetime('now', '-3 hours')
  END,
  CASE WHEN i > 97 AND i % 10 < 6 THEN datetime('now', '-' || i || ' minutes') END,
  CASE WHEN i > 97 AND i % 10 < 6 THEN datetime('now', '-' || i || ' minutes', '+' || (1 + i % 90) || ' seconds') END,
  datetime('now', '-' || i || ' minutes'),
  datetime('now', '-' || i || ' minutes')
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500)
INSERT INTO user_sessions (user_id, contact_status, follow_up_attempts, cooldown_until, last_activity)
SELECT
  printf('+5215550%06d', i),
  CASE WHEN i % 15 = 0 THEN 'INACTIVE' ELSE 'ACTIVE' END,
  CASE WHEN i <= 100 THEN 3 ELSE i % 4 END,
  CASE
    WHEN i <= 100 THEN datetime('now', '-' || i || ' minutes')   -- cooldown ended while down
    WHEN i <= 150 THEN datetime('now', '+' || i || ' minutes')   -- still cooling down
  END,
  CASE
    WHEN i > 1300 THEN datetime('now', '-' || (366 + i % 200) || ' days')   -- stale contact
    ELSE datetime('now', '-' || (i % 300) || ' days')
  END
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 900)
INSERT INTO orders (order_number, customer_phone, processing_status, total_amount, created_at)
SELECT
  printf('ORD-%06d', i),
  printf('+5215550%06d', i),
  CASE i % 10 WHEN 0 THEN 'pending' WHEN 1 THEN 'processing' WHEN 2 THEN 'failed'
              WHEN 3 THEN 'cancelled' ELSE 'completed' END,
  round(50 + (i * 37 % 2000) + (i % 100) / 100.0, 2),
  datetime('now', '-' || (i * 7) || ' minutes')
FROM n;
