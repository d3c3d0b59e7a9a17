"""`lakehouse run-local`: the whole pipeline on this machine, from feeds to gold, in one command.

Steps: clean the run folder -> generate the sample (or use the live feeds) -> serve it on loopback and ingest it
with the real GDELT loader and Wikimedia listener -> start the local engine (one Spark Connect server) and create
the Hive metastore's schemas -> run one pipeline update with `spark-pipelines run` against the engine -> run the
correlation sink (new texts embedded, open windows recomputed) on the same engine -> read the tables back ->
summarize -> stop the engine.

Everything lives under the run folder (default `.local-run/` in the repo, gitignored): landing files, the Hive
warehouse, the Derby metastore, checkpoints, the engine's discovery file and logs. Each run deletes its previous
state first, so runs repeat; `keep_state=True` (`--keep-state`) runs one more update on the existing state
instead. `LocalEngine` and `FeedReplay` are the building blocks the multi-update tests and `lakehouse bench
stream` use to land data and run updates on one running engine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import yaml

from infra.repo import REPO_ROOT
from lakehouse.errors import LakehouseError
from lakehouse.sample import Sample, generate_sample
from pipelines import tables
from pipelines.gdelt import parse_slice_id
from pipelines.settings import PipelineSettings
from pipelines.transforms.correlation_sink import SINK_TABLES

DEFINITIONS_DIR = REPO_ROOT / "pipelines" / "definitions"
DEFAULT_RUN_DIR = REPO_ROOT / ".local-run"
SCHEMAS = ("bronze", "silver", "gold", "ops")
# Every table the pipeline and its correlation sink publish (the contract's names), in layer order.
TABLES = tables.ALL_TABLES
# The sink's tables are partitioned by their replace key locally (pipelines.transforms.table_store).
SINK_TABLE_SPECS = {spec.name: spec for spec in SINK_TABLES}
_MARKER = ".lakehouse-run"
# The local Spark behind `spark-pipelines`: two cores, the machine size `make run` is specified for.
LOCAL_MASTER = "local[2]"
PIPELINE_TIMEOUT_S = 900

Source = Literal["sample", "live"]
Progress = Callable[[str], None]


class LocalRunError(LakehouseError):
    """The local run could not complete; the message says which step failed and where its log is."""


# ------------------------------------------------------------------------------------------------ paths & spec


@dataclass(frozen=True)
class RunPaths:
    """The run folder's layout."""

    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def gdelt(self) -> Path:
        return self.landing / "gdelt"

    @property
    def wikimedia(self) -> Path:
        return self.landing / "wikimedia"

    @property
    def cameo(self) -> Path:
        return self.landing / "reference" / "CAMEO.eventcodes.txt"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def derby(self) -> Path:
        return self.root / "derby"

    @property
    def storage(self) -> Path:
        return self.root / "pipeline-storage"

    @property
    def spec(self) -> Path:
        return self.root / "pipeline" / "spark-pipeline.yml"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def engine(self) -> Path:
        return self.root / "engine"

    @property
    def sink_checkpoint(self) -> Path:
        return self.root / "sink-checkpoint"

    def table_dir(self, qualified: str) -> Path:
        schema, table = qualified.split(".")
        return self.warehouse / f"{schema}.db" / table


def settings_for(
    paths: RunPaths,
    *,
    threshold: float | None = None,
    window_hours: int | None = None,
    lateness_minutes: int | None = None,
) -> PipelineSettings:
    """The pipeline settings of a local run: landing paths inside the run folder, engine defaults otherwise."""
    defaults = PipelineSettings()
    return dataclasses.replace(
        defaults,
        window_hours=window_hours or defaults.window_hours,
        similarity_threshold=defaults.similarity_threshold if threshold is None else threshold,
        lateness_minutes=defaults.lateness_minutes if lateness_minutes is None else lateness_minutes,
        gdelt_landing_path=str(paths.gdelt),
        wikimedia_landing_path=str(paths.wikimedia),
        cameo_lookup_path=str(paths.cameo),
    )


