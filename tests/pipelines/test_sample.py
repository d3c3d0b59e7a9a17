"""The generated sample: deterministic, in the real formats, and consistent with what it claims to plant."""

from __future__ import annotations

from lakehouse.local.sample import generate_sample
from pipelines.cameo import parse_cameo_lookup, render_lookup
from pipelines.gdelt import EXPORT_COLUMNS, GdeltEvent, parse_export_line
from pipelines.wikimedia import RecentChangeError, edit_from_event, keeps


def test_deterministic() -> None:
    first, second = generate_sample(), generate_sample()
    assert first.gdelt_slices == second.gdelt_slices
    assert first.wikimedia_events == second.wikimedia_events


def test_gdelt_rows_parse_except_the_planted_malformed_ones() -> None:
    sample = generate_sample()
    outcomes = [parse_export_line("\t".join(row)) for rows in sample.gdelt_slices.values() for row in rows]
    rejected = [o for o in outcomes if not isinstance(o, GdeltEvent)]
    assert len(outcomes) == sample.truth.gdelt_rows
    # The GDELT parser rejects the short row, the bad id and both bad DATEADDED rows; the URL-less row is valid
    # for the parser (SOURCEURL may be empty in GDELT) and is left to the pipeline's expectation.
    assert len(rejected) == 4
    assert all(len(row) == len(EXPORT_COLUMNS) for rows in sample.gdelt_slices.values() for row in rows[:1])


def test_slices_are_contiguous_and_named_by_dateadded() -> None:
    sample = generate_sample()
    for slice_id, rows in sample.gdelt_slices.items():
        dateadded = EXPORT_COLUMNS.index("DATEADDED")
        assert any(len(row) > dateadded and row[dateadded] == slice_id for row in rows)


def test_wikimedia_events_and_truth_agree() -> None:
    sample = generate_sample()
    kept_ids: set[str] = set()
    invalid = 0
    for event in sample.wikimedia_events:
        try:
            edit = edit_from_event(event)
        except RecentChangeError:
            invalid += 1
            continue
        if keeps(edit, wikis=("enwiki",), include_bots=False):
            kept_ids.add(edit.edit_id)
    assert invalid == sum(v for k, v in sample.truth.quarantine.items() if k.startswith("wikimedia_"))
    assert len(kept_ids) == sample.truth.silver_edits


def test_sample_cameo_lookup_round_trips_through_gdelts_format() -> None:
    sample = generate_sample()
    assert parse_cameo_lookup(render_lookup(sample.cameo_lookup)) == sample.cameo_lookup
