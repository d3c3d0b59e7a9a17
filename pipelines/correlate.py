"""The correlation engine: which Wikipedia edits are about which GDELT events, per tumbling time window.

Plain dataclasses in, plain dataclasses out; numpy for the math; no Spark and no torch at import time (the
embedding model is reached only through the `Embedder` passed in). The pipeline calls it from a pandas adapter
(`mapInPandas` over rows grouped by window); `lakehouse evaluate` calls the same code on labeled pairs.

API
- `Event(event_id, time, text, source_url="", actors=(), place="", year="", persons=(), organizations=())`: build
  with `Event.from_gdelt` from a GDELT row mapping (codebook column names) so text building is the same everywhere;
  `persons`/`organizations` are the names the article's GKG row lists (optional: empty without GKG).
- `Edit(edit_id, time, title, comment="")`: a recentchange edit; the comment may be empty (it is not scored: see
  `edit_embedding_text`).
- `Match(event_id, edit_id, score, rank)`: rank 1 is the best edit for that event in that window.
- `correlate_window(events, edits, embedder, *, threshold, top_k) -> list[Match]`: every (event, edit) pair of
  one window whose score is >= threshold, at most `top_k` per event, grouped by event, best first.
- `embedding_texts(item)`: every text the engine embeds for an event or edit; `StoredVectors` serves vectors of
  those texts computed earlier (the streaming pipeline embeds each row once and scores windows later).
- `correlate(events, edits, embedder, *, window_hours, threshold, top_k)`: assigns both sides to windows and
  runs `correlate_window` per window, so pairs across windows are never compared.
- Window helpers (`window_start`, `window_bounds`, `watermark`, `is_late`) mirror Spark's tumbling `window()`
  and watermark semantics so the pure code and the streaming plan agree on edge cases.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from pipelines.errors import LakehouseError
from pipelines.gkg import GkgRecord
from pipelines.places import COUNTRIES, countries_named
from pipelines.text import EventFields, build_edit_text, build_event_text, url_slug_words

Vectors = npt.NDArray[np.float32]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TextEmbedder(Protocol):
    """What the engine needs from an embedder: unit vectors, one row per text (pipelines.embedding.Embedder)."""

    def embed(self, texts: Sequence[str]) -> Vectors: ...


# --------------------------------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Event:
    """A GDELT event as the engine sees it. `text` is `build_event_text(...)`; the other fields feed signals.

    `persons` and `organizations` are optional: the names the article's GKG 2.1 row lists (`V2Persons`,
    `V2Organizations` of the row whose DocumentIdentifier is the event's SOURCEURL), most mentioned first. Without
    GKG they are empty and the engine scores exactly as before they existed.
    """

    event_id: str
    time: datetime
    text: str
    source_url: str = ""
    actors: tuple[str, ...] = ()
    place: str = ""
    year: str = ""
    persons: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()

    @classmethod
    def from_fields(cls, event_id: str, time: datetime, fields: EventFields, *, gkg: GkgRecord | None = None) -> Event:
        return cls(
            event_id=event_id,
            time=time,
            text=build_event_text(fields),
            source_url=fields.source_url,
            actors=tuple(a for a in (fields.actor1_name, fields.actor2_name) if a),
            place=fields.place,
            year=fields.year,
            persons=gkg.persons if gkg else (),
            organizations=gkg.organizations if gkg else (),
        )

    @classmethod
    def from_gdelt(cls, row: Mapping[str, str | None], time: datetime, *, gkg: GkgRecord | None = None) -> Event:
        """From a GDELT row keyed by codebook names (GLOBALEVENTID, Actor1Name, EventDescription, SOURCEURL...),
        plus, when given, the GKG row of its article (`pipelines.gkg.records_by_url(...)[SOURCEURL]`)."""
        event_id = (row.get("GLOBALEVENTID") or "").strip()
        if not event_id:
            raise ValueError("GDELT row has no GLOBALEVENTID: every event needs its id to be correlated")
        return cls.from_fields(event_id, time, EventFields.from_gdelt(row), gkg=gkg)


@dataclass(frozen=True)
class Edit:
    """A Wikipedia edit: its title and (possibly empty) edit comment."""

    edit_id: str
    time: datetime
    title: str
    comment: str = ""

    @property
    def text(self) -> str:
        """Title and cleaned comment, for display and lexical baselines (the engine embeds the title only)."""
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

# The hubness correction (see `iter_window_scores`): score = cos - EVENT_WEIGHT * r_event - EDIT_WEIGHT * r_edit.
# r_event is the event's best cosine in the window (its EVENT_NEIGHBOURS = 1 best partner): adding unrelated titles
# to a window rarely beats an event's best partner, so this term barely moves when windows grow. r_edit is the mean
# of the edit's EDIT_NEIGHBOURS best event cosines: how "hub-like" (close to many events) the title is. Chosen on
# ../shared/bench/pairs_dev.jsonl for story-split CV F1 and for stability when windows are enlarged with extra
# titles and events (docs/correlation.md, "Previous round"); the former symmetric CSLS (5 and 5, weights 1/2) lost
# 0.03 F1 when windows grew 1.8x. Re-choosing them on every training split of nested cross-validation (`lakehouse
# evaluate --nested`) costs 0.014-0.018 of the nested F1: they were tuned on dev, and that is the price of it.
EVENT_NEIGHBOURS = 1
EDIT_NEIGHBOURS = 5
EVENT_WEIGHT = 0.25
EDIT_WEIGHT = 0.375
# The cosine of two unrelated short news texts under all-MiniLM-L6-v2 (dev median 0.06, 75th percentile 0.11).
# Every neighbourhood is padded with such virtual partners (as many as its size), so a tiny window (one event, one
# edit) is not judged against itself and the correction never rewards a pair just for beating unrelated neighbours.
BACKGROUND_COSINE = 0.1
# The country veto: a title that names only countries the event's URL slug does not name, while the slug names
# some ("2019 Bolivian protests" for .../european-executive-condemns-violence-in-chile), is another country's story.
# Such a pair loses 1.0: a corrected cosine is at most 0.645 (cos 1 with the padding), so a vetoed pair scores at
# most -0.355, below any threshold this scale can use. A rule, not a tuned weight: on dev it removes 18 labeled
# negatives and no positive; GDELT's actor and place fields as the event side hit positives (docs/correlation.md).
COUNTRY_MISMATCH_PENALTY = 1.0
# How many GKG names of each kind (persons, organizations; most mentioned first) form the event's names view. Not
# tuned (no labeled pair has GKG rows): enough for the central actors of a story, few enough to stay on topic.
GKG_NAMES_PER_KIND = 3
# Rows of the event x edit matrix computed at once: bounds memory to CHUNK_ROWS x n_edits floats per window.
CHUNK_ROWS = 512


@dataclass(frozen=True)
class ScoringParams:
    """The scoring constants as one value: the shipped engine uses `SHIPPED`; evaluation re-chooses them per
    training split to measure how much tuning them on dev is worth (nested cross-validation)."""

    event_weight: float = EVENT_WEIGHT
    edit_weight: float = EDIT_WEIGHT
    event_neighbours: int = EVENT_NEIGHBOURS
    edit_neighbours: int = EDIT_NEIGHBOURS
    country_penalty: float = COUNTRY_MISMATCH_PENALTY

    def __post_init__(self) -> None:
        if self.event_neighbours < 1 or self.edit_neighbours < 1:
            raise ValueError(
                f"neighbourhoods must hold at least 1 partner (event {self.event_neighbours}, edit "
                f"{self.edit_neighbours})"
            )


SHIPPED = ScoringParams()


def event_views(event: Event) -> tuple[str, ...]:
    """The texts an event is embedded as: `<year> <story slug>`, `<year> <full event text>` and, when the article's
    GKG row is known, `<year> <its most mentioned persons and organizations>`. The event's vector is their mean.

    The slug carries the story; the full text adds actors and place (noisy but sometimes decisive); the GKG names
    add the knowledge a slug lacks (a story about "Lebanon's president" is about Michel Aoun). The names get a view
    of their own: appended to the full text they moved a missed pair by a third as much (docs/correlation.md, "GKG").
    The year makes titles such as "2019 Chilean protests" closer to events of 2019. Without a slug the first two
    views are the full text; an event with no text at all has two empty views (zero vectors).
    """
    story = " ".join(url_slug_words(event.source_url))
    full = event.text or story
    names = ", ".join((*event.persons[:GKG_NAMES_PER_KIND], *event.organizations[:GKG_NAMES_PER_KIND]))
    if not full and not names:  # nothing to say about the event: the zero vector, never a match on the year alone
        return "", ""
    year = event.year or str(_as_utc(event.time).year)
    full = full or names
    views = (f"{year} {story or full}".strip(), f"{year} {full}".strip())
    return (*views, f"{year} {names}") if names else views


def edit_embedding_text(edit: Edit) -> str:
    """The text an edit is embedded as: its title (whitespace-normalized).

    The edit comment is not embedded: real edit summaries are mostly about the edit ("/* Reception */ clean up,
    typo(s) fixed"), not the news, and joining them to the title cost 0.076 F1 on dev (three draws of comments from
    real recent-change captures: 0.052-0.097; docs/correlation.md, "Edit comments"). Title-only texts also repeat
    across an article's edits, so a window embeds each edited article once.
    """
    return " ".join(edit.title.split())


def event_countries(event: Event) -> frozenset[str]:
    """The countries the event's URL slug names (the event side of the country veto; empty without a slug)."""
    return countries_named(" ".join(url_slug_words(event.source_url)))


