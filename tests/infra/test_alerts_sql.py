"""The alert queries (sql/alerts/*.sql), exactly as the serving stack deploys them, run on local Spark.

What each must compute comes from its header, never from the SQL: `quarantine_ratio` is the share of rows
ingested in the last `lookback_hours` that failed an expectation, a quarantined line counted once however many
rules it broke, and 0 (not an error) when nothing was ingested; `pipeline_errors` counts the event log's ERROR
events of the last hour (event log `level` values: INFO, WARN, ERROR, METRICS; Databricks "Pipeline event log
schema"). `databricks_alert_v2` fires when the result column exceeds the threshold (the stack's `GREATER_THAN`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infra.alerts import ALERT_SOURCES, alert_specs
from infra.config import load_environment
from lakehouse.local.event_log import EVENT_LOG_DDL

pytestmark = pytest.mark.spark

DB = "lh_alerts_sql"
ENV = load_environment("staging")
SOURCES = {key: (DB, f"src_{key}") for key in ALERT_SOURCES}
NOW = datetime.now(UTC).replace(tzinfo=None)  # the session time zone is UTC: naive UTC wall time
RECENT = NOW - timedelta(minutes=10)
OLD = NOW - timedelta(hours=ENV.alerts.lookback_hours + 2)


def _specs():
    return {spec.name: spec for spec in alert_specs(ENV, catalog="spark_catalog", sources=SOURCES)}


def _write(spark, key: str, ddl: str, rows: list[tuple]) -> None:
    spark.createDataFrame(rows, ddl).write.mode("overwrite").saveAsTable(f"{DB}.src_{key}")


@pytest.fixture()
def db(spark):
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {DB}")
    yield spark
    spark.sql(f"DROP DATABASE IF EXISTS {DB} CASCADE")


def _ratio(spark) -> float:
    (row,) = spark.sql(_specs()["quarantine_ratio"].sql).collect()
    return float(row["quarantine_ratio"])


def test_quarantine_ratio_counts_recent_lines_once(db) -> None:
    gdelt_q = [  # (rule, source_file, raw_line, ingested_at)
        ("gdelt_has_61_columns", "f1", "short line", RECENT),
        ("gdelt_event_id_is_numeric", "f1", "short line", RECENT),  # the same line, a second rule: counted once
        ("gdelt_source_url_is_http", "f1", "no url", RECENT),
        ("gdelt_source_url_is_http", "f0", "old bad line", OLD),  # outside the lookback
    ]
    _write(db, "gdelt_quarantine", "rule STRING, source_file STRING, raw_line STRING, ingested_at TIMESTAMP", gdelt_q)
    wiki_q = [("wikimedia_has_title", "w1", '{"meta": {}}', RECENT)]
    _write(db, "wikimedia_quarantine", "rule STRING, source_file STRING, raw STRING, ingested_at TIMESTAMP", wiki_q)
    silver_ddl = "id STRING, ingested_at TIMESTAMP"
    _write(db, "gdelt_silver", silver_ddl, [(f"e{i}", RECENT) for i in range(5)] + [("e-old", OLD)])
    _write(db, "wikimedia_silver", silver_ddl, [("w", RECENT)])
    quarantined, kept = 2 + 1, 5 + 1
    assert _ratio(db) == pytest.approx(quarantined / (quarantined + kept))


def test_quarantine_ratio_is_zero_when_nothing_was_ingested_recently(db) -> None:
    _write(db, "gdelt_quarantine", "rule STRING, source_file STRING, raw_line STRING, ingested_at TIMESTAMP", [])
    _write(db, "wikimedia_quarantine", "rule STRING, source_file STRING, raw STRING, ingested_at TIMESTAMP", [])
    _write(db, "gdelt_silver", "id STRING, ingested_at TIMESTAMP", [("e-old", OLD)])
    _write(db, "wikimedia_silver", "id STRING, ingested_at TIMESTAMP", [])
    ratio = _ratio(db)
    assert ratio == 0.0 and not ratio > _specs()["quarantine_ratio"].threshold  # a quiet feed does not fire


def _event(at: datetime, level: str) -> dict:
    return {
        "id": f"{level}-{at.isoformat()}",
        "origin": {"pipeline_id": "p", "pipeline_name": "n", "update_id": "u", "flow_name": None, "dataset_name": None},
        "timestamp": at,
        "message": level,
        "level": level,
        "maturity_level": "STABLE",
        "event_type": "flow_progress",
        "details": "{}",
    }


def test_pipeline_errors_counts_the_last_hours_errors_only(db) -> None:
    events = [
        _event(RECENT, "ERROR"),
        _event(RECENT, "WARN"),
        _event(RECENT, "INFO"),
        _event(NOW - timedelta(hours=2), "ERROR"),  # an hour-old incident no longer re-fires
    ]
    db.createDataFrame(events, EVENT_LOG_DDL).write.mode("overwrite").saveAsTable(f"{DB}.src_event_log")
    spec = _specs()["pipeline_errors"]
    (row,) = db.sql(spec.sql).collect()
    assert row[spec.column] == 1 and row[spec.column] > spec.threshold
