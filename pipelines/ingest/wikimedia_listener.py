"""Listen to Wikimedia EventStreams `recentchange` and land JSON-lines batches, at least once.

- Connection: a streaming `requests` GET with a descriptive User-Agent (Wikimedia's User-Agent policy wants a
  contact), `Accept: text/event-stream` and, when resuming, `Last-Event-ID`. Bytes go through `SSEParser`, which
  never dispatches an event cut short by a dropped connection.
- Landing: accepted events collect in memory and are flushed by size or age to `<out>/<batch>.jsonl` (one event JSON
  object per line) through a dot-prefixed temporary file, fsync and rename, so a batch appears whole or not at all.
- Resume: only after a batch is durable is `<out>/_state/listener.json` rewritten (atomically) with the id of the
  last event accounted for and the most recent `meta.id`s. A restart or a reconnect sends that id as `Last-Event-ID`.
  A crash between the two writes replays that batch: delivery is at-least-once, so downstream dedupes on `meta.id`.
  The listener counts every event whose `meta.id` it remembers landing (a replay or a source duplicate) and, with
  `drop_duplicates`, skips it instead of landing it again.
- Failures: exponential backoff with full jitter, never shorter than the server's `retry:` hint or `Retry-After`.
  Malformed events are not landed but written, with their id and the reason, to `<out>/_rejected/` and counted.
- Filters: by default every event lands (bronze is raw; the pipeline's silver layer applies `lakehouse.wikis` and
  `lakehouse.include_bots`). Filters here only cut volume at the source and must keep a superset of what silver keeps.
- Stop: `max_events` (after that many events are durable), `max_seconds`, `idle_stop_s`, a `stop` event,
  SIGTERM/SIGINT, or the server answering a reconnect with HTTP 204 No Content (the SSE spec's "stop
  reconnecting": WHATWG HTML, Server-sent events, §9.2.3); each flushes what it holds first.
"""

from __future__ import annotations

import json
import logging
import random
import re
import signal
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import FrameType
from typing import Any, Final

import requests
import urllib3

from pipelines.ingest import IngestError
from pipelines.ingest.landing import write_atomically
from pipelines.ingest.sse import SSEEvent, SSEParser

log = logging.getLogger(__name__)

DEFAULT_STREAM_URL: Final = "https://stream.wikimedia.org/v2/stream/recentchange"
STATE_DIR: Final = "_state"
STATE_FILE: Final = "listener.json"
REJECTED_DIR: Final = "_rejected"
RETRYABLE_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
# WHATWG HTML §9.2.3 (Server-sent events, processing model): "HTTP 204 No Content ... must cause the user agent to
# fail the connection", i.e. stop reconnecting. A server that has nothing more to send ends the stream this way.
END_OF_STREAM_STATUS: Final = 204
# A server asking for more than this is treated as asking for this: the listener keeps trying, it does not sleep a day.
MAX_RETRY_AFTER_S: Final = 600.0
_SINCE_RE: Final = re.compile(r"[0-9]{10,13}|\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?")


