"""The local engine: one persistent Spark Connect server per run folder, pipeline updates against it with
`spark-pipelines`, and the correlation sink running beside them (open-source pipelines have no ForEachBatch sink)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from infra.repo import REPO_ROOT
from lakehouse.local.memory import PeakMemory
from lakehouse.local.paths import (
    LOCAL_MASTER,
    PIPELINE_TIMEOUT_S,
    SCHEMAS,
    LocalRunError,
    Progress,
    RunPaths,
    spark_submit_confs,
)
from lakehouse.local.readback import iso_utc, read_table
from pipelines import tables
from pipelines.settings import PipelineSettings

if TYPE_CHECKING:  # the sink imports pyspark; the engine module must not, until it starts the sink
    from pipelines.transforms.correlation_sink import EmbedderFactory

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
        embedder_factory: EmbedderFactory | None = None,
    ) -> None:
        self.paths = paths
        self.settings = settings
        self.launcher = launcher
        # How often the running sink looks for new silver rows. An update commits its two silver tables a second
        # or two apart: polling every second made most updates two sink micro-batches (each recomputing the open
        # window), every 5 s one (measured: 11 vs 6 micro-batches for 6 updates), for at most 5 s of waiting.
        self.sink_trigger = sink_trigger
        self.memory = memory  # told the server's pid, so the engine's memory is measured too
        # What the sink's workers embed with: the model's own factory unless given (the bench records its calls).
        self.embedder_factory = embedder_factory
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
                        self.session(),
                        self.settings,
                        checkpoint,
                        processing_time=self.sink_trigger,
                        embedder_factory=self.embedder_factory or correlation_sink.model_embedder,
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
            out[key] = iso_utc(value)
        elif isinstance(value, np.ndarray | list) and all(isinstance(v, tuple) for v in value) and len(value):
            out[key] = {str(k): float(v) for k, v in value}  # a MAP column, as pyarrow hands it over
        elif isinstance(value, np.ndarray | list):
            out[key] = [iso_utc(v) for v in value]
        elif isinstance(value, np.integer):
            out[key] = int(value)
        elif isinstance(value, np.floating):
            out[key] = float(value)
        elif value is None or (isinstance(value, float) and value != value):
            out[key] = None
        else:
            out[key] = value
    return out
