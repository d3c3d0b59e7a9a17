"""Silver rows -> the engine's Event/Edit: the same texts for embedding and scoring, from mappings or tuples."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from pipelines.correlate import Event, embedding_texts
from pipelines.engine_rows import EDIT_FIELDS, EVENT_FIELDS, edit_from_row, edit_texts, event_from_row, event_texts
from pipelines.text import EventFields

EVENT = {
    "event_id": "1250000001",
    "event_time": datetime(2026, 11, 26, 9, 0),
    "actor1_name": "JAPAN",
    "actor2_name": None,
    "event_description": "Appeal for humanitarian aid",
    "place": "Sapporo, Hokkaido, Japan",
    "source_url": "https://www.japantimes.co.jp/news/2026/11/26/national/hokkaido-earthquake-tsunami-warning-coast/",
    "sql_date": date(2026, 11, 26),
}


def test_event_is_built_with_the_engines_constructor() -> None:
    fields = EventFields(
        "JAPAN", "", "Appeal for humanitarian aid", "Sapporo, Hokkaido, Japan", EVENT["source_url"], "20261126"
    )
    want = Event.from_fields("1250000001", datetime(2026, 11, 26, 9, 0, tzinfo=UTC), fields)
    assert event_from_row(EVENT) == want
    assert event_texts(EVENT) == embedding_texts(want) and len(event_texts(EVENT)) == 2


def test_rows_may_be_tuples_with_pandas_missing_values() -> None:
    Row = namedtuple("Row", EVENT_FIELDS)  # what DataFrame.itertuples yields
    row = Row(**{**EVENT, "actor2_name": float("nan"), "sql_date": pd.NaT})
    event = event_from_row(row)
    assert event.actors == ("JAPAN",) and event.year == ""
    Edit = namedtuple("Edit", EDIT_FIELDS)
    edit = Edit("e1", datetime(2026, 11, 26, 10, 0, tzinfo=UTC), "2026 Hokkaido earthquake", None)
    assert edit_from_row(edit).comment == "" and edit_texts(edit) == ("2026 Hokkaido earthquake",)


def test_a_row_without_a_timestamp_is_an_error_not_a_guess() -> None:
    with pytest.raises(TypeError, match="expected a timestamp"):
        event_from_row({**EVENT, "event_time": "2026-11-26"})
