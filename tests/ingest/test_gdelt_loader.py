"""The GDELT loader against a loopback feed: exact bytes, once per slice, verified, atomic; each fault on its own."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from ingest_factories import gdelt_row, gdelt_rows, partial_files

from lakehouse.cli import main as lakehouse_main
from lakehouse.local.gdelt_feed import GdeltFaults, GdeltFeedServer
from pipelines.ingest import IngestError
from pipelines.ingest.gdelt_loader import DownloadPolicy, land_backfill, land_latest

SLICE = "20191024143000"
# Fast retries for tests: the behaviour is the same, the waits are not.
FAST = DownloadPolicy(connect_timeout_s=2, read_timeout_s=5, http_retries=3, backoff_factor_s=0.01, download_attempts=3)


def _zip_requests(feed: GdeltFeedServer) -> list[str]:
    return [p for p in feed.requests if p.endswith(".export.CSV.zip")]


def test_latest_export_lands_byte_for_byte_under_its_slice_name(tmp_path: Path) -> None:
    with GdeltFeedServer({"20191024141500": gdelt_rows(3, "20191024141500"), SLICE: gdelt_rows(40)}) as feed:
        result = land_latest(feed.base_url, tmp_path, policy=FAST)
        expected = feed.export_bytes(SLICE)
    assert result.status == "landed"
    assert result.path == tmp_path / f"{SLICE}.export.CSV"
    assert result.path.read_bytes() == expected
    assert (result.rows, result.rejected_rows) == (40, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{SLICE}.export.CSV"]  # mentions/GKG are not landed


def test_running_again_lands_nothing_twice_and_downloads_nothing(tmp_path: Path) -> None:
    with GdeltFeedServer({SLICE: gdelt_rows(5)}) as feed:
        first = land_latest(feed.base_url, tmp_path, policy=FAST)
        mtime = first.path.stat().st_mtime_ns if first.path else 0
        second = land_latest(feed.base_url, tmp_path, policy=FAST)
        downloads = _zip_requests(feed)
    assert (first.status, second.status) == ("landed", "already_present")
    assert second.path == first.path and second.path is not None and second.path.stat().st_mtime_ns == mtime
    assert len(downloads) == 1
    assert len(list(tmp_path.iterdir())) == 1


def test_http_503_with_retry_after_is_retried_and_the_wait_honoured(tmp_path: Path) -> None:
    faults = GdeltFaults(fail_first=1, fail_status=503, retry_after=1)
    with GdeltFeedServer({SLICE: gdelt_rows(5)}, faults=faults) as feed:
        started = time.monotonic()
        result = land_latest(feed.base_url, tmp_path, policy=FAST)
        elapsed = time.monotonic() - started
        asked = feed.requests
    assert result.status == "landed"
    assert asked.count("/gdeltv2/lastupdate.txt") == 2  # a 503, then the answer
    assert elapsed >= 1.0  # Retry-After: 1, far above FAST's 0.01 s backoff


def test_http_500_is_retried_with_backoff(tmp_path: Path) -> None:
    with GdeltFeedServer(
        {SLICE: gdelt_rows(5)}, faults=GdeltFaults(fail_first=2, fail_status=500, retry_after=None)
    ) as feed:
        result = land_latest(feed.base_url, tmp_path, policy=FAST)
    assert result.status == "landed"


def test_a_feed_that_keeps_failing_is_a_clear_error_and_lands_nothing(tmp_path: Path) -> None:
    with GdeltFeedServer({SLICE: gdelt_rows(5)}, faults=GdeltFaults(fail_first=100, fail_status=500)) as feed:
        with pytest.raises(IngestError, match=r"lastupdate.txt answered HTTP 500 after retries; check --base-url"):
            land_latest(feed.base_url, tmp_path, policy=FAST)
    assert list(tmp_path.iterdir()) == []


def test_md5_mismatch_is_refused_after_retries_and_lands_nothing(tmp_path: Path) -> None:
    with GdeltFeedServer({SLICE: gdelt_rows(5)}, faults=GdeltFaults(wrong_md5=True)) as feed:
        with pytest.raises(IngestError, match=r"giving up after 3 attempts; last problem: md5 mismatch") as info:
            land_latest(feed.base_url, tmp_path, policy=FAST)
        downloads = _zip_requests(feed)
    assert "Nothing was landed" in str(info.value)
    assert len(downloads) == 3
    assert list(tmp_path.iterdir()) == []


def test_truncated_zip_is_refused_and_lands_nothing(tmp_path: Path) -> None:
    # The publisher's archive itself is cut short: size and md5 match, only opening it can tell.
    with GdeltFeedServer({SLICE: gdelt_rows(200)}, faults=GdeltFaults(truncate_zip=True)) as feed:
        with pytest.raises(IngestError, match=r"is not a readable zip .*truncated or corrupt"):
            land_latest(feed.base_url, tmp_path, policy=FAST)
    assert list(tmp_path.iterdir()) == []


def test_a_body_cut_mid_transfer_is_downloaded_again(tmp_path: Path) -> None:
    with GdeltFeedServer({SLICE: gdelt_rows(200)}, faults=GdeltFaults(drop_body_first=2)) as feed:
        result = land_latest(feed.base_url, tmp_path, policy=FAST)
        expected = feed.export_bytes(SLICE)
        downloads = _zip_requests(feed)
    assert result.path is not None and result.path.read_bytes() == expected
    assert len(downloads) == 3


def test_wrong_column_count_rows_are_reported_with_file_and_line_and_the_file_lands_unchanged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = gdelt_rows(6)
    rows[2] = rows[2][:58]  # a GDELT 1.0-shaped row
    rows[4] = gdelt_row(4, SQLDATE="20191399")
    caplog.set_level(logging.WARNING, logger="pipelines.ingest")
    with GdeltFeedServer({SLICE: rows}) as feed:
        result = land_latest(feed.base_url, tmp_path, policy=FAST)
        expected = feed.export_bytes(SLICE)
    assert result.path is not None and result.path.read_bytes() == expected  # raw rows kept; silver quarantines
    assert (result.rows, result.rejected_rows) == (6, 2)
    assert [r.describe() for r in result.rejections] == [
        f"{SLICE}.export.CSV:3: expected 61 tab-separated columns, found 58"
        " (is this a GDELT 2.0 events export, not mentions/GKG or a GDELT 1.0 file?)",
        f"{SLICE}.export.CSV:5: column SQLDATE = '20191399' is not a real calendar date (month must be in 1..12)",
    ]
    assert f"rejected row {SLICE}.export.CSV:3: expected 61" in caplog.text
    assert f"rejected row {SLICE}.export.CSV:5: column SQLDATE" in caplog.text


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with GdeltFeedServer({SLICE: gdelt_rows(5)}) as feed, pytest.raises(OSError, match="disk full"):
        land_latest(feed.base_url, tmp_path, policy=FAST)
    assert list(tmp_path.iterdir()) == []


def test_backfill_walks_the_slices_and_reports_gaps(tmp_path: Path) -> None:
    slices = {s: gdelt_rows(3, s) for s in ("20191024140000", "20191024141500", "20191024143000")}
    with GdeltFeedServer(slices) as feed:
        # 13:50 floors to 13:45 (absent upstream); 14:44 floors to 14:30.
        start, end = datetime(2019, 10, 24, 13, 50, tzinfo=UTC), datetime(2019, 10, 24, 14, 44, tzinfo=UTC)
        first = land_backfill(feed.base_url, tmp_path, start, end, policy=FAST)
        again = land_backfill(feed.base_url, tmp_path, start, end, policy=FAST)
        landed = {s: feed.export_bytes(s) for s in slices}
    assert [(r.slice_id, r.status) for r in first] == [
        ("20191024134500", "missing"),
        ("20191024140000", "landed"),
        ("20191024141500", "landed"),
        ("20191024143000", "landed"),
    ]
    assert [r.status for r in again] == ["missing", "already_present", "already_present", "already_present"]
    for slice_id, data in landed.items():
        assert (tmp_path / f"{slice_id}.export.CSV").read_bytes() == data


def test_backfill_rejects_a_reversed_or_huge_range(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="reversed"):
        land_backfill("http://127.0.0.1:9", tmp_path, datetime(2019, 10, 25), datetime(2019, 10, 24))
    with pytest.raises(IngestError, match="split the range"):
        land_backfill("http://127.0.0.1:9", tmp_path, datetime(2019, 1, 1), datetime(2019, 3, 1))


# --- the command, exactly as written in the issue -------------------------------------------------------------


def test_cli_script_runs_from_anywhere_as_the_databricks_job_does(repo_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "landing" / "gdelt"
    with GdeltFeedServer({SLICE: gdelt_rows(4)}) as feed:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        proc = subprocess.run(
            [
                sys.executable,
                str(repo_root / "pipelines/ingest/cli.py"),
                "gdelt",
                "--base-url",
                feed.base_url,
                "--out",
                str(out),
            ],
            cwd=tmp_path,  # not the repo: the script must find its bundle root itself
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        expected = feed.export_bytes(SLICE)
    assert proc.returncode == 0, proc.stderr
    assert '"status": "landed"' in proc.stdout
    assert (out / f"{SLICE}.export.CSV").read_bytes() == expected


def test_lakehouse_ingest_gdelt_backfill_and_exit_codes(tmp_path: Path) -> None:
    rows = gdelt_rows(3)
    rows[1] = rows[1][:60]
    runner = CliRunner()
    with GdeltFeedServer({SLICE: rows, "20191024141500": gdelt_rows(2, "20191024141500")}) as feed:
        args = ["ingest", "gdelt", "--base-url", feed.base_url, "--out", str(tmp_path)]
        backfill = runner.invoke(lakehouse_main, [*args, "--backfill", "20191024141500", "2019-10-24T14:30:00Z"])
        latest = runner.invoke(lakehouse_main, args)
        allowed = runner.invoke(lakehouse_main, [*args[:-1], str(tmp_path / "again"), "--allow-rejects"])
    assert backfill.exit_code == 2, backfill.output  # findings: one rejected row (reported, landed raw)
    assert '"rejected_rows": 1' in backfill.output
    assert latest.exit_code == 0, latest.output
    assert allowed.exit_code == 0 and '"rejected_rows": 1' in allowed.output
    assert '"status": "already_present"' in latest.output
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "20191024141500.export.CSV",
        f"{SLICE}.export.CSV",
    ]


def test_cli_errors_are_one_line_with_exit_code_1(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(lakehouse_main, ["ingest", "gdelt", "--out", str(tmp_path), "--backfill", "yesterday", "now"])
    assert bad.exit_code == 1
    assert "--backfill bound 'yesterday' is neither YYYYMMDDHHMMSS nor ISO-8601" in bad.output
    with GdeltFeedServer({SLICE: gdelt_rows(2)}, faults=GdeltFaults(fail_first=100, fail_status=404)) as feed:
        gone = runner.invoke(lakehouse_main, ["ingest", "gdelt", "--base-url", feed.base_url, "--out", str(tmp_path)])
    assert gone.exit_code == 1
    assert "answered HTTP 404" in gone.output
    assert "Traceback" not in gone.output
    assert partial_files(tmp_path) == [] and list(tmp_path.iterdir()) == []
