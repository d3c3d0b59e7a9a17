"""The Wikimedia listener against a loopback EventStreams server, one injected fault per test.

Each scenario checks the figures of at-least-once delivery: events sent by the source, landed, duplicates, lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_factories import landed_events, meta_ids, partial_files, recentchange, recentchanges

from lakehouse.cli import main as lakehouse_main
from lakehouse.local.gdelt_feed import GdeltFeedServer
from lakehouse.local.wikimedia_feed import (
    EventStreamServer,
    StreamFaults,
    StreamStats,
    event_id_for,
    offset_from_event_id,
)
from pipelines.ingest import IngestError
from pipelines.ingest import wikimedia_listener as wl
from pipelines.ingest.wikimedia_listener import ListenerConfig, ListenResult, listen, state_path

pytestmark = pytest.mark.timeout(60)

# The default filters (none: bronze is raw), fast backoff: the scenarios are about delivery.
ALL = ListenerConfig(
    backoff_initial_s=0.01,
    backoff_max_s=0.05,
    connect_timeout_s=2,
    read_timeout_s=5,
    max_failures=20,
)


def run_stream(
    events: list[dict[str, Any]],
    out: Path,
    *,
    faults: StreamFaults | None = None,
    max_events: int | None = None,
    config: ListenerConfig = ALL,
    since: str | None = None,
    interval_s: float = 0.0,
    end_of_stream: bool = False,
) -> tuple[ListenResult, StreamStats]:
    with EventStreamServer(
        events, faults=faults or StreamFaults(), interval_s=interval_s, end_of_stream=end_of_stream
    ) as server:
        result = listen(server.url, out, max_events=max_events, since=since, config=config, handle_signals=False)
        return result, server.stats


def figures(name: str, source: list[dict[str, Any]], out: Path) -> dict[str, int]:
    """Source events sent, landed, duplicated, set aside as malformed, and lost; printed for the report (pytest -s).

    An event counts as lost only when it is neither landed nor accounted for in `_rejected/`.
    """
    landed = meta_ids(landed_events(out))
    counts = Counter(landed)
    rejected_ids = set()
    for path in (out / "_rejected").glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            offset = offset_from_event_id(json.loads(line)["event_id"])
            assert offset is not None
            rejected_ids.add(source[offset]["meta"]["id"])
    result = {
        "sent": len(source),
        "landed": len(landed),
        "duplicates": sum(n - 1 for n in counts.values()),
        "rejected": len(rejected_ids),
        "lost": len(set(meta_ids(source)) - set(landed) - rejected_ids),
    }
    print(f"FIGURES {name}: {json.dumps(result)}")
    return result


def assert_nothing_partial(out: Path) -> None:
    assert partial_files(out) == []
    for path in out.glob("*.jsonl"):
        assert path.read_bytes().endswith(b"\n")


def test_clean_stream_lands_every_event_once_in_order(tmp_path: Path) -> None:
    source = recentchanges(20)
    result, stats = run_stream(source, tmp_path, max_events=20)
    assert landed_events(tmp_path) == source
    assert figures("clean", source, tmp_path) == {"sent": 20, "landed": 20, "duplicates": 0, "rejected": 0, "lost": 0}
    assert (result.events_landed, result.stopped_by, stats.connections) == (20, "max_events", 1)
    state = json.loads(state_path(tmp_path).read_text())
    assert state["last_event_id"] == event_id_for(19)
    assert_nothing_partial(tmp_path)


def test_landed_lines_are_the_events_own_json_text(tmp_path: Path) -> None:
    source = recentchanges(3)
    run_stream(source, tmp_path, max_events=3)
    (batch,) = tmp_path.glob("*.jsonl")
    expected = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in source)
    assert batch.read_text(encoding="utf-8") == expected


def test_connection_dropped_mid_event_resumes_with_last_event_id_and_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = recentchanges(15)
    faults = StreamFaults(drop_mid_event_at=frozenset({3, 9}))
    result, stats = run_stream(source, tmp_path, faults=faults, max_events=15)
    assert stats.drops == 2
    # Each reconnect asked to resume after the last complete event.
    assert stats.last_event_ids == [None, event_id_for(2), event_id_for(8)]
    assert result.connection_errors == 2
    assert caplog.text.count("connection dropped") == 2
    assert f"resuming after id {event_id_for(2)}" in caplog.text
    assert landed_events(tmp_path) == source
    assert figures("drop_mid_event", source, tmp_path) == {
        "sent": 15,
        "landed": 15,
        "duplicates": 0,
        "rejected": 0,
        "lost": 0,
    }
    assert_nothing_partial(tmp_path)


def test_events_split_across_chunks_are_stitched(tmp_path: Path) -> None:
    source = recentchanges(8)
    run_stream(source, tmp_path, faults=StreamFaults(split_events=True), max_events=8)
    assert landed_events(tmp_path) == source


def test_http_500_and_503_are_retried_honouring_retry_after(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = recentchanges(6)
    faults = StreamFaults(error_responses=(500, 503), retry_after=1)
    started = time.monotonic()
    result, stats = run_stream(source, tmp_path, faults=faults, max_events=6)
    elapsed = time.monotonic() - started
    assert stats.statuses == [500, 503, 200]
    assert "answered HTTP 500; Retry-After=1.0" in caplog.text
    assert "answered HTTP 503; Retry-After=1.0" in caplog.text
    assert_nothing_partial(tmp_path)
    assert elapsed >= 2.0  # two Retry-After: 1 answers, far above the 0.05 s backoff cap
    assert result.reconnects == 2
    assert landed_events(tmp_path) == source
    assert figures("http_500_503", source, tmp_path) == {
        "sent": 6,
        "landed": 6,
        "duplicates": 0,
        "rejected": 0,
        "lost": 0,
    }


def test_malformed_json_event_is_set_aside_with_its_id_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = recentchanges(10)
    result, _ = run_stream(source, tmp_path, faults=StreamFaults(malformed_at=frozenset({4})), max_events=9)
    expected = source[:4] + source[5:]
    assert landed_events(tmp_path) == expected
    assert result.malformed == 1
    (rejected_file,) = (tmp_path / "_rejected").glob("*.jsonl")
    (record,) = [json.loads(line) for line in rejected_file.read_text().splitlines()]
    assert record["event_id"] == event_id_for(4)
    assert "Expecting" in record["reason"] or "Unterminated" in record["reason"]
    assert f"malformed event id={event_id_for(4)}" in caplog.text
    assert_nothing_partial(tmp_path)
    figs = figures("malformed_json", source, tmp_path)
    # The malformed event is accounted for (in _rejected/), not lost: every valid event landed.
    assert figs == {"sent": 10, "landed": 9, "duplicates": 0, "rejected": 1, "lost": 0}
    assert set(meta_ids(source)) - set(meta_ids(landed_events(tmp_path))) == {source[4]["meta"]["id"]}


def test_replayed_duplicates_land_at_least_once_and_are_counted(tmp_path: Path) -> None:
    source = recentchanges(12)
    # The server restarts 2 events early on every resume (an overlapping replay).
    faults = StreamFaults(events_per_connection=4, replay_overlap=2)
    # Connections deliver 0-3, 2-5, 4-7, 6-9, 8-11: four resumes, two events replayed each.
    result, stats = run_stream(source, tmp_path, faults=faults, max_events=12 + 4 * 2)
    replayed = len(stats.sent_indices) - len(set(stats.sent_indices))
    assert replayed == 4 * 2
    assert (result.duplicates_landed, result.duplicates_skipped) == (replayed, 0)
    landed = landed_events(tmp_path)
    assert [e for i, e in enumerate(landed) if e not in landed[:i]] == source  # nothing lost, order kept
    figs = figures("replay_duplicates_default", source, tmp_path)
    assert figs == {"sent": 12, "landed": 20, "duplicates": 8, "rejected": 0, "lost": 0}


def test_replayed_duplicates_are_dropped_and_counted_with_drop_duplicates(tmp_path: Path) -> None:
    source = recentchanges(12)
    faults = StreamFaults(events_per_connection=4, replay_overlap=2)
    config = ListenerConfig(**{**ALL.__dict__, "drop_duplicates": True})
    result, stats = run_stream(source, tmp_path, faults=faults, max_events=12, config=config)
    replayed = len(stats.sent_indices) - len(set(stats.sent_indices))
    assert replayed >= 4
    assert (result.duplicates_skipped, result.duplicates_landed) == (replayed, 0)
    assert landed_events(tmp_path) == source
    assert_nothing_partial(tmp_path)
    figs = figures("replay_duplicates_dropped", source, tmp_path)
    assert figs == {"sent": 12, "landed": 12, "duplicates": 0, "rejected": 0, "lost": 0}


def test_restart_resumes_from_the_persisted_event_id(tmp_path: Path) -> None:
    source = recentchanges(12)
    with EventStreamServer(source) as server:
        first = listen(server.url, tmp_path, max_events=5, config=ALL, handle_signals=False)
        second = listen(server.url, tmp_path, max_events=7, config=ALL, handle_signals=False)
        stats = server.stats
    assert (first.events_landed, second.events_landed) == (5, 7)
    assert stats.last_event_ids == [None, event_id_for(4)]
    assert landed_events(tmp_path) == source
    assert figures("restart", source, tmp_path) == {"sent": 12, "landed": 12, "duplicates": 0, "rejected": 0, "lost": 0}


def test_restart_after_a_replay_overlap_drops_duplicates_remembered_in_state(tmp_path: Path) -> None:
    source = recentchanges(10)
    config = ListenerConfig(**{**ALL.__dict__, "drop_duplicates": True})
    with EventStreamServer(source, faults=StreamFaults(replay_overlap=3)) as server:
        listen(server.url, tmp_path, max_events=5, config=config, handle_signals=False)
        second = listen(server.url, tmp_path, max_events=5, config=config, handle_signals=False)
    assert second.duplicates_skipped == 3  # remembered across the restart through the state file
    assert landed_events(tmp_path) == source


def test_crash_between_batch_and_state_replays_exactly_that_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At-least-once: a batch that landed but whose position was not saved is delivered again, nothing else."""
    source = recentchanges(12)
    real_save = wl._save_state
    calls = {"n": 0}

    def save_then_crash(out_dir: Path, state: Any) -> None:
        calls["n"] += 1
        if calls["n"] >= 3:  # the process "dies": no later save succeeds either
            raise OSError("simulated crash after the batch landed, before the position was saved")
        real_save(out_dir, state)

    tiny = ListenerConfig(**{**ALL.__dict__, "flush_max_bytes": 1})  # every read flushes
    with EventStreamServer(source) as server:
        monkeypatch.setattr(wl, "_save_state", save_then_crash)
        with pytest.raises(OSError, match="simulated crash"):
            listen(server.url, tmp_path, config=tiny, handle_signals=False)
        crashed_batch = sorted(tmp_path.glob("*.jsonl"))[-1]
        replayable = set(meta_ids(json.loads(line) for line in crashed_batch.read_text().splitlines()))
        monkeypatch.setattr(wl, "_save_state", real_save)
        landed_before = len(landed_events(tmp_path))
        listen(
            server.url,
            tmp_path,
            max_events=len(source) - landed_before + len(replayable),
            config=ALL,
            handle_signals=False,
        )
    counts = Counter(meta_ids(landed_events(tmp_path)))
    assert {m for m, n in counts.items() if n > 1} == replayable  # duplicates only where at-least-once allows
    figs = figures("crash_before_state_save", source, tmp_path)
    assert figs["lost"] == 0 and figs["duplicates"] == len(replayable) >= 1


