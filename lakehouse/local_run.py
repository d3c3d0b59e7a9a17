"""`lakehouse run-local`: the whole pipeline on this machine, from feeds to gold, in one command.

Steps: clean the run folder -> generate the sample (or use the live feeds) -> serve it on loopback and ingest it
with the real GDELT loader and Wikimedia listener -> create the local Hive metastore's schemas -> run the
declarative pipeline with `spark-pipelines run` on local Spark -> read the published tables back -> summarize.

Everything lives under the run folder (default `.local-run/` in the repo, gitignored): landing files, the Hive
warehouse, the Derby metastore, checkpoints, logs. Each run deletes its previous state first, so runs repeat.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from lakehouse.errors import LakehouseError
from lakehouse.sample import Sample, generate_sample
from pipelines.settings import PipelineSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFINITIONS_DIR = REPO_ROOT / "pipelines" / "definitions"
DEFAULT_RUN_DIR = REPO_ROOT / ".local-run"
SCHEMAS = ("bronze", "silver", "gold", "ops")
# Every table the pipeline publishes (the contract's names), in layer order.
TABLES = (
    "bronze.gdelt_events",
    "bronze.wikimedia_events",
    "silver.gdelt_events",
    "silver.wikimedia_edits",
    "ops.gdelt_events_quarantine",
    "ops.wikimedia_edits_quarantine",
    "ops.expectation_counts",
    "gold.correlations",
    "gold.trending_stories",
    "gold.story_window_features",
)
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

    def table_dir(self, qualified: str) -> Path:
        schema, table = qualified.split(".")
        return self.warehouse / f"{schema}.db" / table


def settings_for(
    paths: RunPaths, *, threshold: float | None = None, window_hours: int | None = None
) -> PipelineSettings:
    """The pipeline settings of a local run: landing paths inside the run folder, engine defaults otherwise."""
    defaults = PipelineSettings()
    return PipelineSettings(
        window_hours=window_hours or defaults.window_hours,
        similarity_threshold=defaults.similarity_threshold if threshold is None else threshold,
        top_k=defaults.top_k,
        gdelt_landing_path=str(paths.gdelt),
        wikimedia_landing_path=str(paths.wikimedia),
        cameo_lookup_path=str(paths.cameo),
        wikis=defaults.wikis,
        include_bots=defaults.include_bots,
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

    The Derby metastore is fixed by running Spark with the run's `derby/` folder as working directory (Derby's
    default home): spark-pipelines does not hand `--driver-java-options` to the driver it starts.
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
    """

    interval_s: float = 0.2
    peak_bytes: int = 0
    peak_rss_bytes: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> int:
        import psutil

        me = psutil.Process()
        pss_total = rss_total = 0
        for proc in [me, *me.children(recursive=True)]:
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


