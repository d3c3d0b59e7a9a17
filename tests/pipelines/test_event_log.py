"""The local run's event log: `spark-pipelines` output lines -> rows in the Databricks event log's shape, which the
health SQL then reads unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra.observability import HEALTH_SOURCES, render_health_view
from lakehouse.local.event_log import EVENT_LOG_DDL, event_rows, events_from_log, flow_seconds, write_jsonl

# As `spark-pipelines run` prints them (pyspark/pipelines: client lines with datetime.now(), server events in UTC).
LOG = """\
2026-12-01 14:07:22: Loading pipeline spec from /x/.local-run/pipeline/spark-pipeline.yml...
2026-12-01 14:07:22: Creating Spark session...
Warning: Ignoring non-Spark config property: lakehouse.top_k
2026-12-01 14:07:28: Creating dataflow graph...
2026-12-01 14:07:31: Registering graph elements...
2026-12-01 14:07:36: Starting run...
2026-12-01 14:07:39: Flow spark_catalog.bronze.gdelt_events is QUEUED.
2026-12-01 14:07:39: Flow spark_catalog.gold.correlations is QUEUED.
2026-12-01 14:07:39: Flow spark_catalog.bronze.gdelt_events is STARTING.
2026-12-01 14:07:39: Flow spark_catalog.bronze.gdelt_events is RUNNING.
[Stage 0:>                                                         (0 + 1) / 44]
2026-12-01 14:07:46: Flow spark_catalog.bronze.gdelt_events has COMPLETED.
2026-12-01 14:07:52: Flow spark_catalog.gold.correlations is PLANNING.
2026-12-01 14:07:52: Flow spark_catalog.gold.correlations is RUNNING.
2026-12-01 14:08:01: Flow spark_catalog.gold.correlations has COMPLETED.
2026-12-01 14:08:04: Run is COMPLETED.
26/12/01 14:08:04 ERROR ErrorUtils: Spark Connect RPC error during: releaseExecute.
""".splitlines()
ROWS = {"bronze.gdelt_events": 70, "gold.correlations": 30}


@pytest.fixture(autouse=True)
def utc_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI's own lines carry the machine's local time; pin it so the expected UTC times hold anywhere.
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()


def test_update_lifecycle_and_flow_progress_follow_the_log() -> None:
    events = events_from_log(LOG, rows=ROWS)
    updates = [(e.event_type, e.details.get("update_progress", {}).get("state")) for e in events]
    assert updates[:2] == [("create_update", None), ("update_progress", "QUEUED")]
    states = [s for t, s in updates if t == "update_progress"]
    assert states == ["QUEUED", "INITIALIZING", "SETTING_UP_TABLES", "RUNNING", "COMPLETED"]
    assert events[0].timestamp == datetime(2026, 12, 1, 14, 7, 22, tzinfo=UTC)
    assert events[-1].timestamp == datetime(2026, 12, 1, 14, 8, 4, tzinfo=UTC)
    completed = [e for e in events if e.details.get("flow_progress", {}).get("status") == "COMPLETED"]
    assert {(e.flow_name, e.details["flow_progress"]["metrics"]["num_output_rows"]) for e in completed} == {
        ("spark_catalog.bronze.gdelt_events", 70),
        ("spark_catalog.gold.correlations", 30),
    }


def test_time_per_flow_is_running_to_completed() -> None:
    assert flow_seconds(events_from_log(LOG, rows=ROWS)) == {"bronze.gdelt_events": 7.0, "gold.correlations": 9.0}


def test_a_run_that_died_without_an_end_line_is_failed_at_its_last_line() -> None:
    events = events_from_log(LOG[:12], rows=ROWS, run_failed=True)
    last = events[-1]
    assert (last.event_type, last.details, last.level) == (
        "update_progress",
        {"update_progress": {"state": "FAILED"}},
        "ERROR",
    )
    assert last.timestamp == datetime(2026, 12, 1, 14, 7, 46, tzinfo=UTC)


def test_a_failed_flow_is_an_error_event() -> None:
    lines = [
        *LOG[:10],
        "2026-12-01 14:07:50: Flow spark_catalog.bronze.gdelt_events has FAILED.",
        "2026-12-01 14:07:51: Run is FAILED.",
    ]
    events = events_from_log(lines, rows=ROWS)
    assert [e.level for e in events if e.level == "ERROR"] == ["ERROR", "ERROR"]
    assert events[-1].details == {"update_progress": {"state": "FAILED"}}


def test_rows_carry_the_documented_columns_and_round_trip_as_json_lines(tmp_path: Path) -> None:
    rows = event_rows(events_from_log(LOG, rows=ROWS), update_id="u-local", pipeline_id="local")
    # The columns the health SQL reads, named as in the Databricks event log.
    assert set(rows[0]) >= {"id", "origin", "timestamp", "level", "event_type", "details"}
    assert set(rows[0]["origin"]) >= {"update_id", "flow_name", "dataset_name"}
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(r["origin"]["update_id"] == "u-local" for r in rows)
    path = write_jsonl(rows, tmp_path / "events.jsonl")
    first = json.loads(path.read_text().splitlines()[0])
    assert first["timestamp"] == "2026-12-01T14:07:22+00:00"
    assert json.loads(first["details"]) == {"create_update": {"cause": "USER_ACTION", "full_refresh": False}}


@pytest.mark.spark
def test_the_health_sql_reads_the_derived_rows(spark) -> None:
    db = "lh_event_log_local"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {db}")
    try:
        rows = event_rows(events_from_log(LOG, rows=ROWS), update_id="u-local", pipeline_id="local")
        rows = [{**r, "timestamp": r["timestamp"].replace(tzinfo=None)} for r in rows]
        spark.createDataFrame(rows, EVENT_LOG_DDL).write.mode("overwrite").saveAsTable(f"{db}.event_log")
        sources = {**{k: (db, k) for k in HEALTH_SOURCES}, "event_log": (db, "event_log")}
        for name in ("pipeline_events", "pipeline_updates", "pipeline_table_rows"):
            sql = render_health_view(name, catalog="spark_catalog", sources=sources, views_schema=db)
            spark.sql(f"CREATE OR REPLACE VIEW {db}.{name} AS {sql}")
        (update,) = spark.sql(f"SELECT * FROM {db}.pipeline_updates").collect()
        assert (update.update_id, update.status, update.duration_s, update.rows_written) == (
            "u-local",
            "COMPLETED",
            42.0,
            100,
        )
        tables = {r.table_name: r.running_s for r in spark.sql(f"SELECT * FROM {db}.pipeline_table_rows").collect()}
        assert tables == {"bronze.gdelt_events": 7.0, "gold.correlations": 9.0}
    finally:
        spark.sql(f"DROP DATABASE IF EXISTS {db} CASCADE")
