"""The engine on the real dev pairs, judged on what tuning did not see.

- nested cross-validation (outer folds by GDELT slice and by story; the scoring and its threshold are chosen on the
  training folds only), against the previous engine on the same folds;
- windows grown with negatives that do not come from dev: real recent-change titles of other dates and the other
  GDELT rows of each window's own slice;
- real edit comments from recent-change captures attached to the dev titles.

The plain dev figures (`lakehouse evaluate --json`) are checked too, but only against the bar and the Jaccard
baseline, not against the dev optimum the threshold was calibrated on.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lakehouse.cli import main
from lakehouse.evaluate import (
    LabeledPair,
    NestedSummary,
    ScoredPair,
    evaluate,
    extras_from_pools,
    load_pairs,
    metrics_at,
    nested_estimates,
    predicted_by_engine,
    score_pairs,
)
from pipelines import settings
from pipelines.cameo import describe, merged_lookup, parse_cameo_lookup
from pipelines.correlate import window_start
from pipelines.embedding import shared_embedder
from pipelines.gdelt import EXPORT_COLUMNS, split_export_line
from pipelines.gkg import GKG_COLUMNS
from pipelines.text import clean_edit_comment, url_slug_words

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def dev_pairs(shared_dir: Path) -> Path:
    path = shared_dir / "bench" / "pairs_dev.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="module")
def pairs(dev_pairs: Path) -> list[LabeledPair]:
    return load_pairs(dev_pairs)


def f1_at_shipped_threshold(scored: list[ScoredPair]) -> float:
    return metrics_at(
        [s.score for s in scored],
        [s.pair.label for s in scored],
        settings.DEFAULT_SIMILARITY_THRESHOLD,
        [s.rank <= settings.DEFAULT_TOP_K for s in scored],
    ).f1


def test_cli_json_on_dev_reaches_the_bar(dev_pairs: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", "--pairs", str(dev_pairs), "--json", "--baseline"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert {"precision", "recall", "f1", "threshold", "n_pairs"} <= set(report)
    assert report["n_pairs"] == 419
    assert report["threshold"] == settings.DEFAULT_SIMILARITY_THRESHOLD
    assert report["f1"] >= 0.90
    # Clearly above the token-overlap baseline, each at its own best threshold on the same pairs.
    assert report["f1"] >= report["jaccard"]["f1"] + 0.10


def test_evaluation_counts_match_the_engines_own_matches(pairs: list[LabeledPair]) -> None:
    embedder = shared_embedder()
    result = evaluate(pairs, embedder)
    predicted = predicted_by_engine(
        pairs, embedder, threshold=settings.DEFAULT_SIMILARITY_THRESHOLD, top_k=settings.DEFAULT_TOP_K
    )
    tp = sum(1 for p, pair in zip(predicted, pairs, strict=True) if p and pair.label == 1)
    fp = sum(1 for p, pair in zip(predicted, pairs, strict=True) if p and pair.label == 0)
    assert (tp, fp) == (result.engine.true_positives, result.engine.false_positives)


# ------------------------------------------------------------------------------------------------ nested CV


@pytest.fixture(scope="module")
def estimates(pairs: list[LabeledPair]) -> dict[tuple[str, str], NestedSummary]:
    return {(e.procedure, e.scheme): e for e in nested_estimates(pairs, shared_embedder())}


@pytest.mark.parametrize("scheme", ["slice", "story"])
def test_nested_estimate_on_folds_never_seen_by_tuning(
    estimates: dict[tuple[str, str], NestedSummary], scheme: str
) -> None:
    shipped = estimates[("shipped (veto chosen on inner folds)", scheme)]
    everything = estimates[("every constant re-chosen", scheme)]
    baseline = estimates[("baseline: previous engine", scheme)]
    assert [f.fold for f in shipped.folds] == [f.fold for f in baseline.folds]  # the same outer folds
    assert len(shipped.folds) == (3 if scheme == "slice" else 15)
    # The team's bar for an estimate tuning never saw, also when every scoring constant is re-chosen per split.
    assert shipped.mean_f1 >= 0.88 and everything.mean_f1 >= 0.88
    assert shipped.worst_f1 >= 0.80 and everything.worst_f1 >= 0.80
    # The veto must earn its place on the same folds: the procedure that may choose it beats the previous engine.
    assert shipped.mean_f1 > baseline.mean_f1
    better = sum(s.metrics.f1 >= b.metrics.f1 for s, b in zip(shipped.folds, baseline.folds, strict=True))
    assert better >= 0.7 * len(shipped.folds)


# --------------------------------------------------------------------------------- windows grown from outside dev


def _wikimedia_titles(wikimedia_dir: Path) -> list[str]:
    titles: set[str] = set()
    with (wikimedia_dir / "wiki_stream_enwiki_recentchange_flat_20260324.csv").open(encoding="utf-8") as handle:
        titles.update(row["title"] for row in csv.DictReader(handle) if row["namespace"] == "0" and row["title"])
    for line in (wikimedia_dir / "polars_guide_enwiki_recentchange_2023-07-29.ndjson").read_text().splitlines():
        if line.strip() and json.loads(line).get("namespace") == 0:
            titles.add(json.loads(line)["title"])
    return sorted(titles)


def _slice_story_rows(gdelt_dir: Path, slice_id: str) -> list[dict[str, str]]:
    """The slice's GDELT rows whose URL names a story (3+ slug words), at most two per URL, with the CAMEO
    description the pairs file carries: events like the benchmark's, unlabeled."""
    lookup = merged_lookup(parse_cameo_lookup((gdelt_dir / "CAMEO.eventcodes.txt").read_text(encoding="utf-8")))
    per_url: dict[str, list[dict[str, str]]] = defaultdict(list)
    text = (gdelt_dir / f"{slice_id}.export.CSV").read_text(encoding="utf-8")
    for line in text.splitlines():
        row = dict(zip(EXPORT_COLUMNS, split_export_line(line), strict=True))
        url = row["SOURCEURL"]
        if len(url_slug_words(url)) >= 3 and len(per_url[url]) < 2:
            per_url[url].append({**row, "EventDescription": describe(row["EventCode"], lookup) or ""})
    return [row for rows in per_url.values() for row in rows]


