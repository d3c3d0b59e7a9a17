"""run-local's pure parts: the local spec, the run folder's safety, the summary JSON and progress parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse.bench import TARGET_EVENTS_PER_S, flow_durations, goal_notes
from lakehouse.local_run import (
    DEFINITIONS_DIR,
    LocalRunError,
    RunSummary,
    local_spec,
    prepare_run_dir,
    settings_for,
    spark_submit_confs,
    write_summary_json,
)
from pipelines.settings import PipelineSettings


def test_spec_points_back_to_the_definitions_and_carries_the_settings(tmp_path: Path) -> None:
    paths = prepare_run_dir(tmp_path / "run")
    spec = local_spec(paths, settings_for(paths, threshold=0.3))
    include = spec["libraries"][0]["glob"]["include"]
    assert not include.startswith("/") and include.endswith("/**")
    assert (paths.spec.parent / include[:-3]).resolve() == DEFINITIONS_DIR.resolve()
    settings = PipelineSettings.from_configuration(spec["configuration"])
    assert settings.similarity_threshold == 0.3
    assert settings.gdelt_landing_path == str(paths.gdelt)
    assert spec["configuration"]["spark.sql.shuffle.partitions"] == "2"
    assert spec["storage"].startswith("file://") and str(paths.root) in spec["storage"]


def test_local_spark_is_hive_with_a_fixed_warehouse(tmp_path: Path) -> None:
    paths = prepare_run_dir(tmp_path / "run")
    confs = spark_submit_confs(paths)
    assert confs["spark.sql.catalogImplementation"] == "hive"
    assert confs["spark.sql.warehouse.dir"] == str(paths.warehouse)


def test_prepare_cleans_its_own_previous_run(tmp_path: Path) -> None:
    paths = prepare_run_dir(tmp_path / "run")
    (paths.gdelt / "old.export.CSV").write_text("stale")
    paths = prepare_run_dir(tmp_path / "run")
    assert list(paths.gdelt.iterdir()) == []


def test_prepare_refuses_a_folder_it_did_not_create(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(LocalRunError, match="refusing to delete"):
        prepare_run_dir(tmp_path)
    assert (tmp_path / "mine.txt").exists()


def test_summary_json_has_the_documented_keys(tmp_path: Path) -> None:
    summary = RunSummary(
        source="sample",
        rows={"bronze.gdelt_events": 3},
        quarantine={"gdelt_has_61_columns": 1},
        correlations=[{"window_start": "2026-11-26T08:00:00", "event_text": "e", "edit_title": "t", "score": 0.2}],
        trending=[],
        ingest={},
        timings_s={"pipeline": 1.0},
    )
    write_summary_json(summary, tmp_path / "s.json")
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["rows"] == {"bronze.gdelt_events": 3}
    assert data["quarantine"] == {"gdelt_has_61_columns": 1}
    assert data["correlations"][0]["edit_title"] == "t"


def test_flow_durations_from_the_pipeline_log() -> None:
    lines = [
        "2026-11-27 09:10:50: Loading pipeline spec from x...",
        "2026-11-27 09:11:01: Flow spark_catalog.bronze.gdelt_events is QUEUED.",
        "2026-11-27 09:11:02: Flow spark_catalog.bronze.gdelt_events is RUNNING.",
        "2026-11-27 09:11:12: Flow spark_catalog.bronze.gdelt_events has COMPLETED.",
    ]
    flows, startup = flow_durations(lines)
    assert flows == {"bronze.gdelt_events": 10.0}
    assert startup == 12.0


def test_bench_goal_is_the_sustained_rate_and_the_end_to_end_rate_is_only_quoted() -> None:
    # Sustained at the goal, end to end (Spark start-up included) below it: no missed goal.
    met = goal_notes(
        sustained_events_per_s=TARGET_EVENTS_PER_S,
        end_to_end_events_per_s=TARGET_EVENTS_PER_S - 150,
        startup_s=16,
        stage_share_of_raw=0.9,
    )
    assert met == []
    missed = goal_notes(
        sustained_events_per_s=TARGET_EVENTS_PER_S - 1,
        end_to_end_events_per_s=650.0,
        startup_s=16,
        stage_share_of_raw=0.79,
    )
    assert len(missed) == 2
    assert missed[0].startswith(f"sustained {TARGET_EVENTS_PER_S - 1:.1f} events/s") and "end to end 650.0" in missed[0]
    assert "16 s start-up" in missed[0]
    assert "79%" in missed[1]
