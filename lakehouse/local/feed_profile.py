"""How the real feeds look, measured once from the captures under ../shared/data, and the code that measures it.

The figures are constants (the benchmark's generator, `lakehouse.local.feed_simulator`, must not need ../shared at run
time); the measuring functions take plain values, so the same code measures the captures
(tests/realdata/test_feed_profile.py, which checks these constants against the files) and the generated feeds
(tests/pipelines/test_feed_simulator.py, which checks the generator against these constants). docs/pipeline.md
("Realistic data") lists the figures and their sources.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pipelines.cameo import describe
from pipelines.correlate import Edit, Event, embedding_texts, event_views
from pipelines.gdelt import EXPORT_COLUMNS
from pipelines.text import url_slug_words

# --- GDELT 2.0 exports: gdelt/{20151027220000,20190121220000,20191024143000}.export.CSV (5,856 rows) -----------
GDELT_ROWS_PER_SLICE = 1952.0  # mean of 2,116 / 1,629 / 2,111 rows per 15-minute slice
# Events per source URL within a slice, pooled over the three slices (1,354 URLs; mean 4.32).
GDELT_EVENTS_PER_URL: Mapping[int, int] = {
    1: 446, 2: 270, 3: 158, 4: 107, 5: 87, 6: 60, 7: 51, 8: 28, 9: 20, 10: 21, 11: 16, 12: 7, 13: 10, 14: 13,
    15: 8, 16: 6, 17: 2, 18: 5, 19: 6, 20: 5, 22: 1, 23: 5, 24: 4, 26: 1, 28: 2, 31: 1, 35: 2, 37: 3, 38: 1,
    39: 1, 42: 1, 43: 1, 44: 1, 80: 1, 82: 1, 85: 1, 96: 1,
}  # fmt: skip
GDELT_EVENTS_PER_URL_MEAN = 4.32
GDELT_FULL_TEXT_DISTINCT = 0.914  # distinct full event texts per event within a slice (1,941+1,499+1,915 / 5,856)
GDELT_TEXTS_PER_EVENT = 1.138  # distinct engine texts (story view + full view) per event within a slice
GDELT_NO_SLUG_SHARE = 0.033  # events whose URL names no story (both views are then the full text)
GDELT_ACTOR1_EMPTY = 0.077
GDELT_ACTOR2_EMPTY = 0.262
GDELT_PLACE_EMPTY = 0.024  # ActionGeo_FullName empty
GDELT_SQLDATE_IS_DAY_ADDED = 0.96  # SQLDATE is DATEADDED's day for 96 % of rows (else an earlier day)
GDELT_EVENT_TEXT_CHARS = 124.3  # mean length of the engine's event text

# --- Wikimedia recentchange, enwiki -------------------------------------------------------------------------
# wikimedia/wiki_stream_enwiki_recentchange_flat_20260324.csv: 1,538 main-namespace non-bot enwiki edits in
# 1,093 s (2026-03-24 18:29:15-18:47:28 UTC); the collector kept only those, so the shares below come from the
# 100-event capture wikimedia/polars_guide_enwiki_recentchange_2023-07-29.ndjson (enwiki, 135 s, all type=edit).
WIKI_KEPT_EDITS_PER_S = 1.41  # main namespace, not bots: what silver keeps
WIKI_MAIN_NAMESPACE_SHARE = 0.86
WIKI_BOT_SHARE = 0.02
# Namespaces of the other 14 % in that capture: User (2) 8, Draft (118) 4, Wikipedia (4) 2.
WIKI_OTHER_NAMESPACES: Mapping[int, int] = {2: 8, 118: 4, 4: 2}
WIKI_CAPTURE_MINUTES = 18  # the span the distinct ratios below are measured over
WIKI_TITLE_DISTINCT = 0.747  # distinct titles per kept edit over the 18 minutes (0.90 over the first 3)
WIKI_TEXT_DISTINCT = 0.907  # distinct edit texts (title + cleaned comment) per kept edit over the 18 minutes
WIKI_COMMENT_PRESENT = 0.770
WIKI_COMMENT_SECTION_ONLY = 0.194  # the comment is only a section marker, e.g. "/* Career */"
WIKI_COMMENT_SECTION_AND_TEXT = 0.143
WIKI_TITLE_CHARS = 21.3  # mean
WIKI_COMMENT_CHARS = 39.1  # mean over all kept edits, empty comments included
WIKI_MINOR_SHARE = 0.224

# --- both feeds at 1x ---------------------------------------------------------------------------------------
GDELT_ROWS_PER_S = GDELT_ROWS_PER_SLICE / (15 * 60)
WIKI_EVENTS_PER_S = WIKI_KEPT_EDITS_PER_S / (WIKI_MAIN_NAMESPACE_SHARE * (1 - WIKI_BOT_SHARE))


@dataclass(frozen=True)
class GdeltFigures:
    rows_per_slice: float
    events_per_url: float
    full_text_distinct: float
    texts_per_event: float
    no_slug_share: float
    actor1_empty: float
    actor2_empty: float
    place_empty: float
    sqldate_is_day_added: float
    event_text_chars: float


@dataclass(frozen=True)
class WikiFigures:
    kept_edits_per_s: float
    title_distinct: float
    text_distinct: float
    comment_present: float
    comment_section_only: float
    title_chars: float
    comment_chars: float


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def gdelt_figures(slices: Mapping[str, Sequence[Sequence[str]]], cameo: Mapping[str, str]) -> GdeltFigures:
    """Figures of GDELT export rows grouped by slice (61 raw strings per row); distinct ratios are per slice."""
    column = {name: i for i, name in enumerate(EXPORT_COLUMNS)}
    rows_total = urls_total = full_distinct = texts_distinct = 0
    events: list[Event] = []
    raw_rows: list[Sequence[str]] = []
    for rows in slices.values():
        slice_events = []
        for row in rows:
            fields = dict(zip(EXPORT_COLUMNS, row, strict=True))
            fields["EventDescription"] = describe(fields["EventCode"], cameo) or ""
            slice_events.append(Event.from_gdelt(fields, datetime(2000, 1, 1, tzinfo=UTC)))
        rows_total += len(rows)
        urls_total += len({r[column["SOURCEURL"]] for r in rows})
        full_distinct += len({event_views(e)[1] for e in slice_events})
        texts_distinct += len({t for e in slice_events for t in embedding_texts(e)})
        events += slice_events
        raw_rows += rows
    n = max(1, rows_total)

    def share(predicate_column: str, value: str = "") -> float:
        return sum(1 for r in raw_rows if r[column[predicate_column]].strip() == value) / n

    same_day = sum(1 for r in raw_rows if r[column["SQLDATE"]] == r[column["DATEADDED"]][:8]) / n
    return GdeltFigures(
        rows_per_slice=rows_total / max(1, len(slices)),
        events_per_url=rows_total / max(1, urls_total),
        full_text_distinct=full_distinct / n,
        texts_per_event=texts_distinct / n,
        no_slug_share=sum(1 for e in events if not url_slug_words(e.source_url)) / n,
        actor1_empty=share("Actor1Name"),
        actor2_empty=share("Actor2Name"),
        place_empty=share("ActionGeo_FullName"),
        sqldate_is_day_added=same_day,
        event_text_chars=_mean(len(e.text) for e in events),
    )


def wiki_figures(edits: Sequence[tuple[float, str, str]]) -> WikiFigures:
    """Figures of kept edits `(epoch seconds, title, comment)` (main namespace, no bots), over their whole span."""
    if not edits:
        raise ValueError("no edits to measure")
    times = [t for t, _, _ in edits]
    span = max(times) - min(times)
    texts = [Edit("", datetime(2000, 1, 1, tzinfo=UTC), title, comment).text for _, title, comment in edits]
    comments = [c for _, _, c in edits]
    n = len(edits)
    return WikiFigures(
        kept_edits_per_s=(n - 1) / span if span > 0 else 0.0,
        title_distinct=len({title for _, title, _ in edits}) / n,
        text_distinct=len(set(texts)) / n,
        comment_present=sum(1 for c in comments if c.strip()) / n,
        comment_section_only=sum(1 for c in comments if c.startswith("/*") and c.rstrip().endswith("*/")) / n,
        title_chars=_mean(len(title) for _, title, _ in edits),
        comment_chars=_mean(len(c) for c in comments),
    )


def recentchange_shares(events: Iterable[Mapping[str, object]]) -> tuple[float, float]:
    """(main-namespace share, bot share) of recentchange events."""
    items = list(events)
    n = max(1, len(items))
    namespaces = Counter(e.get("namespace") for e in items)
    return namespaces.get(0, 0) / n, sum(1 for e in items if e.get("bot") is True) / n
