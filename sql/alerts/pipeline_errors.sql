-- Pipeline updates or flows that logged an error in the last hour, from the pipeline's event log (a Unity Catalog
-- table: Lakeflow "Monitor pipelines: the event log"; `level` is INFO, WARN, ERROR or METRICS). The alert fires
-- on any error and re-mails at most once an hour while errors continue.
SELECT count(*) AS errors
FROM $event_log
WHERE level = 'ERROR' AND timestamp >= current_timestamp() - INTERVAL 1 HOUR
