"""Bronze and silver Wikimedia transforms on a local session, with events in the recentchange format."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from lakehouse.local.sample import _Ids, recentchange_event
from pipelines import expectations
from pipelines.text import build_edit_text
from pipelines.transforms import bronze, wikimedia

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark

AT = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def _event(title: str = "2026 Hokkaido earthquake", **kw: Any) -> dict[str, Any]:
    return recentchange_event(
        _Ids(random.Random(title + str(kw))),
        AT,
        title,
        "/* Casualties */ [[Death toll|toll]]",
        **{"user": "Mathglot", **kw},
    )


def _typed(spark: SparkSession, lines: list[str | None]) -> DataFrame:
    df = spark.createDataFrame(
        [(line, "file:/landing/wikimedia/b.jsonl") for line in lines], "raw_line STRING, source_file STRING"
    )
    return wikimedia.typed_wikimedia(bronze.wikimedia_bronze(df))


def _silver(spark: SparkSession, events: list[dict[str, Any]], include_bots: bool = False) -> list[Any]:
    typed = _typed(spark, [json.dumps(e) for e in events])
    valid = expectations.drop_violations(typed, wikimedia.WIKIMEDIA_EXPECTATIONS)
    return wikimedia.silver_wikimedia(
        valid, wikis=("enwiki",), include_bots=include_bots, watermark_hours=4, streaming=False
    ).collect()


def test_bronze_keeps_raw_json(spark: SparkSession) -> None:
    line = json.dumps(_event())
    row = bronze.wikimedia_bronze(spark.createDataFrame([(line, "f")], "raw_line STRING, source_file STRING")).first()
    assert row is not None and row.raw == line and row.source_file == "f" and row.ingested_at is not None


def test_silver_fields(spark: SparkSession) -> None:
    event = _event(user="203.0.113.47")
    (edit,) = _silver(spark, [event])
    assert edit.edit_id == event["meta"]["id"]
    assert edit.edit_time == datetime(2026, 11, 26, 10, 0)
    assert edit.editor == "203.0.113.47" and edit.editor_is_anonymous is True
    assert edit.edit_text == build_edit_text(event["title"], event["comment"])
    assert tuple(wikimedia.SILVER_COLUMNS) == tuple(
        wikimedia.silver_wikimedia(
            _typed(spark, [json.dumps(event)]),
            wikis=("enwiki",),
            include_bots=False,
            watermark_hours=4,
            streaming=False,
        ).columns
    )


def test_silver_dedupes_on_meta_id(spark: SparkSession) -> None:
    event = _event()
    assert len(_silver(spark, [event, dict(event), _event("Santiago Metro")])) == 2


def test_silver_keeps_main_namespace_edits_and_creations_without_bots(spark: SparkSession) -> None:
    events = [
        _event("A"),
        _event("B", kind="new"),
        _event("C", kind="log"),
        _event("Talk:D", namespace=1),
        _event("E", wiki="dewiki"),
        _event("F", bot=True, user="Citation bot"),
    ]
    assert sorted(r.title for r in _silver(spark, events)) == ["A", "B"]
    assert sorted(r.title for r in _silver(spark, events, include_bots=True)) == ["A", "B", "F"]


def test_each_rule_quarantines_its_violation(spark: SparkSession) -> None:
    no_id = _event("no id")
    no_id["meta"].pop("id")
    bad_dt = _event("bad dt")
    bad_dt["meta"]["dt"] = "yesterday"
    no_title = _event("")
    lines: list[str | None] = [
        "{not json",
        json.dumps(no_id),
        json.dumps(bad_dt),
        json.dumps(no_title),
        json.dumps(_event()),
    ]
    quarantined = expectations.quarantine(_typed(spark, lines), wikimedia.WIKIMEDIA_EXPECTATIONS).collect()
    by_rule = {r.rule: r.raw for r in quarantined}
    assert by_rule["wikimedia_is_json_object"] == "{not json"
    assert by_rule["wikimedia_has_meta_id"] == json.dumps(no_id)
    assert by_rule["wikimedia_meta_dt_is_timestamp"] == json.dumps(bad_dt)
    assert by_rule["wikimedia_has_title"] == json.dumps(no_title)
    assert set(by_rule) == set(wikimedia.WIKIMEDIA_EXPECTATIONS.names)
