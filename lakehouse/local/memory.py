"""Peak memory of a local run: the whole process tree, the daemonized engine included (PSS, psutil)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

# ------------------------------------------------------------------------------------------------ measurement


@dataclass
class PeakMemory:
    """Peak memory of this process and all its descendants (JVM, Python workers), sampled every `interval_s`.

    `peak_bytes` sums PSS (proportional set size): Spark's Python workers are forked from one daemon and share
    torch's and the interpreter's pages, which a sum of RSS would count once per worker. `peak_rss_bytes` (the
    RSS sum, an upper bound) is kept too. Where PSS is unavailable (not Linux), RSS is used for both.
    `add_root(pid)` adds a process tree that is not a descendant: the local engine's server is started as a daemon
    (its JVM and Python workers are children of init, not of this process).
    """

    interval_s: float = 0.2
    peak_bytes: int = 0
    peak_rss_bytes: int = 0
    _roots: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def add_root(self, pid: int) -> None:
        self._roots.append(pid)

    def sample(self) -> int:
        import psutil

        me = psutil.Process()
        processes = {me.pid: me, **{p.pid: p for p in me.children(recursive=True)}}
        for pid in list(self._roots):
            try:
                root = psutil.Process(pid)
                processes.update({p.pid: p for p in [root, *root.children(recursive=True)]})
            except psutil.NoSuchProcess:
                continue
        pss_total = rss_total = 0
        for proc in processes.values():
            try:
                full = proc.memory_full_info()
                rss_total += full.rss
                pss_total += getattr(full, "pss", full.rss)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        self.peak_bytes = max(self.peak_bytes, pss_total)
        self.peak_rss_bytes = max(self.peak_rss_bytes, rss_total)
        return pss_total

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> PeakMemory:
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="peak-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
