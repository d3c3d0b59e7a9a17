"""Loopback stand-ins for the two public feeds, with fault injection: real formats over real HTTP on 127.0.0.1.

- `GdeltFeedServer` serves what http://data.gdeltproject.org/gdeltv2/ serves: `lastupdate.txt` (`<size> <md5> <url>`
  lines for the export, mentions and GKG files of the latest slice) and `<YYYYMMDDHHMMSS>.export.CSV.zip` archives
  holding one tab-separated, header-less export file.
- `EventStreamServer` serves what https://stream.wikimedia.org/v2/stream/recentchange serves: server-sent events
  (`event: message`, `id: <json>`, `data: <json>`) over a chunked HTTP/1.1 response, resuming after the event named
  by the `Last-Event-ID` request header and replaying from `?since=<ISO-8601 | epoch ms>`.

Both are context managers that bind port 0 on 127.0.0.1 and expose `.base_url` / `.url`:

    with GdeltFeedServer({"20191024143000": rows}) as feed:
        land_latest(feed.base_url, out_dir)

    with EventStreamServer(events, faults=StreamFaults(drop_mid_event_at=frozenset({3}))) as stream:
        listen(stream.url, out_dir, max_events=len(events))

Used by the ingestion tests, `lakehouse run-local` and the benchmarks. Faults are explicit, frozen options, so a
test names exactly the failure it injects; the servers also record what they were asked and what they sent.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit

from pipelines.gdelt import export_file_name, parse_slice_id

LOOPBACK = "127.0.0.1"
CAMEO_LOOKUP_PATH = "/data/lookups/CAMEO.eventcodes.txt"


class _QuietHandler(BaseHTTPRequestHandler):
    """Request handler that does not print one stderr line per request."""

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    # Handler threads die with the process; close() also tells them to stop.
    daemon_threads = True
    allow_reuse_address = True


class _LoopbackServer:
    """Shared plumbing: bind 127.0.0.1:port (0 = any free port), serve on a thread, stop on exit."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int) -> None:
        self._httpd = _Server((LOOPBACK, port), handler)
        self._httpd.feed = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# --- GDELT ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GdeltFaults:
    """Failures the GDELT feed injects (all off by default)."""

    # The first N requests (any path) answer `fail_status`, with `Retry-After: retry_after` unless it is None.
    fail_first: int = 0
    fail_status: int = 503
    retry_after: int | None = 0  # whole seconds, as RFC 9110 delay-seconds are
    # lastupdate.txt advertises a wrong md5 for the export (the archive itself is fine).
    wrong_md5: bool = False
    # The published export archive is cut in half; lastupdate.txt's size and md5 describe the cut bytes, so only
    # opening the zip can tell (a publisher-side corruption).
    truncate_zip: bool = False
    # The first N export downloads send half the body, then close the connection (Content-Length says the full size).
    drop_body_first: int = 0
    # These slices' export archives answer 404 although they are published (and `lastupdate.txt` may name them):
    # the gaps GDELT's record has, or a publish that has not reached the file server yet.
    missing_archives: frozenset[str] = frozenset()
    # These slices' archives are not zip files (a corrupt upload; `lastupdate.txt` describes the bad bytes).
    corrupt_archives: frozenset[str] = frozenset()


