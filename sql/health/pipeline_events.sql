-- ops.pipeline_events: the pipeline's event log, one row per event, with the fields the health views need pulled
--   out of the JSON `details` column. The base of every other view in sql/health/.
-- Event log schema (Databricks "Pipeline event log schema"): `origin` is a struct (update_id, flow_name,
--   dataset_name), `details` is a JSON string whose shape depends on `event_type`: `update_progress.state`,
--   `flow_progress.status`, `flow_progress.metrics.num_output_rows`, `flow_progress.data_quality.expectations`.
-- Portable on purpose: get_json_object and try_cast instead of Databricks' `details:a.b::type` operators, so the
--   same text runs on open-source Spark over the event log `lakehouse run-local` derives.
-- Table names are normalized to `schema.table` (flows may be named `catalog.schema.table` or `schema.table`).
-- Placeholders: ${event_log} (quoted catalog.ops.pipeline_event_log).
SELECT
  id AS event_id,
  origin.update_id AS update_id,
  event_type,
  level,
  `timestamp` AS event_time,
  CASE
    WHEN size(split(coalesce(origin.dataset_name, origin.flow_name), '[.]')) >= 2
      THEN array_join(slice(split(coalesce(origin.dataset_name, origin.flow_name), '[.]'), -2, 2), '.')
    ELSE coalesce(origin.dataset_name, origin.flow_name)
  END AS table_name,
  get_json_object(details, '$.update_progress.state') AS update_state,
  get_json_object(details, '$.flow_progress.status') AS flow_status,
  try_cast(get_json_object(details, '$.flow_progress.metrics.num_output_rows') AS BIGINT) AS num_output_rows,
  get_json_object(details, '$.flow_progress.data_quality.expectations') AS expectations_json,
  message
FROM ${event_log}
WHERE origin.update_id IS NOT NULL
