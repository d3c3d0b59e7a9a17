"""The correlation engine: which Wikipedia edits are about which GDELT events, per tumbling time window.

Plain dataclasses in, plain dataclasses out; numpy for the math; no Spark and no torch at import time (the
embedding model is reached only through the `Embedder` passed in). The pipeline calls it from a pandas adapter
(`mapInPandas` over rows grouped by window); `lakehouse evaluate` calls the same code on labeled pairs.

API
- `Event(event_id, time, text, source_url="", actors=(), place="", year="")`: build with `Event.from_gdelt`
  from a GDELT row mapping (codebook column names) so text building is the same everywhere.
- `Edit(edit_id, time, title, comment="")`: a recentchange edit; the comment may be empty.
- `Match(event_id, edit_id, score, rank)`: rank 1 is the best edit for that event in that window.
- `correlate_window(events, edits, embedder, *, threshold, top_k) -> list[Match]`: every (event, edit) pair of
  one window whose score is >= threshold, at most `top_k` per event, sorted by event then rank.
- `correlate(events, edits, embedder, *, window_hours, threshold, top_k)`: assigns both sides to windows and
  runs `correlate_window` per window, so pairs across windows are never compared.
- Window helpers (`window_start`, `window_bounds`, `watermark`, `is_late`) mirror Spark's tumbling `window()`
  and watermark semantics so the pure code and the streaming plan agree on edge cases.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from pipelines.text import EventFields, build_edit_text, build_event_text

Vectors = npt.NDArray[np.float32]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TextEmbedder(Protocol):
    """What the engine needs from an embedder: unit vectors, one row per text (pipelines.embedding.Embedder)."""

    def embed(self, texts: Sequence[str]) -> Vectors: ...


# --------------------------------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Event:
    """A GDELT event as the engine sees it. `text` is `build_event_text(...)`; the other fields feed signals."""

    event_id: str
    time: datetime
    text: str
    source_url: str = ""
    actors: tuple[str, ...] = ()
    place: str = ""
    year: str = ""

    @classmethod
    def from_fields(cls, event_id: str, time: datetime, fields: EventFields) -> Event:
        return cls(
            event_id=event_id,
            time=time,
            text=build_event_text(fields),
            source_url=fields.source_url,
            actors=tuple(a for a in (fields.actor1_name, fields.actor2_name) if a),
            place=fields.place,
            year=fields.year,
        )

    @classmethod
    def from_gdelt(cls, row: Mapping[str, str | None], time: datetime) -> Event:
        """From a GDELT row keyed by codebook names (GLOBALEVENTID, Actor1Name, EventDescription, SOURCEURL...)."""
        event_id = (row.get("GLOBALEVENTID") or "").strip()
        if not event_id:
            raise ValueError("GDELT row has no GLOBALEVENTID: every event needs its id to be correlated")
        return cls.from_fields(event_id, time, EventFields.from_gdelt(row))


@dataclass(frozen=True)
class Edit:
    """A Wikipedia edit: its title and (possibly empty) edit comment."""

    edit_id: str
    time: datetime
    title: str
    comment: str = ""

    @property
    def text(self) -> str:
        return build_edit_text(self.title, self.comment)


@dataclass(frozen=True, order=True)
class Match:
    """One correlated pair; `rank` 1 is the event's best edit in the window."""

    event_id: str
    edit_id: str
    score: float
    rank: int


# --------------------------------------------------------------------------------------------------- windows


def _as_utc(ts: datetime) -> datetime:
    """Naive timestamps are UTC (Spark sessions here run with spark.sql.session.timeZone=UTC)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _like(ts: datetime, value: datetime) -> datetime:
    """Return `value` (UTC) with the same naive/aware form as `ts`."""
    return value.replace(tzinfo=None) if ts.tzinfo is None else value


def window_start(ts: datetime, window_hours: int) -> datetime:
    """Start of the tumbling window holding `ts`: windows are aligned to the Unix epoch like Spark's `window()`.

    A timestamp exactly on a boundary starts a new window (windows are [start, end)).
    """
    if window_hours < 1:
        raise ValueError(f"window_hours={window_hours} must be at least 1")
    size = timedelta(hours=window_hours)
    offset = (_as_utc(ts) - _EPOCH) % size
    return _like(ts, _as_utc(ts) - offset)


def window_bounds(ts: datetime, window_hours: int) -> tuple[datetime, datetime]:
    """(start, end) of the window holding `ts`; end is exclusive."""
    start = window_start(ts, window_hours)
    return start, start + timedelta(hours=window_hours)


def watermark(max_event_time: datetime, lateness: timedelta) -> datetime:
    """Spark's watermark: the largest event time seen so far minus the allowed lateness."""
    return max_event_time - lateness


