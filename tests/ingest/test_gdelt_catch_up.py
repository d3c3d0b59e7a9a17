"""GDELT catch-up: a run lands every slice missed since the newest landed one, oldest first, capped, exactly once.

GDELT 2.0 publishes one export every 15 minutes named by its slice (`YYYYMMDDHHMMSS.export.CSV.zip`, the
`lastupdate.txt` of http://data.gdeltproject.org/gdeltv2/ names the newest), so the slices a late or failed run
missed are computable from the landing folder's newest file name and the feed's latest slice.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from ingest_factories import gdelt_row, gdelt_rows, partial_files

from lakehouse.local.gdelt_feed import GdeltFaults, GdeltFeedServer
from pipelines.gdelt import DEFAULT_MAX_CATCH_UP, CatchUpPlan, landed_slice_ids, plan_catch_up
from pipelines.ingest import IngestError
from pipelines.ingest.cli import ingest
from pipelines.ingest.gdelt_loader import DownloadPolicy, land_catch_up

# Six consecutive 15-minute slices.
S = ("20191024140000", "20191024141500", "20191024143000", "20191024144500", "20191024150000", "20191024151500")
FAST = DownloadPolicy(connect_timeout_s=2, read_timeout_s=5, http_retries=3, backoff_factor_s=0.01, download_attempts=3)


def _zip_requests(feed: GdeltFeedServer) -> list[str]:
    return [p.rsplit("/", 1)[-1].split(".", 1)[0] for p in feed.requests if p.endswith(".export.CSV.zip")]


def _landed(out: Path) -> list[str]:
    return landed_slice_ids(p.name for p in out.iterdir())


def _slices(*ids: str) -> dict[str, list[list[str]]]:
    return {s: gdelt_rows(2, s) for s in ids}


def _land_first_slice(out: Path) -> None:
    """The landing folder as a previous, successful run left it: slice S[0] only."""
    with GdeltFeedServer(_slices(S[0])) as feed:
        first = land_catch_up(feed.base_url, out, policy=FAST)
    assert [(r.slice_id, r.status) for r in first.results] == [(S[0], "landed")]


# --- the plan (pure) ---------------------------------------------------------------------------------------------


def test_plan_lands_every_slice_after_the_watermark_oldest_first() -> None:
    assert plan_catch_up([S[0]], S[4]) == CatchUpPlan(S[0], S[4], (S[1], S[2], S[3], S[4]), ())


def test_plan_caps_a_long_gap_and_defers_the_newest_slices() -> None:
    assert plan_catch_up([S[0]], S[5], max_slices=2) == CatchUpPlan(S[0], S[5], (S[1], S[2]), (S[3], S[4], S[5]))


def test_plan_asks_only_for_the_latest_on_a_first_run_or_when_caught_up() -> None:
    assert plan_catch_up([], S[3]).to_land == (S[3],)  # history is --backfill's job
    assert plan_catch_up([S[0], S[3]], S[3]).to_land == (S[3],)  # found already landed: no download
    assert plan_catch_up([S[5]], S[3]) == CatchUpPlan(S[5], S[3], (S[3],), ())  # the feed is behind the folder


def test_plan_never_asks_for_a_landed_slice_or_one_below_the_watermark() -> None:
    # S[1] is a gap GDELT never published (an older run found it missing); only slices after S[2] are asked for.
    plan = plan_catch_up([S[0], S[2]], S[5])
    assert plan.to_land == (S[3], S[4], S[5])


def test_plan_default_cap_covers_eight_hours_and_bad_input_is_refused() -> None:
    day = plan_catch_up(["20191023143000"], "20191024143000")
    assert (len(day.to_land), len(day.deferred)) == (DEFAULT_MAX_CATCH_UP, 96 - DEFAULT_MAX_CATCH_UP)
    with pytest.raises(ValueError, match="at least 1 slice"):
        plan_catch_up([S[0]], S[1], max_slices=0)
    with pytest.raises(ValueError, match="15-minute boundary"):
        plan_catch_up([S[0]], "20191024141600")


def test_only_landed_export_files_count_toward_the_watermark() -> None:
    names = [
        f"{S[1]}.export.CSV",
        f".{S[5]}.export.CSV.abc123.tmp",  # the loader's temporary file: never a landed slice
        f"{S[4]}.mentions.CSV",
        "20191024141600.export.CSV",  # not on a slice boundary
        "CAMEO.eventcodes.txt",
        f"{S[0]}.export.CSV",
    ]
    assert landed_slice_ids(names) == [S[0], S[1]]


# --- the loader against the loopback feed ------------------------------------------------------------------------


def test_a_gap_lands_every_missed_slice_once_in_order_and_a_rerun_lands_nothing(tmp_path: Path) -> None:
    _land_first_slice(tmp_path)
    # Runs at S[1]..S[4] were missed; the feed has moved on to S[5].
    with GdeltFeedServer(_slices(*S)) as feed:
        caught_up = land_catch_up(feed.base_url, tmp_path, policy=FAST)
        again = land_catch_up(feed.base_url, tmp_path, policy=FAST)
        downloads = _zip_requests(feed)
        expected = {s: feed.export_bytes(s) for s in S}
    assert [(r.slice_id, r.status) for r in caught_up.results] == [(s, "landed") for s in S[1:]]
    assert (caught_up.latest, caught_up.deferred) == (S[5], ())
    assert downloads == list(S[1:])  # oldest first, each once; the rerun downloaded nothing
    assert [(r.slice_id, r.status) for r in again.results] == [(S[5], "already_present")]
    assert _landed(tmp_path) == list(S)
    for slice_id in S:
        assert (tmp_path / f"{slice_id}.export.CSV").read_bytes() == expected[slice_id]


def test_a_gap_longer_than_the_cap_is_made_good_over_several_runs(tmp_path: Path) -> None:
    _land_first_slice(tmp_path)
    with GdeltFeedServer(_slices(*S)) as feed:
        runs = [land_catch_up(feed.base_url, tmp_path, max_slices=2, policy=FAST) for _ in range(4)]
        downloads = _zip_requests(feed)
    assert [[r.slice_id for r in run.results] for run in runs] == [[S[1], S[2]], [S[3], S[4]], [S[5]], [S[5]]]
    assert [run.deferred for run in runs] == [(S[3], S[4], S[5]), (S[5],), (), ()]
    assert [r.status for r in runs[3].results] == ["already_present"]
    assert downloads == list(S[1:])  # nothing twice, nothing lost
    assert _landed(tmp_path) == list(S)


def test_a_slice_missing_between_landed_ones_is_reported_and_becomes_a_gap(tmp_path: Path) -> None:
    _land_first_slice(tmp_path)
    with GdeltFeedServer(_slices(*S[:5]), faults=GdeltFaults(missing_archives=frozenset({S[2]}))) as feed:
        first = land_catch_up(feed.base_url, tmp_path, policy=FAST)
        second = land_catch_up(feed.base_url, tmp_path, policy=FAST)
        downloads = _zip_requests(feed)
    assert [(r.slice_id, r.status) for r in first.results] == [
        (S[1], "landed"),
        (S[2], "missing"),
        (S[3], "landed"),
        (S[4], "landed"),
    ]
    # S[3] landed after it, so S[2] is one of GDELT's gaps: later runs do not ask again (--backfill would).
    assert [(r.slice_id, r.status) for r in second.results] == [(S[4], "already_present")]
    assert downloads == [S[1], S[2], S[3], S[4]]
    assert _landed(tmp_path) == [S[0], S[1], S[3], S[4]]


def test_a_missing_latest_slice_is_asked_for_again_by_the_next_run(tmp_path: Path) -> None:
    # lastupdate.txt already names S[2] but its archive is not on the file server yet.
    _land_first_slice(tmp_path)
    with GdeltFeedServer(_slices(*S[:3]), faults=GdeltFaults(missing_archives=frozenset({S[2]}))) as feed:
        early = land_catch_up(feed.base_url, tmp_path, policy=FAST)
    with GdeltFeedServer(_slices(*S[:3])) as feed:
        later = land_catch_up(feed.base_url, tmp_path, policy=FAST)
        downloads = _zip_requests(feed)
    assert [(r.slice_id, r.status) for r in early.results] == [(S[1], "landed"), (S[2], "missing")]
    assert [(r.slice_id, r.status) for r in later.results] == [(S[2], "landed")]
    assert downloads == [S[2]]
    assert _landed(tmp_path) == list(S[:3])


def test_a_slice_that_cannot_be_landed_stops_the_run_there_and_the_next_run_retries_it(tmp_path: Path) -> None:
    _land_first_slice(tmp_path)
    with (
        GdeltFeedServer(_slices(*S[:4]), faults=GdeltFaults(corrupt_archives=frozenset({S[2]}))) as feed,
        pytest.raises(IngestError) as info,
    ):
        land_catch_up(feed.base_url, tmp_path, policy=FAST)
    message = str(info.value)
    assert f"catch-up stopped at slice {S[2]} after landing 1 of 3 planned slices" in message
    assert "not a readable zip" in message
    assert f"`--backfill {S[3]} {S[3]}`" in message
    assert _landed(tmp_path) == [S[0], S[1]]  # S[3] is not landed past the failure: the watermark stays at S[1]
    assert partial_files(tmp_path) == []
    with GdeltFeedServer(_slices(*S[:4])) as feed:
        healed = land_catch_up(feed.base_url, tmp_path, policy=FAST)
    assert [(r.slice_id, r.status) for r in healed.results] == [(S[2], "landed"), (S[3], "landed")]


# --- the job's command -------------------------------------------------------------------------------------------


def _run(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(ingest, ["gdelt", *args])
    return result.exit_code, result.output.splitlines()


def test_cli_catches_up_capped_and_reports_deferred_slices_with_exit_0(tmp_path: Path) -> None:
    _land_first_slice(tmp_path)
    with GdeltFeedServer(_slices(*S)) as feed:
        code, lines = _run("--base-url", feed.base_url, "--out", str(tmp_path), "--max-catch-up", "3")
        rest_code, rest = _run("--base-url", feed.base_url, "--out", str(tmp_path))
    assert code == 0, lines
    assert [line.split('"slice": "')[1][:14] for line in lines if '"slice"' in line] == [S[1], S[2], S[3]]
    assert '"deferred": 2' in lines[-1] and '"landed": 3' in lines[-1]
    assert rest_code == 0, rest
    assert '"deferred": 0' in rest[-1] and '"landed": 2' in rest[-1]


def test_cli_exit_codes_for_rejected_rows_a_broken_slice_and_bad_options(tmp_path: Path) -> None:
    _land_first_slice(tmp_path)
    broken_rows = gdelt_rows(3, S[1])
    broken_rows[1] = gdelt_row(1, S[1], SQLDATE="20191399")
    published = {**_slices(S[0], S[2]), S[1]: broken_rows}
    with GdeltFeedServer(published) as feed:
        rejected, rejected_lines = _run("--base-url", feed.base_url, "--out", str(tmp_path))
    assert rejected == 2, rejected_lines  # findings: the row is reported, the slice still lands raw
    assert '"rejected_rows": 1' in rejected_lines[-1] and '"landed": 2' in rejected_lines[-1]

    with GdeltFeedServer(_slices(*S[:4]), faults=GdeltFaults(corrupt_archives=frozenset({S[3]}))) as feed:
        failed, failed_lines = _run("--base-url", feed.base_url, "--out", str(tmp_path))
    assert failed == 1
    assert failed_lines[-1].startswith(f"error: catch-up stopped at slice {S[3]} after landing 0 of 1")

    zero, zero_lines = _run("--out", str(tmp_path), "--max-catch-up", "0")
    assert zero == 2 and "Invalid value for '--max-catch-up'" in "\n".join(zero_lines)  # click's usage error
    both, both_lines = _run("--out", str(tmp_path), "--max-catch-up", "4", "--backfill", S[0], S[1])
    assert both == 1 and "drop it when using --backfill" in both_lines[-1]
