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


def _specs():
    return {spec.name: spec for spec in alert_specs(ENV, catalog="spark_catalog", sources=SOURCES)}


def _write(spark, key: str, ddl: str, rows: list[tuple]) -> None:
    spark.createDataFrame(rows, ddl).write.mode("overwrite").saveAsTable(f"{DB}.src_{key}")


@pytest.fixture()
def now() -> datetime:
    """Taken when the test runs (the queries compare with current_timestamp()), not when the module is collected: on a
    slow machine a module-level time could age out of the one-hour window before the test runs. Naive UTC wall time,
    as the session time zone is UTC; every row sits at least 10 minutes from a window edge."""
    return datetime.now(UTC).replace(tzinfo=None)


@pytest.fixture()
def db(spark):
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {DB}")
    yield spark
    spark.sql(f"DROP DATABASE IF EXISTS {DB} CASCADE")


def _ratio(spark) -> float:
    (row,) = spark.sql(_specs()["quarantine_ratio"].sql).collect()
    return float(row["quarantine_ratio"])


def test_quarantine_ratio_counts_recent_lines_once(db, now: datetime) -> None:
    recent, old = now - timedelta(minutes=10), now - timedelta(hours=ENV.alerts.lookback_hours + 2)
    gdelt_q = [  # (rule, source_file, raw_line, ingested_at)
        ("gdelt_has_61_columns", "f1", "short line", recent),
        ("gdelt_event_id_is_numeric", "f1", "short line", recent),  # the same line, a second rule: counted once
        ("gdelt_source_url_is_http", "f1", "no url", recent),
        ("gdelt_source_url_is_http", "f0", "old bad line", old),  # outside the lookback
    ]
    _write(db, "gdelt_quarantine", "rule STRING, source_file STRING, raw_line STRING, ingested_at TIMESTAMP", gdelt_q)
    wiki_q = [("wikimedia_has_title", "w1", '{"meta": {}}', recent)]
    _write(db, "wikimedia_quarantine", "rule STRING, source_file STRING, raw STRING, ingested_at TIMESTAMP", wiki_q)
    silver_ddl = "id STRING, ingested_at TIMESTAMP"
    _write(db, "gdelt_silver", silver_ddl, [(f"e{i}", recent) for i in range(5)] + [("e-old", old)])
    _write(db, "wikimedia_silver", silver_ddl, [("w", recent)])
    quarantined, kept = 2 + 1, 5 + 1
    assert _ratio(db) == pytest.approx(quarantined / (quarantined + kept))


def test_quarantine_ratio_is_zero_when_nothing_was_ingested_recently(db, now: datetime) -> None:
    old = now - timedelta(hours=ENV.alerts.lookback_hours + 2)
    _write(db, "gdelt_quarantine", "rule STRING, source_file STRING, raw_line STRING, ingested_at TIMESTAMP", [])
    _write(db, "wikimedia_quarantine", "rule STRING, source_file STRING, raw STRING, ingested_at TIMESTAMP", [])
    _write(db, "gdelt_silver", "id STRING, ingested_at TIMESTAMP", [("e-old", old)])
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


def test_pipeline_errors_counts_the_last_hours_errors_only(db, now: datetime) -> None:
    recent = now - timedelta(minutes=10)
    events = [
        _event(recent, "ERROR"),
        _event(recent, "WARN"),
        _event(recent, "INFO"),
        _event(now - timedelta(hours=2), "ERROR"),  # an hour-old incident no longer re-fires
    ]
    db.createDataFrame(events, EVENT_LOG_DDL).write.mode("overwrite").saveAsTable(f"{DB}.src_event_log")
    spec = _specs()["pipeline_errors"]
    (row,) = db.sql(spec.sql).collect()
    assert row[spec.column] == 1 and row[spec.column] > spec.threshold
