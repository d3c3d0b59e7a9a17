-- ops.pipeline_updates: one row per pipeline update (run): when it started and ended, its last state, how long it
--   took, how many rows its flows wrote, and how many ERROR events and failed flows it logged.
-- `status` is the update's latest `update_progress.state` (QUEUED ... RUNNING, then COMPLETED, FAILED or
--   CANCELED); `ended_at` and `duration_s` stay NULL while the update runs.
-- Placeholders: ${pipeline_events} (quoted catalog.ops.pipeline_events).
SELECT
  update_id,
  to_date(min(event_time)) AS update_date,
  min(event_time) AS started_at,
  max(event_time) FILTER (WHERE update_state IN ('COMPLETED', 'FAILED', 'CANCELED')) AS ended_at,
  max_by(update_state, event_time) FILTER (WHERE update_state IS NOT NULL) AS status,
  (
    unix_micros(max(event_time) FILTER (WHERE update_state IN ('COMPLETED', 'FAILED', 'CANCELED')))
    - unix_micros(min(event_time))
  ) / 1e6 AS duration_s,
  coalesce(sum(num_output_rows) FILTER (WHERE event_type = 'flow_progress'), 0) AS rows_written,
  count_if(level = 'ERROR') AS error_events,
  count_if(event_type = 'flow_progress' AND flow_status = 'FAILED') AS failed_flow_events
FROM ${pipeline_events}
GROUP BY update_id
