"""The benchmark's simulated feeds against the figures measured from the real captures (lakehouse.local.feed_profile).

The same measuring code runs on the captures (tests/realdata/test_feed_profile.py) and here on the generator's
output. Tolerances: rates within 5 % (6 hours at 1x: 24 GDELT slices, ~36,000 recentchange events); shares of
rows within 0.02 (0.03 for the rarer GDELT fields, 0.005 for bots); distinct ratios within 0.04 over the same
number of edits as the 18-minute capture (1,538); mean text lengths within 15 %; events per URL within 10 %.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from lakehouse.local import feed_profile as profile
from lakehouse.local.feed_simulator import SimulatedFeeds, kept_edits, simulate_feeds
from pipelines.gdelt import EXPORT_COLUMNS, GdeltEvent, parse_export_line
from pipelines.wikimedia import edit_from_event


@pytest.fixture(scope="module")
def six_hours() -> SimulatedFeeds:
    return simulate_feeds(6, 1.0)


def _first_edits(feeds: SimulatedFeeds, n: int) -> list[tuple[float, str, str]]:
    edits = kept_edits(feeds.events)
    assert len(edits) >= n
    return edits[:n]


def test_rates_match_the_captures(six_hours: SimulatedFeeds) -> None:
    rows_per_slice = six_hours.gdelt_rows / len(six_hours.gdelt_slices)
    assert len(six_hours.gdelt_slices) == 24
    assert rows_per_slice == pytest.approx(profile.GDELT_ROWS_PER_SLICE, rel=0.05)
    kept_per_s = len(kept_edits(six_hours.events)) / (6 * 3600)
    assert kept_per_s == pytest.approx(profile.WIKI_KEPT_EDITS_PER_S, rel=0.05)
    main, bots = profile.recentchange_shares(six_hours.events)
    assert main == pytest.approx(profile.WIKI_MAIN_NAMESPACE_SHARE, abs=0.02)
    assert bots == pytest.approx(profile.WIKI_BOT_SHARE, abs=0.005)


def test_gdelt_shape_matches_the_captures(six_hours: SimulatedFeeds) -> None:
    first_slices = dict(list(six_hours.gdelt_slices.items())[:4])  # distinct ratios are per slice
    got = profile.gdelt_figures(first_slices, six_hours.cameo_lookup)
    assert got.events_per_url == pytest.approx(profile.GDELT_EVENTS_PER_URL_MEAN, rel=0.10)
    assert got.full_text_distinct == pytest.approx(profile.GDELT_FULL_TEXT_DISTINCT, abs=0.02)
    assert got.texts_per_event == pytest.approx(profile.GDELT_TEXTS_PER_EVENT, abs=0.04)
    assert got.no_slug_share == pytest.approx(profile.GDELT_NO_SLUG_SHARE, abs=0.015)
    assert got.actor1_empty == pytest.approx(profile.GDELT_ACTOR1_EMPTY, abs=0.03)
    assert got.actor2_empty == pytest.approx(profile.GDELT_ACTOR2_EMPTY, abs=0.03)
    assert got.place_empty == pytest.approx(profile.GDELT_PLACE_EMPTY, abs=0.015)
    assert got.sqldate_is_day_added == pytest.approx(profile.GDELT_SQLDATE_IS_DAY_ADDED, abs=0.02)
    assert got.event_text_chars == pytest.approx(profile.GDELT_EVENT_TEXT_CHARS, rel=0.15)


def test_wikimedia_repetition_and_text_match_the_capture(six_hours: SimulatedFeeds) -> None:
    got = profile.wiki_figures(_first_edits(six_hours, 1538))
    assert got.title_distinct == pytest.approx(profile.WIKI_TITLE_DISTINCT, abs=0.04)
    assert got.text_distinct == pytest.approx(profile.WIKI_TEXT_DISTINCT, abs=0.04)
    assert got.comment_present == pytest.approx(profile.WIKI_COMMENT_PRESENT, abs=0.03)
    assert got.comment_section_only == pytest.approx(profile.WIKI_COMMENT_SECTION_ONLY, abs=0.03)
    assert got.title_chars == pytest.approx(profile.WIKI_TITLE_CHARS, rel=0.15)
    assert got.comment_chars == pytest.approx(profile.WIKI_COMMENT_CHARS, rel=0.15)
    # Over the capture's first 3 minutes (254 edits) titles repeat less: 0.90 distinct.
    assert profile.wiki_figures(_first_edits(six_hours, 254)).title_distinct == pytest.approx(0.90, abs=0.05)


def test_repetition_does_not_depend_on_the_scale() -> None:
    # Repeats are counted in edits, so a tenth of the rate repeats like the capture over the same number of edits.
    tenth = simulate_feeds(4, 0.1, seed=3)
    got = profile.wiki_figures(_first_edits(tenth, 1538 // 2))
    full = profile.wiki_figures(_first_edits(simulate_feeds(0.5, 1.0, seed=3), 1538 // 2))
    assert got.title_distinct == pytest.approx(full.title_distinct, abs=0.04)


def test_records_parse_and_silver_keeps_the_main_namespace() -> None:
    feeds = simulate_feeds(0.5, 0.2)
    rows = [row for rows in feeds.gdelt_slices.values() for row in rows]
    assert all(len(r) == len(EXPORT_COLUMNS) for r in rows)
    assert all(isinstance(parse_export_line("\t".join(r)), GdeltEvent) for r in rows)
    assert {e["wiki"] for e in feeds.events} == {"enwiki"}
    for event in feeds.events:
        edit_from_event(event)  # every event has meta.id, meta.dt and a title
    assert feeds.records == len(rows) + len(feeds.events)


def test_deterministic_and_cut_into_update_slices() -> None:
    first, second = simulate_feeds(2, 0.1), simulate_feeds(2, 0.1)
    assert first.gdelt_slices == second.gdelt_slices and first.events == second.events
    hour = timedelta(hours=1)
    parts = [first.between(first.start + i * hour, first.start + (i + 1) * hour) for i in range(2)]
    assert sum(len(s) for s, _ in parts) == len(first.gdelt_slices)
    assert [e for _, events in parts for e in events] == first.events


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        simulate_feeds(0, 0.1)
