-- ops.pipeline_health_daily: per day (UTC, the day an update started), what the on-call engineer looks at first:
--   how many updates ran, completed and failed, the failure rate, how long they took, the rows they wrote, the
--   ERROR events they logged, the records that failed an expectation, and the worst landing -> gold latency.
-- Placeholders: ${pipeline_updates}, ${pipeline_expectation_failures}, ${pipeline_landing_latency}.
WITH failures AS (
  SELECT update_date, sum(failed_records) AS failed_records
  FROM ${pipeline_expectation_failures}
  GROUP BY update_date
),
latency AS (
  SELECT update_date, max(max_latency_s) AS max_landing_to_gold_s
  FROM ${pipeline_landing_latency}
  GROUP BY update_date
),
updates AS (
  SELECT
    update_date,
    count(*) AS updates,
    count_if(status = 'COMPLETED') AS completed,
    count_if(status = 'FAILED') AS failed,
    count_if(status = 'FAILED') / count(*) AS failure_rate,
    avg(duration_s) AS avg_duration_s,
    max(duration_s) AS max_duration_s,
    sum(rows_written) AS rows_written,
    sum(error_events) AS error_events
  FROM ${pipeline_updates}
  GROUP BY update_date
)
SELECT
  updates.update_date AS day,
  updates.updates,
  updates.completed,
  updates.failed,
  updates.failure_rate,
  updates.avg_duration_s,
  updates.max_duration_s,
  updates.rows_written,
  updates.error_events,
  coalesce(failures.failed_records, 0) AS failed_records,
  latency.max_landing_to_gold_s
FROM updates
LEFT JOIN failures ON updates.update_date = failures.update_date
LEFT JOIN latency ON updates.update_date = latency.update_date
