"""The base of the loopback feed servers: a threaded HTTP server on 127.0.0.1, port 0, as a context manager
(`.base_url`), with quiet request logging. Used by `gdelt_feed` and `wikimedia_feed`."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

LOOPBACK = "127.0.0.1"


class QuietHandler(BaseHTTPRequestHandler):
    """Request handler that does not print one stderr line per request."""

    def log_message(self, format: str, *args: Any) -> None:
        return


class LoopbackHTTPServer(ThreadingHTTPServer):
    # Handler threads die with the process; close() also tells them to stop.
    daemon_threads = True
    allow_reuse_address = True


class LoopbackServer:
    """Shared plumbing: bind 127.0.0.1:port (0 = any free port), serve on a thread, stop on exit."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int) -> None:
        self._httpd = LoopbackHTTPServer((LOOPBACK, port), handler)
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
