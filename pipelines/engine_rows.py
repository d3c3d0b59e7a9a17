"""Silver rows -> the engine's `Event` and `Edit`, built one way for embedding and for scoring (pure).

The correlation sink embeds `pipelines.correlate.embedding_texts(...)` of every row it will score and later scores
with `StoredVectors`, which raises on a text it was never given. Both steps build their engine objects here, from
the same silver columns and with the engine's own constructors (`Event.from_fields` builds the event text), so the
texts embedded and the texts scored cannot drift apart. Rows are mappings or objects with the silver column names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, Final

from pipelines.correlate import Edit, Event, embedding_texts
from pipelines.text import EventFields

# The silver columns the engine reads (the rest of a gold row is carried through unchanged).
EVENT_FIELDS: Final = (
    "event_id",
    "event_time",
    "actor1_name",
    "actor2_name",
    "event_description",
    "place",
    "source_url",
    "sql_date",
)
EDIT_FIELDS: Final = ("edit_id", "edit_time", "title", "comment")


def _get(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


def _text(value: Any) -> str:
    # pandas hands missing strings over as None or NaN (a float); both mean "absent".
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def _utc(value: Any) -> datetime:
    if not isinstance(value, datetime):
        # pandas.Timestamp is a datetime subclass; anything else is a bug in the caller's columns.
        raise TypeError(f"expected a timestamp, got {type(value).__name__}: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _yyyymmdd(value: Any) -> str:
    if value is None or value != value:  # None, NaN or pandas.NaT (which is a datetime that is not equal to itself)
        return ""
    if isinstance(value, datetime | date):
        return value.strftime("%Y%m%d")
    return _text(value).replace("-", "")


def event_from_row(row: Any) -> Event:
    """A silver GDELT event (columns `EVENT_FIELDS`) as the engine's Event."""
    fields = EventFields(
        actor1_name=_text(_get(row, "actor1_name")),
        actor2_name=_text(_get(row, "actor2_name")),
        action=_text(_get(row, "event_description")),
        place=_text(_get(row, "place")),
        source_url=_text(_get(row, "source_url")),
        sql_date=_yyyymmdd(_get(row, "sql_date")),
    )
    return Event.from_fields(_text(_get(row, "event_id")), _utc(_get(row, "event_time")), fields)


def edit_from_row(row: Any) -> Edit:
    """A silver Wikimedia edit (columns `EDIT_FIELDS`) as the engine's Edit."""
    return Edit(
        edit_id=_text(_get(row, "edit_id")),
        time=_utc(_get(row, "edit_time")),
        title=_text(_get(row, "title")),
        comment=_text(_get(row, "comment")),
    )


def event_texts(row: Any) -> tuple[str, ...]:
    """Every text the engine embeds for this silver event."""
    return embedding_texts(event_from_row(row))


def edit_texts(row: Any) -> tuple[str, ...]:
    """Every text the engine embeds for this silver edit."""
    return embedding_texts(edit_from_row(row))