def local_spec(paths: RunPaths, settings: PipelineSettings, definitions_dir: Path = DEFINITIONS_DIR) -> dict[str, Any]:
    """The `spark-pipelines` spec of a local run (plain data; written as YAML next to the run's other state).

    `libraries` must be relative to the spec's folder (spark-pipelines rejects absolute globs), so it points back
    into the repo's `pipelines/definitions/` from inside the run folder.
    """
    relative = os.path.relpath(definitions_dir.resolve(), paths.spec.parent.resolve())
    return {
        "name": "lakehouse-local",
        "storage": paths.storage.resolve().as_uri(),
        "database": "default",
        "configuration": {
            **settings.to_configuration(),
            "spark.sql.shuffle.partitions": "2",
            "spark.sql.session.timeZone": "UTC",
        },
        "libraries": [{"glob": {"include": f"{relative}/**"}}],
    }


def spark_submit_confs(paths: RunPaths) -> dict[str, str]:
    """Static confs of the local Spark behind the pipeline: a Hive catalog with a fixed warehouse.

    The Derby metastore lands in the run's `derby/` folder: the engine is told so (`derby.system.home`), and
    `spark-pipelines` is started with that folder as working directory (Derby's default home), since it does not
    hand `--driver-java-options` to a driver it starts itself (dry runs).
    """
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(paths.warehouse),
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.memory": "1g",
    }


def prepare_run_dir(root: Path) -> RunPaths:
    """Delete the previous run's state (only a folder this command created) and lay out a fresh one."""
    if root.exists():
        if any(root.iterdir()) and not (root / _MARKER).exists():
            raise LocalRunError(
                f"{root} exists and was not created by `lakehouse run-local`; refusing to delete it. "
                "Pass --run-dir with an empty or new folder."
            )
        shutil.rmtree(root)
    paths = RunPaths(root)
    for folder in (paths.gdelt, paths.wikimedia, paths.cameo.parent, paths.warehouse, paths.derby, paths.logs):
        folder.mkdir(parents=True, exist_ok=True)
    paths.spec.parent.mkdir(parents=True, exist_ok=True)
    (root / _MARKER).write_text("created by lakehouse run-local; deleted by the next run\n", encoding="utf-8")
    return paths


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
        from lakehouse.local_feeds import EventStreamServer, GdeltFeedServer
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


# ------------------------------------------------------------------------------------------------ Spark steps


def _env() -> dict[str, str]:
    env = dict(os.environ)
    python = sys.executable
    env.setdefault("PYSPARK_PYTHON", python)
    env.setdefault("PYSPARK_DRIVER_PYTHON", python)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    # A local Spark Connect server binds the fixed port 15002 by default, so a second run (another checkout, a
    # benchmark, a test) would collide. With SPARK_TESTING set, pyspark picks an ephemeral port (for the persistent
    # server: pyspark.sql.connect.local_server.ServerLauncher._pick_port; in-process: SPARK-42272).
    env["SPARK_TESTING"] = "1"
    # The pipeline's Python workers import `pipelines.*` from this checkout.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise LocalRunError(f"`{name}` was not found next to {sys.executable} or on PATH: run `make setup`")
    return found


_FLOW_EVENT = re.compile(r"Flow '?(?P<flow>[\w.`]+)'? (?:is|has) (?P<state>[A-Z_]+|\w+)")
# How `LocalEngine.update` starts a pipeline update against the running engine: `spark-pipelines` (pyspark's
# launcher: a JVM that starts the Python CLI) or `python` (the same CLI, `python -m pyspark.pipelines.cli`, without
# the launcher's JVM, which has nothing to do when the engine already runs; it costs ~5-10 s per update).
Launcher = Literal["spark-pipelines", "python"]


def pipeline_command(
    paths: RunPaths, *, dry_run: bool = False, remote: str = LOCAL_MASTER, launcher: Launcher = "spark-pipelines"
) -> list[str]:
    """The command of one pipeline update (or dry run) against `remote` (a master, or an engine's sc:// URL)."""
    verb = "dry-run" if dry_run else "run"
    if launcher == "python":
        # The CLI reads the engine from SPARK_REMOTE (see LocalEngine.update); the confs are the engine's already.
        return [sys.executable, "-m", "pyspark.pipelines.cli", verb, "--spec", str(paths.spec)]
    # spark-pipelines starts its Spark Connect server with `--remote local` (one core) unless told otherwise.
    cmd = [_bin("spark-pipelines"), verb, "--spec", str(paths.spec), "--remote", remote]
    if not remote.startswith("sc://"):
        for key, value in spark_submit_confs(paths).items():
            cmd += ["--conf", f"{key}={value}"]
    return cmd


