"""Recentchange events -> edit fields, anonymous-editor detection, and silver's filter (Python == SQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pipelines.wikimedia import (
    RecentChangeError,
    edit_from_event,
    is_ip_address,
    keeps,
    parse_wikis,
    silver_filter_sql,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "meta": {"id": "5f0c0f9e-1", "dt": "2026-11-26T10:15:00Z"},
        "type": "edit",
        "namespace": 0,
        "title": "2026 Hokkaido earthquake",
        "comment": "/* Casualties */ update",
        "user": "Materialscientist",
        "bot": False,
        "wiki": "enwiki",
    }
    event.update(overrides)
    return event


@pytest.mark.parametrize(
    ("user", "anonymous"),
    [
        ("203.0.113.47", True),
        ("2a02:c7c:5a1e:9b00:d1f3:6a2e:4b7c:11aa", True),
        ("Materialscientist", False),
        ("~2025-31415-9", False),  # a temporary account, not an IP
        ("1.2.3", False),
        ("", False),
        (None, False),
    ],
)
def test_is_ip_address(user: str | None, anonymous: bool) -> None:
    assert is_ip_address(user) is anonymous


def test_edit_fields() -> None:
    edit = edit_from_event(_event(user="198.51.100.23"))
    assert edit.edit_id == "5f0c0f9e-1"
    assert edit.edit_time.isoformat() == "2026-11-26T10:15:00+00:00"
    assert edit.editor_is_anonymous


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"meta": {"dt": "2026-11-26T10:15:00Z"}}, "meta.id"),
        ({"meta": {"id": "x", "dt": "yesterday"}}, "meta.dt"),
        ({"title": " "}, "title"),
    ],
)
def test_missing_fields_raise(change: dict[str, Any], message: str) -> None:
    with pytest.raises(RecentChangeError, match=message):
        edit_from_event(_event(**change))


def test_parse_wikis() -> None:
    assert parse_wikis(" enwiki, dewiki ,enwiki") == ("enwiki", "dewiki")
    with pytest.raises(ValueError, match=r"lakehouse\.wikis"):
        parse_wikis(" , ")


FILTER_CASES = [
    _event(),
    _event(type="new"),
    _event(type="log"),
    _event(type="categorize"),
    _event(namespace=1, title="Talk:X"),
    _event(wiki="dewiki"),
    _event(bot=True),
]


@pytest.mark.parametrize("include_bots", [False, True])
def test_python_filter(include_bots: bool) -> None:
    kept = [keeps(edit_from_event(e), wikis=("enwiki",), include_bots=include_bots) for e in FILTER_CASES]
    assert kept == [True, True, False, False, False, False, include_bots]


@pytest.mark.spark
@pytest.mark.parametrize("include_bots", [False, True])
def test_sql_filter_agrees_with_python(spark: SparkSession, include_bots: bool) -> None:
    rows = [(e["type"], e["namespace"], e["wiki"], e["bot"], i) for i, e in enumerate(FILTER_CASES)]
    df = spark.createDataFrame(rows, "type STRING, namespace INT, wiki STRING, bot BOOLEAN, i INT")
    kept_sql = {r.i for r in df.where(silver_filter_sql(wikis=("enwiki",), include_bots=include_bots)).collect()}
    kept_py = {
        i for i, e in enumerate(FILTER_CASES) if keeps(edit_from_event(e), wikis=("enwiki",), include_bots=include_bots)
    }
    assert kept_sql == kept_py