@dataclass(frozen=True)
class ListenerConfig:
    """What the listener keeps, who it says it is, and when it flushes. Empty filter tuples mean "any".

    The defaults land everything (bronze is raw); e.g. `wikis=("enwiki",)` cuts the stream's volume about tenfold.
    """

    wikis: tuple[str, ...] = ()
    namespaces: tuple[int, ...] = ()
    types: tuple[str, ...] = ()
    include_bots: bool = True
    # Skip (rather than land again) events whose meta.id is among the last `dedupe_window` landed; either way counted.
    drop_duplicates: bool = False
    # Wikimedia injects hourly monitoring "canary" events (meta.domain == "canary") into every stream and asks
    # consumers to filter them out (Phabricator T266798); they are not edits.
    drop_canary: bool = True
    # Wikimedia's User-Agent policy: say who runs the client and how to reach them.
    contact: str = "lakehouse-platform data team <data-platform@example.org>"
    flush_max_bytes: int = 4 * 1024 * 1024
    flush_max_seconds: float = 60.0
    connect_timeout_s: float = 10.0
    # No byte at all (not even a heartbeat) for this long: the connection is dead, reconnect.
    read_timeout_s: float = 60.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    # Consecutive failed connections before giving up (None: keep trying, the right choice for a service).
    max_failures: int | None = None
    # Stop (after flushing) when no event has arrived for this long; None: run until told to stop.
    idle_stop_s: float | None = None
    # How many recent meta.ids are remembered (and persisted) to count, or drop, duplicates.
    dedupe_window: int = 5000

    def __post_init__(self) -> None:
        if not self.contact.strip():
            raise IngestError("ListenerConfig.contact is empty: Wikimedia requires a contact in the User-Agent")
        for name in ("flush_max_bytes", "flush_max_seconds", "connect_timeout_s", "read_timeout_s"):
            if getattr(self, name) <= 0:
                raise IngestError(f"ListenerConfig.{name} must be positive, got {getattr(self, name)}")
        if not 0 < self.backoff_initial_s <= self.backoff_max_s:
            raise IngestError("ListenerConfig backoff needs 0 < backoff_initial_s <= backoff_max_s")
        if self.dedupe_window < 0:
            raise IngestError("ListenerConfig.dedupe_window must be >= 0")

    @property
    def user_agent(self) -> str:
        return f"lakehouse-ingest-wikimedia/0.1 ({self.contact}) python-requests/{requests.__version__}"

    def accepts(self, event: Mapping[str, Any]) -> bool:
        """Whether an event passes the canary, wiki, namespace, type and bot filters."""
        meta = event.get("meta")
        if self.drop_canary and isinstance(meta, Mapping) and meta.get("domain") == "canary":
            return False
        if self.wikis and event.get("wiki") not in self.wikis:
            return False
        if self.namespaces and event.get("namespace") not in self.namespaces:
            return False
        if self.types and event.get("type") not in self.types:
            return False
        return self.include_bots or event.get("bot") is not True


@dataclass
class ListenResult:
    """Counts of one `listen()` run (all events, including the ones not landed, are accounted for)."""

    events_received: int = 0  # dispatched SSE events with data
    events_landed: int = 0  # durable in a landed batch
    duplicates_landed: int = 0  # landed although their meta.id was landed before (at-least-once; downstream dedupes)
    duplicates_skipped: int = 0  # not landed because their meta.id was landed before (drop_duplicates)
    filtered_out: int = 0  # valid events the config's filters rejected
    malformed: int = 0  # events whose data is not a JSON object (written to _rejected/)
    reconnects: int = 0
    connection_errors: int = 0
    batches: list[Path] = field(default_factory=list)
    last_event_id: str | None = None
    stopped_by: str = ""


class _StopListening(Exception):
    """Raised by the signal handler to break out of a blocking read or sleep."""


@dataclass
class _State:
    last_event_id: str | None = None
    recent_ids: OrderedDict[str, None] = field(default_factory=OrderedDict)
    events_landed_total: int = 0


def state_path(out_dir: str | Path) -> Path:
    return Path(out_dir) / STATE_DIR / STATE_FILE


