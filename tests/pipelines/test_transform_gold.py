"""Gold transforms on a local session: one engine call per window from stored vectors, and trending stories.

The vectors come from a deterministic bag-of-words stand-in (the real model is exercised by the engine's own
tests and the end-to-end run), so these tests check the Spark wiring: which rows and vectors reach the engine per
window, what comes back, and that a missing vector is an error rather than a silent zero.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pytest
from spark_fakes import WordEmbedder

from pipelines import expectations
from pipelines.engine_rows import edit_texts, event_texts
from pipelines.transforms import gold

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark

EVENTS = [
    ("1", datetime(2026, 11, 26, 9, 0), "040", "Consult", "JAPAN", "https://x.jp/news/hokkaido-earthquake-tsunami"),
    ("2", datetime(2026, 11, 26, 9, 30), "141", "Demonstrate", "CHILE", "https://x.cl/santiago-metro-protests-curfew"),
    # Same story as event 1 but four hours later: a different window, where no Hokkaido edit exists.
    ("3", datetime(2026, 11, 26, 13, 0), "040", "Consult", "JAPAN", "https://x.jp/news/hokkaido-earthquake-tsunami"),
]
EDITS = [
    ("a", datetime(2026, 11, 26, 10, 0), "Hokkaido earthquake", "tsunami update", "203.0.113.4", True),
    ("b", datetime(2026, 11, 26, 11, 59), "Santiago Metro", "protests", "Mathglot", False),
    ("c", datetime(2026, 11, 26, 15, 0), "Trilobite", "copyedit", "Mathglot", False),
]


def _events(spark: SparkSession) -> DataFrame:
    rows = [(*r[:4], r[4], None, "Sapporo, Japan", r[5], date(2026, 11, 26)) for r in EVENTS]
    df = spark.createDataFrame(
        rows,
        "event_id STRING, event_time TIMESTAMP, event_code STRING, event_description STRING, actor1_name STRING, "
        "actor2_name STRING, place STRING, source_url STRING, sql_date DATE",
    )
    return gold.windowed(df, "event_time", 4)


def _edits(spark: SparkSession) -> DataFrame:
    df = spark.createDataFrame(
        [(*r[:2], "enwiki", *r[2:]) for r in EDITS],
        "edit_id STRING, edit_time TIMESTAMP, wiki STRING, title STRING, comment STRING, editor STRING, "
        "editor_is_anonymous BOOLEAN",
    )
    return gold.windowed(df, "edit_time", 4)


def _vectors(spark: SparkSession, events: DataFrame, edits: DataFrame, *, drop: str | None = None) -> DataFrame:
    """(window, text, vector) for every text the engine embeds for the rows, as the sink joins them."""
    rows: list[tuple[Any, ...]] = []
    for r in events.collect():
        rows += [(r.window_start, r.window_end, t) for t in event_texts(r.asDict())]
    for r in edits.collect():
        rows += [(r.window_start, r.window_end, t) for t in edit_texts(r.asDict())]
    rows = [r for r in dict.fromkeys(rows) if r[2] != drop]
    vectors = WordEmbedder().embed([r[2] for r in rows])
    return spark.createDataFrame(
        [(*r, [float(x) for x in v]) for r, v in zip(rows, vectors, strict=True)],
        "window_start TIMESTAMP, window_end TIMESTAMP, text STRING, vector ARRAY<FLOAT>",
    )


def _gold(spark: SparkSession, *, threshold: float = 0.04, final: tuple[datetime, ...] = ()) -> DataFrame:
    events, edits = _events(spark), _edits(spark)
    frame = gold.scoring_frame(events, edits, _vectors(spark, events, edits))
    micros = [int((w - datetime(1970, 1, 1)).total_seconds() * 1_000_000) for w in final]
    return gold.score_windows(frame, threshold=threshold, top_k=5, final_window_micros=micros)


def test_pairs_only_within_a_window_with_contract_columns(spark: SparkSession) -> None:
    out = _gold(spark)
    assert tuple(out.columns) == gold.CORRELATION_COLUMNS
    pairs = {(r.event_id, r.edit_id) for r in out.collect()}
    assert ("1", "a") in pairs and ("2", "b") in pairs
    assert not any(event == "3" for event, _ in pairs)  # its window (12:00-16:00) holds only an unrelated edit
    assert ("1", "b") not in pairs and ("2", "a") not in pairs


def test_carried_columns_window_and_provisional_flag(spark: SparkSession) -> None:
    rows = _gold(spark, final=(datetime(2026, 11, 26, 8, 0),)).collect()
    row = next(r for r in rows if r.event_id == "1" and r.edit_id == "a")
    assert row.window_start == datetime(2026, 11, 26, 8, 0) and row.window_end == datetime(2026, 11, 26, 12, 0)
    assert row.edit_title == "Hokkaido earthquake" and row.edit_comment == "tsunami update"
    assert row.editor_is_anonymous is True and row.event_code == "040" and row.rank == 1
    assert row.source_url.endswith("hokkaido-earthquake-tsunami") and row.event_text.startswith("hokkaido")
    assert row.provisional is False
    assert {r.provisional for r in _gold(spark).collect()} == {True}  # no window named final: all provisional


def test_threshold_is_applied(spark: SparkSession) -> None:
    assert _gold(spark, threshold=0.99).count() == 0


def test_gold_expectations_hold(spark: SparkSession) -> None:
    assert expectations.fail_on_violation(_gold(spark), gold.GOLD_EXPECTATIONS).count() >= 2


def test_a_text_without_a_stored_vector_fails_the_window(spark: SparkSession) -> None:
    events, edits = _events(spark), _edits(spark)
    santiago = next(r for r in edits.collect() if r.edit_id == "b")
    (missing,) = edit_texts(santiago.asDict())  # whatever text the engine embeds for the edit
    frame = gold.scoring_frame(events, edits, _vectors(spark, events, edits, drop=missing))
    with pytest.raises(Exception, match=f"no stored vector for text '{missing}'"):
        gold.score_windows(frame, threshold=0.04, top_k=5).collect()


def test_trending_stories_group_by_the_urls_story(spark: SparkSession) -> None:
    stories = gold.trending_stories(_gold(spark)).collect()
    by_story = {r.story: r for r in stories}
    hokkaido = by_story["hokkaido earthquake tsunami"]
    assert (hokkaido.n_events, hokkaido.n_edits, hokkaido.provisional) == (1, 1, True)
    assert hokkaido.sample_edit_title == "Hokkaido earthquake"
    assert "santiago metro protests curfew" in by_story
