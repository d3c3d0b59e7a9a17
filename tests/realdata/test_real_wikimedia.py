"""Real EventStreams data (../shared/data/wikimedia): the SSE capture parses; real events replay via the listener."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lakehouse.local.wikimedia_feed import EventStreamServer, StreamFaults
from pipelines.ingest.sse import SSEParser
from pipelines.ingest.wikimedia_listener import ListenerConfig, listen

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def wikimedia_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "wikimedia"


@pytest.fixture(scope="module")
def real_events(wikimedia_dir: Path) -> list[dict[str, Any]]:
    lines = (wikimedia_dir / "polars_guide_enwiki_recentchange_2023-07-29.ndjson").read_text(encoding="utf-8")
    return [json.loads(line) for line in lines.splitlines() if line.strip()]


def test_the_raw_sse_capture_parses_and_its_cut_last_event_waits(wikimedia_dir: Path) -> None:
    raw = (wikimedia_dir / "wiki_visualizer_example.events").read_bytes()
    parser = SSEParser()
    # Fed in small pieces, as a network would deliver it.
    events = [event for start in range(0, len(raw), 97) for event in parser.feed(raw[start : start + 97])]
    # The capture stops before the third event's terminating blank line: to a listener that is a connection lost
    # mid-event, so the event is held back (and would be replayed), not landed half-known.
    assert len(events) == 2
    assert parser.pending
    events += parser.feed(b"\n\n")  # the stream goes on: now it is complete
    assert len(events) == 3
    for event in events:
        assert event.event == "message"
        assert event.id is not None and json.loads(event.id)[0]["topic"].endswith("mediawiki.recentchange")
        payload = json.loads(event.data)
        assert payload["$schema"] == "/mediawiki/recentchange/1.0.0"
        assert payload["meta"]["id"]
    assert not parser.pending


def test_real_events_carry_the_schema_required_fields(wikimedia_dir: Path, real_events: list[dict[str, Any]]) -> None:
    schema = json.loads((wikimedia_dir / "schema" / "mediawiki_recentchange_1.0.0.schema.json").read_text())
    assert len(real_events) == 100
    for event in real_events:
        assert set(schema["required"]) <= set(event)
        assert set(schema["properties"]["meta"]["required"]) <= set(event["meta"])


def test_real_events_replay_through_faults_into_the_same_landed_set(
    real_events: list[dict[str, Any]], tmp_path: Path
) -> None:
    config = ListenerConfig(
        wikis=("enwiki",),
        namespaces=(0,),
        types=("edit", "new"),
        include_bots=False,
        drop_duplicates=True,
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
        max_failures=20,
    )
    kept = [e for e in real_events if config.accepts(e)]
    faults = StreamFaults(drop_mid_event_at=frozenset({10, 55}), replay_overlap=3, events_per_connection=40)
    with EventStreamServer(real_events, faults=faults) as server:
        result = listen(server.url, tmp_path, max_events=len(kept), config=config, handle_signals=False)
    landed = [json.loads(line) for path in sorted(tmp_path.glob("*.jsonl")) for line in path.read_text().splitlines()]
    assert landed == kept
    assert result.filtered_out > 0
    assert result.duplicates_skipped > 0