def test_server_retry_field_sets_the_reconnect_delay(tmp_path: Path) -> None:
    source = recentchanges(6)
    faults = StreamFaults(retry_ms=400, events_per_connection=2)
    started = time.monotonic()
    result, stats = run_stream(source, tmp_path, faults=faults, max_events=6)
    elapsed = time.monotonic() - started
    assert result.reconnects == 2 and stats.connections == 3
    assert elapsed >= 0.8  # 2 reconnects x retry: 400 ms, although the backoff cap is 0.05 s
    assert landed_events(tmp_path) == source


def test_filters_come_from_config(tmp_path: Path) -> None:
    source = [
        recentchange(0),
        recentchange(1, wiki="dewiki"),
        recentchange(2, namespace=1),
        recentchange(3, type_="log"),
        recentchange(4, bot=True),
        recentchange(5, type_="new"),
    ]
    config = ListenerConfig(
        wikis=("enwiki",),
        namespaces=(0,),
        types=("edit", "new"),
        include_bots=False,
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
    )
    result, _ = run_stream(source, tmp_path, config=config, end_of_stream=True)
    assert landed_events(tmp_path) == [source[0], source[5]]
    assert (result.filtered_out, result.stopped_by) == (4, "end_of_stream")
    # The position moved past the filtered events too, so a restart does not fetch them again.
    assert json.loads(state_path(tmp_path).read_text())["last_event_id"] == event_id_for(5)


