"""The sink's window rules (pure): final windows are never recomputed, late rows are refused, open windows close.

Properties over random update sequences, plus the edge cases the Spark watermark defines (a window ending exactly
at the watermark is final).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.correlate import is_late, window_start
from pipelines.window_plan import SinkState, is_final, plan_update, watermark_of

H = 4
LATENESS = timedelta(minutes=60)
T0 = datetime(2026, 11, 26, 0, 0)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_watermark_waits_for_every_feed_and_takes_the_oldest() -> None:
    assert watermark_of({"gdelt": at(10)}, LATENESS) is None
    assert watermark_of({"gdelt": at(10), "wikimedia": at(12)}, LATENESS) == at(9)


def test_a_window_ending_at_the_watermark_is_final_as_in_spark() -> None:
    assert is_final(at(8), at(12), H) and not is_final(at(8), at(12) - timedelta(microseconds=1), H)
    # The engine's own rule for late rows says the same.
    assert is_late(at(9), at(12), H) and not is_late(at(9), at(12) - timedelta(microseconds=1), H)


def test_first_update_recomputes_everything_and_publishes_open_windows_provisional() -> None:
    plan = plan_update(SinkState(), {at(0), at(4), at(8)}, {"gdelt": at(9), "wikimedia": at(9.5)}, window_hours=H,
                       lateness=LATENESS)  # fmt: skip
    assert plan.recompute == (at(0), at(4), at(8)) and plan.refused == () and plan.finalize == ()
    assert plan.watermark == at(8)
    assert [plan.is_provisional(w) for w in plan.recompute] == [False, False, True]
    assert plan.open_after == frozenset({at(8)}) and plan.windows_open == 3


def test_rows_for_a_final_window_are_refused_and_an_open_window_closes_without_recompute() -> None:
    state = SinkState(0, at(8), {"gdelt": at(9), "wikimedia": at(9.5)}, frozenset({at(8)}))
    plan = plan_update(state, {at(4), at(12)}, {"gdelt": at(13.5), "wikimedia": at(13)}, window_hours=H,
                       lateness=LATENESS)  # fmt: skip
    assert plan.refused == (at(4),)
    assert plan.recompute == (at(12),)
    assert plan.watermark == at(12) and plan.finalize == (at(8),)
    assert plan.open_after == frozenset({at(12)})


def test_the_watermark_never_moves_back() -> None:
    state = SinkState(3, at(12), {"gdelt": at(13), "wikimedia": at(13)}, frozenset())
    plan = plan_update(state, {at(8)}, {"gdelt": at(9)}, window_hours=H, lateness=LATENESS)
    assert plan.watermark == at(12) and plan.refused == (at(8),)


def test_rows_from_an_unknown_feed_are_an_error() -> None:
    with pytest.raises(ValueError, match="unknown feeds"):
        plan_update(SinkState(), {at(0)}, {"twitter": at(1)}, window_hours=H, lateness=LATENESS)


updates = st.lists(
    st.lists(st.tuples(st.sampled_from(["gdelt", "wikimedia"]), st.integers(0, 48 * 60)), min_size=1, max_size=6),
    min_size=1,
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(updates)
def test_rules_hold_over_any_sequence_of_updates(batches: list[list[tuple[str, int]]]) -> None:
    state = SinkState()
    final: set[datetime] = set()
    published: set[datetime] = set()
    for batch_id, rows in enumerate(batches):
        times = [(feed, T0 + timedelta(minutes=m)) for feed, m in rows]
        touched = {window_start(t, H) for _, t in times}
        newest: dict[str, datetime] = {}
        for feed, t in times:
            newest[feed] = max(t, newest.get(feed, t))
        plan = plan_update(state, touched, newest, window_hours=H, lateness=LATENESS)
        assert not set(plan.recompute) & final  # a window published final is never recomputed...
        # ...rows for any window the watermark had passed (published or not) are refused instead.
        assert set(plan.refused) == {w for w in touched if is_final(w, state.watermark, H)}
        assert set(plan.recompute) | set(plan.refused) == touched
        assert len(plan.recompute) <= plan.windows_open
        if state.watermark is not None:
            assert plan.watermark is not None and plan.watermark >= state.watermark
        for w in (*plan.recompute, *plan.finalize):
            if not plan.is_provisional(w):
                final.add(w)
        published |= set(plan.recompute)
        # Every published window is either still open or final, and every open one is provisional.
        assert plan.open_after == {w for w in published if w not in final}
        state = plan.state_after(batch_id)
