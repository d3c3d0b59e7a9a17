"""The local run's HTML report: self-contained (plotly.js inlined, nothing fetched at view time), one chart per
question, and, rendered in headless Chromium, every chart actually drew its bars."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lakehouse.local.report import CHART_IDS, ReportData, render_report

DATA = ReportData(
    source="sample",
    rows={"bronze.gdelt_events": 70, "silver.gdelt_events": 64, "ops.expectation_counts": 8, "gold.correlations": 30},
    correlations_per_window=[("2026-11-26T08:00:00", 14), ("2026-11-26T12:00:00", 8), ("2026-11-26T16:00:00", 8)],
    scores=[0.1, 0.12, 0.3, 0.31, 0.32, 0.45],
    flow_seconds={"gold.correlations": 9.0, "bronze.gdelt_events": 7.0, "silver.gdelt_events": 5.0},
    top_correlations=[
        {"window_start": "2026-11-26T08:00:00", "score": 0.4, "event_text": "<b>x</b>", "edit_title": "t"}
    ],
    trending=[{"window_start": "2026-11-26T08:00:00", "story": "quake", "n_events": 2, "n_edits": 3, "top_score": 0.4}],
    timings_s={"pipeline": 40.0},
    wall_time_s=51.0,
    peak_memory_mb=2600.0,
)


def test_the_report_is_one_self_contained_document() -> None:
    page = render_report(DATA)
    assert page.startswith("<!DOCTYPE html>")
    for div_id in CHART_IDS.values():
        assert page.count(f'id="{div_id}"') == 1
    # plotly.js is inlined exactly once and nothing is loaded from elsewhere when the file is opened.
    assert page.count("plotly.js v") == 1
    assert not re.search(r"<script[^>]+src=", page)
    assert "cdn." not in page.split("</script>")[-1]
    # Table cells are escaped text, not markup.
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page


def _chromium() -> str | None:
    return next((found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None)


def _chart_dom(dom: str, div_id: str) -> str:
    start = dom.index(f'id="{div_id}"')
    ends = [dom.index(f'id="{other}"') for other in CHART_IDS.values() if dom.find(f'id="{other}"') > start]
    return dom[start : min(ends, default=len(dom))]


def test_every_chart_draws_in_headless_chromium(tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("needs Chromium to render the report (Debian: apt-get install chromium; .ci/run installs it)")
    report = tmp_path / "report.html"
    report.write_text(render_report(DATA), encoding="utf-8")
    profile = tmp_path / "profile"
    profile.mkdir()
    # Flags: no sandbox as root in CI; no background networking or component updates, which hang on a closed
    # network; virtual time lets the page's scripts finish without a wall-clock wait.
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    for name, div_id in CHART_IDS.items():
        chart = _chart_dom(dom, div_id)
        # Plotly replaced the empty <div> with its SVG: one `point` path per bar drawn.
        assert "main-svg" in chart, f"{name} did not render"
        bars = len(re.findall(r'class="point"', chart))
        expected = {
            "correlations_per_window": len(DATA.correlations_per_window),
            "rows_per_layer": len(DATA.rows),
            "time_per_flow": len(DATA.flow_seconds),
        }.get(name)
        assert bars == expected if expected is not None else bars > 0, (name, bars)
