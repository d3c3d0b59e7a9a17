"""`lakehouse bench pipeline --events N`: ingestion-to-gold throughput, the embedding stage vs the raw model, memory.

One run: generate N records (GDELT + Wikimedia in realistic proportions, `lakehouse.sample.generate_bench`),
serve and ingest them with the real loader and listener, run the pipeline on local Spark (the same code path as
`lakehouse run-local`), then measure the raw model on the same machine and report:

- events/s **end to end** = N / (ingest + pipeline wall time), everything a one-off local run pays; and events/s
  **sustained** = N / (ingest + pipeline - Spark's fixed start-up before the first flow runs), the rate a running
  pipeline keeps up with. The goal (850 events/s on 2 cores) is a sustained rate, so it is checked on the latter;
- the embedding stage's texts/s (texts the Spark workers actually encoded / time inside the gold UDF, model load
  included, recorded per window via $LAKEHOUSE_GOLD_STATS) next to the raw model's texts/s measured in this run on
  the run's own silver texts (model already loaded, batch 64, best of three passes: other jobs on a shared
  machine only ever slow a pass down, so the best pass is the model's capability and the share is not flattered);
- peak resident memory of the whole process tree, and where the time went (steps and per-flow durations).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lakehouse.local_run import REPO_ROOT, RunPaths, read_table, run_local
from lakehouse.sample import generate_bench
from pipelines.transforms.gold import STATS_ENV

DEFAULT_BENCH_DIR = REPO_ROOT / ".bench" / "pipeline"
# The reference cluster figure and the embedding goal the issue sets.
TARGET_EVENTS_PER_S = 850.0
TARGET_STAGE_SHARE = 0.80

_FLOW_LINE = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d): Flow (?P<flow>\S+) (?:is|has) (?P<state>[A-Z]+)")


@dataclass
class BenchReport:
    events: int
    gdelt_rows: int
    wikimedia_events: int
    wall_time_s: float
    ingest_to_gold_s: float
    events_per_s: float  # end to end: N / (ingest + pipeline), Spark's start-up included
    events_per_s_excluding_startup: float  # sustained: N / (ingest + pipeline - start-up); the goal applies here
    stage_texts: int
    stage_seconds: float
    stage_texts_per_s: float
    raw_model_texts: int
    raw_model_texts_per_s: float
    stage_share_of_raw: float
    stage_model_load_s: float
    stage_texts_per_s_loaded_model: float
    peak_memory_mb: float
    peak_rss_sum_mb: float
    rows: dict[str, int]
    timings_s: dict[str, float]
    flow_seconds: dict[str, float]
    startup_s: float
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def flow_durations(log_lines: list[str]) -> tuple[dict[str, float], float]:
    """Per flow: seconds from RUNNING to COMPLETED (1 s resolution); and the start-up before the first flow ran."""
    running: dict[str, datetime] = {}
    done: dict[str, float] = {}
    first_stamp: datetime | None = None
    first_running: datetime | None = None
    for line in log_lines:
        stamp_match = re.match(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d): ", line)
        if stamp_match and first_stamp is None:
            first_stamp = datetime.strptime(stamp_match.group(1), "%Y-%m-%d %H:%M:%S")
        match = _FLOW_LINE.match(line)
        if not match:
            continue
        stamp = datetime.strptime(match.group("ts"), "%Y-%m-%d %H:%M:%S")
        flow = match.group("flow").replace("spark_catalog.", "")
        if match.group("state") == "RUNNING":
            running[flow] = stamp
            first_running = first_running or stamp
        elif match.group("state") == "COMPLETED" and flow in running:
            done[flow] = (stamp - running[flow]).total_seconds()
    startup = (first_running - first_stamp).total_seconds() if first_running and first_stamp else 0.0
    return done, startup


def raw_model_texts_per_s(texts: list[str], *, batch_size: int = 64, passes: int = 3) -> float:
    """The bundled model's own throughput on `texts` (loaded first, so loading is not counted): the best of
    `passes` timed passes, since a concurrent job can only slow a pass down."""
    from pipelines.embedding import load_sentence_model

    model = load_sentence_model()
    model.encode(texts[:batch_size], batch_size=batch_size, show_progress_bar=False)  # warm-up
    best = float("inf")
    for _ in range(max(1, passes)):
        started = time.perf_counter()
        model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def goal_notes(
    *, sustained_events_per_s: float, end_to_end_events_per_s: float, startup_s: float, stage_share_of_raw: float
) -> list[str]:
    """One note per missed goal (the command exits 2 when there is any). The throughput goal is a sustained rate:
    Spark's start-up is paid once per local run, not per event, so the end-to-end figure is only quoted."""
    notes: list[str] = []
    if sustained_events_per_s < TARGET_EVENTS_PER_S:
        notes.append(
            f"sustained {sustained_events_per_s:.1f} events/s (without Spark's {startup_s:.0f} s start-up) is below "
            f"the {TARGET_EVENTS_PER_S:.0f} events/s goal; end to end {end_to_end_events_per_s:.1f} events/s"
        )
    if stage_share_of_raw < TARGET_STAGE_SHARE:
        notes.append(f"embedding stage at {stage_share_of_raw:.0%} of the raw model (goal {TARGET_STAGE_SHARE:.0%})")
    return notes


