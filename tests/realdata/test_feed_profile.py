"""The figures in lakehouse.local.feed_profile are what the captures under ../shared/data say (recomputed here).

Rounded constants are compared with a tolerance of half their last digit; the histogram exactly.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from lakehouse.local import feed_profile as profile
from pipelines.cameo import merged_lookup, parse_cameo_lookup
from pipelines.gdelt import EXPORT_COLUMNS

pytestmark = pytest.mark.realdata

SLICES = ("20151027220000", "20190121220000", "20191024143000")


@pytest.fixture(scope="module")
def data(shared_dir: Path) -> Path:
    return shared_dir / "data"


def test_gdelt_figures(data: Path) -> None:
    lookup = merged_lookup(parse_cameo_lookup((data / "gdelt" / "CAMEO.eventcodes.txt").read_text("utf-8")))
    slices = {
        s: [line.split("\t") for line in (data / "gdelt" / f"{s}.export.CSV").read_text("utf-8").splitlines()]
        for s in SLICES
    }
    got = profile.gdelt_figures(slices, lookup)
    assert got.rows_per_slice == pytest.approx(profile.GDELT_ROWS_PER_SLICE, abs=0.5)
    assert got.events_per_url == pytest.approx(profile.GDELT_EVENTS_PER_URL_MEAN, abs=0.005)
    assert got.full_text_distinct == pytest.approx(profile.GDELT_FULL_TEXT_DISTINCT, abs=0.0005)
    assert got.texts_per_event == pytest.approx(profile.GDELT_TEXTS_PER_EVENT, abs=0.0005)
    assert got.no_slug_share == pytest.approx(profile.GDELT_NO_SLUG_SHARE, abs=0.0005)
    assert got.actor1_empty == pytest.approx(profile.GDELT_ACTOR1_EMPTY, abs=0.0005)
    assert got.actor2_empty == pytest.approx(profile.GDELT_ACTOR2_EMPTY, abs=0.0005)
    assert got.place_empty == pytest.approx(profile.GDELT_PLACE_EMPTY, abs=0.0005)
    assert got.sqldate_is_day_added == pytest.approx(profile.GDELT_SQLDATE_IS_DAY_ADDED, abs=0.005)
    assert got.event_text_chars == pytest.approx(profile.GDELT_EVENT_TEXT_CHARS, abs=0.05)
    url = EXPORT_COLUMNS.index("SOURCEURL")
    histogram: Counter[int] = Counter()
    for rows in slices.values():
        histogram.update(Counter(Counter(r[url] for r in rows).values()))
    assert dict(histogram) == dict(profile.GDELT_EVENTS_PER_URL)


def test_wikimedia_figures(data: Path) -> None:
    path = data / "wikimedia" / "wiki_stream_enwiki_recentchange_flat_20260324.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["namespace"] for r in rows} == {"0"} and {r["bot"] for r in rows} == {"False"}  # the collector's filter
    got = profile.wiki_figures([(float(r["timestamp"]), r["title"], r["comment"]) for r in rows])
    assert got.kept_edits_per_s == pytest.approx(profile.WIKI_KEPT_EDITS_PER_S, abs=0.005)
    assert got.title_distinct == pytest.approx(profile.WIKI_TITLE_DISTINCT, abs=0.0005)
    assert got.text_distinct == pytest.approx(profile.WIKI_TEXT_DISTINCT, abs=0.0005)
    assert got.comment_present == pytest.approx(profile.WIKI_COMMENT_PRESENT, abs=0.0005)
    assert got.comment_section_only == pytest.approx(profile.WIKI_COMMENT_SECTION_ONLY, abs=0.0005)
    assert got.title_chars == pytest.approx(profile.WIKI_TITLE_CHARS, abs=0.05)
    assert got.comment_chars == pytest.approx(profile.WIKI_COMMENT_CHARS, abs=0.05)
    assert sum(r["minor"] == "True" for r in rows) / len(rows) == pytest.approx(profile.WIKI_MINOR_SHARE, abs=0.0005)


def test_recentchange_shares(data: Path) -> None:
    lines = (data / "wikimedia" / "polars_guide_enwiki_recentchange_2023-07-29.ndjson").read_text("utf-8")
    events = [json.loads(line) for line in lines.splitlines() if line.strip()]
    main, bots = profile.recentchange_shares(events)
    assert (main, bots) == (profile.WIKI_MAIN_NAMESPACE_SHARE, profile.WIKI_BOT_SHARE)
    other = Counter(e["namespace"] for e in events if e["namespace"] != 0)
    assert dict(other) == dict(profile.WIKI_OTHER_NAMESPACES)
