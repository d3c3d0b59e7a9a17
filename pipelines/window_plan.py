"""Which windows one update of the correlation sink recomputes, publishes as final, or refuses: plain values only.

The sink (pipelines.transforms.correlation_sink) keeps, between updates, the newest row time it has seen per feed,
its watermark and the windows it has published as provisional (`SinkState`, one row of ops.correlation_updates).
For each micro-batch it asks `plan_update` what to do:

- The **watermark** is the oldest feed's newest row time minus the allowed lateness (`lakehouse.lateness_minutes`),
  the `min` policy Spark uses for several watermarked inputs: a window cannot be final while one feed may still
  deliver rows for it. It never moves back, and it is undefined until every feed has delivered a row.
- A window is **final** once its end is at or before the watermark (Spark evicts a window when `end <= watermark`;
  `pipelines.correlate.is_late` states the same rule). A final window is never recomputed: rows that still arrive
  for it are **refused** (the sink records them in ops.late_rows) instead of changing published correlations.
- Every other window that received rows is **recomputed** (from stored vectors) and published **provisional**
  while its end is after the new watermark; a provisional window whose end the watermark passes is published
  final (**finalize**), without recomputing it when no row arrived for it in this update.

Nothing here imports Spark or numpy, so the rules are tested directly (tests/pipelines/test_window_plan.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# The two feeds the pipeline correlates; a window can only close once both have delivered rows past it.
FEEDS: tuple[str, ...] = ("gdelt", "wikimedia")


def window_end(window_start: datetime, window_hours: int) -> datetime:
    return window_start + timedelta(hours=window_hours)


def is_final(window_start: datetime, watermark: datetime | None, window_hours: int) -> bool:
    """A window is final when the watermark has reached its end (end <= watermark)."""
    return watermark is not None and window_end(window_start, window_hours) <= watermark


def watermark_of(newest: Mapping[str, datetime], lateness: timedelta, feeds: Iterable[str] = FEEDS) -> datetime | None:
    """The oldest feed's newest row time minus `lateness`; None until every feed in `feeds` has a row."""
    times = [newest.get(feed) for feed in feeds]
    if any(t is None for t in times):
        return None
    return min(t for t in times if t is not None) - lateness


@dataclass(frozen=True)
class SinkState:
    """What the sink knows after its last processed micro-batch (the empty state before the first)."""

    last_batch_id: int | None = None
    watermark: datetime | None = None
    newest: Mapping[str, datetime] = field(default_factory=dict)
    open_windows: frozenset[datetime] = frozenset()


@dataclass(frozen=True)
class UpdatePlan:
    """What one micro-batch does, window by window (all tuples sorted by window start)."""

    recompute: tuple[datetime, ...]
    finalize: tuple[datetime, ...]
    refused: tuple[datetime, ...]
    watermark: datetime | None
    newest: Mapping[str, datetime]
    open_before: frozenset[datetime]
    open_after: frozenset[datetime]
    window_hours: int

    def is_provisional(self, window_start: datetime) -> bool:
        """Whether a window recomputed or finalized by this plan is published provisional (not final yet)."""
        return not is_final(window_start, self.watermark, self.window_hours)

    @property
    def windows_open(self) -> int:
        """Windows not final when the update started that hold rows: published provisional, or getting their first.

        Every recomputed window is one of them, so `len(recompute) <= windows_open` holds by construction (the
        benchmark reports both).
        """
        return len(self.open_before | set(self.recompute))

    def state_after(self, batch_id: int) -> SinkState:
        return SinkState(batch_id, self.watermark, dict(self.newest), self.open_after)


def plan_update(
    state: SinkState,
    touched: Iterable[datetime],
    batch_newest: Mapping[str, datetime],
    *,
    window_hours: int,
    lateness: timedelta,
    feeds: Iterable[str] = FEEDS,
) -> UpdatePlan:
    """Plan one micro-batch: `touched` are the windows its rows fall into, `batch_newest` its newest row per feed."""
    feeds = tuple(feeds)
    unknown = sorted(set(batch_newest) - set(feeds))
    if unknown:
        raise ValueError(f"rows from unknown feeds {unknown}: the sink correlates only {list(feeds)}")
    touched_set = set(touched)
    refused = {w for w in touched_set if is_final(w, state.watermark, window_hours)}
    recompute = touched_set - refused
    newest = dict(state.newest)
    for feed, moment in batch_newest.items():
        if feed not in newest or moment > newest[feed]:
            newest[feed] = moment
    candidate = watermark_of(newest, lateness, feeds)
    if state.watermark is not None and (candidate is None or candidate < state.watermark):
        candidate = state.watermark  # the watermark never moves back
    finalize = {w for w in state.open_windows - recompute if is_final(w, candidate, window_hours)}
    open_after = frozenset(w for w in state.open_windows | recompute if not is_final(w, candidate, window_hours))
    return UpdatePlan(
        recompute=tuple(sorted(recompute)),
        finalize=tuple(sorted(finalize)),
        refused=tuple(sorted(refused)),
        watermark=candidate,
        newest=newest,
        open_before=state.open_windows,
        open_after=open_after,
        window_hours=window_hours,
    )
