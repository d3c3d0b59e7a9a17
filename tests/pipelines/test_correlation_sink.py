"""The correlation sink on a local session: three micro-batches and a one-shot batch over the same rows.

Windows are 4 h, lateness 60 min. Batch 0 lands rows in 08-12 and 12-16 (watermark 12:00: 08-12 final, 12-16
provisional); batch 1 adds rows to 12-16, one row for the final 08-12 window and rows in 16-20 (watermark 16:30:
12-16 closes); batch 2 only adds rows in 20-24 (watermark 20:00: 16-20 closes without new rows). The embedder is a
deterministic bag of words (`spark_fakes.WordEmbedder`), so the engine's own `correlate` gives the expected gold.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from spark_fakes import WordEmbedder, word_embedder

from pipelines.correlate import correlate
from pipelines.engine_rows import edit_from_row, edit_texts, event_from_row, event_texts
from pipelines.settings import PipelineSettings
from pipelines.transforms import correlation_sink as sink
from pipelines.transforms.correlation_sink import CORRELATIONS, LATE_ROWS, UPDATES, VECTORS, UpdateReport
from pipelines.transforms.table_store import TableStore

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

SETTINGS = PipelineSettings(window_hours=4, lateness_minutes=60, similarity_threshold=0.04, top_k=5)
DAY = date(2026, 11, 26)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 26, hour, minute)


def event(event_id: str, time: datetime, slug: str, actor: str = "JAPAN") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_time": time,
        "event_code": "040",
        "event_description": "Consult",
        "actor1_name": actor,
        "actor2_name": None,
        "place": None,
        "country_code": actor[:2],
        "source_url": f"https://news.example.org/2026/11/26/{slug}",
        "sql_date": DAY,
    }


def edit(edit_id: str, time: datetime, title: str, comment: str = "") -> dict[str, Any]:
    return {
        "edit_id": edit_id,
        "edit_time": time,
        "wiki": "enwiki",
        "title": title,
        "comment": comment,
        "editor": "Mathglot",
        "editor_is_anonymous": False,
    }


BATCHES: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = [
    (
        [event("e1", at(9), "hokkaido-earthquake-tsunami"), event("e2", at(13), "santiago-metro-protests", "CHILE")],
        [
            edit("a", at(10), "Hokkaido earthquake", "tsunami warning"),
            edit("b", at(13, 30), "Santiago Metro", "protests"),
            edit("c", at(13, 40), "Trilobite", "copyedit"),
        ],
    ),
    (
        [event("e3", at(17, 30), "notre-dame-spire-restoration", "FRANCE")],
        [
            edit("d", at(15), "Santiago protests", "metro curfew"),
            edit("late", at(11), "Hokkaido aftershocks", "new section"),  # its window (08-12) is final
            edit("f", at(17, 45), "Notre-Dame spire", "restoration"),
        ],
    ),
    ([event("e4", at(21), "kenya-floods-tana-river", "KENYA")], [edit("g", at(21, 30), "Tana River floods")]),
]
LATE_ID = "late"

EVENT_DDL = (
    "event_id STRING, event_time TIMESTAMP, event_code STRING, event_description STRING, actor1_name STRING, "
    "actor2_name STRING, place STRING, country_code STRING, source_url STRING, sql_date DATE"
)
EDIT_DDL = (
    "edit_id STRING, edit_time TIMESTAMP, wiki STRING, title STRING, comment STRING, editor STRING, "
    "editor_is_anonymous BOOLEAN"
)


def _reset_schemas(spark: SparkSession) -> None:
    for schema in ("silver", "gold", "ops"):
        spark.sql(f"DROP DATABASE IF EXISTS {schema} CASCADE")
        spark.sql(f"CREATE DATABASE {schema}")
    spark.sql(f"CREATE TABLE silver.gdelt_events ({EVENT_DDL}) USING parquet")
    spark.sql(f"CREATE TABLE silver.wikimedia_edits ({EDIT_DDL}) USING parquet")


def _land(spark: SparkSession, events: list[dict[str, Any]], edits: list[dict[str, Any]]) -> Any:
    """Append rows to silver (as the pipeline would) and return the sink's micro-batch for them."""
    if events:
        spark.createDataFrame(events, EVENT_DDL).write.insertInto("silver.gdelt_events")
    if edits:
        spark.createDataFrame(edits, EDIT_DDL).write.insertInto("silver.wikimedia_edits")
    rows = [("gdelt", e["event_id"], e["event_time"]) for e in events]
    rows += [("wikimedia", e["edit_id"], e["edit_time"]) for e in edits]
    return spark.createDataFrame(rows, "feed STRING, row_id STRING, row_time TIMESTAMP")


def _process(spark: SparkSession, batch: Any, batch_id: int) -> UpdateReport:
    return sink.process_batch(
        batch, batch_id, settings=SETTINGS, embedder_factory=word_embedder, delta=False, partitions=2
    )


def _gold(spark: SparkSession) -> dict[tuple[datetime, str, str], tuple[float, int, bool]]:
    store = TableStore(spark, delta=False)
    return {
        (r.window_start, r.event_id, r.edit_id): (r.score, r.rank, r.provisional)
        for r in store.read(CORRELATIONS).collect()
    }


def _window_files(spark: SparkSession, window: datetime) -> set[tuple[str, float]]:
    location = spark.sql("DESCRIBE TABLE EXTENDED gold.correlations").where("col_name = 'Location'").first()
    assert location is not None
    root = Path(str(location.data_type).removeprefix("file:"))
    folder = root / f"window_start={window.strftime('%Y-%m-%d %H')}%3A00%3A00"
    return {(p.name, p.stat().st_mtime) for p in folder.glob("*.parquet")}


