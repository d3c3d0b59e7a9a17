-- ops.pipeline_table_rows: per update and table, the rows its flow wrote (the sum of
--   `flow_progress.metrics.num_output_rows` over the update, as streaming flows report per micro-batch), the
--   flow's last status, and how long it ran (first RUNNING to its last terminal status).
-- Placeholders: ${pipeline_events} (quoted catalog.ops.pipeline_events).
SELECT
  update_id,
  to_date(min(event_time)) AS update_date,
  table_name,
  coalesce(sum(num_output_rows), 0) AS rows_written,
  max_by(flow_status, event_time) AS last_status,
  (
    unix_micros(max(event_time) FILTER (WHERE flow_status IN ('COMPLETED', 'FAILED', 'STOPPED', 'SKIPPED')))
    - unix_micros(min(event_time) FILTER (WHERE flow_status = 'RUNNING'))
  ) / 1e6 AS running_s
FROM ${pipeline_events}
WHERE event_type = 'flow_progress' AND table_name IS NOT NULL
GROUP BY update_id, table_name