def test_by_default_every_event_lands_because_bronze_is_raw(tmp_path: Path) -> None:
    source = [recentchange(0), recentchange(1, wiki="dewiki"), recentchange(2, namespace=1), recentchange(3, bot=True)]
    result, _ = run_stream(source, tmp_path, max_events=4, config=ListenerConfig(backoff_initial_s=0.01))
    assert landed_events(tmp_path) == source
    assert result.filtered_out == 0


def test_canary_events_are_filtered_unless_asked_for(tmp_path: Path) -> None:
    canary = recentchange(1)
    canary["meta"]["domain"] = "canary"
    source = [recentchange(0), canary, recentchange(2)]
    result, _ = run_stream(source, tmp_path / "default", max_events=2)
    assert landed_events(tmp_path / "default") == [source[0], source[2]]
    assert result.filtered_out == 1
    keep = ListenerConfig(**{**ALL.__dict__, "drop_canary": False})
    run_stream(source, tmp_path / "kept", max_events=3, config=keep)
    assert landed_events(tmp_path / "kept") == source


def test_max_seconds_bounds_a_run(tmp_path: Path) -> None:
    source = recentchanges(500)
    started = time.monotonic()
    with EventStreamServer(source, interval_s=0.01) as server:
        result = listen(server.url, tmp_path, max_seconds=0.5, config=ALL, handle_signals=False)
    assert result.stopped_by == "max_seconds"
    assert 0.5 <= time.monotonic() - started < 5
    assert 0 < result.events_landed < 500
    assert landed_events(tmp_path) == source[: result.events_landed]


