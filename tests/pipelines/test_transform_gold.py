"""Gold transforms on a local session: windows, the engine per window, joined columns, trending stories.

The embedder is a deterministic bag-of-words stand-in (the real model is exercised by the engine's own tests and
the end-to-end run), so these tests check the Spark wiring: which pairs reach the engine and what comes back.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pytest
from pyspark import cloudpickle
from pyspark.sql import DataFrame, SparkSession

from pipelines import expectations
from pipelines.transforms import gold

pytestmark = pytest.mark.spark

# Spark's Python workers cannot import this test module: ship its classes (the stand-in embedder) by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class WordEmbedder:
    """Unit vectors of hashed lower-case words: texts sharing words have a high cosine."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % 256] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


def _events(spark: SparkSession) -> DataFrame:
    rows = [
        (
            "1",
            datetime(2026, 11, 26, 9, 0),
            "040",
            "Consult",
            "hokkaido earthquake tsunami. Japan Consult",
            "https://x.jp/news/hokkaido-earthquake-tsunami",
        ),
        (
            "2",
            datetime(2026, 11, 26, 9, 30),
            "141",
            "Demonstrate",
            "santiago metro protests. Chile Demonstrate",
            "https://x.cl/santiago-metro-protests-curfew",
        ),
        # Same story as event 1 but four hours later: a different window, where no Hokkaido edit exists.
        (
            "3",
            datetime(2026, 11, 26, 13, 0),
            "040",
            "Consult",
            "hokkaido earthquake tsunami. Japan Consult",
            "https://x.jp/news/hokkaido-earthquake-tsunami",
        ),
    ]
    return spark.createDataFrame(
        [(*r, "JAPAN", None, "Sapporo, Japan", datetime(2026, 11, 26).date()) for r in rows],
        "event_id STRING, event_time TIMESTAMP, event_code STRING, event_description STRING, event_text STRING, "
        "source_url STRING, actor1_name STRING, actor2_name STRING, place STRING, sql_date DATE",
    )


def _edits(spark: SparkSession) -> DataFrame:
    rows = [
        ("a", datetime(2026, 11, 26, 10, 0), "Hokkaido earthquake", "tsunami update", "203.0.113.4", True),
        ("b", datetime(2026, 11, 26, 11, 59), "Santiago Metro", "protests", "Mathglot", False),
        ("c", datetime(2026, 11, 26, 15, 0), "Trilobite", "copyedit", "Mathglot", False),
    ]
    return spark.createDataFrame(
        [(*r, "enwiki", f"{r[2]}: {r[3]}") for r in rows],
        "edit_id STRING, edit_time TIMESTAMP, title STRING, comment STRING, editor STRING, "
        "editor_is_anonymous BOOLEAN, wiki STRING, edit_text STRING",
    )


def _correlations(spark: SparkSession, threshold: float = 0.04) -> DataFrame:
    return gold.correlations(
        _events(spark), _edits(spark), window_hours=4, threshold=threshold, top_k=5, embedder_factory=WordEmbedder
    )


def test_pairs_only_within_a_window_with_contract_columns(spark: SparkSession) -> None:
    out = _correlations(spark)
    assert tuple(out.columns) == gold.CORRELATION_COLUMNS
    pairs = {(r.event_id, r.edit_id) for r in out.collect()}
    assert ("1", "a") in pairs and ("2", "b") in pairs
    assert not any(event == "3" for event, _ in pairs)  # its window (12:00-16:00) holds only an unrelated edit
    assert ("1", "b") not in pairs and ("2", "a") not in pairs


def test_joined_columns_and_window(spark: SparkSession) -> None:
    row = next(r for r in _correlations(spark).collect() if r.event_id == "1" and r.edit_id == "a")
    assert row.window_start == datetime(2026, 11, 26, 8, 0) and row.window_end == datetime(2026, 11, 26, 12, 0)
    assert row.edit_title == "Hokkaido earthquake" and row.edit_comment == "tsunami update"
    assert row.editor_is_anonymous is True and row.event_code == "040" and row.rank == 1
    assert row.source_url.endswith("hokkaido-earthquake-tsunami")


def test_threshold_from_configuration_is_applied(spark: SparkSession) -> None:
    assert _correlations(spark, threshold=0.99).count() == 0


def test_gold_expectations_hold(spark: SparkSession) -> None:
    assert expectations.fail_on_violation(_correlations(spark), gold.GOLD_EXPECTATIONS).count() >= 2


def test_match_window_takes_rows_and_mappings() -> None:
    events = [
        {
            "event_id": "1",
            "event_time": datetime(2026, 1, 1, 1),
            "event_text": "lake baikal ice",
            "source_url": "",
            "actor1_name": None,
            "actor2_name": None,
            "place": None,
            "sql_date": None,
        }
    ]
    edits = [{"edit_id": "e", "edit_time": datetime(2026, 1, 1, 2), "title": "Lake Baikal", "comment": "ice"}]
    matches = gold.match_window(events, edits, WordEmbedder(), threshold=0.04, top_k=5)
    assert [(m["event_id"], m["edit_id"], m["rank"]) for m in matches] == [("1", "e", 1)]
    assert gold.match_window(events, [], WordEmbedder(), threshold=0.04, top_k=5) == []


def test_trending_stories_group_by_the_urls_story(spark: SparkSession) -> None:
    stories = gold.trending_stories(_correlations(spark)).collect()
    by_story = {r.story: r for r in stories}
    hokkaido = by_story["hokkaido earthquake tsunami"]
    assert (hokkaido.n_events, hokkaido.n_edits) == (1, 1)
    assert hokkaido.sample_edit_title == "Hokkaido earthquake"
    assert "santiago metro protests curfew" in by_story