def embedding_texts(item: Event | Edit) -> tuple[str, ...]:
    """Every text the engine embeds for an event or an edit, in a stable order (empty strings left out).

    The contract between scoring and wherever vectors are computed: a pipeline that embeds each row once and scores
    windows later from stored vectors embeds exactly these texts, and `StoredVectors` serves them back.
    """
    texts = event_views(item) if isinstance(item, Event) else (edit_embedding_text(item),)
    return tuple(dict.fromkeys(t for t in texts if t))


class MissingVectorError(LakehouseError, KeyError):
    """Scoring asked for a text that was never embedded (the embedding stage and the engine disagree)."""


class StoredVectors:
    """A `TextEmbedder` over vectors computed earlier (text -> unit vector); it never runs a model.

    The empty text is the zero vector, as the model path treats it. A text that was not stored raises
    `MissingVectorError`: scoring with a silently wrong vector would publish wrong correlations.
    """

    def __init__(self, vectors: Mapping[str, Sequence[float] | npt.NDArray[np.float32]], dim: int) -> None:
        self._vectors = vectors
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            if not text:
                continue
            try:
                out[row] = np.asarray(self._vectors[text], dtype=np.float32)
            except KeyError as exc:
                raise MissingVectorError(
                    f"no stored vector for text {text[:80]!r}: the embedding stage must embed "
                    "pipelines.correlate.embedding_texts(...) of every event and edit it publishes"
                ) from exc
        return out


