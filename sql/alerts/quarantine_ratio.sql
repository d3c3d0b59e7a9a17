-- Share of recently ingested rows that failed an expectation, over both feeds: quarantined / (quarantined + kept).
-- A ratio over a recent window, not a running total: real feeds always carry some bad rows, so a total would fire
-- on the first one and never clear. A quarantined row that broke several rules is counted once (by its source
-- line). The alert fires above [environments.<env>.alerts] quarantine_ratio_max.
WITH quarantined AS (
  SELECT count(DISTINCT source_file, raw_line) AS n FROM $gdelt_quarantine
  WHERE ingested_at >= current_timestamp() - INTERVAL $lookback_hours HOURS
  UNION ALL
  SELECT count(DISTINCT source_file, raw) AS n FROM $wikimedia_quarantine
  WHERE ingested_at >= current_timestamp() - INTERVAL $lookback_hours HOURS
),
kept AS (
  SELECT count(*) AS n FROM $gdelt_silver WHERE ingested_at >= current_timestamp() - INTERVAL $lookback_hours HOURS
  UNION ALL
  SELECT count(*) AS n FROM $wikimedia_silver WHERE ingested_at >= current_timestamp() - INTERVAL $lookback_hours HOURS
)
SELECT coalesce((SELECT sum(n) FROM quarantined) / nullif((SELECT sum(n) FROM quarantined) + (SELECT sum(n) FROM kept), 0), 0)
  AS quarantine_ratio