def _load_state(out_dir: Path) -> _State:
    path = state_path(out_dir)
    if not path.exists():
        return _State()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        ids = [str(i) for i in raw.get("recent_meta_ids", [])]
        return _State(
            last_event_id=raw.get("last_event_id"),
            recent_ids=OrderedDict.fromkeys(ids),
            events_landed_total=int(raw.get("events_landed_total", 0)),
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise IngestError(
            f"{path} is not valid listener state ({exc}); fix or delete it (deleting it restarts from now)"
        ) from exc


def _save_state(out_dir: Path, state: _State) -> None:
    payload = {
        "version": 1,
        "last_event_id": state.last_event_id,
        "events_landed_total": state.events_landed_total,
        "recent_meta_ids": list(state.recent_ids),
        "updated_at": datetime.now(UTC).isoformat(),
    }
    write_atomically(state_path(out_dir), json.dumps(payload).encode())


def _retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds (RFC 9110: delay-seconds or an HTTP-date), capped; None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        delay = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
    except (TypeError, ValueError, IndexError):
        return None
    return min(max(0.0, delay), MAX_RETRY_AFTER_S)


def validate_since(since: str) -> str:
    """`--since` takes an ISO-8601 timestamp or epoch milliseconds (what EventStreams' `since` accepts)."""
    if not _SINCE_RE.fullmatch(since):
        raise IngestError(f"--since {since!r} is not an ISO-8601 timestamp (2026-01-31T12:00:00Z) or epoch ms")
    return since


class _Batch:
    """Accepted events waiting to land, plus the rejected ones waiting to be written next to them."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.meta_ids: dict[str, None] = {}  # ordered set: O(1) duplicate checks within the batch
        self.rejected: list[bytes] = []
        self.size = 0
        self.started = time.monotonic()

    def __len__(self) -> int:
        return len(self.lines)


class _Listener:
    def __init__(
        self,
        url: str,
        out_dir: Path,
        *,
        max_events: int | None,
        max_seconds: float | None,
        since: str | None,
        config: ListenerConfig,
        session: requests.Session | None,
        stop: threading.Event | None,
    ) -> None:
        self.url = url
        self.out_dir = out_dir
        self.max_events = max_events
        self.deadline = None if max_seconds is None else time.monotonic() + max_seconds
        self.since = validate_since(since) if since else None
        self.config = config
        self.session = session or requests.Session()
        self.own_session = session is None
        self.stop = stop or threading.Event()
        self.result = ListenResult()
        self.state = _load_state(out_dir)
        if self.since:
            # --since replays on purpose: ignore the saved position and the remembered ids (downstream dedupes).
            self.state.last_event_id = None
            self.state.recent_ids.clear()
        self.result.last_event_id = self.state.last_event_id
        self.position: str | None = self.state.last_event_id  # id of the last event seen (durable or not)
        self.batch = _Batch()
        self.server_retry_s: float | None = None
        self.last_event_at = time.monotonic()
        self.signalled = False
        self.interruptible = False

    # --- signals ---
    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: flushing and stopping", signum)
        self.signalled = True
        if self.interruptible:
            raise _StopListening

    @contextmanager
    def _interruptible(self) -> Iterator[None]:
        if self.signalled:
            raise _StopListening
        self.interruptible = True
        try:
            yield
        finally:
            self.interruptible = False

    def should_stop(self) -> str:
        if self.signalled:
            return "signal"
        if self.stop.is_set():
            return "stop_event"
        if self.max_events is not None and self.result.events_landed + len(self.batch) >= self.max_events:
            return "max_events"
        if self.config.idle_stop_s is not None and time.monotonic() - self.last_event_at >= self.config.idle_stop_s:
            return "idle"
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return "max_seconds"
        return ""

    # --- events ---
    def handle(self, event: SSEEvent) -> None:
        self.result.events_received += 1
        self.last_event_at = time.monotonic()
        self.position = event.id
        try:
            payload = json.loads(event.data)
            if not isinstance(payload, dict):
                raise ValueError(f"expected a JSON object, got {type(payload).__name__}")
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            self.result.malformed += 1
            log.warning("malformed event id=%s (%s); kept in %s/, not landed", event.id, exc, REJECTED_DIR)
            record = {"event_id": event.id, "reason": str(exc), "data": event.data}
            self.batch.rejected.append(json.dumps(record, ensure_ascii=False).encode() + b"\n")
            return
        meta = payload.get("meta")
        meta_id = meta.get("id") if isinstance(meta, dict) else None
        if not self.config.accepts(payload):
            self.result.filtered_out += 1
            return
        if isinstance(meta_id, str) and (meta_id in self.state.recent_ids or meta_id in self.batch.meta_ids):
            if self.config.drop_duplicates:
                self.result.duplicates_skipped += 1
                log.info("duplicate meta.id %s (event id=%s) skipped", meta_id, event.id)
                return
            self.result.duplicates_landed += 1
            log.info(
                "meta.id %s (event id=%s) lands again: at-least-once replay, downstream dedupes", meta_id, event.id
            )
        # Land the event's own JSON text when it is one line (byte-for-byte), else a compact re-serialization.
        text = event.data if "\n" not in event.data and "\r" not in event.data else json.dumps(payload)
        line = text.encode("utf-8") + b"\n"
        self.batch.lines.append(line)
        self.batch.size += len(line)
        if isinstance(meta_id, str):
            self.batch.meta_ids[meta_id] = None

    def flush_due(self) -> bool:
        return (
            self.batch.size >= self.config.flush_max_bytes
            or time.monotonic() - self.batch.started >= self.config.flush_max_seconds
        )

    def flush(self) -> None:
        """Land the batch, then (only then) persist the resume position.

        The batch stays in memory until its file is durable: if writing fails, nothing moves and a later flush (or
        a restart from the saved position) delivers the same events again.
        """
        batch = self.batch
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"recentchange-{stamp}-{uuid.uuid4().hex[:8]}"
        if batch.lines:
            path = self.out_dir / f"{name}.jsonl"
            write_atomically(path, b"".join(batch.lines))
            self.result.batches.append(path)
            self.result.events_landed += len(batch.lines)
            log.info("landed %s (%d events, %d bytes)", path.name, len(batch.lines), batch.size)
        if batch.rejected:
            write_atomically(self.out_dir / REJECTED_DIR / f"{name}.jsonl", b"".join(batch.rejected))
        self.batch = _Batch()
        if self.position == self.state.last_event_id and not batch.lines:
            return
        for meta_id in batch.meta_ids:
            self.state.recent_ids[meta_id] = None
            self.state.recent_ids.move_to_end(meta_id)  # a re-landed id is recent again
        while len(self.state.recent_ids) > self.config.dedupe_window:
            self.state.recent_ids.popitem(last=False)
        self.state.last_event_id = self.position
        self.state.events_landed_total += len(batch.lines)
        _save_state(self.out_dir, self.state)
        self.result.last_event_id = self.position

    # --- connection ---
    @property
    def read_timeout_s(self) -> float:
        # A silent server must not keep an idle-stopping listener blocked past its idle limit.
        limits = [self.config.read_timeout_s]
        if self.config.idle_stop_s is not None:
            limits.append(self.config.idle_stop_s)
        if self.deadline is not None:
            limits.append(self.deadline - time.monotonic())
        return max(min(limits), 0.05)

    def backoff_delay(self, failures: int, floor_s: float | None) -> float:
        cap = min(self.config.backoff_max_s, self.config.backoff_initial_s * 2 ** max(0, failures - 1))
        delay = random.uniform(0, cap) if failures else 0.0  # noqa: S311 - jitter, not cryptography
        hints = [h for h in (floor_s, self.server_retry_s) if h is not None]
        return max([delay, *hints])

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with self._interruptible():
            while not self.stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
                time.sleep(min(remaining, 0.05))

    def connect(self) -> requests.Response:
        headers = {
            "User-Agent": self.config.user_agent,
            "Accept": "text/event-stream",
            "Accept-Encoding": "identity",  # bytes straight to the parser; no decompressor buffering events
        }
        params: dict[str, str] = {}
        if self.position:
            headers["Last-Event-ID"] = self.position
        elif self.since:
            params["since"] = self.since
        with self._interruptible():
            return self.session.get(
                self.url,
                headers=headers,
                params=params,
                stream=True,
                timeout=(self.config.connect_timeout_s, self.read_timeout_s),
            )

    def consume(self, response: requests.Response) -> str:
        """Read one connection until it ends or a stop condition holds; returns the stop reason or ''."""
        parser = SSEParser(self.position)
        try:
            while True:
                # Only the network read is guarded: a failing disk write below must stop the listener, not be
                # mistaken for a dropped connection.
                try:
                    with self._interruptible():
                        chunk = response.raw.read1(65536)
                except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                    self.result.connection_errors += 1
                    where = "mid-event" if parser.pending else "between events"
                    log.warning("connection dropped %s (%s); resuming after id %s", where, exc, self.position)
                    return ""
                if not chunk:
                    if parser.pending:
                        log.warning("stream ended mid-event; the incomplete event is discarded and will be replayed")
                    return ""
                for event in parser.feed(chunk):
                    self.handle(event)
                    if self.max_events is not None and self.result.events_landed + len(self.batch) >= self.max_events:
                        break
                if parser.retry_ms is not None:
                    self.server_retry_s = parser.retry_ms / 1000
                if self.flush_due():
                    self.flush()
                reason = self.should_stop()
                if reason:
                    return reason
        finally:
            response.close()

    def run(self) -> ListenResult:
        failures = 0
        reason = ""
        try:
            while not (reason := self.should_stop()):
                floor_s: float | None = None
                try:
                    response = self.connect()
                except requests.RequestException as exc:
                    failures += 1
                    self.result.connection_errors += 1
                    log.warning("cannot connect to %s (%s)", self.url, exc)
                    response = None
                if response is not None and response.status_code == END_OF_STREAM_STATUS:
                    response.close()
                    log.info("%s answered 204 No Content: the stream has ended; stopping", self.url)
                    reason = "end_of_stream"
                    break
                if response is not None and response.status_code != 200:
                    status = response.status_code
                    floor_s = _retry_after_seconds(response.headers.get("Retry-After"))
                    body = response.text[:200] if status not in RETRYABLE_STATUSES else ""
                    response.close()
                    if status not in RETRYABLE_STATUSES:
                        raise IngestError(f"{self.url} answered HTTP {status}: {body!r}; check --url and the contact")
                    failures += 1
                    log.warning("%s answered HTTP %d; Retry-After=%s", self.url, status, floor_s)
                    response = None
                if response is not None and not response.headers.get("Content-Type", "").startswith(
                    "text/event-stream"
                ):
                    content_type = response.headers.get("Content-Type")
                    response.close()
                    raise IngestError(
                        f"{self.url} answered 200 with Content-Type {content_type!r}, not text/event-stream: "
                        "is --url an EventStreams stream URL (e.g. .../v2/stream/recentchange)?"
                    )
                if response is not None:
                    received_before = self.result.events_received
                    reason = self.consume(response)
                    if reason:
                        break
                    if self.result.events_received > received_before:
                        failures = 0
                    else:
                        failures += 1
                if self.config.max_failures is not None and failures > self.config.max_failures:
                    raise IngestError(
                        f"{self.url}: {failures} consecutive connections failed or delivered nothing; giving up"
                    )
                if reason := self.should_stop():
                    break
                self.result.reconnects += 1
                delay = self.backoff_delay(failures, floor_s)
                log.info("reconnecting in %.2fs (Last-Event-ID %s)", delay, self.position)
                self.sleep(delay)
        except _StopListening:
            reason = "signal"
        finally:
            self.flush()
            if self.own_session:
                self.session.close()
        self.result.stopped_by = reason or "signal"
        return self.result


def listen(
    url: str,
    out_dir: str | Path,
    *,
    max_events: int | None = None,
    max_seconds: float | None = None,
    since: str | None = None,
    config: ListenerConfig = ListenerConfig(),  # frozen default
    session: requests.Session | None = None,
    stop: threading.Event | None = None,
    handle_signals: bool = True,
) -> ListenResult:
    """Consume the recentchange stream at `url` (`DEFAULT_STREAM_URL` for Wikimedia's) into JSON-lines batches
    under `out_dir` until told to stop.

    Resumes from `out_dir/_state/listener.json` unless `since` (ISO-8601 or epoch ms) asks for a replay. Stops after
    `max_events` landed events, after `max_seconds`, after `config.idle_stop_s` without events, when `stop` is set,
    or on SIGTERM/SIGINT (when `handle_signals` and running on the main thread); always flushes first.
    """
    if max_events is not None and max_events < 1:
        raise IngestError(f"--max-events must be at least 1, got {max_events}")
    if max_seconds is not None and max_seconds <= 0:
        raise IngestError(f"--max-seconds must be positive, got {max_seconds}")
    listener = _Listener(
        url,
        Path(out_dir),
        max_events=max_events,
        max_seconds=max_seconds,
        since=since,
        config=config,
        session=session,
        stop=stop,
    )
    on_main = threading.current_thread() is threading.main_thread()
    previous: dict[signal.Signals, Any] = {}
    if handle_signals and on_main:
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, listener.on_signal)
    try:
        return listener.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