def _top_mean(values: npt.NDArray[np.float32], k: int, axis: int) -> npt.NDArray[np.float32]:
    """Mean of the k largest values along `axis`, after padding with k background cosines."""
    pad_shape = (values.shape[0], k) if axis == 1 else (k, values.shape[1])
    padded = np.concatenate([values, np.full(pad_shape, BACKGROUND_COSINE, dtype=np.float32)], axis=axis)
    top = -np.partition(-padded, k - 1, axis=axis)
    top = top[:, :k] if axis == 1 else top[:k, :]
    return np.asarray(top.mean(axis=axis), dtype=np.float32)


def _distinct(keys: Sequence[T]) -> tuple[list[T], npt.NDArray[np.intp]]:
    """The distinct keys (first-seen order) and, per input position, the index of its key among them."""
    position: dict[T, int] = {}
    index = np.fromiter((position.setdefault(k, len(position)) for k in keys), dtype=np.intp, count=len(keys))
    return list(position), index


_COUNTRY_COLUMN = {country: i for i, country in enumerate(COUNTRIES)}


def _country_matrix(country_sets: Sequence[frozenset[str]]) -> npt.NDArray[np.float32]:
    """One row per text, one column per country (`pipelines.places.COUNTRIES`): 1 where the text names it."""
    out = np.zeros((len(country_sets), len(COUNTRIES)), dtype=np.float32)
    for row, countries in enumerate(country_sets):
        out[row, [_COUNTRY_COLUMN[c] for c in countries]] = 1.0
    return out