def bench_pipeline(
    n_events: int, *, run_dir: Path = DEFAULT_BENCH_DIR, progress: Any = lambda _m: None, raw_sample: int = 2000
) -> BenchReport:
    sample = generate_bench(n_events)
    gdelt_rows = sum(len(rows) for rows in sample.gdelt_slices.values())
    stats_path = run_dir.parent / f"{run_dir.name}-gold-stats.jsonl"
    stats_path.parent.mkdir(parents=True, exist_ok=True)
    stats_path.unlink(missing_ok=True)
    previous = os.environ.get(STATS_ENV)
    os.environ[STATS_ENV] = str(stats_path)
    try:
        summary = run_local(source="sample", run_dir=run_dir, sample=sample, progress=progress)
    finally:
        if previous is None:
            os.environ.pop(STATS_ENV, None)
        else:
            os.environ[STATS_ENV] = previous
    paths = RunPaths(Path(summary.run_dir))
    log_lines = (paths.logs / "pipeline-run.log").read_text(encoding="utf-8").splitlines()
    flows, startup = flow_durations(log_lines)

    stage_texts = 0
    per_pid: dict[int, float] = defaultdict(float)
    load_per_pid: dict[int, float] = defaultdict(float)
    if stats_path.exists():
        for line in stats_path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            stage_texts += int(record["encoded_texts"])
            per_pid[int(record["pid"])] += float(record["seconds"])
            load_per_pid[int(record["pid"])] += float(record.get("load_seconds", 0.0))
    # Workers run windows in parallel: the stage's wall time is the busiest worker's, not the sum.
    busiest = max(per_pid, key=lambda pid: per_pid[pid], default=None)
    stage_seconds = per_pid[busiest] if busiest is not None else 0.0
    load_seconds = load_per_pid[busiest] if busiest is not None else 0.0

    progress("bench: measuring the raw model on this run's silver texts")
    events = read_table(paths, "silver.gdelt_events")["event_text"].dropna().astype(str)
    edits = read_table(paths, "silver.wikimedia_edits")["edit_text"].dropna().astype(str)
    distinct = list(dict.fromkeys([*events, *edits]))[:raw_sample]
    raw_rate = raw_model_texts_per_s(distinct) if distinct else 0.0

    ingest_to_gold = summary.timings_s.get("ingest", 0.0) + summary.timings_s.get("pipeline", 0.0)
    stage_rate = stage_texts / stage_seconds if stage_seconds else 0.0
    warm_seconds = stage_seconds - load_seconds
    stage_rate_warm = stage_texts / warm_seconds if warm_seconds > 0 else 0.0
    report = BenchReport(
        events=n_events,
        gdelt_rows=gdelt_rows,
        wikimedia_events=len(sample.wikimedia_events),
        wall_time_s=round(summary.wall_time_s, 1),
        ingest_to_gold_s=round(ingest_to_gold, 1),
        events_per_s=round(n_events / ingest_to_gold, 1) if ingest_to_gold else 0.0,
        events_per_s_excluding_startup=round(n_events / max(ingest_to_gold - startup, 1e-9), 1),
        stage_texts=stage_texts,
        stage_seconds=round(stage_seconds, 1),
        stage_texts_per_s=round(stage_rate, 1),
        raw_model_texts=len(distinct),
        raw_model_texts_per_s=round(raw_rate, 1),
        stage_share_of_raw=round(stage_rate / raw_rate, 3) if raw_rate else 0.0,
        stage_model_load_s=round(load_seconds, 1),
        stage_texts_per_s_loaded_model=round(stage_rate_warm, 1),
        peak_memory_mb=round(summary.peak_memory_mb, 1),
        peak_rss_sum_mb=round(summary.peak_rss_sum_mb, 1),
        rows=summary.rows,
        timings_s=summary.timings_s,
        flow_seconds=flows,
        startup_s=startup,
    )
    report.notes.extend(
        goal_notes(
            sustained_events_per_s=report.events_per_s_excluding_startup,
            end_to_end_events_per_s=report.events_per_s,
            startup_s=startup,
            stage_share_of_raw=report.stage_share_of_raw,
        )
    )
    return report
