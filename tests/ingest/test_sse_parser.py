"""The SSE parser follows the WHATWG event-stream rules the listener's at-least-once delivery depends on."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.ingest.sse import SSEEvent, SSEParser


def _feed_all(chunks: list[bytes], parser: SSEParser | None = None) -> list[SSEEvent]:
    parser = parser or SSEParser()
    return [event for chunk in chunks for event in parser.feed(chunk)]


def test_fields_comments_and_multiline_data() -> None:
    stream = b': heartbeat\nevent: message\nid: 7\ndata: {"a":\ndata:  1}\nunknown: x\n\n'
    assert _feed_all([stream]) == [SSEEvent(event="message", data='{"a":\n 1}', id="7")]


def test_crlf_cr_and_lf_line_ends_are_all_accepted() -> None:
    for eol in (b"\n", b"\r\n", b"\r"):
        stream = b"id: 1" + eol + b"data: x" + eol + eol
        assert _feed_all([stream]) == [SSEEvent("message", "x", "1")]


def test_a_trailing_cr_dispatches_without_waiting_for_more_bytes() -> None:
    parser = SSEParser()
    assert parser.feed(b"id: 1\rdata: x\r\r") == [SSEEvent("message", "x", "1")]
    assert not parser.pending
    assert parser.feed(b"\ndata: y\n\n") == [SSEEvent("message", "y", "1")]  # the LF completed a CRLF


def test_a_crlf_split_across_chunks_is_one_line_end() -> None:
    events = _feed_all([b"id: 1\r", b"\ndata: x\r", b"\n\r", b"\n"])
    assert events == [SSEEvent("message", "x", "1")]


def test_an_incomplete_event_is_never_dispatched_and_is_reported_pending() -> None:
    parser = SSEParser()
    assert parser.feed(b'id: 1\ndata: {"complete": true}\n\nid: 2\ndata: {"cut') == [
        SSEEvent("message", '{"complete": true}', "1")
    ]
    assert parser.pending
    assert parser.last_event_id == "2"  # the id line arrived, but the caller resumes from its own position
    parser.reset_pending()
    assert not parser.pending
    # A new connection's first complete event arrives normally.
    assert parser.feed(b"id: 2\ndata: {}\n\n") == [SSEEvent("message", "{}", "2")]


def test_complete_fields_without_the_blank_line_are_still_incomplete() -> None:
    parser = SSEParser()
    assert parser.feed(b"id: 1\ndata: {}\n") == []
    assert parser.pending


def test_retry_only_events_set_the_reconnection_time() -> None:
    parser = SSEParser()
    assert parser.feed(b"retry: 2500\n\n") == []
    assert parser.retry_ms == 2500
    parser.feed(b"retry: soon\n\n")
    assert parser.retry_ms == 2500  # not digits: ignored, as the spec says


def test_the_last_event_id_persists_across_events_and_empty_id_resets_it() -> None:
    events = _feed_all([b"id: a\ndata: 1\n\ndata: 2\n\nid\ndata: 3\n\n"])
    assert [e.id for e in events] == ["a", "a", ""]


def test_events_without_data_are_not_dispatched() -> None:
    assert _feed_all([b"event: ping\nid: 4\n\n"]) == []


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=30)
_id = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=30)  # NUL ids are ignored


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_id, _text), min_size=1, max_size=6),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
)
def test_any_chunking_yields_the_same_events(events: list[tuple[str, str]], cuts: list[int]) -> None:
    stream = b"".join(f"id: {i}\ndata: {d}\n\n".encode() for i, d in events)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert _feed_all(chunks) == _feed_all([stream])
    # Every event is dispatched with its own id and data (only the one space after the colon is removed).
    assert [(e.id, e.data) for e in _feed_all([stream])] == events