class _WindowEmbeddings:
    """Embeddings of one window's *distinct* texts: an event is the mean of its view vectors.

    GDELT codes several events per article and an article is edited many times per window, so scoring distinct
    texts (and expanding to rows afterwards) makes a window's cost grow with its distinct stories and titles.
    """

    def __init__(self, events: Sequence[Event], edits: Sequence[Edit], embedder: TextEmbedder) -> None:
        event_keys, self.event_index = _distinct([(event_views(e), event_countries(e)) for e in events])
        edit_texts, self.edit_index = _distinct([edit_embedding_text(e) for e in edits])
        # The mean of an event's view cosines with an edit is the product with the mean view vector: one product.
        view_counts = np.asarray([len(views) for views, _ in event_keys], dtype=np.intp)
        views = embedder.embed([text for views, _ in event_keys for text in views])
        starts = np.concatenate([[0], np.cumsum(view_counts)[:-1]]).astype(np.intp)
        sums = np.add.reduceat(views, starts, axis=0) if len(event_keys) else views[:0]
        self.events = np.asarray(sums / view_counts[:, None], dtype=np.float32)
        self.edits = embedder.embed(edit_texts)
        # Country veto inputs: which countries each distinct slug / title names (one-hot over COUNTRIES).
        self.event_countries = _country_matrix([countries for _, countries in event_keys])
        self.edit_countries = _country_matrix([countries_named(t) for t in edit_texts])

    def cosines(self, rows: slice) -> npt.NDArray[np.float32]:
        """Mean cosine over the event's views: distinct events in `rows` x every distinct title."""
        return np.asarray(self.events[rows] @ self.edits.T, dtype=np.float32)

    def other_countries(self, rows: slice) -> npt.NDArray[np.bool_]:
        """True where both the slug and the title name countries and share none (`names_other_countries`)."""
        events = self.event_countries[rows]
        shared = events @ self.edit_countries.T
        event_names_one = np.asarray(events.sum(axis=1) > 0)
        title_names_one = np.asarray(self.edit_countries.sum(axis=1) > 0)
        return np.asarray(event_names_one[:, None] & title_names_one[None, :] & (shared == 0), dtype=np.bool_)


def iter_window_scores(
    events: Sequence[Event],
    edits: Sequence[Edit],
    embedder: TextEmbedder,
    *,
    chunk_rows: int = CHUNK_ROWS,
    params: ScoringParams = SHIPPED,
) -> Iterator[tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]]:
    """Scores of one window in chunks: yields (event positions, scores[len(positions), n_edits]).

    score(event, edit) = cos - EVENT_WEIGHT * r_event - EDIT_WEIGHT * r_edit - COUNTRY_MISMATCH_PENALTY * veto,
    where cos is the mean cosine of the event's views (`event_views`) with the edit's title, r_event is the event's
    best cosine among the window's distinct titles and r_edit the mean of the edit's EDIT_NEIGHBOURS best cosines
    among the window's distinct events (both padded with background partners), and veto is 1 when the title names
    only countries the event's slug does not name (`pipelines.places.names_other_countries`). The first three terms
    are a weighted, asymmetric CSLS (Conneau et al., 2018, "Word translation without parallel data"): the edit term
    removes hubness (a broad title such as "Government" is close to every event), the event term judges a pair
    relative to the event's best partner, which unlike a top-5 mean does not creep up when a window holds more
    titles. The veto does not feed the neighbourhood terms, so it moves no other pair's score. Two passes over
    chunks of distinct events keep memory at chunk_rows x distinct titles; each pass is one matrix product per chunk.
    Every event position appears in exactly one chunk.
    """
    if not events or not edits:
        return
    vectors = _WindowEmbeddings(events, edits, embedder)
    k = params.edit_neighbours
    n_distinct = vectors.events.shape[0]
    chunks = [slice(i, min(i + chunk_rows, n_distinct)) for i in range(0, n_distinct, chunk_rows)]
    # Pass 1: every edit text's k best cosines over all distinct events (a running top-k across chunks).
    edit_best = np.full((k, vectors.edits.shape[0]), BACKGROUND_COSINE, dtype=np.float32)
    for rows in chunks:
        stacked = np.concatenate([edit_best, vectors.cosines(rows)], axis=0)
        edit_best = -np.partition(-stacked, k - 1, axis=0)[:k, :]
    r_edit = np.asarray(edit_best.mean(axis=0), dtype=np.float32)
    # Pass 2: the corrected scores, chunk by chunk, expanded back to event positions and edit columns.
    for rows in chunks:
        cos = vectors.cosines(rows)
        r_event = _top_mean(cos, params.event_neighbours, axis=1)
        distinct_scores = cos - params.event_weight * r_event[:, None] - params.edit_weight * r_edit[None, :]
        if params.country_penalty:
            distinct_scores = distinct_scores - params.country_penalty * vectors.other_countries(rows)
        positions = np.flatnonzero((vectors.event_index >= rows.start) & (vectors.event_index < rows.stop))
        local = vectors.event_index[positions] - rows.start
        yield positions, np.asarray(distinct_scores[local][:, vectors.edit_index], dtype=np.float32)