def ingest_sample(sample: Sample, paths: RunPaths, progress: Progress) -> IngestReport:
    """Serve the sample on loopback and land it with the real loader and listener (and the CAMEO lookup too)."""
    from lakehouse.local_feeds import EventStreamServer, GdeltFeedServer
    from pipelines.cameo import render_lookup
    from pipelines.ingest.gdelt_loader import land_backfill, land_cameo_lookup
    from pipelines.ingest.wikimedia_listener import ListenerConfig, listen

    slice_ids = sorted(sample.gdelt_slices)
    start = datetime.strptime(slice_ids[0], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    end = datetime.strptime(slice_ids[-1], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    with GdeltFeedServer(sample.gdelt_slices, cameo_lookup=render_lookup(sample.cameo_lookup)) as gdelt_feed:
        progress(f"ingest: GDELT loader backfilling {len(slice_ids)} slices from {gdelt_feed.base_url}")
        land_backfill(gdelt_feed.base_url, paths.gdelt, start, end)
        land_cameo_lookup(gdelt_feed.cameo_url, paths.cameo.parent)
    with EventStreamServer(sample.wikimedia_events, end_of_stream=True) as stream:
        progress(f"ingest: Wikimedia listener reading {len(sample.wikimedia_events)} events from {stream.url}")
        # The replay ends with 204 No Content after its last event (the SSE end of stream), so the listener stops
        # when the source is exhausted, not on an idle timer; max_seconds only bounds a broken run.
        result = listen(
            stream.url,
            paths.wikimedia,
            max_seconds=120,
            config=ListenerConfig(flush_max_seconds=5.0),
            handle_signals=False,
        )
    gdelt_files = len(list(paths.gdelt.glob("*.export.CSV")))
    return IngestReport(gdelt_files, result.events_landed, "loopback feeds + GDELT loader + Wikimedia listener")


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
    # `spark-pipelines --remote local[...]` starts an in-process Spark Connect server. By default it binds the fixed
    # port 15002, so a second run (another checkout, a benchmark, a test) dies with a BindException. With
    # SPARK_TESTING set, pyspark binds an ephemeral port and its client asks the JVM for it
    # (pyspark.sql.connect.session._start_connect_server and client.core.default_port; SPARK-42272). Measured: the
    # same run time either way.
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


_BOOTSTRAP = """
import sys
from pyspark.sql import SparkSession
warehouse, *schemas = sys.argv[1:]
spark = (SparkSession.builder.master("local[1]").appName("lakehouse-metastore-bootstrap")
    .config("spark.sql.catalogImplementation", "hive").config("spark.sql.warehouse.dir", warehouse)
    .config("spark.ui.enabled", "false").getOrCreate())
for schema in schemas:
    spark.sql(f"CREATE DATABASE IF NOT EXISTS `{schema}`")
spark.stop()
"""


def create_schemas(paths: RunPaths) -> None:
    """Create the layer schemas in the run's Hive metastore (pipelines may not run DDL on namespaces)."""
    log = paths.logs / "metastore-bootstrap.log"
    with log.open("w", encoding="utf-8") as out:
        result = subprocess.run(  # noqa: S603 - fixed interpreter and script, paths we created
            [
                sys.executable,
                "-c",
                _BOOTSTRAP,
                str(paths.warehouse),
                *SCHEMAS,
            ],
            cwd=paths.derby,  # Derby's home is the working directory: the metastore lands in derby/metastore_db
            env=_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=False,
        )
    if result.returncode != 0:
        raise LocalRunError(f"creating the local metastore schemas failed; see {log}")


_FLOW_EVENT = re.compile(r"Flow '?(?P<flow>[\w.`]+)'? (?:is|has) (?P<state>[A-Z_]+|\w+)")


def pipeline_command(paths: RunPaths, *, dry_run: bool = False) -> list[str]:
    # spark-pipelines starts its Spark Connect server with `--remote local` (one core) unless told otherwise.
    cmd = [
        _bin("spark-pipelines"),
        "dry-run" if dry_run else "run",
        "--spec",
        str(paths.spec),
        "--remote",
        LOCAL_MASTER,
    ]
    for key, value in spark_submit_confs(paths).items():
        cmd += ["--conf", f"{key}={value}"]
    return cmd


def run_pipeline(paths: RunPaths, progress: Progress, *, dry_run: bool = False) -> list[str]:
    """Run `spark-pipelines run` (or `dry-run`) as a subprocess; stream flow progress; raise with the log on error."""
    log = paths.logs / ("pipeline-dry-run.log" if dry_run else "pipeline-run.log")
    lines: list[str] = []
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(  # noqa: S603 - the venv's spark-pipelines with arguments we build
            pipeline_command(paths, dry_run=dry_run),
            cwd=paths.derby,  # the same Derby metastore as the bootstrap (Derby's home is the working directory)
            env=_env(),
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


# ------------------------------------------------------------------------------------------------ read back


def read_table(paths: RunPaths, qualified: str) -> Any:
    """A published table as a pandas DataFrame, read from its parquet files (no second JVM needed)."""
    import pyarrow.dataset as ds

    folder = paths.table_dir(qualified)
    files = [
        p
        for p in folder.rglob("*.parquet")
        if not any(part.startswith(("_", ".")) for part in p.relative_to(folder).parts)
    ]
    if not files:
        raise LocalRunError(f"table {qualified} has no data files under {folder}: did the pipeline publish it?")
    return ds.dataset([str(f) for f in files], format="parquet").to_table().to_pandas()


def row_counts(paths: RunPaths) -> dict[str, int]:
    import pyarrow.parquet as pq

    counts: dict[str, int] = {}
    for table in TABLES:
        folder = paths.table_dir(table)
        files = [
            p
            for p in folder.rglob("*.parquet")
            if not any(part.startswith(("_", ".")) for part in p.relative_to(folder).parts)
        ]
        if not folder.exists():
            raise LocalRunError(f"table {table} was not published (no folder {folder})")
        counts[table] = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
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
            "report_path": self.report_path,
        }


def _iso(value: Any) -> str:
    """A window start as naive UTC ISO text (tables hold UTC; the session time zone is UTC)."""
    import pandas as pd

    stamp = pd.Timestamp(value)
    return str(stamp.tz_convert(None).isoformat() if stamp.tzinfo else stamp.isoformat())


def summarize(
    paths: RunPaths, *, top_per_window: int = 5
) -> tuple[dict[str, int], dict[str, int], list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows per table, failed rows per rule, the best correlations per window and the trending stories."""
    rows = row_counts(paths)
    counts = read_table(paths, "ops.expectation_counts")
    quarantine = {str(r.rule): int(r.failed_rows) for r in counts.itertuples(index=False)}
    correlations: list[dict[str, Any]] = []
    if rows["gold.correlations"]:
        gold = read_table(paths, "gold.correlations").sort_values(["window_start", "score"], ascending=[True, False])
        for _, group in gold.groupby("window_start", sort=True):
            for r in group.head(top_per_window).itertuples(index=False):
                correlations.append(
                    {
                        "window_start": _iso(r.window_start),
                        "event_id": str(r.event_id),
                        "event_text": str(r.event_text),
                        "edit_title": str(r.edit_title),
                        "score": round(float(r.score), 4),
                    }
                )
    trending: list[dict[str, Any]] = []
    if rows["gold.trending_stories"]:
        stories = read_table(paths, "gold.trending_stories")
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
        timings[name] = round(time.monotonic() - start, 2)


def run_local(
    *,
    source: Source = "sample",
    run_dir: Path = DEFAULT_RUN_DIR,
    progress: Progress = lambda _msg: None,
    sample: Sample | None = None,
    threshold: float | None = None,
    live_max_events: int = 2000,
    live_duration_s: float = 60.0,
) -> RunSummary:
    """Run the whole local pipeline and return its summary (see the module docstring for the steps)."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    with PeakMemory() as memory:
        with _timed(timings, "prepare"):
            paths = prepare_run_dir(run_dir.resolve())
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
        with _timed(timings, "metastore"):
            progress("metastore: creating schemas " + ", ".join(SCHEMAS))
            create_schemas(paths)
        with _timed(timings, "pipeline"):
            log_lines = run_pipeline(paths, progress)
        with _timed(timings, "summary"):
            rows, quarantine, correlations, trending = summarize(paths)
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
    )
    # The HTML report and the event log in the Databricks shape (for the health SQL), next to the run's tables.
    from lakehouse.report import write_local_report

    report_file, _ = write_local_report(summary, log_lines, update_id=str(uuid.uuid4()))
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