@dataclasses.dataclass
class Scenario:
    reports: list[UpdateReport]
    gold_after: list[dict[tuple[datetime, str, str], tuple[float, int, bool]]]
    files_w0: list[set[tuple[str, float]]]
    vectors: set[str]
    late: list[Any]
    updates: list[Any]


@pytest.fixture(scope="module")
def scenario(spark: SparkSession) -> Iterator[Scenario]:
    _reset_schemas(spark)
    result = Scenario([], [], [], set(), [], [])
    for batch_id, (events, edits) in enumerate(BATCHES):
        result.reports.append(_process(spark, _land(spark, events, edits), batch_id))
        result.gold_after.append(_gold(spark))
        result.files_w0.append(_window_files(spark, at(8)))
    store = TableStore(spark, delta=False)
    result.vectors = {r.text for r in store.read(VECTORS).collect()}
    result.late = store.read(LATE_ROWS).collect()
    result.updates = store.read(UPDATES).orderBy("batch_id").collect()
    yield result


def _all_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    events = [e for batch_events, _ in BATCHES for e in batch_events]
    edits = [e for _, batch_edits in BATCHES for e in batch_edits]
    return events, edits


def test_each_text_is_embedded_once(scenario: Scenario) -> None:
    events, edits = _all_rows()
    accepted_edits = [e for e in edits if e["edit_id"] != LATE_ID]  # the refused row is never scored
    needed = {t for e in events for t in event_texts(e)} | {t for e in accepted_edits for t in edit_texts(e)}
    assert scenario.vectors == needed
    assert sum(r.texts_embedded for r in scenario.reports) == len(needed)  # none embedded twice
    assert scenario.reports[2].texts_embedded == len(event_texts(BATCHES[2][0][0])) + 1  # only batch 2's texts


def test_only_windows_with_new_rows_are_recomputed(scenario: Scenario) -> None:
    recomputed = [[w.replace(tzinfo=None) for w in u.recomputed] for u in scenario.updates]
    assert recomputed == [[at(8), at(12)], [at(12), at(16)], [at(20)]]
    assert [u.finalized for u in scenario.updates][2] == [at(16)]  # closed by the watermark, not recomputed
    assert all(r.windows_recomputed <= r.windows_open for r in scenario.reports)


def test_watermark_is_the_oldest_feeds_newest_row_minus_the_lateness(scenario: Scenario) -> None:
    assert [u.watermark for u in scenario.updates] == [at(12), at(16, 30), at(20)]


def test_a_row_for_a_final_window_is_refused_and_listed(scenario: Scenario) -> None:
    assert [(r.feed, r.row_id, r.window_start, r.batch_id) for r in scenario.late] == [("wikimedia", LATE_ID, at(8), 1)]
    assert scenario.reports[1].late_rows == 1
    assert not any(key[2] == LATE_ID for key in scenario.gold_after[2])


def test_a_final_window_is_never_rewritten(scenario: Scenario) -> None:
    assert scenario.files_w0[0]  # 08-12 has correlations
    assert scenario.files_w0[0] == scenario.files_w0[1] == scenario.files_w0[2]  # same files, same mtimes


def test_open_windows_are_provisional_until_the_watermark_passes_them(scenario: Scenario) -> None:
    def flags(gold: dict[tuple[datetime, str, str], tuple[float, int, bool]], window: datetime) -> set[bool]:
        return {v[2] for k, v in gold.items() if k[0] == window}

    assert flags(scenario.gold_after[0], at(8)) == {False}
    assert flags(scenario.gold_after[0], at(12)) == {True}
    assert flags(scenario.gold_after[1], at(12)) == {False}
    assert flags(scenario.gold_after[1], at(16)) == {True}
    assert flags(scenario.gold_after[2], at(16)) == {False}  # finalized: same pairs, flag flipped
    window_16 = {k: v[:2] for k, v in scenario.gold_after[2].items() if k[0] == at(16)}
    assert window_16 == {k: v[:2] for k, v in scenario.gold_after[1].items() if k[0] == at(16)}


def test_gold_equals_the_engine_over_all_accepted_rows(scenario: Scenario) -> None:
    events, edits = _all_rows()
    expected = correlate(
        [event_from_row(e) for e in events],
        [edit_from_row(e) for e in edits if e["edit_id"] != LATE_ID],
        WordEmbedder(),
        window_hours=4,
        threshold=SETTINGS.similarity_threshold,
        top_k=SETTINGS.top_k,
    )
    got = scenario.gold_after[2]
    want = {
        (start.replace(tzinfo=None), m.event_id, m.edit_id): (m.score, m.rank)
        for start, ms in expected.items()
        for m in ms
    }
    assert set(got) == set(want) and len(want) >= 4
    for key, (score, rank) in want.items():
        assert got[key][0] == pytest.approx(score, abs=1e-6) and got[key][1] == rank


def test_a_committed_batch_that_runs_again_writes_nothing(spark: SparkSession, scenario: Scenario) -> None:
    before = _gold(spark)
    events, edits = BATCHES[2]
    rows = [("gdelt", e["event_id"], e["event_time"]) for e in events]
    rows += [("wikimedia", e["edit_id"], e["edit_time"]) for e in edits]
    replay = spark.createDataFrame(rows, "feed STRING, row_id STRING, row_time TIMESTAMP")
    report = _process(spark, replay, 2)
    assert report.skipped
    assert _gold(spark) == before
    assert TableStore(spark, delta=False).read(UPDATES).count() == len(BATCHES)