def test_since_replays_from_a_time_and_ignores_the_saved_position(tmp_path: Path) -> None:
    source = recentchanges(10)
    with EventStreamServer(source) as server:
        listen(server.url, tmp_path / "a", max_events=10, config=ALL, handle_signals=False)
        since = source[6]["meta"]["dt"]
        replay = listen(server.url, tmp_path / "a", max_events=4, since=since, config=ALL, handle_signals=False)
        stats = server.stats
    assert stats.since_params == [None, since]
    assert stats.last_event_ids == [None, None]
    assert replay.events_landed == 4
    assert landed_events(tmp_path / "a") == source + source[6:]  # a deliberate replay: duplicates by request


def test_since_must_be_a_timestamp(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="--since 'yesterday' is not an ISO-8601"):
        listen("http://127.0.0.1:9/x", tmp_path, since="yesterday", config=ALL, handle_signals=False)


def test_flush_by_size_lands_several_complete_batches_and_saves_the_position_after_each(tmp_path: Path) -> None:
    source = recentchanges(30)
    config = ListenerConfig(**{**ALL.__dict__, "flush_max_bytes": 2000})
    result, _ = run_stream(source, tmp_path, max_events=30, config=config)
    assert len(result.batches) >= 3
    assert all(p.stat().st_size >= 1 for p in result.batches)
    assert landed_events(tmp_path) == source
    assert_nothing_partial(tmp_path)


