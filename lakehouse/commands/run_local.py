"""`lakehouse run-local [--source sample|live] [--summary-json PATH]`: the pipeline end to end on this machine."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from lakehouse.local.paths import DEFAULT_RUN_DIR
from lakehouse.local.run import RunSummary, write_summary_json
from lakehouse.local.run import run_local as run_local_pipeline


def print_summary(summary: RunSummary, console: Console) -> None:
    """Rows per layer, quarantine counts per rule, top correlations per window, trending stories, cost."""
    rows = Table(title="rows per table")
    rows.add_column("table", style="cyan")
    rows.add_column("rows", justify="right")
    for table, count in summary.rows.items():
        rows.add_row(table, f"{count:,}")
    console.print(rows)

    quarantine = Table(title="quarantined rows per expectation rule")
    quarantine.add_column("rule", style="cyan")
    quarantine.add_column("rows", justify="right")
    for rule, count in summary.quarantine.items():
        quarantine.add_row(rule, str(count), style="yellow" if count else None)
    console.print(quarantine)

    correlations = Table(title="top correlations per window (* provisional: the window is still open)")
    correlations.add_column("window (UTC)", no_wrap=True)
    correlations.add_column("score", justify="right")
    correlations.add_column("event")
    correlations.add_column("edited article", style="green")
    for c in summary.correlations:
        window = c["window_start"] + (" *" if c.get("provisional") else "")
        correlations.add_row(window, f"{c['score']:.3f}", c["event_text"][:90], c["edit_title"])
    console.print(correlations)

    trending = Table(title="trending stories per window")
    trending.add_column("window (UTC)", no_wrap=True)
    trending.add_column("story")
    trending.add_column("events", justify="right")
    trending.add_column("edits", justify="right")
    trending.add_column("top score", justify="right")
    for t in summary.trending:
        trending.add_row(
            t["window_start"], t["story"][:80], str(t["n_events"]), str(t["n_edits"]), f"{t['top_score']:.3f}"
        )
    console.print(trending)

    for u in summary.sink_updates:
        console.print(
            f"correlation sink, batch {u['batch_id']}: {u['input_rows']} new silver rows, "
            f"{u['texts_embedded']} texts embedded, {u['windows_recomputed']} of {u['windows_open']} open windows "
            f"recomputed, {u['windows_finalized']} finalized, {u['late_rows']} late rows (ops.late_rows)"
        )
    for warning in summary.warnings:
        console.print(f"[bold yellow]warning:[/bold yellow] {warning}")
    timings = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in summary.timings_s.items())
    console.print(
        f"[bold]wall time {summary.wall_time_s:.1f} s[/bold] ({timings}); "
        f"[bold]peak memory {summary.peak_memory_mb:,.0f} MiB[/bold] (PSS of this process and its children; "
        f"RSS sum {summary.peak_rss_sum_mb:,.0f} MiB); "
        f"run folder {summary.run_dir}"
    )


@click.command("run-local")
@click.option(
    "--source",
    type=click.Choice(["sample", "live"]),
    default="sample",
    show_default=True,
    help="sample: generated data served on loopback; live: the public GDELT and Wikimedia feeds (needs network).",
)
@click.option(
    "--summary-json",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the summary (rows, correlations, quarantine, timings) as JSON to this file.",
)
@click.option(
    "--run-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_RUN_DIR,
    show_default=True,
    help="Folder for the run's state (landing files, warehouse, metastore); deleted and recreated on each run.",
)
@click.option(
    "--keep-state",
    is_flag=True,
    help="Keep the run folder of an earlier run and run one more update on it (the data is landed again; silver "
    "drops what it has seen).",
)
@click.option(
    "--live-seconds", type=click.IntRange(5, 3600), default=60, show_default=True, help="Live: listen this long."
)
@click.option("--live-events", type=click.IntRange(1), default=2000, show_default=True, help="Live: at most this many.")
def run_local(
    source: str, summary_json: Path | None, run_dir: Path, keep_state: bool, live_seconds: int, live_events: int
) -> None:
    """Run the whole pipeline locally: generate (or fetch), ingest, run spark-pipelines, summarize."""
    console = Console()
    # The loader logs each rejected sample row (the sample plants them on purpose); the summary counts them.
    logging.getLogger("pipelines.ingest").setLevel(logging.ERROR)
    with console.status("starting", spinner="dots") as status:

        def progress(message: str) -> None:
            console.log(message)
            status.update(message)

        summary = run_local_pipeline(
            source="live" if source == "live" else "sample",
            run_dir=run_dir,
            progress=progress,
            live_max_events=live_events,
            live_duration_s=float(live_seconds),
            keep_state=keep_state,
        )
    print_summary(summary, console)
    if summary_json is not None:
        write_summary_json(summary, summary_json)
        console.print(f"summary written to {summary_json}")
    # Last line on purpose: `make run` ends by naming the file to open.
    click.echo(f"report: {summary.report_path}")