@pytest.fixture(scope="module")
def outside_pools(shared_dir: Path, pairs: list[LabeledPair]) -> tuple[list[str], dict[datetime, list[dict[str, str]]]]:
    titles = _wikimedia_titles(shared_dir / "data" / "wikimedia")
    events: dict[datetime, list[dict[str, str]]] = {}
    for pair in pairs:
        start = window_start(pair.event_time, settings.DEFAULT_WINDOW_HOURS)
        if start not in events:
            events[start] = _slice_story_rows(shared_dir / "data" / "gdelt", pair.event["DATEADDED"])
    return titles, events


def test_f1_holds_when_windows_grow_with_texts_from_outside_dev(
    pairs: list[LabeledPair], outside_pools: tuple[list[str], dict[datetime, list[dict[str, str]]]]
) -> None:
    # The held-out set's windows hold ~1.8x dev's titles and events. Grow dev's windows by 1.8x on both sides with
    # real recent-change titles of other dates and the other story-naming GDELT rows of each window's own slice.
    titles, events = outside_pools
    dev_f1 = f1_at_shipped_threshold(score_pairs(pairs, shared_embedder()))
    grown = []
    for seed in range(3):
        extras = extras_from_pools(pairs, titles=titles, events=events, title_factor=1.8, event_factor=1.8, seed=seed)
        assert sum(len(e.titles) for e in extras.values()) >= 0.7 * len({(p.event_time, p.edit_title) for p in pairs})
        assert sum(len(e.events) for e in extras.values()) >= 0.7 * len({p.event_id for p in pairs})
        grown.append(f1_at_shipped_threshold(score_pairs(pairs, shared_embedder(), extras=extras)))
    assert float(np.mean(grown)) >= 0.88
    assert float(np.mean(grown)) >= dev_f1 - 0.04


def test_real_edit_comments_do_not_move_any_score(pairs: list[LabeledPair], shared_dir: Path) -> None:
    # The live feed has comments, the bench has none: attach real ones (mostly about the edit, not the news) and
    # the engine must score exactly as without them (it embeds titles only; docs/correlation.md, "Edit comments").
    path = shared_dir / "data" / "wikimedia" / "wiki_stream_enwiki_recentchange_flat_20260324.csv"
    with path.open(encoding="utf-8") as handle:
        comments = [row["comment"] for row in csv.DictReader(handle) if clean_edit_comment(row["comment"])]
    rng = np.random.default_rng(0)
    by_title = {t: comments[int(rng.integers(len(comments)))] for t in sorted({p.edit_title for p in pairs})}
    commented = [LabeledPair(p.pair_id, p.event, p.edit_title, by_title[p.edit_title], p.label) for p in pairs]
    plain = score_pairs(pairs, shared_embedder())
    with_comments = score_pairs(commented, shared_embedder())
    assert [s.score for s in with_comments] == pytest.approx([s.score for s in plain], abs=1e-6)
    assert [s.rank for s in with_comments] == [s.rank for s in plain]


def test_gkg_columns_follow_the_published_header(shared_dir: Path) -> None:
    header = (shared_dir / "data" / "gdelt" / "schema" / "gdelt2_gkg_headers.csv").read_text().strip().split(",")
    # The header file spells TranslationInfo as "TranslationexInfo" (PROVENANCE.md notes the typo).
    assert [name.replace("TranslationexInfo", "TranslationInfo") for name in header] == list(GKG_COLUMNS)
