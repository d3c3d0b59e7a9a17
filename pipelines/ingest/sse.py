"""A server-sent-events parser that follows the WHATWG `text/event-stream` rules exactly. Pure, incremental.

Why not sseclient-py (not a dependency; see docs/ingestion.md): its 1.9.0 parser dispatches the trailing, incomplete
event when a connection drops mid-event (the spec says discard it), which would land a truncated event or advance
the resume id past an event that never arrived; it never dispatches an event that carries only `retry:`, so the
server's reconnection hint is lost; and it forgets the last event id between events. Those three are exactly the
behaviours an at-least-once listener depends on, so the listener feeds raw bytes from a streaming `requests`
response into this parser instead (see docs/ingestion.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event. `id` is the stream's last event id at dispatch time (it persists across events)."""

    event: str
    data: str
    id: str | None


class SSEParser:
    """Feed bytes as they arrive; get back the events completed by them.

    - lines end in CRLF, LF or CR (a CRLF split across two chunks counts once);
    - a blank line dispatches the buffered event; an event without data is not dispatched (but its `id` sticks);
    - `:` lines are comments (heartbeats); unknown fields are ignored;
    - `retry: <digits>` sets `retry_ms`;
    - bytes after the last blank line are an incomplete event: `pending` says whether there are any, and they are
      never dispatched unless the blank line arrives.
    """

    def __init__(self, last_event_id: str | None = None) -> None:
        self.last_event_id: str | None = last_event_id
        self.retry_ms: int | None = None
        self._buffer = b""
        self._data: list[str] = []
        self._event_type = ""
        self._fields_seen = False
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF now completes that CRLF

    @property
    def pending(self) -> bool:
        """True when an event has started but not been dispatched (a drop now would lose it, not half-land it)."""
        return bool(self._buffer) or self._fields_seen

    def reset_pending(self) -> None:
        """Forget an incomplete event (call when the connection ends); the last event id and retry are kept."""
        self._buffer = b""
        self._data = []
        self._event_type = ""
        self._fields_seen = False
        self._skip_lf = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if chunk and self._skip_lf:
            self._skip_lf = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        self._buffer += chunk
        events: list[SSEEvent] = []
        while True:
            cut = self._line_end()
            if cut is None:
                return events
            end, after = cut
            raw_line = self._buffer[:end]
            self._buffer = self._buffer[after:]
            dispatched = self._process_line(raw_line.decode("utf-8", errors="replace"))
            if dispatched is not None:
                events.append(dispatched)

    def _line_end(self) -> tuple[int, int] | None:
        """(end of line, start of next line) for the first complete line in the buffer, or None."""
        lf = self._buffer.find(b"\n")
        cr = self._buffer.find(b"\r")
        if cr == -1 and lf == -1:
            return None
        if cr != -1 and (lf == -1 or cr < lf):
            if cr + 1 == len(self._buffer):
                self._skip_lf = True  # maybe the CR of a CRLF split across chunks
                return cr, cr + 1
            return (cr, cr + 2) if self._buffer[cr + 1 : cr + 2] == b"\n" else (cr, cr + 1)
        return lf, lf + 1

    def _process_line(self, line: str) -> SSEEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon:
            value = value.removeprefix(" ")
        self._fields_seen = True
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\x00" not in value:
                self.last_event_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self.retry_ms = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        data, event_type = self._data, self._event_type
        self._data, self._event_type, self._fields_seen = [], "", False
        if not data:
            return None
        return SSEEvent(event=event_type or "message", data="\n".join(data), id=self.last_event_id)
