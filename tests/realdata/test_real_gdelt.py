"""The real GDELT 2.0 slices in ../shared/data/gdelt parse completely, and land byte-for-byte through the loader."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from lakehouse.local.gdelt_feed import GdeltFeedServer
from pipelines.gdelt import EXPORT_COLUMNS, GdeltEvent, parse_export_text, split_export_line
from pipelines.ingest.gdelt_loader import DownloadPolicy, land_latest

pytestmark = pytest.mark.realdata

SLICES = ("20151027220000", "20190121220000", "20191024143000")
EXPECTED_ROWS = {"20151027220000": 2116, "20190121220000": 1629, "20191024143000": 2111}


@pytest.fixture(scope="module")
def gdelt_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "gdelt"


@pytest.mark.parametrize("slice_id", SLICES)
def test_every_real_row_parses_with_codes_as_strings(gdelt_dir: Path, slice_id: str) -> None:
    name = f"{slice_id}.export.CSV"
    text = (gdelt_dir / name).read_text(encoding="utf-8")
    report = parse_export_text(text, source=name)
    assert [r.describe() for r in report.rejections] == []
    assert len(report.events) == EXPECTED_ROWS[slice_id]
    assert {e.slice_id for e in report.events} == {slice_id}  # DATEADDED names the file's slice
    raw_codes = [split_export_line(line)[EXPORT_COLUMNS.index("EventCode")] for line in text.splitlines()]
    assert [e.EventCode for e in report.events] == raw_codes  # leading zeros kept ("010", "0251")
    assert any(code.startswith("0") for code in raw_codes)
    assert len({e.GLOBALEVENTID for e in report.events}) == len(report.events)


def test_real_feature_ids_are_both_numeric_and_textual(gdelt_dir: Path) -> None:
    events: list[GdeltEvent] = []
    for slice_id in SLICES:
        events.extend(parse_export_text((gdelt_dir / f"{slice_id}.export.CSV").read_text(encoding="utf-8")).events)
    assert sum(EXPECTED_ROWS.values()) == len(events) == 5856
    kinds = Counter(
        "numeric" if fid.lstrip("-").isdigit() else "textual" for e in events if (fid := e.ActionGeo_FeatureID)
    )
    assert kinds["numeric"] > 0 and kinds["textual"] > 0


def test_gdelt_1_rows_are_each_rejected_with_a_reason(gdelt_dir: Path) -> None:
    name = "gdelt1_daily_events_sample_20160728_plus_201302.tsv"
    report = parse_export_text((gdelt_dir / name).read_text(encoding="utf-8"), source=name)
    assert report.events == ()
    assert len(report.rejections) == 710  # every line reported, none silently dropped
    assert Counter(r.reason.split(" (")[0] for r in report.rejections) == {
        "expected 61 tab-separated columns, found 58": 509,
        "expected 61 tab-separated columns, found 57": 201,
    }


def test_a_real_slice_lands_byte_for_byte_through_the_loopback_feed(gdelt_dir: Path, tmp_path: Path) -> None:
    data = (gdelt_dir / "20191024143000.export.CSV").read_bytes()
    with GdeltFeedServer(raw_slices={"20191024143000": data}) as feed:
        result = land_latest(feed.base_url, tmp_path, policy=DownloadPolicy(backoff_factor_s=0.01))
    assert result.path is not None and result.path.read_bytes() == data
    assert (result.rows, result.rejected_rows) == (2111, 0)