def run_pipeline(
    paths: RunPaths,
    progress: Progress,
    *,
    dry_run: bool = False,
    remote: str = LOCAL_MASTER,
    launcher: Launcher = "spark-pipelines",
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """Run `spark-pipelines run` (or `dry-run`) as a subprocess; stream flow progress; raise with the log on error."""
    log = paths.logs / ("pipeline-dry-run.log" if dry_run else "pipeline-run.log")
    lines: list[str] = []
    with log.open("a", encoding="utf-8") as out:
        proc = subprocess.Popen(  # noqa: S603 - the venv's spark-pipelines with arguments we build
            pipeline_command(paths, dry_run=dry_run, remote=remote, launcher=launcher),
            cwd=paths.derby,  # the same Derby metastore as the engine (Derby's home is the working directory)
            env=dict(env) if env is not None else _env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        deadline = time.monotonic() + PIPELINE_TIMEOUT_S
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            lines.append(line.rstrip("\n"))
            match = _FLOW_EVENT.search(line)
            if match:
                progress(f"pipeline: {match.group('flow').replace('`', '')} {match.group('state').lower()}")
            elif "Starting run" in line or "Loading definitions" in line or "Run is COMPLETED" in line:
                progress("pipeline: " + line.split(": ", 1)[-1].strip())
            elif "WARNING" in line and "pipelines." in line:
                progress("pipeline: " + line.strip())
            if time.monotonic() > deadline:
                proc.kill()
                raise LocalRunError(f"the pipeline ran longer than {PIPELINE_TIMEOUT_S} s; see {log}")
        code = proc.wait()
    if code != 0:
        tail = "\n".join(line for line in lines[-400:] if "Exception" in line or "Error" in line)[-3000:]
        raise LocalRunError(
            f"`spark-pipelines {'dry-run' if dry_run else 'run'}` failed (exit {code}); full log: {log}\n{tail}"
        )
    return lines


@dataclass(frozen=True)
class UpdateResult:
    """One update on a running engine: the pipeline, then the correlation sink."""

    pipeline_seconds: float
    sink_seconds: float
    log_lines: list[str]
    sink_updates: list[dict[str, Any]]  # the ops.correlation_updates rows this update added

    @property
    def seconds(self) -> float:
        return self.pipeline_seconds + self.sink_seconds


class LocalEngine:
    """A local Spark Connect server for one run folder, kept running across pipeline updates.

    Started with pyspark's opt-in persistent local server (`pyspark.sql.connect.local_server`, the machinery behind
    `spark.local.connect.reuse`), with its discovery file inside the run folder so no other run or user ever
    attaches to it. Every pipeline update (`spark-pipelines run --remote sc://...`) and the correlation sink use
    this one JVM, so Spark's start-up is paid once. The sink runs as one streaming query for the engine's life
    (started by the first update, waited for with `processAllAvailable()` after each): its Python workers, each of
    which loads the embedding model once, live as long as the query. `close()` stops the query, then the server
    (by the pid it recorded).
    """

    def __init__(
        self,
        paths: RunPaths,
        settings: PipelineSettings,
        *,
        launcher: Launcher = "spark-pipelines",
        memory: PeakMemory | None = None,
        sink_trigger: str = "5 seconds",
    ) -> None:
        self.paths = paths
        self.settings = settings
        self.launcher = launcher
        # How often the running sink looks for new silver rows. An update commits its two silver tables a second
        # or two apart: polling every second made most updates two sink micro-batches (each recomputing the open
        # window), every 5 s one (measured: 11 vs 6 micro-batches for 6 updates), for at most 5 s of waiting.
        self.sink_trigger = sink_trigger
        self.memory = memory  # told the server's pid, so the engine's memory is measured too
        self.url: str | None = None
        self._token: str | None = None
        self._spark: Any = None
        self._sink: Any = None  # the correlation sink's streaming query, started by the first update

    @property
    def discovery(self) -> Path:
        return self.paths.engine / "connect-server.json"

    def _server_env(self) -> dict[str, str]:
        env = _env()
        env["SPARK_LOCAL_CONNECT_DISCOVERY"] = str(self.discovery)
        return env

    @contextmanager
    def _environ(self) -> Iterator[None]:
        # pyspark's launcher reads the daemon's environment and the discovery path from os.environ.
        saved = dict(os.environ)
        os.environ.update(self._server_env())
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def start(self) -> LocalEngine:
        from pyspark.sql.connect.local_server import reuse_or_start_local_connect_server

        self.paths.engine.mkdir(parents=True, exist_ok=True)
        opts: dict[str, Any] = {
            **spark_submit_confs(self.paths),
            # Derby's home: the engine JVM starts in the caller's directory, so name the metastore's folder.
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={self.paths.derby}",
        }
        with self._environ():
            try:
                self.url = reuse_or_start_local_connect_server(LOCAL_MASTER, opts)
            except Exception as exc:
                raise LocalRunError(
                    f"the local Spark engine did not start ({exc}); see its logs under {self.paths.engine / 'logs'}"
                ) from exc
            self._token = os.environ["SPARK_CONNECT_AUTHENTICATE_TOKEN"]
        if self.memory is not None:
            self.memory.add_root(int(json.loads(self.discovery.read_text(encoding="utf-8"))["pid"]))
        return self

    def session(self) -> Any:
        """A Spark Connect client session on the engine (created once, reused)."""
        if self._spark is None:
            if self.url is None or self._token is None:
                raise LocalRunError("the local engine is not running: call start() first")
            from pyspark.sql.connect.session import SparkSession as ConnectSession

            os.environ["SPARK_CONNECT_AUTHENTICATE_TOKEN"] = self._token
            self._spark = ConnectSession.builder.remote(self.url).create()
        return self._spark

    @contextmanager
    def _connect_mode(self) -> Iterator[None]:
        """pyspark.sql.functions build Spark Connect expressions only while SPARK_CONNECT_MODE_ENABLED is set;
        it is set just around the engine's client code, so a classic session in the same process (a test's) keeps
        working before and after."""
        previous = os.environ.get("SPARK_CONNECT_MODE_ENABLED")
        os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
            else:
                os.environ["SPARK_CONNECT_MODE_ENABLED"] = previous

    def create_schemas(self) -> None:
        """Create the layer schemas in the run's Hive metastore (pipelines may not run DDL on namespaces)."""
        spark = self.session()
        for schema in SCHEMAS:
            spark.sql(f"CREATE DATABASE IF NOT EXISTS `{schema}`")

    def _client_env(self) -> dict[str, str]:
        assert self.url is not None and self._token is not None
        env = self._server_env()
        env["SPARK_CONNECT_AUTHENTICATE_TOKEN"] = self._token
        env["SPARK_REMOTE"] = self.url
        return env

    def update(self, progress: Progress = lambda _msg: None) -> UpdateResult:
        """One pipeline update on the existing state, then the correlation sink over the new silver rows."""
        from pipelines.transforms import correlation_sink

        assert self.url is not None
        started = time.monotonic()
        lines = run_pipeline(self.paths, progress, remote=self.url, launcher=self.launcher, env=self._client_env())
        pipeline_seconds = time.monotonic() - started
        started = time.monotonic()
        before = self._last_batch_id()
        progress("sink: correlating the new silver rows (embed new texts, recompute open windows)")
        try:
            with self._connect_mode():
                if self._sink is None:
                    checkpoint = str(self.paths.sink_checkpoint)
                    self._sink = correlation_sink.start_stream(
                        self.session(), self.settings, checkpoint, processing_time=self.sink_trigger
                    )
                self._sink.processAllAvailable()  # every silver row landed so far is in gold
        except Exception as exc:
            raise LocalRunError(f"the correlation sink failed: {exc!r}"[:4000]) from exc
        sink_seconds = time.monotonic() - started
        updates = self._updates_after(before)
        for u in updates:
            progress(
                f"sink: batch {u['batch_id']}: {u['input_rows']} new rows, {u['texts_embedded']} texts embedded, "
                f"{u['windows_recomputed']} of {u['windows_open']} open windows recomputed, "
                f"{u['windows_finalized']} finalized, {u['late_rows']} late rows"
            )
        return UpdateResult(pipeline_seconds, sink_seconds, lines, updates)

    def _last_batch_id(self) -> int:
        if not self.paths.table_dir(tables.CORRELATION_UPDATES).exists():
            return -1
        frame = read_table(self.paths, tables.CORRELATION_UPDATES, missing_ok=True)
        return int(frame["batch_id"].max()) if len(frame) else -1

    def _updates_after(self, batch_id: int) -> list[dict[str, Any]]:
        frame = read_table(self.paths, tables.CORRELATION_UPDATES, missing_ok=True)
        if not len(frame):
            return []
        frame = frame[frame["batch_id"] > batch_id].sort_values("batch_id")
        return [_plain(r) for r in frame.to_dict("records")]

    def close(self) -> None:
        from pyspark.sql.connect.local_server import stop_local_connect_server

        if self._sink is not None:
            with suppress(Exception), self._connect_mode():
                self._sink.stop()
            self._sink = None
        if self._spark is not None:
            with suppress(Exception):
                self._spark.stop()
            self._spark = None
        if self.discovery.exists():
            with self._environ():
                stop_local_connect_server()
        self.url = None

    def __enter__(self) -> LocalEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def stop_stale_engine(paths: RunPaths) -> None:
    """Stop an engine a crashed run left behind in this run folder (it is found by its recorded pid only)."""
    if (paths.engine / "connect-server.json").exists():
        LocalEngine(paths, PipelineSettings()).close()


def _plain(record: Mapping[str, Any]) -> dict[str, Any]:
    """A pandas record as JSON-ready values (timestamps as ISO text, numpy numbers as Python numbers)."""
    import numpy as np
    import pandas as pd

    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, pd.Timestamp | datetime):
            out[key] = _iso(value)
        elif isinstance(value, np.ndarray | list) and all(isinstance(v, tuple) for v in value) and len(value):
            out[key] = {str(k): float(v) for k, v in value}  # a MAP column, as pyarrow hands it over
        elif isinstance(value, np.ndarray | list):
            out[key] = [_iso(v) for v in value]
        elif isinstance(value, np.integer):
            out[key] = int(value)
        elif isinstance(value, np.floating):
            out[key] = float(value)
        elif value is None or (isinstance(value, float) and value != value):
            out[key] = None
        else:
            out[key] = value
    return out


# ------------------------------------------------------------------------------------------------ read back


def _data_files(folder: Path) -> list[Path]:
    return [
        p
        for p in folder.rglob("*.parquet")
        if not any(part.startswith(("_", ".")) for part in p.relative_to(folder).parts)
    ]


def read_table(paths: RunPaths, qualified: str, *, missing_ok: bool = False) -> Any:
    """A published table as a pandas DataFrame, read from its parquet files (no second JVM needed).

    Tables the correlation sink writes are partitioned by their replace key (`window_start=.../part-*.parquet`):
    the key is read back from the folder names, typed as in the table, and put in the table's column order.
    """
    import pandas as pd
    import pyarrow.dataset as ds

    folder = paths.table_dir(qualified)
    files = _data_files(folder) if folder.exists() else []
    spec = SINK_TABLE_SPECS.get(qualified)
    if not files:
        if missing_ok and spec is not None:
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in spec.columns})
        raise LocalRunError(f"table {qualified} has no data files under {folder}: did the pipeline publish it?")
    if spec is None:
        return ds.dataset([str(f) for f in files], format="parquet").to_table().to_pandas()
    frames = []
    for file in files:
        frame = ds.dataset(str(file), format="parquet").to_table().to_pandas()
        raw = unquote(file.parent.name.split("=", 1)[1])
        frame[spec.replace_key] = _partition_value(raw, spec.key_type)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[list(spec.columns)]


