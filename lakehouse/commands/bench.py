"""`lakehouse bench stream --hours H --update-minutes M --scale S [--json]`: the pipeline's steady state."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from lakehouse.local.bench import DEFAULT_BENCH_DIR, StreamBenchReport, StreamUpdate, bench_stream


@click.group("bench")
def bench() -> None:
    """Benchmarks (throughput, latency, memory)."""


def _print_report(report: StreamBenchReport, console: Console) -> None:
    table = Table(
        title=f"bench stream: {report.hours:g} h at {report.scale:g}x, an update every {report.update_minutes} min"
    )
    table.add_column("measure", style="cyan")
    table.add_column("value", justify="right")
    rows = [
        ("records (GDELT rows + recentchange events)", f"{report.records_total:,}"),
        ("texts embedded / distinct texts", f"{report.texts_embedded_total:,} / {report.distinct_texts_total:,}"),
        ("texts per record", f"{report.texts_per_record:.3f}"),
        ("events/s (steady: without update 1)", f"{report.events_per_s:,.1f} ({report.events_per_s_steady:,.1f})"),
        ("raw model (same run)", f"{report.raw_model_texts_per_s:,.1f} texts/s"),
        ("limit: raw model / texts per record", f"{report.limit_events_per_s:,.1f} events/s"),
        ("efficiency (steady)", f"{report.efficiency:.2f} ({report.efficiency_steady:.2f})"),
        ("publish latency p50 / p99", f"{report.publish_p50_s:.1f} s / {report.publish_p99_s:.1f} s"),
        ("gold equals a one-shot run", str(report.gold_matches_batch)),
        ("one-shot run of the same data", f"{report.one_shot_seconds:.1f} s ({report.one_shot_events_per_s:,.1f}/s)"),
        ("engine start-up (paid once)", f"{report.engine_start_s:.1f} s"),
        ("model loads in Spark workers (all updates)", str(report.model_loads_total)),
        ("embedding in the workers (busiest worker)", f"{report.worker_texts_per_s:,.1f} texts/s"),
        ("peak memory (PSS, process tree)", f"{report.peak_memory_mb:,.0f} MiB"),
    ]  # fmt: skip
    for measure, value in rows:
        table.add_row(measure, value)
    console.print(table)
    for note in report.notes:
        console.print(f"[yellow]{note}[/yellow]")


@bench.command("stream")
@click.option("--hours", type=click.FloatRange(0.25, 168), default=24, show_default=True, help="Hours simulated.")
@click.option(
    "--update-minutes", type=click.IntRange(15, 24 * 60), default=60, show_default=True, help="Minutes per update."
)
@click.option(
    "--scale", type=click.FloatRange(0.001, 10), default=0.1, show_default=True, help="Times the real feed rates."
)
@click.option(
    "--launcher",
    type=click.Choice(["python", "spark-pipelines"]),
    default="python",
    show_default=True,
    help="How each update starts the pipeline CLI against the running engine (spark-pipelines adds its JVM).",
)
@click.option(
    "--run-dir", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_BENCH_DIR, show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object on the last line.")
def stream(hours: float, update_minutes: int, scale: float, launcher: str, run_dir: Path, as_json: bool) -> None:
    """Land H hours of both feeds at S times the real rates, M minutes at a time, one pipeline update after each.

    Prints one line per update, then the totals; exit code 2 when a target is missed (texts embedded <= 1.05x the
    distinct texts, last update <= 1.5x the median, recomputed <= open windows, publish p99 < 120 s, steady-state
    efficiency >= 0.8, gold equal to a one-shot run).
    """
    console = Console(stderr=as_json)
    logging.getLogger("pipelines.ingest").setLevel(logging.ERROR)
    per_update = Table(title="updates")
    for name in (
        "update",
        "new records",
        "texts embedded",
        "windows recomputed / open",
        "finalized",
        "seconds",
        "publish s",
    ):
        per_update.add_column(name, justify="right")

    def on_update(u: StreamUpdate) -> None:
        console.log(
            f"update {u.index}: {u.new_records} records, {u.texts_embedded} texts embedded, "
            f"{u.windows_recomputed}/{u.windows_open} windows recomputed/open, {u.seconds:.1f} s "
            f"(pipeline {u.pipeline_seconds:.1f} + sink {u.sink_seconds:.1f}), published after {u.publish_s:.1f} s; "
            f"{u.model_loads} model loads, busiest worker {u.embed_worker_seconds:.1f} s in the embedding UDF"
        )
        per_update.add_row(
            str(u.index), str(u.new_records), str(u.texts_embedded), f"{u.windows_recomputed} / {u.windows_open}",
            str(u.windows_finalized), f"{u.seconds:.1f}", f"{u.publish_s:.1f}",
        )  # fmt: skip

    with console.status("benchmark", spinner="dots") as status:
        report = bench_stream(
            hours,
            update_minutes,
            scale,
            run_dir=run_dir,
            launcher="spark-pipelines" if launcher == "spark-pipelines" else "python",
            progress=status.update,
            on_update=on_update,
        )
    console.print(per_update)
    _print_report(report, console)
    if as_json:
        click.echo(json.dumps(report.to_json()))
    sys.exit(2 if report.notes else 0)
