"""A loopback stand-in for http://data.gdeltproject.org/gdeltv2/, with fault injection: `lastupdate.txt`
(`<size> <md5> <url>` lines for the export, mentions and GKG files of the latest slice),
`<YYYYMMDDHHMMSS>.export.CSV.zip` archives holding one tab-separated, header-less export file, and the CAMEO
lookup. Faults are explicit, frozen options (`GdeltFaults`); the server records what it was asked and sent.

    with GdeltFeedServer({"20191024143000": rows}) as feed:
        land_latest(feed.base_url, out_dir)
"""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from lakehouse.local.loopback import LoopbackHTTPServer, LoopbackServer, QuietHandler
from pipelines.gdelt import export_file_name, parse_slice_id

CAMEO_LOOKUP_PATH = "/data/lookups/CAMEO.eventcodes.txt"

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


class GdeltFeedServer(LoopbackServer):
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


class _GdeltHandler(QuietHandler):
    server: LoopbackHTTPServer

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
