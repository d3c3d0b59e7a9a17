"""`lakehouse evaluate --pairs FILE.jsonl [--threshold T] [--top-k K] [--json] [--baseline] [--nested]`.

Scores labeled (event, edit) pairs with the correlation engine (the pipeline's own text building, embedding and
scoring) and prints precision, recall, F1 and the threshold. `--json` prints one JSON object with the keys
precision, recall, f1, threshold, n_pairs (plus `best` and `jaccard` objects with `--baseline`, and a `nested` list
with `--nested`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from pipelines import settings


@click.command("evaluate")
@click.option(
    "--pairs",
    "pairs_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="JSON-lines file of labeled pairs (format: ../shared/bench/README.md).",
)
@click.option(
    "--threshold",
    type=float,
    default=settings.DEFAULT_SIMILARITY_THRESHOLD,
    show_default=True,
    help="Score at or above which a pair is a match (the pipeline's lakehouse.similarity_threshold).",
)
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=settings.DEFAULT_TOP_K,
    show_default=True,
    help="Matches kept per event and window (the pipeline's lakehouse.top_k).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option(
    "--baseline",
    is_flag=True,
    help="Also report the F1-maximizing threshold on these pairs and the token-overlap (Jaccard) baseline.",
)
@click.option(
    "--nested",
    is_flag=True,
    help="Also report nested cross-validation (outer folds by slice and by story; scoring and threshold chosen on "
    "the training folds only) for the shipped engine, every constant re-chosen, and the previous engine.",
)
def evaluate(pairs_path: Path, threshold: float, top_k: int, as_json: bool, baseline: bool, nested: bool) -> None:
    """Score labeled event x edit pairs: precision, recall and F1 of label 1 at the threshold."""
    # Imported here so `lakehouse --help` never pays for numpy / the model.
    from lakehouse.evaluate import evaluate as run_evaluation
    from lakehouse.evaluate import load_pairs, nested_estimates
    from pipelines.embedding import shared_embedder

    started = time.perf_counter()
    pairs = load_pairs(pairs_path)
    result = run_evaluation(pairs, shared_embedder(), threshold=threshold, top_k=top_k)
    estimates = nested_estimates(pairs, shared_embedder(), top_k=top_k) if nested else []
    seconds = time.perf_counter() - started
    if as_json:
        out: dict[str, object] = dict(result.engine.as_json())
        if baseline:
            out["best"] = result.engine_best.as_json()
            out["jaccard"] = result.jaccard_best.as_json()
        if nested:
            out["nested"] = [e.as_json() for e in estimates]
        click.echo(json.dumps(out))
        return
    m = result.engine
    click.echo(f"pairs:      {m.n_pairs} ({m.true_positives + m.false_negatives} positive) from {pairs_path}")
    click.echo(f"threshold:  {m.threshold:g} (top_k {result.top_k})")
    click.echo(f"precision:  {m.precision:.4f}  ({m.true_positives} TP, {m.false_positives} FP)")
    click.echo(f"recall:     {m.recall:.4f}  ({m.false_negatives} FN)")
    click.echo(f"f1:         {m.f1:.4f}")
    if baseline:
        b, j = result.engine_best, result.jaccard_best
        click.echo(f"best on these pairs: f1 {b.f1:.4f} (P {b.precision:.4f}, R {b.recall:.4f}) at {b.threshold:g}")
        click.echo(f"jaccard baseline:    f1 {j.f1:.4f} (P {j.precision:.4f}, R {j.recall:.4f}) at {j.threshold:g}")
    for estimate in estimates:
        per_fold = " ".join(f"{f.metrics.f1:.3f}" for f in estimate.folds)
        click.echo(
            f"nested ({estimate.scheme}) {estimate.procedure}: mean f1 {estimate.mean_f1:.4f}, "
            f"worst fold {estimate.worst_f1:.4f} [{per_fold}]"
        )
    click.echo(f"time:       {seconds:.1f} s")