def build_export_zip(slice_id: str, export_bytes: bytes) -> bytes:
    """A GDELT-style archive: one member `<slice>.export.CSV` holding `export_bytes`; deterministic bytes."""
    moment = parse_slice_id(slice_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(export_file_name(slice_id), date_time=moment.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, export_bytes)
    return buffer.getvalue()


def rows_to_export_bytes(rows: Sequence[Sequence[str]]) -> bytes:
    """Rows of raw field strings -> export file bytes (tab-joined, LF-terminated, UTF-8).

    Deliberately does not validate the column count, so tests can publish broken rows.
    """
    return "".join("\t".join(row) + "\n" for row in rows).encode("utf-8")


class GdeltFeedServer(_LoopbackServer):
    """A loopback GDELT v2 feed.

    `slices` maps slice ids (YYYYMMDDHHMMSS, 15-minute aligned) to export rows (61 raw strings each; wrong counts
    allowed on purpose); `raw_slices` maps slice ids to export file bytes served as they are (e.g. a real export).
    `lastupdate.txt` describes the latest slice. `publish()` adds a slice while the server runs, so a caller can
    simulate the feed moving on. `requests` lists the paths asked for, in order.
    """

    def __init__(
        self,
        slices: Mapping[str, Sequence[Sequence[str]]] | None = None,
        *,
        raw_slices: Mapping[str, bytes] | None = None,
        faults: GdeltFaults = GdeltFaults(),  # frozen, so a shared default is safe
        path_prefix: str = "/gdeltv2",
        cameo_lookup: str | None = None,
        port: int = 0,
    ) -> None:
        super().__init__(_GdeltHandler, port)
        self.faults = faults
        # GDELT's CAMEO lookup text, served where GDELT publishes it (`/data/lookups/CAMEO.eventcodes.txt`).
        self.cameo_lookup = cameo_lookup
        self.path_prefix = "/" + path_prefix.strip("/") if path_prefix.strip("/") else ""
        self._lock = threading.Lock()
        self._exports: dict[str, bytes] = {}
        self._zips: dict[str, bytes] = {}
        self._requests: list[str] = []
        self._failures_left = faults.fail_first
        self._drops_left = faults.drop_body_first
        for slice_id, rows in (slices or {}).items():
            self.publish(slice_id, rows)
        for slice_id, data in (raw_slices or {}).items():
            self.publish_raw(slice_id, data)

    @property
    def base_url(self) -> str:
        """What `lakehouse ingest gdelt --base-url` takes (the folder holding lastupdate.txt)."""
        return self.root_url + self.path_prefix

    @property
    def cameo_url(self) -> str:
        """What `lakehouse ingest cameo --url` takes (404 unless the server was given `cameo_lookup`)."""
        return self.root_url + CAMEO_LOOKUP_PATH

    @property
    def requests(self) -> list[str]:
        with self._lock:
            return list(self._requests)

    @property
    def latest_slice(self) -> str | None:
        with self._lock:
            return max(self._exports) if self._exports else None

    def publish(self, slice_id: str, rows: Sequence[Sequence[str]]) -> None:
        """Add (or replace) a slice from rows of raw field strings."""
        self.publish_raw(slice_id, rows_to_export_bytes(rows))

    def publish_raw(self, slice_id: str, export_bytes: bytes) -> None:
        """Add (or replace) a slice from export file bytes, served unchanged inside the zip."""
        archive = build_export_zip(slice_id, export_bytes)
        if self.faults.truncate_zip:
            archive = archive[: len(archive) // 2]
        if slice_id in self.faults.corrupt_archives:
            archive = b"<html>not a zip archive</html>\n"
        with self._lock:
            self._exports[slice_id] = export_bytes
            self._zips[slice_id] = archive

    def export_bytes(self, slice_id: str) -> bytes:
        """The export file bytes of a slice (what a correct loader must land, byte for byte)."""
        with self._lock:
            return self._exports[slice_id]

    def zip_bytes(self, slice_id: str) -> bytes:
        with self._lock:
            return self._zips[slice_id]

    def lastupdate_text(self) -> str:
        """`<size> <md5> <url>` for the latest slice's export, mentions and GKG files (GDELT's order)."""
        latest = self.latest_slice
        if latest is None:
            return ""
        archive = self.zip_bytes(latest)
        md5 = hashlib.md5(archive, usedforsecurity=False).hexdigest()
        if self.faults.wrong_md5:
            md5 = "0" * 32 if md5 != "0" * 32 else "f" * 32
        lines = [f"{len(archive)} {md5} {self.base_url}/{latest}.export.CSV.zip"]
        for kind in ("mentions", "gkg"):
            other = self._other_zip(latest, kind)
            lines.append(
                f"{len(other)} {hashlib.md5(other, usedforsecurity=False).hexdigest()} "
                f"{self.base_url}/{latest}.{kind}.CSV.zip"
            )
        return "\n".join(lines) + "\n"

    @staticmethod
    def _other_zip(slice_id: str, kind: str) -> bytes:
        # Mentions/GKG are listed (so the loader must pick the export line) but hold no rows.
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(zipfile.ZipInfo(f"{slice_id}.{kind}.CSV", parse_slice_id(slice_id).timetuple()[:6]), b"")
        return buffer.getvalue()

    # Called by the handler thread.
    def _record(self, path: str) -> None:
        with self._lock:
            self._requests.append(path)

    def _take_failure(self) -> bool:
        with self._lock:
            if self._failures_left > 0:
                self._failures_left -= 1
                return True
            return False

    def _take_drop(self) -> bool:
        with self._lock:
            if self._drops_left > 0:
                self._drops_left -= 1
                return True
            return False


class _GdeltHandler(_QuietHandler):
    server: _Server

    def do_GET(self) -> None:
        feed: GdeltFeedServer = self.server.feed  # type: ignore[attr-defined]
        path = urlsplit(self.path).path
        feed._record(path)
        if feed._take_failure():
            self.send_response(feed.faults.fail_status)
            if feed.faults.retry_after is not None:
                self.send_header("Retry-After", str(feed.faults.retry_after))
            self._send_body(b"injected failure\n", "text/plain")
            return
        if path == CAMEO_LOOKUP_PATH and feed.cameo_lookup is not None:
            self.send_response(200)
            self._send_body(feed.cameo_lookup.encode("utf-8"), "text/plain; charset=utf-8")
            return
        if not path.startswith(feed.path_prefix + "/"):
            self._not_found()
            return
        name = path[len(feed.path_prefix) + 1 :]
        if name == "lastupdate.txt":
            self.send_response(200)
            self._send_body(feed.lastupdate_text().encode(), "text/plain")
            return
        slice_id, _, rest = name.partition(".")
        try:
            if rest == "export.CSV.zip":
                if slice_id in feed.faults.missing_archives:
                    raise KeyError(name)
                body = feed.zip_bytes(slice_id)
            elif rest in ("mentions.CSV.zip", "gkg.CSV.zip"):
                feed.zip_bytes(slice_id)  # 404 unless the slice exists
                body = feed._other_zip(slice_id, rest.split(".")[0])
            else:
                raise KeyError(name)
        except KeyError:
            self._not_found()
            return
        self.send_response(200)
        if rest == "export.CSV.zip" and feed._take_drop():
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send_body(body, "application/zip")

    def _not_found(self) -> None:
        self.send_response(404)
        self._send_body(b"not found\n", "text/plain")

    def _send_body(self, body: bytes, content_type: str) -> None:
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# --- Wikimedia EventStreams ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamFaults:
    """Failures the event stream injects (all off by default). Indices are positions in the event sequence."""

    # The connection closes halfway through the bytes of these events (each fires once), mid-chunk.
    drop_mid_event_at: frozenset[int] = frozenset()
    # The first connections answer these statuses (one per connection), with Retry-After unless it is None.
    error_responses: tuple[int, ...] = ()
    retry_after: int | None = 0  # whole seconds, as RFC 9110 delay-seconds are
    # These events carry broken JSON in `data:` (their ids are kept, as a buggy producer would send them).
    malformed_at: frozenset[int] = frozenset()
    # On a Last-Event-ID resume, restart this many events before the one asked for (replayed duplicates).
    replay_overlap: int = 0
    # `retry: <ms>` sent at the start of every stream (the server's reconnection-delay hint).
    retry_ms: int | None = None
    # Close the stream cleanly after this many events per connection (the way EventStreams cycles connections).
    events_per_connection: int | None = None
    # Split every event over two chunks (clients must stitch chunks together).
    split_events: bool = False


def event_id_for(index: int, topic: str = "local.mediawiki.recentchange") -> str:
    """The SSE id of the event at `index`: EventStreams' shape, a JSON list of topic/partition/offset."""
    return json.dumps([{"topic": topic, "partition": 0, "offset": index}], separators=(",", ":"))


def offset_from_event_id(event_id: str) -> int | None:
    """The offset inside an id made by `event_id_for`, or None when the id is not one."""
    try:
        parsed = json.loads(event_id)
        offsets = [int(part["offset"]) for part in parsed if isinstance(part, dict) and "offset" in part]
    except (ValueError, TypeError, KeyError):
        return None
    return max(offsets) if offsets else None


def _since_epoch_ms(value: str) -> float | None:
    if value.isdigit():
        return float(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return moment.timestamp() * 1000


def _event_epoch_ms(event: Mapping[str, Any]) -> float | None:
    meta = event.get("meta")
    if isinstance(meta, Mapping) and isinstance(meta.get("dt"), str):
        return _since_epoch_ms(meta["dt"])
    return None


@dataclass
class StreamStats:
    """What the stream server did (read it after the client finished)."""

    connections: int = 0
    statuses: list[int] = field(default_factory=list)
    last_event_ids: list[str | None] = field(default_factory=list)
    user_agents: list[str] = field(default_factory=list)
    since_params: list[str | None] = field(default_factory=list)
    sent_indices: list[int] = field(default_factory=list)  # every event written in full, repeats included
    drops: int = 0


class EventStreamServer(_LoopbackServer):
    """A loopback Wikimedia EventStreams endpoint replaying `events` (recentchange JSON objects) in order.

    Each event is sent as `event: message` / `id: <event_id_for(i)>` / `data: <compact JSON>`. When the sequence is
    exhausted the stream stays open with `:` heartbeat comments (like a quiet live stream) until the client leaves
    or the server closes. `interval_s` paces events. `stats` records connections, headers and what was sent.

    With `end_of_stream=True` the replay is finite instead: the stream closes after the last event, and a reconnect
    whose `Last-Event-ID` is the last event is answered `204 No Content`, which the SSE spec defines as "stop
    reconnecting" (WHATWG HTML §9.2.3). Clients then stop on the source's end, not on a wall-clock idle timer.
    """

    PATH: ClassVar[str] = "/v2/stream/recentchange"

    def __init__(
        self,
        events: Sequence[Mapping[str, Any]],
        *,
        faults: StreamFaults = StreamFaults(),  # frozen, so a shared default is safe
        interval_s: float = 0.0,
        heartbeat_s: float = 0.2,
        port: int = 0,
        end_of_stream: bool = False,
    ) -> None:
        super().__init__(_StreamHandler, port)
        self.events: tuple[Mapping[str, Any], ...] = tuple(events)
        self.end_of_stream = end_of_stream
        self.faults = faults
        self.interval_s = interval_s
        self.heartbeat_s = heartbeat_s
        self.stats = StreamStats()
        self._lock = threading.Lock()
        self._errors_left = list(faults.error_responses)
        self._drops_left = set(faults.drop_mid_event_at)

    @property
    def url(self) -> str:
        """What `lakehouse ingest wikimedia --url` takes."""
        return self.root_url + self.PATH

    def encoded(self, index: int) -> bytes:
        """The exact SSE bytes of the event at `index` (including the blank line that dispatches it)."""
        event = self.events[index]
        data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        if index in self.faults.malformed_at:
            data = data[: max(1, len(data) // 2)]  # cut JSON: unbalanced braces, never valid
        return f"event: message\nid: {event_id_for(index)}\ndata: {data}\n\n".encode()

    def start_index(self, last_event_id: str | None, since: str | None) -> int:
        """Where a connection starts: after Last-Event-ID (minus the replay overlap), else at `since`, else 0."""
        if last_event_id:
            offset = offset_from_event_id(last_event_id)
            if offset is not None:
                return max(0, offset + 1 - self.faults.replay_overlap)
        if since:
            since_ms = _since_epoch_ms(since)
            if since_ms is not None:
                for index, event in enumerate(self.events):
                    event_ms = _event_epoch_ms(event)
                    if event_ms is None or event_ms >= since_ms:
                        return index
                return len(self.events)
        return 0

    def exhausted_for(self, last_event_id: str | None) -> bool:
        """True when a client resuming after `last_event_id` has received every event of a finite replay."""
        if not self.end_of_stream:
            return False
        if not last_event_id:
            return not self.events
        offset = offset_from_event_id(last_event_id)
        return offset is not None and offset >= len(self.events) - 1

    # Called by the handler thread.
    def _next_error(self) -> int | None:
        with self._lock:
            return self._errors_left.pop(0) if self._errors_left else None

    def _take_drop(self, index: int) -> bool:
        with self._lock:
            if index in self._drops_left:
                self._drops_left.discard(index)
                self.stats.drops += 1
                return True
            return False


class _StreamHandler(_QuietHandler):
    protocol_version = "HTTP/1.1"  # chunked transfer, as EventStreams answers
    server: _Server

    def do_GET(self) -> None:
        feed: EventStreamServer = self.server.feed  # type: ignore[attr-defined]
        split = urlsplit(self.path)
        since = parse_qs(split.query).get("since", [None])[0]
        last_event_id = self.headers.get("Last-Event-ID")
        with feed._lock:
            feed.stats.connections += 1
            feed.stats.last_event_ids.append(last_event_id)
            feed.stats.user_agents.append(self.headers.get("User-Agent", ""))
            feed.stats.since_params.append(since)
        if split.path != feed.PATH:
            self._status(404, b"no such stream\n")
            return
        error = feed._next_error()
        if error is not None:
            self._status(error, b"injected failure\n", retry_after=feed.faults.retry_after)
            return
        if feed.exhausted_for(last_event_id):
            self._no_content()
            return
        with feed._lock:
            feed.stats.statuses.append(200)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            self._stream(feed, feed.start_index(last_event_id, since))
        except (BrokenPipeError, ConnectionResetError, OSError):
            return  # the client went away

    def _stream(self, feed: EventStreamServer, index: int) -> None:
        if feed.faults.retry_ms is not None:
            self._chunk(f"retry: {feed.faults.retry_ms}\n\n".encode())
        sent_here = 0
        while index < len(feed.events) and not feed.stopping.is_set():
            payload = feed.encoded(index)
            if feed._take_drop(index):
                self._chunk_header_then_cut(payload)
                return
            if feed.faults.split_events:
                cut = len(payload) // 3
                self._chunk(payload[:cut])
                self._chunk(payload[cut:])
            else:
                self._chunk(payload)
            with feed._lock:
                feed.stats.sent_indices.append(index)
            index += 1
            sent_here += 1
            if feed.faults.events_per_connection is not None and sent_here >= feed.faults.events_per_connection:
                self._end_chunks()
                return
            if feed.interval_s:
                time.sleep(feed.interval_s)
        if feed.end_of_stream:
            self._end_chunks()  # a finite replay: close; the reconnect is answered 204
            return
        # Exhausted: stay open with heartbeats until the client leaves or the server stops.
        while not feed.stopping.wait(feed.heartbeat_s):
            self._chunk(b":heartbeat\n\n")
        self._end_chunks()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chunk_header_then_cut(self, payload: bytes) -> None:
        # Announce the whole event, send half of it, then drop the TCP connection: a mid-event network failure.
        half = payload[: len(payload) // 2]
        self.wfile.write(b"%x\r\n%s" % (len(payload), half))
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)

    def _no_content(self) -> None:
        with self.server.feed._lock:  # type: ignore[attr-defined]
            self.server.feed.stats.statuses.append(204)  # type: ignore[attr-defined]
        self.send_response(204)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _status(self, status: int, body: bytes, retry_after: int | None = None) -> None:
        with self.server.feed._lock:  # type: ignore[attr-defined]
            self.server.feed.stats.statuses.append(status)  # type: ignore[attr-defined]
        self.send_response(status)
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True
