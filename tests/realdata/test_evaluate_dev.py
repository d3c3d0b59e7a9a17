"""`lakehouse evaluate` on the real dev pairs: the shipped threshold reaches the F1 bar, beats Jaccard, and holds up
when windows grow (more titles and events than the labeled set) and under story-split cross-validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lakehouse.cli import main
from lakehouse.evaluate import (
    LabeledPair,
    ScoredPair,
    enlarge_windows,
    evaluate,
    load_pairs,
    metrics_at,
    predicted_by_engine,
    score_pairs,
    story_ids,
    story_split_cv,
)
from pipelines import settings
from pipelines.embedding import shared_embedder

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def dev_pairs(shared_dir: Path) -> Path:
    path = shared_dir / "bench" / "pairs_dev.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


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
    # The shipped threshold is the calibrated one: nothing left on the table on dev.
    assert report["f1"] == pytest.approx(report["best"]["f1"], abs=1e-4)


def test_evaluation_counts_match_the_engines_own_matches(dev_pairs: Path) -> None:
    pairs = load_pairs(dev_pairs)
    embedder = shared_embedder()
    result = evaluate(pairs, embedder)
    predicted = predicted_by_engine(
        pairs, embedder, threshold=settings.DEFAULT_SIMILARITY_THRESHOLD, top_k=settings.DEFAULT_TOP_K
    )
    tp = sum(1 for p, pair in zip(predicted, pairs, strict=True) if p and pair.label == 1)
    fp = sum(1 for p, pair in zip(predicted, pairs, strict=True) if p and pair.label == 0)
    assert (tp, fp) == (result.engine.true_positives, result.engine.false_positives)


# ----------------------------------------------------------------------------------------- robustness on dev
# The held-out set is built like dev but holds ~1.8x the pairs per slice, so its windows hold more titles and events.
# These tests grow dev's windows with unlabeled texts from the other dev windows and keep the shipped threshold.


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


@pytest.mark.parametrize(("factor", "seed"), [(1.8, 0), (1.8, 1), (1.8, 2), (2.0, 0)])
def test_f1_stays_at_the_bar_when_windows_hold_more_easy_negatives(
    pairs: list[LabeledPair], factor: float, seed: int
) -> None:
    extras = enlarge_windows(pairs, title_factor=factor, seed=seed)
    own_titles = {p.edit_title for p in pairs}
    added = [t for e in extras.values() for t in e.titles]
    assert len(added) >= round((factor - 1) * 0.9 * len(own_titles))  # the windows really grew
    assert f1_at_shipped_threshold(score_pairs(pairs, shared_embedder(), extras=extras)) >= 0.90


def test_f1_drops_little_when_both_sides_of_the_windows_grow(pairs: list[LabeledPair]) -> None:
    dev_f1 = f1_at_shipped_threshold(score_pairs(pairs, shared_embedder()))
    grown = [
        f1_at_shipped_threshold(
            score_pairs(
                pairs, shared_embedder(), extras=enlarge_windows(pairs, title_factor=1.8, event_factor=1.8, seed=seed)
            )
        )
        for seed in range(5)
    ]
    # Measured: 0.912 -> 0.894 on average (the former top-5 CSLS lost 0.030, to 0.877).
    assert sum(grown) / len(grown) >= dev_f1 - 0.025


def test_story_split_cross_validation_of_the_threshold(pairs: list[LabeledPair]) -> None:
    scored = score_pairs(pairs, shared_embedder())
    assert len(set(story_ids(pairs))) == 36  # the README's story count
    results = story_split_cv(scored, folds=5, repeats=40, seed=1)
    # Measured over 100 repeats: mean 0.910, min 0.865 (the former engine: 0.890, 0.854).
    assert sum(results) / len(results) >= 0.90
    assert min(results) >= 0.85
