"""The health views' SQL, exactly as the stacks deploy it, run on local Spark over event-log rows in the documented
shape, and parsed as Databricks SQL.

Event log shape (Databricks "Pipeline event log schema" and the Databricks-maintained SDP monitoring pipeline in
databricks/bundle-examples, contrib/databricks_ingestion_monitoring): `origin` is a struct with `update_id` and
`flow_name`; `details` is JSON text; `create_update` opens an update; `update_progress` events carry
`details.update_progress.state`; `flow_progress` events carry `details.flow_progress.status`,
`.metrics.num_output_rows` (per micro-batch for streaming flows) and `.data_quality.expectations`
(`name, dataset, passed_records, failed_records` per rule).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from infra.observability import HEALTH_SOURCES, HEALTH_VIEWS, health_views, render_health_view
from lakehouse.local.event_log import EVENT_LOG_DDL

DB = "lh_health_views"
T1 = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)  # update u1: completes
T2 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)  # update u2, next day: a flow fails, so the update fails
SOURCES = {key: (DB, f"src_{key}") for key in HEALTH_SOURCES}


def _event(
    update_id: str,
    at: datetime,
    event_type: str,
    details: dict[str, Any],
    *,
    flow: str | None = None,
    level: str = "INFO",
) -> dict[str, Any]:
    return {
        "id": f"{update_id}-{at.isoformat()}-{event_type}-{flow}",
        "origin": {
            "pipeline_id": "p-1",
            "pipeline_name": "lakehouse-correlations-staging",
            "update_id": update_id,
            "flow_name": flow,
            "dataset_name": flow,
        },
        "timestamp": at,
        "message": f"{event_type} {flow or ''}",
        "level": level,
        "maturity_level": "STABLE",
        "event_type": event_type,
        "details": json.dumps(details),
    }


def _flow(update_id: str, at: datetime, flow: str, status: str, rows: int | None = None, **extra: Any) -> dict:
    progress: dict[str, Any] = {"status": status, **extra}
    if rows is not None:
        progress["metrics"] = {"num_output_rows": rows}
    level = "ERROR" if status == "FAILED" else "INFO"
    return _event(update_id, at, "flow_progress", {"flow_progress": progress}, flow=flow, level=level)


def _state(update_id: str, at: datetime, state: str) -> dict[str, Any]:
    level = "ERROR" if state == "FAILED" else "INFO"
    return _event(update_id, at, "update_progress", {"update_progress": {"state": state}}, level=level)


def _s(t: datetime, seconds: float) -> datetime:
    return t + timedelta(seconds=seconds)


GOLD_EXPECTATIONS = [
    {"name": "correlation_score_is_cosine", "dataset": "gold.correlations", "passed_records": 30, "failed_records": 0},
    {"name": "correlation_rank_is_positive", "dataset": "gold.correlations", "passed_records": 30, "failed_records": 0},
]

EVENTS = [
    # u1: flows named catalog.schema.table (UC default publishing mode), two streaming micro-batches for bronze.
    _event("u1", T1, "create_update", {"create_update": {"cause": "JOB_TASK"}}),
    _state("u1", _s(T1, 1), "INITIALIZING"),
    _state("u1", _s(T1, 20), "RUNNING"),
    _flow("u1", _s(T1, 21), "lakehouse_staging.bronze.gdelt_events", "RUNNING", 40),
    _flow("u1", _s(T1, 25), "lakehouse_staging.bronze.gdelt_events", "RUNNING", 30),
    _flow("u1", _s(T1, 26), "lakehouse_staging.bronze.gdelt_events", "COMPLETED"),
    _flow("u1", _s(T1, 22), "lakehouse_staging.silver.gdelt_events", "RUNNING", 64),
    _flow("u1", _s(T1, 30), "lakehouse_staging.silver.gdelt_events", "COMPLETED"),
    _flow("u1", _s(T1, 31), "lakehouse_staging.gold.correlations", "RUNNING"),
    _flow(
        "u1",
        _s(T1, 40),
        "lakehouse_staging.gold.correlations",
        "COMPLETED",
        30,
        data_quality={"dropped_records": 0, "expectations": GOLD_EXPECTATIONS},
    ),
    _state("u1", _s(T1, 42), "COMPLETED"),
    # u2: unqualified-schema flow names (schema.table), the gold flow fails.
    _event("u2", T2, "create_update", {"create_update": {"cause": "SCHEDULED"}}),
    _state("u2", _s(T2, 10), "RUNNING"),
    _flow("u2", _s(T2, 11), "silver.gdelt_events", "RUNNING", 5),
    _flow("u2", _s(T2, 15), "silver.gdelt_events", "COMPLETED"),
    _flow("u2", _s(T2, 16), "gold.correlations", "RUNNING"),
    _flow("u2", _s(T2, 20), "gold.correlations", "FAILED"),
    _state("u2", _s(T2, 21), "FAILED"),
]


def _naive(t: datetime) -> datetime:
    # The session time zone is UTC: Spark stores naive datetimes as session-local wall time.
    return t.astimezone(UTC).replace(tzinfo=None)


@pytest.fixture(scope="module")
def health(spark):
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {DB}")
    rows = [{**e, "timestamp": _naive(e["timestamp"])} for e in EVENTS]
    spark.createDataFrame(rows, EVENT_LOG_DDL).write.mode("overwrite").saveAsTable(f"{DB}.src_event_log")
    quarantine_ddl = "rule STRING, raw_line STRING, ingested_at TIMESTAMP"
    gdelt_q = [
        ("gdelt_has_61_columns", "a", _naive(_s(T1, 23))),
        ("gdelt_has_61_columns", "b", _naive(_s(T1, 24))),
        ("gdelt_source_url_is_http", "c", _naive(_s(T2, 12))),
        # Ingested before any update in the log (e.g. the log was trimmed): kept, with no update.
        ("gdelt_source_url_is_http", "d", _naive(_s(T1, -3600))),
    ]
    spark.createDataFrame(gdelt_q, quarantine_ddl).write.mode("overwrite").saveAsTable(f"{DB}.src_gdelt_quarantine")
    wiki_q = [("wikimedia_has_title", "x", _naive(_s(T1, 22)))]
    spark.createDataFrame(wiki_q, quarantine_ddl).write.mode("overwrite").saveAsTable(f"{DB}.src_wikimedia_quarantine")
    silver_ddl = "event_id STRING, source_file STRING, ingested_at TIMESTAMP"
    gdelt = [
        # Published 09:45 and 09:30, ingested by u1 (the sink published gold at 10:00:40).
        ("e1", "/Volumes/c/bronze/landing/gdelt/20260301094500.export.CSV", _naive(_s(T1, 22))),
        ("e2", "/Volumes/c/bronze/landing/gdelt/20260301093000.export.CSV", _naive(_s(T1, 22))),
        ("e3", "/Volumes/c/bronze/landing/gdelt/20260302094500.export.CSV", _naive(_s(T2, 11))),
    ]
    spark.createDataFrame(gdelt, silver_ddl).write.mode("overwrite").saveAsTable(f"{DB}.src_silver_gdelt_events")
    wiki = [
        ("w1", "/Volumes/c/bronze/landing/wikimedia/recentchange-20260301T095900123456Z-ab12cd34.jsonl", None),
        ("w2", "file:/tmp/run/landing/wikimedia/recentchange-20260301T095930000001Z-0011aabb.jsonl", None),
    ]
    wiki_rows = [(i, f, _naive(_s(T1, 23))) for i, f, _ in wiki]
    spark.createDataFrame(wiki_rows, silver_ddl).write.mode("overwrite").saveAsTable(f"{DB}.src_silver_wikimedia_edits")
    # The correlation sink's own record (ops.correlation_updates, pipelines/transforms/correlation_sink.py): u1's
    # micro-batch started at 10:00:31 and took 9 s, so gold was published at 10:00:40; in u2 the sink published
    # nothing (an update whose sink failed writes no row).
    sink_updates = [(_naive(_s(T1, 31)), 9.0)]
    spark.createDataFrame(sink_updates, "processed_at TIMESTAMP, seconds DOUBLE").write.mode("overwrite").saveAsTable(
        f"{DB}.src_correlation_updates"
    )
    for name, _ in HEALTH_VIEWS:
        sql = render_health_view(name, catalog="spark_catalog", sources=SOURCES, views_schema=DB)
        spark.sql(f"CREATE OR REPLACE VIEW {DB}.{name} AS {sql}")
    yield lambda view: [r.asDict() for r in spark.sql(f"SELECT * FROM {DB}.{view}").collect()]
    spark.sql(f"DROP DATABASE IF EXISTS {DB} CASCADE")


pytestmark = pytest.mark.spark


def test_updates_have_status_duration_rows_and_errors(health) -> None:
    updates = {r["update_id"]: r for r in health("pipeline_updates")}
    assert set(updates) == {"u1", "u2"}
    u1, u2 = updates["u1"], updates["u2"]
    assert (u1["status"], u1["duration_s"], u1["error_events"]) == ("COMPLETED", 42.0, 0)
    # Rows written: every flow_progress num_output_rows of the update (bronze's two micro-batches add up).
    assert u1["rows_written"] == 40 + 30 + 64 + 30
    assert str(u1["update_date"]) == "2026-03-01"
    assert (u2["status"], u2["duration_s"], u2["failed_flow_events"]) == ("FAILED", 21.0, 1)
    assert u2["error_events"] == 2  # the failed flow and the failed update


def test_rows_per_table_normalize_qualified_and_unqualified_flow_names(health) -> None:
    rows = {(r["update_id"], r["table_name"]): r for r in health("pipeline_table_rows")}
    assert rows[("u1", "bronze.gdelt_events")]["rows_written"] == 70
    assert rows[("u1", "bronze.gdelt_events")]["running_s"] == 5.0
    assert rows[("u1", "gold.correlations")]["rows_written"] == 30
    assert rows[("u2", "silver.gdelt_events")]["rows_written"] == 5
    assert rows[("u2", "gold.correlations")]["last_status"] == "FAILED"


def test_expectation_failures_from_the_event_log_and_the_quarantine_tables(health) -> None:
    got = {
        (r["update_id"], r["table_name"], r["rule"], r["source"]): r for r in health("pipeline_expectation_failures")
    }
    logged = got[("u1", "gold.correlations", "correlation_score_is_cosine", "event_log")]
    assert (logged["passed_records"], logged["failed_records"]) == (30, 0)
    # Quarantined rows belong to the update running when they were ingested.
    assert got[("u1", "silver.gdelt_events", "gdelt_has_61_columns", "quarantine")]["failed_records"] == 2
    assert got[("u2", "silver.gdelt_events", "gdelt_source_url_is_http", "quarantine")]["failed_records"] == 1
    assert got[("u1", "silver.wikimedia_edits", "wikimedia_has_title", "quarantine")]["failed_records"] == 1
    orphan = got[(None, "silver.gdelt_events", "gdelt_source_url_is_http", "quarantine")]
    assert (orphan["failed_records"], str(orphan["update_date"])) == (1, "2026-03-01")


def test_landing_to_gold_latency_per_update_and_source(health) -> None:
    got = {(r["update_id"], r["source"]): r for r in health("pipeline_landing_latency")}
    gdelt = got[("u1", "gdelt")]
    # gold completed 10:00:40; earliest slice 09:30:00, latest 09:45:00.
    assert (gdelt["files"], gdelt["max_latency_s"], gdelt["min_latency_s"]) == (2, 1840.0, 940.0)
    wiki = got[("u1", "wikimedia")]
    # Listener stamps 09:59:00 and 09:59:30 (the file name's seconds; sub-seconds are dropped).
    assert (wiki["files"], wiki["max_latency_s"], wiki["min_latency_s"]) == (2, 100.0, 70.0)
    assert got[("u1", "gdelt")]["unpublished_rows"] == 0
    # u2's sink published nothing: no latency, but the landed file and its unpublished row still show.
    u2 = got[("u2", "gdelt")]
    assert u2["max_latency_s"] is None and (u2["files"], u2["unpublished_rows"]) == (1, 1)


def test_daily_health_rolls_updates_up(health) -> None:
    days = {str(r["day"]): r for r in health("pipeline_health_daily")}
    first, second = days["2026-03-01"], days["2026-03-02"]
    assert (first["updates"], first["completed"], first["failed"], first["failure_rate"]) == (1, 1, 0, 0.0)
    assert (second["failed"], second["failure_rate"], second["error_events"]) == (1, 1.0, 2)
    # Failed records of the day: 2 + 1 quarantined in u1, the orphan row dated by its ingestion, 0 logged.
    assert first["failed_records"] == 4
    assert first["max_landing_to_gold_s"] == 1840.0 and second["max_landing_to_gold_s"] is None


@pytest.mark.parametrize("view", health_views("lakehouse_staging"), ids=lambda v: v.name)
def test_every_health_view_is_valid_databricks_sql_reading_only_known_tables(view) -> None:
    parsed = sqlglot.parse_one(view.definition, read="databricks")
    assert isinstance(parsed, exp.Query)
    ctes = {c.alias for c in parsed.find_all(exp.CTE)}
    tables = {
        ".".join(p for p in (t.catalog, t.db, t.name) if p) for t in parsed.find_all(exp.Table) if t.name not in ctes
    }
    known = {f"lakehouse_staging.{s}.{t}" for s, t in HEALTH_SOURCES.values()}
    known |= {f"lakehouse_staging.ops.{name}" for name in view.depends_on}
    assert tables and tables <= known, tables - known


def test_views_come_after_the_views_they_read() -> None:
    order = [name for name, _ in HEALTH_VIEWS]
    for name, depends_on in HEALTH_VIEWS:
        assert all(order.index(d) < order.index(name) for d in depends_on), name


ANALYST_COLUMNS = (
    "window_start TIMESTAMP, window_end TIMESTAMP, event_id STRING, event_time TIMESTAMP, event_code STRING, "
    "event_description STRING, event_text STRING, source_url STRING, edit_id STRING, edit_time TIMESTAMP, "
    "wiki STRING, edit_title STRING, edit_comment STRING, editor STRING, editor_is_anonymous BOOLEAN, "
    "score DOUBLE, rank INT"
)


def test_every_dashboard_dataset_runs_on_the_views_it_names(spark, health) -> None:
    """Each dataset of dashboards/lakehouse.lvdash.json, run on local Spark over the health views above and a table
    with the analyst view's columns: every column a tile reads exists, every query is valid Spark SQL."""
    from infra.observability import BracedTemplate, dataset_sql, load_dashboard

    t = _naive(T1)
    analyst = [
        (t, t, "e1", t, "010", "Make statement", "Storm hits coast. Police in Town", "u", "w1", t, "enwiki", "Storm",
         "c", "editor-ab", False, 0.12, 1),
        (t, t, "e2", t, "010", "Make statement", "Storm hits coast. Mayor", "u", "w2", t, "enwiki", "Storm 2",
         "c", "editor-cd", False, 0.05, 1),
    ]  # fmt: skip
    spark.createDataFrame(analyst, ANALYST_COLUMNS).write.mode("overwrite").saveAsTable(f"{DB}.correlations_analyst")
    values = {name: f"spark_catalog.{DB}.{name}" for name, _ in HEALTH_VIEWS}
    values["correlations_analyst"] = f"spark_catalog.{DB}.correlations_analyst"
    results = {}
    for dataset in load_dashboard()["datasets"]:
        sql = BracedTemplate(dataset_sql(dataset)).substitute(values)
        results[dataset["name"]] = [r.asDict() for r in spark.sql(sql).collect()]
    assert results["correlation_totals"] == [{"correlations": 2, "windows": 1, "events": 2, "edits": 2}]
    assert [(r["story"], r["n_events"]) for r in results["trending_stories"]] == [("Storm hits coast", 2)]
    assert {r["score_bin"] for r in results["score_distribution"]} == {0.12, 0.04}
    assert {str(r["day"]) for r in results["health_daily"]} == {"2026-03-01", "2026-03-02"}
    assert {r["status"] for r in results["updates"]} == {"COMPLETED", "FAILED"}