def test_flush_by_time(tmp_path: Path) -> None:
    source = recentchanges(8)
    config = ListenerConfig(**{**ALL.__dict__, "flush_max_seconds": 0.25})
    result, _ = run_stream(source, tmp_path, max_events=8, config=config, interval_s=0.1)
    assert len(result.batches) >= 2
    assert landed_events(tmp_path) == source


def test_gives_up_after_max_failures_with_a_clear_error(tmp_path: Path) -> None:
    config = ListenerConfig(**{**ALL.__dict__, "max_failures": 2})
    with pytest.raises(IngestError, match="3 consecutive connections failed or delivered nothing; giving up"):
        run_stream(recentchanges(3), tmp_path, faults=StreamFaults(error_responses=(503,) * 5), config=config)
    assert list(tmp_path.glob("*.jsonl")) == []
    assert_nothing_partial(tmp_path)


def test_a_non_retryable_status_is_an_immediate_error(tmp_path: Path) -> None:
    with EventStreamServer(recentchanges(3)) as server:
        with pytest.raises(IngestError, match="answered HTTP 404"):
            listen(server.url + "/nope", tmp_path, config=ALL, handle_signals=False)
        assert server.stats.connections == 1


def test_a_url_that_is_not_an_event_stream_is_a_clear_error(tmp_path: Path) -> None:
    with GdeltFeedServer({"20191024143000": []}) as feed:
        with pytest.raises(IngestError, match="not text/event-stream: is --url an EventStreams stream URL"):
            listen(feed.base_url + "/lastupdate.txt", tmp_path, config=ALL, handle_signals=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", 3.0), ("0", 0.0), ("inf", None), ("-1", None), ("86400", 600.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_values_are_read_strictly_and_capped(header: str, expected: float | None) -> None:
    assert wl._retry_after_seconds(header) == expected


def test_user_agent_names_the_contact(tmp_path: Path) -> None:
    config = ListenerConfig(**{**ALL.__dict__, "contact": "ops@example.net"})
    _, stats = run_stream(recentchanges(2), tmp_path, max_events=2, config=config)
    assert stats.user_agents and all("(ops@example.net)" in ua for ua in stats.user_agents)
    with pytest.raises(IngestError, match="Wikimedia requires a contact"):
        ListenerConfig(contact=" ")


def test_a_stop_event_flushes_and_returns(tmp_path: Path) -> None:
    source = recentchanges(200)
    stop = threading.Event()
    with EventStreamServer(source, interval_s=0.01) as server:
        outcome: list[ListenResult] = []
        worker = threading.Thread(target=lambda: outcome.append(listen(server.url, tmp_path, config=ALL, stop=stop)))
        worker.start()
        deadline = time.monotonic() + 20
        while len(server.stats.sent_indices) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        worker.join(timeout=10)
    (result,) = outcome
    assert result.stopped_by == "stop_event"
    assert landed_events(tmp_path) == source[: result.events_landed]
    assert json.loads(state_path(tmp_path).read_text())["last_event_id"] == event_id_for(result.events_landed - 1)


def _start_listener_script(
    repo_root: Path, url: str, out: Path, *extra: str, cwd: Path | None = None
) -> subprocess.Popen[str]:
    """The listener as the Databricks job runs it: `python pipelines/ingest/cli.py wikimedia ...`."""
    script = str(repo_root / "pipelines/ingest/cli.py")
    return subprocess.Popen(
        [sys.executable, script, "wikimedia", "--url", url, "--out", str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )


def test_sigterm_flushes_and_exits_cleanly(repo_root: Path, tmp_path: Path) -> None:
    source = recentchanges(400)
    out = tmp_path / "wikimedia"
    with EventStreamServer(source, interval_s=0.01) as server:
        proc = _start_listener_script(repo_root, server.url, out, "--flush-seconds", "600", cwd=tmp_path)
        deadline = time.monotonic() + 20
        while len(server.stats.sent_indices) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(list(out.glob("*.jsonl"))) == 0  # nothing flushed yet: the batch is in memory
        os.kill(proc.pid, signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report["stopped_by"] == "signal"
    landed = landed_events(out)
    assert len(landed) == report["events_landed"] >= 30
    assert landed == source[: len(landed)]
    assert json.loads(state_path(out).read_text())["last_event_id"] == event_id_for(len(landed) - 1)
    assert_nothing_partial(out)


def test_lakehouse_ingest_wikimedia_as_written(tmp_path: Path) -> None:
    source = recentchanges(7)  # enwiki article edits by people: the default filters keep them all
    with EventStreamServer(source) as server:
        result = CliRunner().invoke(
            lakehouse_main, ["ingest", "wikimedia", "--url", server.url, "--out", str(tmp_path), "--max-events", "5"]
        )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert (report["events_landed"], report["stopped_by"]) == (5, "max_events")
    assert landed_events(tmp_path) == source[:5]


def test_cli_filters_and_bad_values(tmp_path: Path) -> None:
    source = [recentchange(0), recentchange(1, wiki="dewiki"), recentchange(2, bot=True), recentchange(3)]
    with EventStreamServer(source) as server:
        result = CliRunner().invoke(
            lakehouse_main,
            [
                *("ingest", "wikimedia", "--url", server.url, "--out", str(tmp_path), "--max-events", "2"),
                *("--wiki", "enwiki", "--namespace", "0", "--no-bots", "--contact", "ops@example.net"),
            ],
        )
        user_agents = server.stats.user_agents
    assert result.exit_code == 0, result.output
    assert landed_events(tmp_path) == [source[0], source[3]]
    assert "(ops@example.net)" in user_agents[0]
    bad = CliRunner().invoke(
        lakehouse_main,
        ["ingest", "wikimedia", "--url", "http://127.0.0.1:9/x", "--out", str(tmp_path), "--namespace", "main"],
    )
    assert bad.exit_code == 2  # click's usage error
    assert "'main' is not a valid integer" in bad.output


def test_all_faults_together_on_a_long_sequence(tmp_path: Path) -> None:
    source = recentchanges(600)
    faults = StreamFaults(
        drop_mid_event_at=frozenset({37, 150, 151, 402}),
        error_responses=(503, 500),
        retry_after=0,
        malformed_at=frozenset({5, 300}),
        replay_overlap=3,
        events_per_connection=90,
        split_events=True,
        retry_ms=20,
    )
    # The replay ends with 204 No Content (the SSE end of stream), not a wall-clock idle timer: no timing under load.
    config = ListenerConfig(**{**ALL.__dict__, "flush_max_bytes": 50_000})
    result, stats = run_stream(source, tmp_path, faults=faults, config=config, end_of_stream=True)
    replayed = len(stats.sent_indices) - len(set(stats.sent_indices))
    figs = figures("all_faults_600", source, tmp_path)
    assert figs["lost"] == 0 and figs["rejected"] == 2
    assert figs["duplicates"] == result.duplicates_landed == replayed > 0
    assert result.malformed == 2 and result.stopped_by == "end_of_stream"
    # Every event read is accounted for exactly once.
    assert result.events_received == len(stats.sent_indices) == result.events_landed + result.malformed
    assert len(result.batches) > 1
    assert_nothing_partial(tmp_path)


def test_sigterm_during_a_backoff_wait_exits_at_once(repo_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "wikimedia"
    # The server asks for a 30 s pause; SIGTERM must not wait for it.
    with EventStreamServer(recentchanges(3), faults=StreamFaults(error_responses=(503,) * 5, retry_after=30)) as server:
        proc = _start_listener_script(repo_root, server.url, out)
        deadline = time.monotonic() + 20
        while server.stats.connections < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # now inside the 30 s wait
        sent_at = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert time.monotonic() - sent_at < 5
    assert json.loads(stdout.strip().splitlines()[-1])["stopped_by"] == "signal"
    assert "answered HTTP 503; Retry-After=30.0" in stderr


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    drops=st.sets(st.integers(min_value=0, max_value=59), max_size=4),
    malformed=st.sets(st.integers(min_value=0, max_value=59), max_size=3),
    overlap=st.integers(min_value=0, max_value=5),
    per_connection=st.one_of(st.none(), st.integers(min_value=7, max_value=30)),
    split=st.booleans(),
)
def test_no_fault_combination_loses_an_event(
    tmp_path_factory: pytest.TempPathFactory,
    drops: set[int],
    malformed: set[int],
    overlap: int,
    per_connection: int | None,
    split: bool,
) -> None:
    out = tmp_path_factory.mktemp("combo")
    source = recentchanges(60)
    faults = StreamFaults(
        drop_mid_event_at=frozenset(drops),
        malformed_at=frozenset(malformed),
        replay_overlap=overlap,
        events_per_connection=per_connection,
        split_events=split,
    )
    # Stops on the source's end (HTTP 204 on the final reconnect), never on a wall-clock idle timer: a loaded machine
    # that is slow to reconnect cannot make this test stop early.
    result, stats = run_stream(source, out, faults=faults, end_of_stream=True)
    assert result.stopped_by == "end_of_stream"
    landed = meta_ids(landed_events(out))
    expected = {e["meta"]["id"] for i, e in enumerate(source) if i not in malformed}
    assert set(landed) == expected  # nothing lost, nothing invented
    assert len(landed) - len(set(landed)) == result.duplicates_landed  # every duplicate counted
    # Each malformed event is counted every time it arrives (a replay can send it again).
    assert result.malformed == sum(1 for i in stats.sent_indices if i in malformed)
    assert_nothing_partial(out)


def test_a_204_on_reconnect_ends_the_stream_and_lands_everything(tmp_path: Path) -> None:
    # WHATWG HTML §9.2.3: a 204 No Content response tells an SSE client to stop reconnecting.
    source = recentchanges(12)
    result, stats = run_stream(source, tmp_path, faults=StreamFaults(events_per_connection=5), end_of_stream=True)
    assert result.stopped_by == "end_of_stream"
    assert landed_events(tmp_path) == source
    # Three connections deliver 5 + 5 + 2 events; the fourth asks to resume after the last one and gets 204.
    assert stats.statuses == [200, 200, 200, 204]
    assert stats.last_event_ids[-1] == event_id_for(11)
    state = json.loads(state_path(tmp_path).read_text())
    assert state["last_event_id"] == event_id_for(11)


def test_idle_stop_ends_a_quiet_stream_without_losing_what_it_read(tmp_path: Path) -> None:
    # The live stream never ends, so `--idle-stop-seconds` is how a bounded run stops. Only what cannot depend on the
    # machine's speed is asserted: it stops as idle, and whatever it read landed in order with a matching position.
    source = recentchanges(3)
    config = ListenerConfig(**{**ALL.__dict__, "idle_stop_s": 0.3})
    result, _ = run_stream(source, tmp_path, config=config)
    assert result.stopped_by == "idle"
    landed = landed_events(tmp_path)
    assert landed == source[: len(landed)]
    if landed:
        assert json.loads(state_path(tmp_path).read_text())["last_event_id"] == event_id_for(len(landed) - 1)
