-- ops.pipeline_landing_latency: per update and source, how long landed data took to reach gold: from the time its
--   file landed to the time the correlation sink published the first micro-batch that started after the row
--   reached silver (ops.correlation_updates: `processed_at` + `seconds`). gold.correlations is written by the
--   sink inside its foreach_batch_sink function, so the event log has no per-table progress for it.
-- Landing time comes from the landed file's name, the one place both runtimes keep it (silver's `source_file`):
--   * wikimedia: `recentchange-<yyyyMMddTHHmmss...>Z-<id>.jsonl`, stamped by the listener when it wrote the file
--     (the landing time itself);
--   * gdelt: `<yyyyMMddHHmmss>.export.CSV`, GDELT's publication time of the slice (the loader lands it within its
--     15-minute schedule, so this latency includes GDELT -> landing; a backfill shows the age of the data).
-- A silver row belongs to the update that was running when it was ingested (latest start at or before
--   `ingested_at`). `max_latency_s` is measured from the earliest file, `min_latency_s` from the latest.
-- Rows no sink update has published yet count in `silver_rows` but not in the latencies (`unpublished_rows`).
-- Placeholders: ${pipeline_updates}, ${correlation_updates}, ${silver_gdelt_events}, ${silver_wikimedia_edits}.
WITH updates AS (
  SELECT
    update_id,
    update_date,
    started_at,
    lead(started_at) OVER (ORDER BY started_at) AS next_started_at
  FROM ${pipeline_updates}
),
published AS (
  SELECT
    processed_at,
    timestampadd(MICROSECOND, CAST(seconds * 1e6 AS BIGINT), processed_at) AS published_at
  FROM ${correlation_updates}
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
),
reached_gold AS (
  SELECT landed.source, landed.source_file, landed.ingested_at, landed.landed_at, min(published.published_at) AS gold_at
  FROM landed
  LEFT JOIN published ON published.processed_at >= landed.ingested_at
  GROUP BY landed.source, landed.source_file, landed.ingested_at, landed.landed_at
)
SELECT
  updates.update_id,
  updates.update_date,
  reached_gold.source,
  count(DISTINCT reached_gold.source_file) AS files,
  count(*) AS silver_rows,
  count_if(reached_gold.gold_at IS NULL) AS unpublished_rows,
  min(reached_gold.landed_at) AS earliest_landed_at,
  max(reached_gold.landed_at) AS latest_landed_at,
  max(reached_gold.gold_at) AS gold_completed_at,
  max(unix_micros(reached_gold.gold_at) - unix_micros(reached_gold.landed_at)) / 1e6 AS max_latency_s,
  min(unix_micros(reached_gold.gold_at) - unix_micros(reached_gold.landed_at)) / 1e6 AS min_latency_s
FROM reached_gold
JOIN updates
  ON reached_gold.ingested_at >= updates.started_at
  AND (updates.next_started_at IS NULL OR reached_gold.ingested_at < updates.next_started_at)
GROUP BY updates.update_id, updates.update_date, reached_gold.source
