"""Two pipeline updates on one running local engine, then a one-shot run over the same data.

Landing 1 is the sample up to 15:00 (windows 08-12 and part of 12-16); after its update the watermark is 13:45
(the oldest feed's newest row, 14:45, minus the 60-minute lateness), so 08-12 is final and 12-16 provisional.
Landing 2 is the rest of the sample plus two late edits: one at 13:30 (its window 12-16 is still open: it must be
correlated there) and one at 11:30 (its window 08-12 is final: it must be refused and listed in ops.late_rows).
Checked: each update read only the files landed since the last one, no text was embedded twice, the final window's
files were not rewritten, and the final gold equals a one-shot run over the same data minus the refused row.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from lakehouse.local.bench import gold_snapshot, needed_texts, same_gold
from lakehouse.local.engine import LocalEngine, UpdateResult
from lakehouse.local.paths import RunPaths, local_spec, prepare_run_dir, settings_for
from lakehouse.local.readback import read_table
from lakehouse.local.replay import FeedReplay
from lakehouse.local.sample import Sample, _Ids, generate_sample, recentchange_event
from pipelines.gdelt import parse_slice_id
from pipelines.transforms.correlation_sink import LATE_ROWS_TABLE, UPDATES_TABLE, VECTORS_TABLE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

SPLIT = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
WITHIN = datetime(2026, 11, 26, 13, 30, tzinfo=UTC)  # window 12-16: open after landing 1
BEHIND = datetime(2026, 11, 26, 11, 30, tzinfo=UTC)  # window 08-12: final after landing 1


def _event_time(event: dict[str, Any]) -> datetime | None:
    try:
        return datetime.strptime(str(event["meta"].get("dt")), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None  # the sample's malformed events land with the first part


def _late_edits() -> tuple[dict[str, Any], dict[str, Any]]:
    ids = _Ids(random.Random(7))
    within = recentchange_event(ids, WITHIN, "Notre-Dame de Paris", "spire restoration completed", user="Mathglot")
    behind = recentchange_event(ids, BEHIND, "2026 Hokkaido earthquake", "tsunami warning lifted", user="Mathglot")
    return within, behind


@dataclass
class Streamed:
    paths: RunPaths
    updates: list[UpdateResult]
    landed: list[set[str]]  # file names landed before each update
    update_started: list[pd.Timestamp]
    window_files: list[dict[str, set[tuple[str, float]]]]  # per update: gold partition -> (file, mtime)
    within_id: str
    behind_id: str


def _partition_files(paths: RunPaths, table: str) -> dict[str, set[tuple[str, float]]]:
    folder = paths.table_dir(table)
    return {
        part.name: {(f.name, f.stat().st_mtime) for f in part.glob("*.parquet")}
        for part in sorted(folder.glob("window_start=*"))
    }


def _landed_files(paths: RunPaths) -> set[str]:
    return {p.name for p in (*paths.gdelt.glob("*.export.CSV"), *paths.wikimedia.glob("*.jsonl"))}


def _open(run_dir: Path) -> tuple[RunPaths, LocalEngine]:
    paths = prepare_run_dir(run_dir)
    settings = settings_for(paths)
    paths.spec.write_text(yaml.safe_dump(local_spec(paths, settings)), encoding="utf-8")
    return paths, LocalEngine(paths, settings)


@pytest.fixture(scope="module")
def sample() -> Sample:
    return generate_sample()


@pytest.fixture(scope="module")
def streamed(tmp_path_factory: pytest.TempPathFactory, sample: Sample) -> Iterator[Streamed]:
    within, behind = _late_edits()
    first_slices = {s: r for s, r in sample.gdelt_slices.items() if parse_slice_id(s) < SPLIT}
    rest_slices = {s: r for s, r in sample.gdelt_slices.items() if parse_slice_id(s) >= SPLIT}
    first_events = [e for e in sample.wikimedia_events if (_event_time(e) or SPLIT) < SPLIT or _event_time(e) is None]
    rest_events = [e for e in sample.wikimedia_events if e not in first_events] + [within, behind]
    paths, engine = _open(tmp_path_factory.mktemp("stream") / "run")
    replay = FeedReplay(paths, sample.cameo_lookup)
    result = Streamed(paths, [], [], [], [], within["meta"]["id"], behind["meta"]["id"])
    with engine:
        engine.create_schemas()
        for slices, events in ((first_slices, first_events), (rest_slices, rest_events)):
            replay.land(slices, events)
            result.landed.append(_landed_files(paths))
            result.update_started.append(pd.Timestamp(datetime.now(UTC).replace(tzinfo=None)))
            result.updates.append(engine.update())
            result.window_files.append(_partition_files(paths, "gold.correlations"))
    yield result


@pytest.fixture(scope="module")
def one_shot(tmp_path_factory: pytest.TempPathFactory, sample: Sample, streamed: Streamed) -> RunPaths:
    within, _ = _late_edits()
    paths, engine = _open(tmp_path_factory.mktemp("one-shot") / "run")
    with engine:
        engine.create_schemas()
        FeedReplay(paths, sample.cameo_lookup).land(sample.gdelt_slices, [*sample.wikimedia_events, within])
        engine.update()
    return paths


def test_each_update_read_only_the_files_landed_since_the_last(streamed: Streamed) -> None:
    bronze = pd.concat(
        [read_table(streamed.paths, "bronze.gdelt_events"), read_table(streamed.paths, "bronze.wikimedia_events")]
    )
    bronze["file"] = bronze["source_file"].map(lambda uri: Path(str(uri)).name)
    first, second = streamed.landed[0], streamed.landed[1] - streamed.landed[0]
    assert first and second
    assert set(bronze["file"]) == first | second
    # Rows of the first landing were ingested by update 1 only (not again by update 2), the rest by update 2 only.
    assert (bronze.loc[bronze["file"].isin(first), "ingested_at"] < streamed.update_started[1]).all()
    assert (bronze.loc[bronze["file"].isin(second), "ingested_at"] >= streamed.update_started[1]).all()
    lines = {
        p.name: sum(1 for line in p.read_text("utf-8").splitlines() if line.strip())
        for p in (*streamed.paths.gdelt.glob("*.export.CSV"), *streamed.paths.wikimedia.glob("*.jsonl"))
    }
    assert bronze.groupby("file").size().to_dict() == lines  # every landed line once


def test_no_text_was_embedded_twice(streamed: Streamed) -> None:
    vectors = read_table(streamed.paths, VECTORS_TABLE)
    assert vectors["text"].is_unique
    updates = read_table(streamed.paths, UPDATES_TABLE)
    assert int(updates["texts_embedded"].sum()) == len(vectors)
    # The sink keeps running between updates, so update 2 may reach it as more than one micro-batch.
    first, second = (sum(int(b["texts_embedded"]) for b in u.sink_updates) for u in streamed.updates)
    assert first > 0 and 0 < second < len(vectors)  # only the texts new in landing 2
    # The silver texts of every accepted row have a vector; the refused row is never scored.
    silver_edits = read_table(streamed.paths, "silver.wikimedia_edits")
    assert streamed.behind_id in set(silver_edits["edit_id"])
    assert set(vectors["text"]) <= needed_texts(streamed.paths)


def test_the_final_window_was_not_rewritten(streamed: Streamed) -> None:
    first, second = streamed.window_files
    final = next(name for name in first if name.startswith("window_start=2026-11-26 08"))
    assert first[final] and first[final] == second[final]
    open_window = next(name for name in first if name.startswith("window_start=2026-11-26 12"))
    assert first[open_window] != second[open_window]  # recomputed: the late row arrived in it


def test_late_rows_go_to_their_open_window_or_to_ops(streamed: Streamed) -> None:
    gold = read_table(streamed.paths, "gold.correlations")
    within = gold[gold["edit_id"] == streamed.within_id]
    assert not within.empty and set(within["window_start"].astype(str)) == {"2026-11-26 12:00:00"}
    assert streamed.behind_id not in set(gold["edit_id"])
    late = read_table(streamed.paths, LATE_ROWS_TABLE)
    assert late[["feed", "row_id"]].values.tolist() == [["wikimedia", streamed.behind_id]]
    assert str(late["window_start"].iloc[0]) == "2026-11-26 08:00:00"


def test_windows_close_as_the_watermark_passes(streamed: Streamed) -> None:
    first, second = (u.sink_updates[-1] for u in streamed.updates)  # the state after each update
    assert first["watermark"] == "2026-11-26T13:45:00"
    assert first["open_windows"] == ["2026-11-26T12:00:00"]
    assert second["open_windows"] == ["2026-11-26T16:00:00"]
    gold = read_table(streamed.paths, "gold.correlations")
    flags = gold.groupby(gold["window_start"].astype(str))["provisional"].agg(set).to_dict()
    assert flags == {"2026-11-26 08:00:00": {False}, "2026-11-26 12:00:00": {False}, "2026-11-26 16:00:00": {True}}


def test_final_gold_equals_a_one_shot_run(streamed: Streamed, one_shot: RunPaths) -> None:
    streamed_gold, batch_gold = gold_snapshot(streamed.paths), gold_snapshot(one_shot)
    assert len(streamed_gold) >= 25
    assert same_gold(streamed_gold, batch_gold), json.dumps(sorted(set(streamed_gold) ^ set(batch_gold)), default=str)
