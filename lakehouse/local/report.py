"""The local run's HTML report: correlations per window, score distribution, rows per layer and time per flow as
charts, plus the top correlations and trending stories as tables.

`render_report(ReportData) -> str` is pure (plain values in, one HTML document out). The charts are Plotly figures
with plotly.js inlined once, so the file opens offline with no CDN; each chart's `<div>` has a fixed id
(`CHART_IDS`) so tests can find it. `write_local_report` is the glue `lakehouse run-local` calls: it reads gold's
scores, derives the local event log (lakehouse.local.event_log), and writes both files into the run folder.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pipelines import tables

if TYPE_CHECKING:
    from lakehouse.local.run import RunSummary

LAYER_COLORS: Final[Mapping[str, str]] = {
    "bronze": "#b08d57",
    "silver": "#8f9aa6",
    "gold": "#d4a017",
    "ops": "#6c8ebf",
}
# Chart name -> the id of its <div> in the report.
CHART_IDS: Final[Mapping[str, str]] = {
    "correlations_per_window": "chart-correlations-per-window",
    "score_distribution": "chart-score-distribution",
    "rows_per_layer": "chart-rows-per-layer",
    "time_per_flow": "chart-time-per-flow",
}


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, as plain values."""

    source: str
    rows: Mapping[str, int]
    # (window start as ISO text, correlated pairs in that window), in window order.
    correlations_per_window: Sequence[tuple[str, int]]
    scores: Sequence[float]
    flow_seconds: Mapping[str, float]
    top_correlations: Sequence[Mapping[str, Any]] = ()
    trending: Sequence[Mapping[str, Any]] = ()
    timings_s: Mapping[str, float] = field(default_factory=dict)
    wall_time_s: float = 0.0
    peak_memory_mb: float = 0.0


def _layer(table: str) -> str:
    return table.split(".", 1)[0]


def _figures(data: ReportData) -> dict[str, Any]:
    import plotly.graph_objects as go

    layout: dict[str, Any] = {"template": "plotly_white", "height": 360, "margin": {"l": 60, "r": 20, "t": 50, "b": 60}}
    windows = [w for w, _ in data.correlations_per_window]
    per_window = go.Figure(go.Bar(x=windows, y=[n for _, n in data.correlations_per_window], marker_color="#d4a017"))
    per_window.update_layout(title="Correlated pairs per window", xaxis_title="window start (UTC)", **layout)
    per_window.update_layout(yaxis_title="pairs")

    scores = go.Figure(go.Histogram(x=list(data.scores), xbins={"size": 0.02}, marker_color="#6c8ebf"))
    scores.update_layout(title="Score distribution", xaxis_title="score (hubness-corrected cosine)", **layout)
    scores.update_layout(yaxis_title="pairs", bargap=0.05)

    tables = list(data.rows)
    rows = go.Figure(
        go.Bar(
            x=[data.rows[t] for t in tables],
            y=tables,
            orientation="h",
            marker_color=[LAYER_COLORS.get(_layer(t), "#999999") for t in tables],
        )
    )
    rows.update_layout(title="Rows per table (by layer)", xaxis_title="rows", **layout)
    rows.update_layout(yaxis={"autorange": "reversed"}, height=max(360, 40 * len(tables)))

    flows = sorted(data.flow_seconds.items(), key=lambda kv: -kv[1])
    timing = go.Figure(
        go.Bar(
            x=[s for _, s in flows],
            y=[t for t, _ in flows],
            orientation="h",
            marker_color=[LAYER_COLORS.get(_layer(t), "#999999") for t, _ in flows],
        )
    )
    timing.update_layout(title="Time per flow (RUNNING -> COMPLETED)", xaxis_title="seconds", **layout)
    timing.update_layout(yaxis={"autorange": "reversed"}, height=max(360, 40 * len(flows)))
    return {
        "correlations_per_window": per_window,
        "score_distribution": scores,
        "rows_per_layer": rows,
        "time_per_flow": timing,
    }


def _table(title: str, columns: Sequence[str], records: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in columns) + "</tr>" for r in records
    )
    return f"<h2>{html.escape(title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { margin-bottom: 4px; } .meta { color: #555; margin-bottom: 16px; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
table { border-collapse: collapse; font-size: 13px; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 6px; text-align: left; vertical-align: top; }
"""


def render_report(data: ReportData) -> str:
    """The report as one self-contained HTML document (plotly.js inlined once, no network needed to view it)."""
    figures = _figures(data)
    charts: list[str] = []
    for i, (name, figure) in enumerate(figures.items()):
        charts.append(
            str(
                figure.to_html(
                    full_html=False,
                    include_plotlyjs=i == 0,  # inline plotly.js once, before the first chart
                    div_id=CHART_IDS[name],
                    config={"displayModeBar": False, "responsive": True},
                )
            )
        )
    steps = ", ".join(f"{html.escape(k)} {v:.1f} s" for k, v in data.timings_s.items())
    meta = (
        f"source: {html.escape(data.source)} · wall time {data.wall_time_s:.1f} s ({steps}) · "
        f"peak memory {data.peak_memory_mb:,.0f} MiB · {sum(data.rows.values()):,} rows in {len(data.rows)} tables"
    )
    tables = _table(
        "Top correlations per window", ["window_start", "score", "event_text", "edit_title"], data.top_correlations
    ) + _table("Trending stories", ["window_start", "story", "n_events", "n_edits", "top_score"], data.trending)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<title>Lakehouse local run</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>Lakehouse local run: GDELT x Wikimedia correlations</h1>"
        f"<div class='meta'>{meta}</div>"
        f"<div class='charts'>{''.join(charts)}</div>"
        f"{tables}</body></html>\n"
    )


def write_local_report(summary: RunSummary, log_lines: Sequence[str], *, update_id: str) -> tuple[Path, Path]:
    """Write the run's event log (`ops/pipeline_event_log.jsonl`) and `report.html` into its run folder.

    Gold's scores are read from the run's parquet files.
    Returns (report path, event log path).
    """
    from lakehouse.local.event_log import event_rows, events_from_log, flow_seconds, write_jsonl
    from lakehouse.local.paths import RunPaths
    from lakehouse.local.readback import iso_utc, read_table

    paths = RunPaths(Path(summary.run_dir))
    events = events_from_log(log_lines, rows=summary.rows)
    event_log = write_jsonl(
        event_rows(events, update_id=update_id, pipeline_id="lakehouse-local"),
        paths.root / "ops" / "pipeline_event_log.jsonl",
    )
    per_window: list[tuple[str, int]] = []
    scores: list[float] = []
    if summary.rows.get(tables.CORRELATIONS):
        gold = read_table(paths, tables.CORRELATIONS)
        counts = gold.groupby("window_start").size().sort_index()
        per_window = [(iso_utc(w), int(n)) for w, n in counts.items()]
        scores = [float(s) for s in gold["score"]]
    data = ReportData(
        source=summary.source,
        rows=summary.rows,
        correlations_per_window=per_window,
        scores=scores,
        flow_seconds=flow_seconds(events),
        top_correlations=summary.correlations,
        trending=summary.trending,
        timings_s=summary.timings_s,
        wall_time_s=summary.wall_time_s,
        peak_memory_mb=summary.peak_memory_mb,
    )
    report = paths.root / "report.html"
    report.write_text(render_report(data), encoding="utf-8")
    return report, event_log