def window_scores(
    events: Sequence[Event], edits: Sequence[Edit], embedder: TextEmbedder, *, params: ScoringParams = SHIPPED
) -> npt.NDArray[np.float32]:
    """The full (n_events, n_edits) score matrix of one window (for evaluation and small windows)."""
    out = np.zeros((len(events), len(edits)), dtype=np.float32)
    for positions, chunk in iter_window_scores(events, edits, embedder, params=params):
        out[positions] = chunk
    return out


def rank_matrix(scores: npt.NDArray[np.float32], edit_ids: Sequence[str]) -> npt.NDArray[np.int64]:
    """Rank (1 = best) of each edit within its event's row, ties broken by edit id like `top_k_matches`."""
    ranks = np.zeros(scores.shape, dtype=np.int64)
    id_order = np.argsort(np.asarray(edit_ids, dtype=object), kind="stable")
    tiebreak = np.empty(len(edit_ids), dtype=np.int64)
    tiebreak[id_order] = np.arange(len(edit_ids))
    for row in range(scores.shape[0]):
        order = np.lexsort((tiebreak, -scores[row]))
        ranks[row, order] = np.arange(1, len(edit_ids) + 1)
    return ranks


def top_k_matches(
    event_ids: Sequence[str],
    edit_ids: Sequence[str],
    scores: npt.NDArray[np.float32],
    *,
    threshold: float,
    top_k: int,
) -> list[Match]:
    """For each event (row), the up-to-`top_k` edits (columns) scoring >= threshold, best first.

    Ties break by edit id so the result is deterministic. Pairs above the threshold are the row's best, so a
    match's rank is also its rank among all edits of the window (`rank_matrix`).
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


def correlate_window(
    events: Sequence[Event],
    edits: Sequence[Edit],
    embedder: TextEmbedder,
    *,
    threshold: float,
    top_k: int,
    params: ScoringParams = SHIPPED,
) -> list[Match]:
    """Matches of one window's events and edits: score >= threshold, at most `top_k` per event, best first.

    Only pairs inside this window are scored (the blocking: a window's cost is n_events x n_edits of that window,
    computed in row chunks); each distinct text is embedded once through the embedder's cache. `params` is for
    evaluation; the pipeline uses the shipped constants.
    """
    if top_k < 1:
        raise ValueError(f"top_k={top_k} must be at least 1")
    event_ids = [e.event_id for e in events]
    edit_ids = [e.edit_id for e in edits]
    matches: list[Match] = []
    for positions, chunk in iter_window_scores(events, edits, embedder, params=params):
        ids = [event_ids[p] for p in positions]
        matches.extend(top_k_matches(ids, edit_ids, chunk, threshold=threshold, top_k=top_k))
    return matches


@dataclass
class _Window:
    events: list[Event] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)


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
