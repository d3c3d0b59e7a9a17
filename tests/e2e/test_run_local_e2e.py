"""One end-to-end local run on the generated sample (through the CLI), checked against what the sample planted.

The run (feeds on loopback -> loader/listener -> spark-pipelines -> tables) is shared by the module's tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lakehouse.commands.run_local import run_local
from lakehouse.local.paths import TABLES, RunPaths
from lakehouse.local.readback import read_table
from lakehouse.local.run import dry_run
from lakehouse.local.sample import SampleTruth, generate_sample

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def truth() -> SampleTruth:
    return generate_sample().truth


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunPaths, dict[str, Any], str]]:
    run_dir = tmp_path_factory.mktemp("e2e") / "local-run"
    summary_path = run_dir.parent / "summary.json"
    result = CliRunner().invoke(
        run_local, ["--run-dir", str(run_dir), "--summary-json", str(summary_path)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    yield RunPaths(run_dir), json.loads(summary_path.read_text()), result.output


def test_rows_per_layer(run: tuple[RunPaths, dict[str, Any], str], truth: SampleTruth) -> None:
    _, summary, _ = run
    rows = summary["rows"]
    assert set(rows) == set(TABLES)
    assert rows["bronze.gdelt_events"] == truth.gdelt_rows  # bronze keeps every landed row, malformed ones too
    assert rows["bronze.wikimedia_events"] == truth.wikimedia_events
    assert rows["silver.gdelt_events"] == truth.silver_events  # minus violations and the re-published duplicate
    assert rows["silver.wikimedia_edits"] == truth.silver_edits  # minus violations, filtered events, the replay
    gdelt_rules = {k: v for k, v in truth.quarantine.items() if k.startswith("gdelt_")}
    assert rows["ops.gdelt_events_quarantine"] == sum(gdelt_rules.values())
    assert rows["ops.wikimedia_edits_quarantine"] == sum(truth.quarantine.values()) - sum(gdelt_rules.values())
    assert rows["ops.expectation_counts"] == len(truth.quarantine)
    assert rows["gold.correlations"] > 0 and rows["gold.trending_stories"] > 0
    assert rows["ops.cameo_lookup"] == 1 and rows["ops.late_rows"] == 0 and rows["ops.correlation_updates"] == 1


def test_one_sink_batch_embedded_each_text_once_and_closed_the_old_windows(
    run: tuple[RunPaths, dict[str, Any], str],
) -> None:
    paths, summary, output = run
    (update,) = summary["sink_updates"]
    vectors = read_table(paths, "silver.text_vectors")
    assert vectors["text"].is_unique and update["texts_embedded"] == len(vectors)
    assert update["windows_recomputed"] == update["windows_open"] == 3  # a first update: every window is new
    # The newest rows are at 19:00 (GDELT) and 19:54 (Wikimedia): watermark 18:00, so only 16-20 stays open.
    assert update["watermark"] == "2026-11-26T18:00:00" and update["open_windows"] == ["2026-11-26T16:00:00"]
    gold = read_table(paths, "gold.correlations")
    assert set(gold.loc[gold["provisional"], "window_start"].astype(str)) == {"2026-11-26 16:00:00"}
    assert "correlation sink, batch 0" in output


def test_the_cameo_lookup_was_landed_and_used(run: tuple[RunPaths, dict[str, Any], str]) -> None:
    paths, summary, output = run
    status = read_table(paths, "ops.cameo_lookup")
    assert status["status"].tolist() == ["loaded"] and status["file_codes"].tolist() == [14]
    assert summary["warnings"] == [] and "warning:" not in output


def test_quarantine_counts_per_rule(run: tuple[RunPaths, dict[str, Any], str], truth: SampleTruth) -> None:
    paths, summary, _ = run
    assert summary["quarantine"] == truth.quarantine
    quarantined = read_table(paths, "ops.gdelt_events_quarantine")
    assert set(quarantined["rule"]) == {k for k, v in truth.quarantine.items() if k.startswith("gdelt_") and v}
    assert quarantined["raw_line"].notna().all()  # the offending row is kept, not just counted


def test_planted_stories_are_correlated(run: tuple[RunPaths, dict[str, Any], str], truth: SampleTruth) -> None:
    paths, _, _ = run
    gold = read_table(paths, "gold.correlations")
    for story, (event_ids, titles) in truth.planted.items():
        for event_id in event_ids:
            matched = set(gold.loc[gold["event_id"] == event_id, "edit_title"])
            assert matched & set(titles), f"{story}: event {event_id} matched none of {titles}"
            assert matched <= set(titles), f"{story}: event {event_id} also matched {matched - set(titles)}"


def test_unrelated_noise_is_not_correlated(run: tuple[RunPaths, dict[str, Any], str], truth: SampleTruth) -> None:
    paths, _, _ = run
    gold = read_table(paths, "gold.correlations")
    assert not set(gold["event_id"]) & set(truth.noise_event_ids)
    assert not set(gold["edit_title"]) & set(truth.noise_titles)


def test_gold_columns_and_windows(run: tuple[RunPaths, dict[str, Any], str]) -> None:
    paths, _, _ = run
    gold = read_table(paths, "gold.correlations")
    assert list(gold.columns) == [
        "window_start", "window_end", "event_id", "event_time", "event_code", "event_description", "event_text",
        "source_url", "edit_id", "edit_time", "wiki", "edit_title", "edit_comment", "editor", "editor_is_anonymous",
        "score", "rank", "provisional",
    ]  # fmt: skip
    assert ((gold["window_end"] - gold["window_start"]).dt.total_seconds() == 4 * 3600).all()
    assert (gold["event_time"] >= gold["window_start"]).all() and (gold["edit_time"] < gold["window_end"]).all()
    assert gold["event_description"].notna().all()  # every event got its CAMEO description


def test_summary_json_and_printed_summary(run: tuple[RunPaths, dict[str, Any], str]) -> None:
    _, summary, output = run
    assert summary["correlations"], "the summary lists the top correlations"
    first = summary["correlations"][0]
    assert set(first) >= {"window_start", "event_text", "edit_title", "score"}
    assert summary["wall_time_s"] > 0 and summary["peak_memory_mb"] > 0
    for text in ("rows per table", "gdelt_has_61_columns", "top correlations per window", "peak memory"):
        assert text in output


def test_the_report_path_is_printed_last_and_the_report_has_every_chart(
    run: tuple[RunPaths, dict[str, Any], str],
) -> None:
    from lakehouse.local.report import CHART_IDS

    paths, summary, output = run
    assert output.strip().splitlines()[-1] == f"report: {summary['report_path']}"
    report = Path(summary["report_path"])
    assert report.parent == paths.root and report.name == "report.html"
    page = report.read_text(encoding="utf-8")
    assert all(f'id="{div_id}"' in page for div_id in CHART_IDS.values())


def test_the_feature_table_has_one_row_per_trending_story(run: tuple[RunPaths, dict[str, Any], str]) -> None:
    paths, summary, _ = run
    feats = read_table(paths, "gold.story_window_features")
    stories = read_table(paths, "gold.trending_stories")
    assert len(feats) == len(stories) == summary["rows"]["gold.story_window_features"]
    assert not feats.duplicated(["story_id", "window_start"]).any()
    assert (feats["n_countries"] >= 1).all()  # every planted event has an action country


@pytest.mark.spark
def test_the_health_sql_runs_over_the_local_run(run: tuple[RunPaths, dict[str, Any], str], spark) -> None:
    """The same health SQL the stack deploys, over this run's tables and its derived event log."""
    from infra.observability import HEALTH_SOURCES, HEALTH_VIEWS, render_health_view
    from lakehouse.local.event_log import EVENT_LOG_DDL
    from pipelines.transforms.correlation_sink import SINK_TABLES

    paths, summary, _ = run
    db = "lh_e2e_health"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {db}")
    try:
        event_log = spark.read.schema(EVENT_LOG_DDL).json(str(paths.root / "ops" / "pipeline_event_log.jsonl"))
        event_log.write.mode("overwrite").saveAsTable(f"{db}.event_log")
        sources = {"event_log": (db, "event_log")}
        for key, (schema, table) in HEALTH_SOURCES.items():
            if key != "event_log":
                spark.read.parquet(str(paths.table_dir(f"{schema}.{table}"))).write.saveAsTable(f"{db}.{key}")
                sources[key] = (db, key)
        for name, _ in HEALTH_VIEWS:
            sql = render_health_view(name, catalog="spark_catalog", sources=sources, views_schema=db)
            spark.sql(f"CREATE OR REPLACE VIEW {db}.{name} AS {sql}")

        def rows(view: str) -> list[dict[str, Any]]:
            return [r.asDict() for r in spark.sql(f"SELECT * FROM {db}.{view}").collect()]

        (update,) = rows("pipeline_updates")
        assert update["status"] == "COMPLETED" and update["duration_s"] > 0 and update["error_events"] == 0
        # The event log counts the pipeline's own datasets; the sink writes its tables inside a foreach_batch_sink
        # function, which the event log does not break down by table (docs/observability.md).
        sink_tables = {spec.name for spec in SINK_TABLES}
        pipeline_rows = {t: n for t, n in summary["rows"].items() if t not in sink_tables}
        assert update["rows_written"] == sum(pipeline_rows.values())
        per_table = {r["table_name"]: r["rows_written"] for r in rows("pipeline_table_rows")}
        assert per_table == pipeline_rows
        quarantined = {r["rule"]: r["failed_records"] for r in rows("pipeline_expectation_failures")}
        assert quarantined == {rule: n for rule, n in summary["quarantine"].items() if n}
        assert {r["update_id"] for r in rows("pipeline_expectation_failures")} == {update["update_id"]}
        latency = {r["source"]: r for r in rows("pipeline_landing_latency")}
        # The listener stamped its files during this run, so landing -> gold is positive and shorter than the run.
        wiki = latency["wikimedia"]
        assert 0 < wiki["min_latency_s"] <= wiki["max_latency_s"] < summary["wall_time_s"] + 1
        (day,) = rows("pipeline_health_daily")
        assert (day["updates"], day["completed"], day["failure_rate"]) == (1, 1, 0.0)
        assert day["failed_records"] == sum(summary["quarantine"].values())
    finally:
        spark.sql(f"DROP DATABASE IF EXISTS {db} CASCADE")


def test_rerun_folder_guard(tmp_path: Path) -> None:
    foreign = tmp_path / "not-ours"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    result = CliRunner().invoke(run_local, ["--run-dir", str(foreign)])
    assert result.exit_code != 0 and "refusing to delete" in str(result.exception)
    assert (foreign / "precious.txt").read_text() == "keep me"


def test_pipeline_dry_run_without_spark_connects_fixed_port(tmp_path: Path) -> None:
    # pyspark's local Connect server binds the fixed port 15002 unless SPARK_TESTING is set; then the server binds
    # an ephemeral port and the client asks the JVM for it (SPARK-42272). Hold 15002 the way a concurrent run
    # would: the dry run (graph registration and validation over Spark Connect) must still succeed.
    import socket

    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        try:
            holder.bind(("0.0.0.0", 15002))
            holder.listen()
        except OSError:
            pass  # already held by another process: the point of the test just the same
        lines = dry_run(tmp_path / "dry")
    finally:
        holder.close()
    assert any("Run is COMPLETED" in line for line in lines)
    assert not (tmp_path / "dry" / "warehouse" / "gold.db" / "correlations").exists()  # a dry run writes nothing