def is_late(ts: datetime, current_watermark: datetime, window_hours: int) -> bool:
    """True when the row's window was already finalized: its end is at or before the watermark.

    Spark evicts a window's state once `window.end <= watermark` and then drops rows for it, so a row whose window
    ends exactly at the watermark is late, and one whose window ends a microsecond after it is still counted.
    """
    _, end = window_bounds(ts, window_hours)
    return _as_utc(end) <= _as_utc(current_watermark)


T = TypeVar("T")


def group_by_window(items: Iterable[T], time_of: Callable[[T], datetime], window_hours: int) -> dict[datetime, list[T]]:
    """Items keyed by their window start (input order kept inside each window)."""
    out: dict[datetime, list[T]] = defaultdict(list)
    for item in items:
        out[window_start(time_of(item), window_hours)].append(item)
    return dict(out)


# --------------------------------------------------------------------------------------------------- scoring


def cosine_matrix(event_vectors: Vectors, edit_vectors: Vectors) -> npt.NDArray[np.float32]:
    """Cosines of unit vectors: (n_events, n_edits)."""
    return np.asarray(event_vectors @ edit_vectors.T, dtype=np.float32)


def top_k_matches(
    event_ids: Sequence[str],
    edit_ids: Sequence[str],
    scores: npt.NDArray[np.float32],
    *,
    threshold: float,
    top_k: int,
) -> list[Match]:
    """For each event (row), the up-to-`top_k` edits (columns) scoring >= threshold, best first.

    Ties break by edit id so the result is deterministic.
    """
    if top_k < 1:
        raise ValueError(f"top_k={top_k} must be at least 1")
    matches: list[Match] = []
    for row, event_id in enumerate(event_ids):
        row_scores = scores[row]
        above = np.flatnonzero(row_scores >= threshold)
        if above.size == 0:
            continue
        best = heapq.nsmallest(top_k, above.tolist(), key=lambda col: (-float(row_scores[col]), edit_ids[col]))
        matches.extend(
            Match(event_id, edit_ids[col], float(row_scores[col]), rank) for rank, col in enumerate(best, start=1)
        )
    return matches


@dataclass
class _Window:
    events: list[Event] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)


def correlate_window(
    events: Sequence[Event],
    edits: Sequence[Edit],
    embedder: TextEmbedder,
    *,
    threshold: float,
    top_k: int,
) -> list[Match]:
    """Matches of one window's events and edits: score >= threshold, at most `top_k` per event."""
    if not events or not edits:
        return []
    event_vectors = embedder.embed([e.text for e in events])
    edit_vectors = embedder.embed([e.text for e in edits])
    scores = cosine_matrix(event_vectors, edit_vectors)
    return top_k_matches(
        [e.event_id for e in events], [e.edit_id for e in edits], scores, threshold=threshold, top_k=top_k
    )


def correlate(
    events: Iterable[Event],
    edits: Iterable[Edit],
    embedder: TextEmbedder,
    *,
    window_hours: int,
    threshold: float,
    top_k: int,
) -> dict[datetime, list[Match]]:
    """Window start -> matches, correlating each window on its own."""
    windows: dict[datetime, _Window] = defaultdict(_Window)
    for event in events:
        windows[window_start(event.time, window_hours)].events.append(event)
    for edit in edits:
        windows[window_start(edit.time, window_hours)].edits.append(edit)
    return {
        start: correlate_window(w.events, w.edits, embedder, threshold=threshold, top_k=top_k)
        for start, w in sorted(windows.items())
        if w.events and w.edits
    }
