"""The loopback feeds speak the real formats: what the loader, the listener, run-local and the benchmarks rely on."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime
from pathlib import Path

import requests
from ingest_factories import gdelt_rows, recentchanges

from lakehouse.local.gdelt_feed import GdeltFeedServer
from lakehouse.local.wikimedia_feed import EventStreamServer, event_id_for, offset_from_event_id
from pipelines.gdelt import export_entry, parse_lastupdate
from pipelines.ingest.gdelt_loader import DownloadPolicy, land_latest
from pipelines.ingest.sse import SSEParser

SLICE = "20191024143000"


def test_lastupdate_lists_export_mentions_and_gkg_with_true_size_and_md5() -> None:
    with GdeltFeedServer({SLICE: gdelt_rows(3)}) as feed:
        entries = parse_lastupdate(requests.get(f"{feed.base_url}/lastupdate.txt", timeout=5).text)
        archives = {e.kind: requests.get(e.url, timeout=5).content for e in entries}
        missing = requests.get(f"{feed.base_url}/20191024141500.export.CSV.zip", timeout=5)
    assert [e.kind for e in entries] == ["export", "mentions", "gkg"]
    for entry in entries:
        assert entry.size == len(archives[entry.kind])
        assert entry.md5 == hashlib.md5(archives[entry.kind]).hexdigest()
    with zipfile.ZipFile(io.BytesIO(archives["export"])) as archive:
        assert archive.namelist() == [f"{SLICE}.export.CSV"]
        assert archive.read(f"{SLICE}.export.CSV").count(b"\n") == 3
    assert export_entry(entries).slice_id == SLICE
    assert missing.status_code == 404


def test_publishing_a_slice_moves_the_feed_on(tmp_path: Path) -> None:
    policy = DownloadPolicy(backoff_factor_s=0.01)
    with GdeltFeedServer({SLICE: gdelt_rows(2)}) as feed:
        first = land_latest(feed.base_url, tmp_path, policy=policy)
        feed.publish("20191024144500", gdelt_rows(4, "20191024144500"))
        second = land_latest(feed.base_url, tmp_path, policy=policy)
    assert (first.slice_id, second.slice_id) == (SLICE, "20191024144500")
    assert second.rows == 4


def _read_events(url: str, headers: dict[str, str] | None = None, params: dict[str, str] | None = None) -> list[str]:
    """Event ids of one connection, read until the first heartbeat (the sequence is exhausted by then)."""
    with requests.get(url, headers=headers, params=params, stream=True, timeout=5) as response:
        parser = SSEParser()
        ids: list[str] = []
        while True:
            chunk = response.raw.read1(65536)
            ids += [e.id or "" for e in parser.feed(chunk)]
            if not chunk or b":heartbeat" in chunk:
                return ids


def test_stream_resumes_after_last_event_id_and_replays_since() -> None:
    source = recentchanges(6)
    with EventStreamServer(source) as server:
        everything = _read_events(server.url)
        resumed = _read_events(server.url, headers={"Last-Event-ID": event_id_for(2)})
        since_ms = str(int(datetime.fromisoformat(source[4]["meta"]["dt"]).timestamp() * 1000))
        since = _read_events(server.url, params={"since": since_ms})
        garbage = _read_events(server.url, headers={"Last-Event-ID": "not-an-id"})
        not_found = requests.get(server.url + "x", timeout=5).status_code
    assert everything == [event_id_for(i) for i in range(6)] == garbage  # an unknown id restarts from the beginning
    assert resumed == [event_id_for(i) for i in range(3, 6)]
    assert since == [event_id_for(4), event_id_for(5)]
    assert [offset_from_event_id(i) for i in resumed] == [3, 4, 5]
    assert json.loads(everything[0])[0]["topic"] == "local.mediawiki.recentchange"
    assert not_found == 404