def _partition_value(raw: str, key_type: Any) -> Any:
    import pandas as pd
    from pyspark.sql import types as T

    if isinstance(key_type, T.TimestampType):
        return pd.Timestamp(raw)
    if isinstance(key_type, T.DateType):
        return pd.Timestamp(raw).date()
    return int(raw)


def row_counts(paths: RunPaths) -> dict[str, int]:
    import pyarrow.parquet as pq

    counts: dict[str, int] = {}
    for table in TABLES:
        folder = paths.table_dir(table)
        if not folder.exists():
            if table in SINK_TABLE_SPECS:
                counts[table] = 0  # created by the sink's first micro-batch with rows
                continue
            raise LocalRunError(f"table {table} was not published (no folder {folder})")
        counts[table] = sum(pq.ParquetFile(f).metadata.num_rows for f in _data_files(folder))
    return counts


# ------------------------------------------------------------------------------------------------ summary


@dataclass
class RunSummary:
    source: str
    rows: dict[str, int]
    quarantine: dict[str, int]
    correlations: list[dict[str, Any]]
    trending: list[dict[str, Any]]
    ingest: dict[str, Any]
    timings_s: dict[str, float]
    wall_time_s: float = 0.0
    peak_memory_mb: float = 0.0
    peak_rss_sum_mb: float = 0.0
    run_dir: str = ""
    # Problems the run noticed but did not stop for (e.g. the CAMEO lookup was missing), each with its fix.
    warnings: list[str] = field(default_factory=list)
    # The correlation sink's ops.correlation_updates rows of this run's update(s).
    sink_updates: list[dict[str, Any]] = field(default_factory=list)
    report_path: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "quarantine": self.quarantine,
            "correlations": self.correlations,
            "trending_stories": self.trending,
            "ingest": self.ingest,
            "timings_s": self.timings_s,
            "wall_time_s": round(self.wall_time_s, 1),
            "peak_memory_mb": round(self.peak_memory_mb, 1),
            "peak_rss_sum_mb": round(self.peak_rss_sum_mb, 1),
            "run_dir": self.run_dir,
            "warnings": self.warnings,
            "sink_updates": self.sink_updates,
            "report_path": self.report_path,
        }


