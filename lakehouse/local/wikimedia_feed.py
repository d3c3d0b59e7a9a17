"""A loopback stand-in for https://stream.wikimedia.org/v2/stream/recentchange, with fault injection:
server-sent events (`event: message`, `id: <json>`, `data: <json>`) over a chunked HTTP/1.1 response, resuming
after the event named by the `Last-Event-ID` request header and replaying from `?since=<ISO-8601 | epoch ms>`.
Faults are explicit, frozen options (`StreamFaults`); the server records what it sent (`StreamStats`).

    with EventStreamServer(events, faults=StreamFaults(drop_mid_event_at=frozenset({3}))) as stream:
        listen(stream.url, out_dir, max_events=len(events))
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from lakehouse.local.loopback import LoopbackHTTPServer, LoopbackServer, QuietHandler

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


class EventStreamServer(LoopbackServer):
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


class _StreamHandler(QuietHandler):
    protocol_version = "HTTP/1.1"  # chunked transfer, as EventStreams answers
    server: LoopbackHTTPServer

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
