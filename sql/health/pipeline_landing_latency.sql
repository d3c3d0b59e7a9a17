-- ops.pipeline_landing_latency: per update and source, how long landed data took to reach gold: from the time its
--   file landed to the time gold.correlations completed in the update that first ingested it.
-- Landing time comes from the landed file's name, the one place both runtimes keep it (silver's `source_file`):
--   * wikimedia: `recentchange-<yyyyMMddTHHmmss...>Z-<id>.jsonl`, stamped by the listener when it wrote the file
--     (the landing time itself);
--   * gdelt: `<yyyyMMddHHmmss>.export.CSV`, GDELT's publication time of the slice (the loader lands it within its
--     15-minute schedule, so this latency includes GDELT -> landing; a backfill shows the age of the data).
-- A silver row belongs to the update that was running when it was ingested (latest start at or before
--   `ingested_at`). `max_latency_s` is measured from the earliest file, `min_latency_s` from the latest.
-- Placeholders: ${pipeline_events}, ${pipeline_updates}, ${silver_gdelt_events}, ${silver_wikimedia_edits}.
WITH updates AS (
  SELECT
    update_id,
    update_date,
    started_at,
    lead(started_at) OVER (ORDER BY started_at) AS next_started_at
  FROM ${pipeline_updates}
),
gold_done AS (
  SELECT update_id, max(event_time) AS gold_completed_at
  FROM ${pipeline_events}
  WHERE event_type = 'flow_progress' AND table_name = 'gold.correlations' AND flow_status = 'COMPLETED'
  GROUP BY update_id
),
landed AS (
  SELECT
    'gdelt' AS source,
    source_file,
    ingested_at,
    try_to_timestamp(regexp_extract(source_file, '([0-9]{14})[.]export[.]CSV$', 1), 'yyyyMMddHHmmss') AS landed_at
  FROM ${silver_gdelt_events}
  UNION ALL
  SELECT
    'wikimedia' AS source,
    source_file,
    ingested_at,
    try_to_timestamp(
      regexp_replace(regexp_extract(source_file, 'recentchange-([0-9]{8}T[0-9]{6})', 1), 'T', ''),
      'yyyyMMddHHmmss'
    ) AS landed_at
  FROM ${silver_wikimedia_edits}
)
SELECT
  updates.update_id,
  updates.update_date,
  landed.source,
  count(DISTINCT landed.source_file) AS files,
  count(*) AS silver_rows,
  min(landed.landed_at) AS earliest_landed_at,
  max(landed.landed_at) AS latest_landed_at,
  gold_done.gold_completed_at,
  (unix_micros(gold_done.gold_completed_at) - unix_micros(min(landed.landed_at))) / 1e6 AS max_latency_s,
  (unix_micros(gold_done.gold_completed_at) - unix_micros(max(landed.landed_at))) / 1e6 AS min_latency_s
FROM landed
JOIN updates
  ON landed.ingested_at >= updates.started_at
  AND (updates.next_started_at IS NULL OR landed.ingested_at < updates.next_started_at)
LEFT JOIN gold_done ON updates.update_id = gold_done.update_id
GROUP BY updates.update_id, updates.update_date, landed.source, gold_done.gold_completed_at