def _iso(value: Any) -> str:
    """A timestamp as naive UTC ISO text (tables hold UTC; the session time zone is UTC)."""
    import pandas as pd

    stamp = pd.Timestamp(value)
    return str(stamp.tz_convert(None).isoformat() if stamp.tzinfo else stamp.isoformat())


def run_warnings(paths: RunPaths) -> list[str]:
    """What the pipeline reported without stopping: today the CAMEO lookup's problem (ops.cameo_lookup)."""

    if not paths.table_dir(tables.CAMEO_LOOKUP).exists():
        return []
    status = read_table(paths, tables.CAMEO_LOOKUP)
    return [str(p) for p in status["problem"] if isinstance(p, str) and p]


def summarize(
    paths: RunPaths, *, top_per_window: int = 5
) -> tuple[dict[str, int], dict[str, int], list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows per table, failed rows per rule, the best correlations per window and the trending stories."""
    rows = row_counts(paths)
    counts = read_table(paths, tables.EXPECTATION_COUNTS)
    quarantine = {str(r.rule): int(r.failed_rows) for r in counts.itertuples(index=False)}
    correlations: list[dict[str, Any]] = []
    if rows[tables.CORRELATIONS]:
        gold = read_table(paths, tables.CORRELATIONS).sort_values(["window_start", "score"], ascending=[True, False])
        for _, group in gold.groupby("window_start", sort=True):
            for r in group.head(top_per_window).itertuples(index=False):
                correlations.append(
                    {
                        "window_start": _iso(r.window_start),
                        "event_id": str(r.event_id),
                        "event_text": str(r.event_text),
                        "edit_title": str(r.edit_title),
                        "score": round(float(r.score), 4),
                        "provisional": bool(r.provisional),
                    }
                )
    trending: list[dict[str, Any]] = []
    if rows[tables.TRENDING_STORIES]:
        stories = read_table(paths, tables.TRENDING_STORIES)
        stories["weight"] = stories["n_events"] + stories["n_edits"]
        stories = stories.sort_values(["window_start", "weight", "top_score"], ascending=[True, False, False])
        for _, group in stories.groupby("window_start", sort=True):
            for r in group.head(3).itertuples(index=False):
                trending.append(
                    {
                        "window_start": _iso(r.window_start),
                        "story": str(r.story),
                        "n_events": int(r.n_events),
                        "n_edits": int(r.n_edits),
                        "top_score": round(float(r.top_score), 4),
                        "provisional": bool(r.provisional),
                    }
                )
    return rows, quarantine, correlations, trending


# ------------------------------------------------------------------------------------------------ orchestration


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        timings[name] = round(timings.get(name, 0.0) + time.monotonic() - start, 2)


def open_run_dir(root: Path, *, keep_state: bool) -> RunPaths:
    """The run folder: fresh (`prepare_run_dir`), or, with `keep_state`, the existing one of an earlier run."""
    root = root.resolve()
    if keep_state and (root / _MARKER).exists():
        paths = RunPaths(root)
        stop_stale_engine(paths)
        return paths
    if root.exists():
        stop_stale_engine(RunPaths(root))
    return prepare_run_dir(root)


def run_local(
    *,
    source: Source = "sample",
    run_dir: Path = DEFAULT_RUN_DIR,
    progress: Progress = lambda _msg: None,
    sample: Sample | None = None,
    threshold: float | None = None,
    live_max_events: int = 2000,
    live_duration_s: float = 60.0,
    keep_state: bool = False,
) -> RunSummary:
    """Run the whole local pipeline and return its summary (see the module docstring for the steps).

    `keep_state`: run one more update on the run folder of an earlier run (its landed files, tables and
    checkpoints) instead of starting from scratch; the sample (or live data) is landed again first.
    """
    timings: dict[str, float] = {}
    started = time.monotonic()
    with PeakMemory() as memory:
        with _timed(timings, "prepare"):
            paths = open_run_dir(run_dir, keep_state=keep_state)
            settings = settings_for(paths, threshold=threshold)
            paths.spec.write_text(yaml.safe_dump(local_spec(paths, settings), sort_keys=False), encoding="utf-8")
        with _timed(timings, "ingest"):
            if source == "sample":
                sample = sample or generate_sample()
                progress(
                    f"sample: {sample.truth.gdelt_rows} GDELT rows in {len(sample.gdelt_slices)} slices, "
                    f"{len(sample.wikimedia_events)} Wikimedia events"
                )
                report = ingest_sample(sample, paths, progress)
            else:
                report = ingest_live(paths, progress, max_events=live_max_events, duration_s=live_duration_s)
        engine = LocalEngine(paths, settings, memory=memory)
        try:
            with _timed(timings, "engine"):
                progress("engine: starting the local Spark Connect server")
                engine.start()
                progress("metastore: creating schemas " + ", ".join(SCHEMAS))
                engine.create_schemas()
            update = engine.update(progress)
            timings["pipeline"] = round(update.pipeline_seconds, 2)
            timings["sink"] = round(update.sink_seconds, 2)
        finally:
            engine.close()
        with _timed(timings, "summary"):
            rows, quarantine, correlations, trending = summarize(paths)
            warnings = run_warnings(paths)
    summary = RunSummary(
        source=source,
        rows=rows,
        quarantine=quarantine,
        correlations=correlations,
        trending=trending,
        ingest={
            "gdelt_files": report.gdelt_files,
            "wikimedia_events": report.wikimedia_events,
            "method": report.method,
        },
        timings_s=timings,
        wall_time_s=time.monotonic() - started,
        peak_memory_mb=memory.peak_bytes / 2**20,
        peak_rss_sum_mb=memory.peak_rss_bytes / 2**20,
        run_dir=str(paths.root),
        warnings=warnings,
        sink_updates=update.sink_updates,
    )
    # The HTML report and the event log in the Databricks shape (for the health SQL), next to the run's tables.
    from lakehouse.report import write_local_report

    report_file, _ = write_local_report(summary, update.log_lines, update_id=str(uuid.uuid4()))
    summary.report_path = str(report_file)
    return summary


def dry_run(run_dir: Path = DEFAULT_RUN_DIR, progress: Progress = lambda _msg: None) -> list[str]:
    """`spark-pipelines dry-run` of the pipeline against a fresh run folder: validates the graph, writes nothing."""
    paths = prepare_run_dir(run_dir.resolve())
    paths.spec.write_text(yaml.safe_dump(local_spec(paths, settings_for(paths)), sort_keys=False), encoding="utf-8")
    return run_pipeline(paths, progress, dry_run=True)


def write_summary_json(summary: RunSummary, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary.to_json(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
