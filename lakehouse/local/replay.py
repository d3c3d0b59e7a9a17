"""Landing feeds into a run folder: the sample or the live feeds, through the real GDELT loader and Wikimedia
listener (`FeedReplay` lands them step by step for the multi-update tests and the benchmark)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lakehouse.local.paths import LocalRunError, Progress, RunPaths
from lakehouse.local.sample import Sample
from pipelines.gdelt import parse_slice_id

# ------------------------------------------------------------------------------------------------ ingestion


@dataclass(frozen=True)
class IngestReport:
    gdelt_files: int
    wikimedia_events: int
    method: str


class FeedReplay:
    """Serves generated feeds to the real GDELT loader and Wikimedia listener, step by step, into one run folder.

    Each `land(slices, events)` publishes more GDELT slices (landed with `land_backfill`) and appends events to the
    recentchange stream; the listener resumes after the last event it landed (its state lives in the landing
    folder, `Last-Event-ID` resumes the stream), so every step lands only the new records, as the live feeds do.
    The CAMEO lookup is served and landed once.
    """

    def __init__(self, paths: RunPaths, cameo_lookup: Mapping[str, str] | None) -> None:
        self.paths = paths
        self.cameo_lookup = dict(cameo_lookup) if cameo_lookup is not None else None
        self.events: list[dict[str, Any]] = []
        self.events_landed = 0

    def land(
        self,
        gdelt_slices: Mapping[str, Sequence[Sequence[str]]],
        events: Sequence[dict[str, Any]],
        progress: Progress = lambda _msg: None,
    ) -> IngestReport:
        from lakehouse.local.gdelt_feed import GdeltFeedServer
        from lakehouse.local.wikimedia_feed import EventStreamServer
        from pipelines.cameo import render_lookup
        from pipelines.ingest.gdelt_loader import land_backfill, land_cameo_lookup
        from pipelines.ingest.wikimedia_listener import ListenerConfig, listen

        slice_ids = sorted(gdelt_slices)
        lookup = render_lookup(self.cameo_lookup) if self.cameo_lookup is not None else None
        if slice_ids or lookup is not None:
            with GdeltFeedServer(gdelt_slices, cameo_lookup=lookup) as gdelt_feed:
                if slice_ids:
                    start, end = parse_slice_id(slice_ids[0]), parse_slice_id(slice_ids[-1])
                    progress(f"ingest: GDELT loader backfilling {len(slice_ids)} slices from {gdelt_feed.base_url}")
                    land_backfill(gdelt_feed.base_url, self.paths.gdelt, start, end)
                if lookup is not None:
                    land_cameo_lookup(gdelt_feed.cameo_url, self.paths.cameo.parent, if_missing=True)
        self.events.extend(events)
        if events:
            with EventStreamServer(self.events, end_of_stream=True) as stream:
                progress(f"ingest: Wikimedia listener reading {len(events)} new events from {stream.url}")
                # The replay ends with 204 No Content after its last event (the SSE end of stream), so the listener
                # stops when the source is exhausted, not on an idle timer; max_seconds only bounds a broken run.
                result = listen(
                    stream.url,
                    self.paths.wikimedia,
                    max_seconds=120,
                    config=ListenerConfig(flush_max_seconds=5.0),
                    handle_signals=False,
                )
            self.events_landed += result.events_landed
        gdelt_files = len(list(self.paths.gdelt.glob("*.export.CSV")))
        return IngestReport(gdelt_files, self.events_landed, "loopback feeds + GDELT loader + Wikimedia listener")


def ingest_sample(sample: Sample, paths: RunPaths, progress: Progress) -> IngestReport:
    """Serve the sample on loopback and land it with the real loader and listener (and the CAMEO lookup too)."""
    return FeedReplay(paths, sample.cameo_lookup).land(sample.gdelt_slices, sample.wikimedia_events, progress)


GDELT_LIVE_URL = "http://data.gdeltproject.org/gdeltv2"
WIKIMEDIA_LIVE_URL = "https://stream.wikimedia.org/v2/stream/recentchange"


def ingest_live(paths: RunPaths, progress: Progress, *, max_events: int, duration_s: float) -> IngestReport:
    """Land the latest GDELT slice and a bounded slice of the live recentchange stream."""
    try:
        from pipelines.ingest.gdelt_loader import land_latest
        from pipelines.ingest.wikimedia_listener import listen
    except ImportError as exc:
        raise LocalRunError(f"--source live needs the ingestion package (pipelines.ingest): {exc}") from exc
    try:
        progress(f"ingest: latest GDELT slice from {GDELT_LIVE_URL}")
        land_latest(GDELT_LIVE_URL, paths.gdelt)
        progress(f"ingest: up to {max_events} Wikimedia events / {duration_s:.0f} s from {WIKIMEDIA_LIVE_URL}")
        listen(WIKIMEDIA_LIVE_URL, paths.wikimedia, max_events=max_events, max_seconds=duration_s, handle_signals=False)
    except OSError as exc:
        raise LocalRunError(
            f"the public feeds are unreachable from this machine ({exc}); use `--source sample` offline"
        ) from exc
    wiki_events = sum(
        1 for f in paths.wikimedia.glob("*.jsonl") for line in f.read_text("utf-8").splitlines() if line.strip()
    )
    return IngestReport(len(list(paths.gdelt.glob("*.export.CSV"))), wiki_events, "public feeds")
