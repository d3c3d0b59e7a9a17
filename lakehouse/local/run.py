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

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lakehouse.local.engine import LocalEngine, run_pipeline, stop_stale_engine
from lakehouse.local.memory import PeakMemory
from lakehouse.local.paths import (
    DEFAULT_RUN_DIR,
    RUN_DIR_MARKER,
    SCHEMAS,
    Progress,
    RunPaths,
    Source,
    local_spec,
    prepare_run_dir,
    settings_for,
)
from lakehouse.local.readback import iso_utc, read_table, row_counts
from lakehouse.local.replay import ingest_live, ingest_sample
from lakehouse.local.sample import Sample, generate_sample
from pipelines import tables

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
                        "window_start": iso_utc(r.window_start),
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
                        "window_start": iso_utc(r.window_start),
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
    if keep_state and (root / RUN_DIR_MARKER).exists():
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
    from lakehouse.local.report import write_local_report

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
