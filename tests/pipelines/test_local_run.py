"""run-local's and the benchmark's pure parts: the local spec, the run folder's safety, the summary JSON, reading the
sink's partitioned tables back, warnings, and the benchmark's targets."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from lakehouse.commands.run_local import print_summary
from lakehouse.local.bench import StreamBenchReport, StreamUpdate, percentile, same_gold, target_notes, window_counts
from lakehouse.local.engine import pipeline_command
from lakehouse.local.paths import (
    DEFINITIONS_DIR,
    LocalRunError,
    local_spec,
    prepare_run_dir,
    settings_for,
    spark_submit_confs,
)
from lakehouse.local.readback import read_table
from lakehouse.local.run import RunSummary, open_run_dir, run_warnings, write_summary_json
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


def test_keep_state_reuses_the_run_folder_and_a_fresh_run_clears_it(tmp_path: Path) -> None:
    paths = prepare_run_dir(tmp_path / "run")
    (paths.gdelt / "20261126080000.export.CSV").write_text("landed")
    kept = open_run_dir(tmp_path / "run", keep_state=True)
    assert (kept.gdelt / "20261126080000.export.CSV").read_text() == "landed"
    fresh = open_run_dir(tmp_path / "run", keep_state=False)
    assert list(fresh.gdelt.iterdir()) == []


def test_updates_on_a_running_engine_skip_the_launcher_jvm_only_when_asked(tmp_path: Path) -> None:
    paths = prepare_run_dir(tmp_path / "run")
    remote = "sc://localhost:40001"
    launcher = pipeline_command(paths, remote=remote)
    assert launcher[0].endswith("spark-pipelines") and launcher[-2:] == ["--remote", remote]
    assert "--conf" not in launcher  # the engine's confs were set when it started
    direct = pipeline_command(paths, remote=remote, launcher="python")
    assert direct[1:4] == ["-m", "pyspark.pipelines.cli", "run"]


def _write_parquet(folder: Path, frame: pd.DataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / "part-00000.parquet")


def test_sink_tables_are_read_back_with_their_partition_key_in_place(tmp_path: Path) -> None:
    paths = prepare_run_dir(tmp_path / "run")
    table = paths.table_dir("ops.late_rows")
    _write_parquet(
        table / "batch_id=3",
        pd.DataFrame(
            {
                "feed": ["wikimedia"],
                "row_id": ["e1"],
                "row_time": [pd.Timestamp("2026-11-26 11:30")],
                "window_start": [pd.Timestamp("2026-11-26 08:00")],
                "watermark": [pd.Timestamp("2026-11-26 13:45")],
                "recorded_at": [pd.Timestamp("2026-12-01 10:00")],
            }
        ),
    )
    late = read_table(paths, "ops.late_rows")
    assert list(late.columns)[:3] == ["batch_id", "feed", "row_id"] and late["batch_id"].tolist() == [3]
    empty = read_table(paths, "gold.correlations", missing_ok=True)
    assert len(empty) == 0 and "provisional" in empty.columns
    with pytest.raises(LocalRunError, match="did the pipeline publish it"):
        read_table(paths, "gold.correlations")


def test_a_missing_cameo_lookup_is_a_warning_in_the_summary(tmp_path: Path) -> None:
    paths = prepare_run_dir(tmp_path / "run")
    problem = "CAMEO lookup /landing/reference/CAMEO.eventcodes.txt is missing: events get only ..."
    _write_parquet(
        paths.table_dir("ops.cameo_lookup"),
        pd.DataFrame({"path": ["/landing/reference/CAMEO.eventcodes.txt"], "status": ["missing"],
                      "file_codes": [0], "codes_in_use": [20], "problem": [problem]}),
    )  # fmt: skip
    assert run_warnings(paths) == [problem]
    summary = RunSummary("sample", {}, {}, [], [], {}, {}, warnings=run_warnings(paths))
    console = Console(record=True, width=200)
    print_summary(summary, console)
    assert "warning: CAMEO lookup /landing/reference/CAMEO.eventcodes.txt is missing" in console.export_text()


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0, 20.0], 99) == pytest.approx(19.9)
    assert percentile([], 99) == 0.0


def _report(**changes: object) -> StreamBenchReport:
    updates = [StreamUpdate(i, 100, 90, 1, 1, 0, 0, 10.0, 6.0, 4.0, 12.0) for i in range(1, 5)]
    base = StreamBenchReport(
        hours=4, update_minutes=60, scale=0.1, launcher="python", updates=updates, records_total=400,
        texts_embedded_total=360, distinct_texts_total=360, texts_per_record=0.9, events_per_s=10.0,
        events_per_s_steady=10.0, raw_model_texts_per_s=9.0, limit_events_per_s=10.0, efficiency=1.0,
        efficiency_steady=1.0, publish_p50_s=12.0, publish_p99_s=12.0, gold_matches_batch=True, gold_rows=10,
        engine_start_s=15.0, model_loads_total=2, worker_texts_per_s=9.0, one_shot_seconds=20.0,
        one_shot_events_per_s=20.0, peak_memory_mb=1.0,
    )  # fmt: skip
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def test_benchmark_targets() -> None:
    assert target_notes(_report()) == []
    assert "texts embedded" in target_notes(_report(texts_embedded_total=380))[0]
    assert "publish p99" in target_notes(_report(publish_p99_s=120.0))[0]
    assert "efficiency 0.79" in target_notes(_report(efficiency_steady=0.79))[0]
    assert "one-shot" in target_notes(_report(gold_matches_batch=False))[0]
    slow_last = _report()
    slow_last.updates[-1] = StreamUpdate(4, 100, 90, 1, 1, 0, 0, 15.1, 6.0, 9.1, 17.0)
    assert "last update took 15.1 s" in target_notes(slow_last)[0]
    over = _report()
    over.updates[0] = StreamUpdate(1, 100, 90, 2, 1, 0, 0, 10.0, 6.0, 4.0, 12.0)
    assert "recomputed 2 windows, only 1 open" in target_notes(over)[0]


def test_gold_comparison_allows_float_noise_only() -> None:
    key = ("2026-11-26 08:00:00", "e1", "a")
    assert same_gold({key: (0.5, 1, False)}, {key: (0.5 + 1e-7, 1, False)})
    assert not same_gold({key: (0.5, 1, False)}, {key: (0.5 + 1e-5, 1, False)})
    assert not same_gold({key: (0.5, 1, False)}, {key: (0.5, 1, True)})
    assert not same_gold({key: (0.5, 1, False)}, {})


def test_window_counts_over_several_sink_batches_of_one_update() -> None:
    w12, w16 = "2026-11-26T12:00:00", "2026-11-26T16:00:00"
    batches = [
        {"recomputed": [w12], "open_windows": [w12]},
        {"recomputed": [w12, w16], "open_windows": [w16]},  # 12-16 recomputed again, then closed
    ]
    assert window_counts(batches, open_before=[w12]) == (2, 2, [w16])
    assert window_counts([], open_before=[w12]) == (0, 0, [w12])  # no new rows: nothing recomputed
