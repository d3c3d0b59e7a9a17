-- ops.pipeline_expectation_failures: per update, table and rule, the records that failed an expectation.
-- Two sources, both read on every runtime:
--   * event_log: the data-quality records of native pipeline expectations (`flow_progress.data_quality.expectations`,
--     passed and failed records per rule). In this pipeline those are gold's fail-the-update rules on Databricks;
--     open-source Spark has no native expectations, so locally this part is empty.
--   * quarantine: the silver rules, which run as filters before deduplication (docs/pipeline.md), so their
--     violations live in the quarantine tables, one row per violated rule. A quarantined row belongs to the update
--     that was running when it was ingested: the latest update started at or before its `ingested_at`.
-- Placeholders: ${pipeline_events}, ${pipeline_updates}, ${gdelt_quarantine}, ${wikimedia_quarantine}.
WITH updates AS (
  SELECT
    update_id,
    update_date,
    started_at,
    lead(started_at) OVER (ORDER BY started_at) AS next_started_at
  FROM ${pipeline_updates}
),
logged AS (
  SELECT update_id, table_name, expectation.name AS rule, expectation.passed_records, expectation.failed_records
  FROM (
    SELECT
      update_id,
      table_name,
      explode(
        from_json(
          expectations_json,
          'array<struct<name: string, dataset: string, passed_records: bigint, failed_records: bigint>>'
        )
      ) AS expectation
    FROM ${pipeline_events}
    WHERE expectations_json IS NOT NULL
  ) AS exploded
),
quarantined AS (
  SELECT 'silver.gdelt_events' AS table_name, rule, ingested_at FROM ${gdelt_quarantine}
  UNION ALL
  SELECT 'silver.wikimedia_edits' AS table_name, rule, ingested_at FROM ${wikimedia_quarantine}
)
SELECT
  logged.update_id,
  updates.update_date,
  logged.table_name,
  logged.rule,
  'event_log' AS source,
  sum(coalesce(logged.passed_records, 0)) AS passed_records,
  sum(coalesce(logged.failed_records, 0)) AS failed_records
FROM logged
LEFT JOIN updates ON logged.update_id = updates.update_id
GROUP BY logged.update_id, updates.update_date, logged.table_name, logged.rule
UNION ALL
SELECT
  updates.update_id,
  coalesce(updates.update_date, to_date(min(quarantined.ingested_at))) AS update_date,
  quarantined.table_name,
  quarantined.rule,
  'quarantine' AS source,
  CAST(NULL AS BIGINT) AS passed_records,
  count(*) AS failed_records
FROM quarantined
LEFT JOIN updates
  ON quarantined.ingested_at >= updates.started_at
  AND (updates.next_started_at IS NULL OR quarantined.ingested_at < updates.next_started_at)
GROUP BY updates.update_id, updates.update_date, quarantined.table_name, quarantined.rule
