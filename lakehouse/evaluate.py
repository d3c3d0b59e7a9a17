"""Evaluate the correlation engine on labeled (event, edit) pairs: precision, recall, F1 at a threshold.

The pairs file is JSON lines in the format of `../shared/bench/README.md`: `{"pair_id", "slice", "event": {GDELT
fields by codebook name}, "edit": {"title", "comment"}, "label": 0|1}`.

The pairs are scored by the engine itself: events are grouped into the pipeline's tumbling windows (by DATEADDED,
`DEFAULT_WINDOW_HOURS`), each window's edits are the distinct edits paired with its events, and
`pipelines.correlate` scores every event x edit of the window exactly as the pipeline does. A pair is predicted
positive when `correlate_window` would return it: score >= threshold and rank <= top_k. The token-overlap
(Jaccard) baseline scores the same pairs with the same event and edit texts.

Robustness tools (docs/correlation.md, "Nested estimate", "Previous round"): `story_ids` groups pairs into
stories, `story_split_cv` calibrates the threshold on some stories and measures it on the others, and
`enlarge_windows` / `extras_from_pools` + `score_pairs(..., extras=...)` score the pairs inside windows grown with
unlabeled titles and events (from the other windows, or from outside the labeled set), to see how F1 at a fixed
threshold moves when windows hold more texts than the labeled set.

Nested cross-validation (docs/correlation.md, "Nested estimate"): `outer_folds` holds out whole slices or groups of
stories; `nested_cv` chooses, on the training part of each outer fold only, one of several scorings (candidate
`ScoringParams`, compared by inner story-split cross-validation) and its threshold, then measures the held-out fold.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from lakehouse.errors import LakehouseError
from pipelines import settings
from pipelines.correlate import (
    SHIPPED,
    Edit,
    Event,
    ScoringParams,
    TextEmbedder,
    correlate_window,
    rank_matrix,
    window_scores,
    window_start,
)
from pipelines.text import build_edit_text, content_tokens

REQUIRED_EVENT_FIELDS = ("GLOBALEVENTID", "DATEADDED")


class PairsFileError(LakehouseError):
    """The labeled pairs file is missing or has a malformed line."""


class TooFewStoriesError(LakehouseError):
    """The pairs hold fewer stories than the cross-validation needs folds."""


@dataclass(frozen=True)
class LabeledPair:
    pair_id: str
    event: Mapping[str, str]
    edit_title: str
    edit_comment: str
    label: int

    @property
    def event_id(self) -> str:
        return self.event["GLOBALEVENTID"]

    @property
    def event_time(self) -> datetime:
        return datetime.strptime(self.event["DATEADDED"], "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def _parse_pair(raw: Any, where: str) -> LabeledPair:
    if not isinstance(raw, dict):
        raise PairsFileError(f"{where}: expected a JSON object per line, got {type(raw).__name__}")
    event, edit, label = raw.get("event"), raw.get("edit"), raw.get("label")
    if not isinstance(event, dict) or not isinstance(edit, dict):
        raise PairsFileError(f'{where}: needs an "event" object and an "edit" object (see ../shared/bench/README.md)')
    missing = [f for f in REQUIRED_EVENT_FIELDS if not str(event.get(f) or "").strip()]
    if missing:
        raise PairsFileError(f"{where}: event lacks {', '.join(missing)}: every event needs its id and DATEADDED")
    try:
        datetime.strptime(str(event["DATEADDED"]), "%Y%m%d%H%M%S")
    except ValueError as exc:
        raise PairsFileError(f"{where}: event DATEADDED={event['DATEADDED']!r} is not YYYYMMDDHHMMSS") from exc
    title = edit.get("title")
    if not isinstance(title, str) or not title.strip():
        raise PairsFileError(f'{where}: edit needs a non-empty "title"')
    if label not in (0, 1) or isinstance(label, bool):
        raise PairsFileError(f'{where}: "label" must be 0 or 1, got {label!r}')
    comment = edit.get("comment") or ""
    return LabeledPair(
        pair_id=str(raw.get("pair_id") or where),
        event={str(k): "" if v is None else str(v) for k, v in event.items()},
        edit_title=title,
        edit_comment=str(comment),
        label=int(label),
    )


def load_pairs(path: Path) -> list[LabeledPair]:
    """Read and validate a pairs file; errors name the file and line and say what to fix."""
    if not path.is_file():
        raise PairsFileError(f"pairs file {path} does not exist: pass --pairs with a JSON-lines file of labeled pairs")
    pairs: list[LabeledPair] = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PairsFileError(f"{where}: not valid JSON ({exc.msg})") from exc
            pairs.append(_parse_pair(raw, where))
    if not pairs:
        raise PairsFileError(f"pairs file {path} has no pairs")
    return pairs


@dataclass(frozen=True)
class ScoredPair:
    pair: LabeledPair
    score: float
    rank: int  # among all edits of the event's window (1 = best)


@dataclass(frozen=True)
class WindowExtras:
    """Unlabeled texts added to one window: edit titles (empty comment) and GDELT event rows (codebook keys)."""

    titles: tuple[str, ...] = ()
    events: tuple[Mapping[str, str], ...] = ()


def _pairs_by_window(pairs: Sequence[LabeledPair], window_hours: int) -> dict[datetime, list[LabeledPair]]:
    by_window: dict[datetime, list[LabeledPair]] = defaultdict(list)
    for pair in pairs:
        by_window[window_start(pair.event_time, window_hours)].append(pair)
    return by_window


def _window_texts(
    window_pairs: Sequence[LabeledPair], start: datetime
) -> tuple[dict[str, Event], dict[tuple[str, str], Edit]]:
    """A window's distinct events (by id) and edits (by title and comment), as the pipeline would see them."""
    events: dict[str, Event] = {}
    edits: dict[tuple[str, str], Edit] = {}
    for pair in window_pairs:
        if pair.event_id not in events:  # an event has ~8 pairs: build it once
            events[pair.event_id] = Event.from_gdelt(pair.event, pair.event_time)
        key = (pair.edit_title, pair.edit_comment)
        if key not in edits:
            edits[key] = Edit(f"edit-{len(edits)}", start, pair.edit_title, pair.edit_comment)
    return events, edits


def score_pairs(
    pairs: Sequence[LabeledPair],
    embedder: TextEmbedder,
    *,
    window_hours: int = settings.DEFAULT_WINDOW_HOURS,
    extras: Mapping[datetime, WindowExtras] | None = None,
    params: ScoringParams = SHIPPED,
) -> list[ScoredPair]:
    """Score every pair with the engine, window by window (see the module docstring).

    `extras` (window start -> WindowExtras) adds unlabeled titles and events to a window: they take part in the
    hubness terms and in the ranks like any other text of the window, but no pair is measured on them. `params`
    scores with other constants than the shipped ones (nested cross-validation compares several).
    """
    scored: dict[int, ScoredPair] = {}
    index_of = {id(p): i for i, p in enumerate(pairs)}
    for start, window_pairs in sorted(_pairs_by_window(pairs, window_hours).items()):
        events, edits = _window_texts(window_pairs, start)
        added = extras.get(start, WindowExtras()) if extras else WindowExtras()
        for extra_event in added.events:
            events.setdefault(f"extra-{extra_event['GLOBALEVENTID']}", Event.from_gdelt(extra_event, start))
        for title in added.titles:
            edits.setdefault((title, ""), Edit(f"edit-{len(edits)}", start, title, ""))
        event_list, edit_list = list(events.values()), list(edits.values())
        scores = window_scores(event_list, edit_list, embedder, params=params)
        ranks = rank_matrix(scores, [e.edit_id for e in edit_list])
        row_of = {key: i for i, key in enumerate(events)}
        col_of = {key: j for j, key in enumerate(edits)}
        for pair in window_pairs:
            row, col = row_of[pair.event_id], col_of[(pair.edit_title, pair.edit_comment)]
            scored[index_of[id(pair)]] = ScoredPair(pair, float(scores[row, col]), int(ranks[row, col]))
    return [scored[i] for i in range(len(pairs))]


def easy_negative_titles(pairs: Sequence[LabeledPair]) -> set[str]:
    """Titles labeled 0 wherever they appear: no story of these pairs claims them (the README's easy negatives)."""
    positive = {p.edit_title for p in pairs if p.label == 1}
    return {p.edit_title for p in pairs} - positive


def enlarge_windows(
    pairs: Sequence[LabeledPair],
    *,
    title_factor: float,
    event_factor: float = 1.0,
    seed: int = 0,
    window_hours: int = settings.DEFAULT_WINDOW_HOURS,
) -> dict[datetime, WindowExtras]:
    """Extra texts that grow each window to about `title_factor` x its distinct titles and `event_factor` x its
    distinct events, drawn (seeded) from the *other* windows: titles among the easy negatives (never labeled 1, so
    none is a hidden match) and not already in the window; events whose source URL is not in the window.

    A window cannot grow beyond what the other windows hold; `title_factor` = 1 and `event_factor` = 1 add nothing.
    """
    if title_factor < 1 or event_factor < 1:
        raise ValueError(f"factors must be >= 1 (got title {title_factor}, event {event_factor}): this only enlarges")
    rng = np.random.default_rng(seed)  # a reproducible draw, not a secret
    easy = easy_negative_titles(pairs)
    by_window: dict[datetime, list[LabeledPair]] = defaultdict(list)
    for pair in pairs:
        by_window[window_start(pair.event_time, window_hours)].append(pair)
    out: dict[datetime, WindowExtras] = {}
    for start, own in sorted(by_window.items()):
        others = [p for other, ps in sorted(by_window.items()) if other != start for p in ps]
        own_titles = {p.edit_title for p in own}
        own_urls = {p.event.get("SOURCEURL", "") for p in own}
        title_pool = sorted({p.edit_title for p in others if p.edit_title in easy} - own_titles)
        event_pool = list(
            {p.event_id: p.event for p in others if p.event.get("SOURCEURL", "") not in own_urls}.values()
        )
        n_titles = min(len(title_pool), round((title_factor - 1) * len(own_titles)))
        n_events = min(len(event_pool), round((event_factor - 1) * len({p.event_id for p in own})))
        out[start] = WindowExtras(
            titles=tuple(title_pool[i] for i in rng.choice(len(title_pool), size=n_titles, replace=False)),
            events=tuple(event_pool[i] for i in rng.choice(len(event_pool), size=n_events, replace=False)),
        )
    return out


def extras_from_pools(
    pairs: Sequence[LabeledPair],
    *,
    titles: Sequence[str],
    events: Mapping[datetime, Sequence[Mapping[str, str]]] | None = None,
    title_factor: float,
    event_factor: float = 1.0,
    seed: int = 0,
    window_hours: int = settings.DEFAULT_WINDOW_HOURS,
) -> dict[datetime, WindowExtras]:
    """Extra texts from outside the labeled pairs that grow each window to about `title_factor` x its distinct
    titles and `event_factor` x its distinct events: titles drawn (seeded) from `titles` (e.g. real recent-change
    titles of other dates: none can be a hidden match), events from `events[window start]` (e.g. the other GDELT
    rows of the window's own slice) whose source URL is not one of the window's labeled events."""
    if title_factor < 1 or event_factor < 1:
        raise ValueError(f"factors must be >= 1 (got title {title_factor}, event {event_factor}): this only enlarges")
    rng = np.random.default_rng(seed)  # a reproducible draw, not a secret
    out: dict[datetime, WindowExtras] = {}
    for start, own in sorted(_pairs_by_window(pairs, window_hours).items()):
        own_titles = {p.edit_title for p in own}
        own_urls = {p.event.get("SOURCEURL", "") for p in own}
        own_ids = {p.event_id for p in own}
        title_pool = sorted(set(titles) - own_titles)
        event_pool = [
            e
            for e in (events or {}).get(start, ())
            if e.get("SOURCEURL", "") not in own_urls and e.get("GLOBALEVENTID", "") not in own_ids
        ]
        n_titles = min(len(title_pool), round((title_factor - 1) * len(own_titles)))
        n_events = min(len(event_pool), round((event_factor - 1) * len(own_ids)))
        out[start] = WindowExtras(
            titles=tuple(title_pool[i] for i in rng.choice(len(title_pool), size=n_titles, replace=False)),
            events=tuple(event_pool[i] for i in rng.choice(len(event_pool), size=n_events, replace=False)),
        )
    return out


def story_ids(pairs: Sequence[LabeledPair]) -> list[int]:
    """A story number per pair: events sharing a source URL or a positive title (in one window) are one story."""
    parent: dict[tuple[str, ...], tuple[str, ...]] = {}

    def find(node: tuple[str, ...]) -> tuple[str, ...]:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for pair in pairs:
        event = ("event", pair.event_id)
        parent[find(event)] = find(("url", pair.event.get("SOURCEURL", "") or pair.event_id))
        if pair.label == 1:
            parent[find(event)] = find(("title", pair.event["DATEADDED"], pair.edit_title))
    numbers: dict[tuple[str, ...], int] = {}
    return [numbers.setdefault(find(("event", p.event_id)), len(numbers)) for p in pairs]


def story_split_cv(
    scored: Sequence[ScoredPair],
    *,
    top_k: int = settings.DEFAULT_TOP_K,
    folds: int = 5,
    repeats: int = 100,
    seed: int = 0,
) -> list[float]:
    """Story-split cross-validation of the threshold: per repeat, the stories are shuffled into `folds` folds; each
    fold is predicted at the threshold `calibrate` picks on the other folds; the F1 of the pooled predictions is that
    repeat's result. Scores come from whole windows (as in production, where all stories share a window)."""
    if folds < 2:
        raise ValueError(f"folds={folds}: need at least 2 folds to hold stories out")
    pairs = [s.pair for s in scored]
    stories = story_ids(pairs)
    n_stories = max(stories) + 1
    if n_stories < folds:
        raise ValueError(f"{n_stories} stories cannot fill {folds} folds: use fewer folds")
    scores = [s.score for s in scored]
    labels = [p.label for p in pairs]
    eligible = [s.rank <= top_k for s in scored]
    rng = np.random.default_rng(seed)
    results: list[float] = []
    for _ in range(repeats):
        order = rng.permutation(n_stories).tolist()
        fold_of = {story: i % folds for i, story in enumerate(order)}
        predicted = [False] * len(pairs)
        for fold in range(folds):
            train = [i for i, story in enumerate(stories) if fold_of[story] != fold]
            threshold = calibrate(
                [scores[i] for i in train], [labels[i] for i in train], [eligible[i] for i in train]
            ).threshold
            for i, story in enumerate(stories):
                if fold_of[story] == fold:
                    predicted[i] = scores[i] >= threshold and eligible[i]
        results.append(metrics(predicted, labels, math.nan).f1)
    return results


def predicted_by_engine(
    pairs: Sequence[LabeledPair],
    embedder: TextEmbedder,
    *,
    threshold: float,
    top_k: int,
    window_hours: int = settings.DEFAULT_WINDOW_HOURS,
) -> list[bool]:
    """Which pairs `correlate_window` returns as matches (the pipeline's own decision, for cross-checking)."""
    matched: set[tuple[str, str, str]] = set()
    for start, window_pairs in _pairs_by_window(pairs, window_hours).items():
        events, edits = _window_texts(window_pairs, start)
        key_of = {edit.edit_id: key for key, edit in edits.items()}
        for match in correlate_window(
            list(events.values()), list(edits.values()), embedder, threshold=threshold, top_k=top_k
        ):
            title, comment = key_of[match.edit_id]
            matched.add((match.event_id, title, comment))
    return [(p.event_id, p.edit_title, p.edit_comment) in matched for p in pairs]


@dataclass(frozen=True)
class Metrics:
    precision: float
    recall: float
    f1: float
    threshold: float
    n_pairs: int
    true_positives: int
    false_positives: int
    false_negatives: int

    def as_json(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "threshold": self.threshold,
            "n_pairs": self.n_pairs,
        }


def metrics(predicted: Sequence[bool], labels: Sequence[int], threshold: float) -> Metrics:
    """Precision, recall and F1 of label 1 (0.0 where undefined: nothing predicted or nothing positive)."""
    tp = sum(1 for p, y in zip(predicted, labels, strict=True) if p and y == 1)
    fp = sum(1 for p, y in zip(predicted, labels, strict=True) if p and y == 0)
    fn = sum(1 for p, y in zip(predicted, labels, strict=True) if not p and y == 1)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    # 2TP / (2TP + FP + FN) equals 2PR / (P + R) and is one exact division: equal F1s compare equal (calibration
    # breaks ties by threshold, not by rounding noise).
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return Metrics(precision, recall, f1, threshold, len(labels), tp, fp, fn)


def metrics_at(
    scores: Sequence[float], labels: Sequence[int], threshold: float, eligible: Sequence[bool] | None = None
) -> Metrics:
    """Metrics when a pair is predicted positive at score >= threshold (and eligible, e.g. within top_k)."""
    allowed = eligible if eligible is not None else [True] * len(scores)
    predicted = [s >= threshold and ok for s, ok in zip(scores, allowed, strict=True)]
    return metrics(predicted, labels, threshold)


def calibrate(scores: Sequence[float], labels: Sequence[int], eligible: Sequence[bool] | None = None) -> Metrics:
    """The threshold that maximizes F1 on these pairs: midway between the last kept and first dropped score.

    Midpoints (rounded to 4 decimals, never above the lowest kept score) keep the chosen cut away from any one
    pair's exact score, so a tiny numeric change in an embedding does not flip a pair. Ties in F1 go to the highest
    threshold. Every cut is counted at once from sorted scores (nested cross-validation calibrates thousands of
    times); `calibrate_by_scan` is the same choice by scanning cut by cut, kept as its reference.
    """
    allowed = np.asarray(eligible if eligible is not None else [True] * len(scores), dtype=bool)
    values = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(labels) == 1
    distinct = np.unique(values[allowed])[::-1]  # descending
    if distinct.size == 0:
        return metrics_at(scores, labels, math.inf, list(allowed))
    # Pairs predicted at cut i are the eligible ones scoring >= distinct[i].
    order = np.searchsorted(-distinct, -values[allowed], side="left")  # the cut index where each pair gets kept
    kept_pos = np.cumsum(np.bincount(order[positive[allowed]], minlength=distinct.size))
    kept_all = np.cumsum(np.bincount(order, minlength=distinct.size))
    n_pos = int(positive.sum())
    f1 = np.where(kept_pos > 0, 2 * kept_pos / np.maximum(kept_all + n_pos, 1), 0.0)  # as `metrics` computes it
    best = int(np.argmax(f1))  # the first maximum: the highest threshold among ties
    return metrics_at(scores, labels, _cut(distinct, best), list(allowed))


def _cut(distinct: npt.NDArray[np.float64], i: int) -> float:
    """The threshold between distinct[i] (kept) and the next lower distinct score (dropped)."""
    kept = float(distinct[i])
    below = float(distinct[i + 1]) if i + 1 < len(distinct) else kept - 0.01
    threshold = math.floor((kept + below) / 2 * 10_000) / 10_000
    return kept if threshold <= below else threshold  # rounding fell onto the next score: cut exactly at the kept one


def calibrate_by_scan(
    scores: Sequence[float], labels: Sequence[int], eligible: Sequence[bool] | None = None
) -> Metrics:
    """`calibrate` by trying every cut in turn (quadratic; the reference the fast version is tested against)."""
    allowed = eligible if eligible is not None else [True] * len(scores)
    distinct = sorted({s for s, ok in zip(scores, allowed, strict=True) if ok}, reverse=True)
    if not distinct:
        return metrics_at(scores, labels, math.inf, allowed)
    best: Metrics | None = None
    for i in range(len(distinct)):
        candidate = metrics_at(scores, labels, _cut(np.asarray(distinct), i), allowed)
        if best is None or candidate.f1 > best.f1:
            best = candidate
    assert best is not None
    return best


def jaccard(a: str, b: str) -> float:
    """Token-overlap baseline: |A & B| / |A | B| of content tokens."""
    left, right = set(content_tokens(a)), set(content_tokens(b))
    union = left | right
    return len(left & right) / len(union) if union else 0.0


def jaccard_scores(pairs: Sequence[LabeledPair]) -> list[float]:
    """The baseline's score per pair, on the engine's event text and edit text."""
    return [
        jaccard(Event.from_gdelt(p.event, p.event_time).text, build_edit_text(p.edit_title, p.edit_comment))
        for p in pairs
    ]


@dataclass(frozen=True)
class Evaluation:
    engine: Metrics  # at the requested threshold
    engine_best: Metrics  # the F1-maximizing threshold on these pairs (calibration)
    jaccard_best: Metrics  # the baseline at its own F1-maximizing threshold
    top_k: int


def evaluate(
    pairs: Sequence[LabeledPair],
    embedder: TextEmbedder,
    *,
    threshold: float = settings.DEFAULT_SIMILARITY_THRESHOLD,
    top_k: int = settings.DEFAULT_TOP_K,
    window_hours: int = settings.DEFAULT_WINDOW_HOURS,
) -> Evaluation:
    scored = score_pairs(pairs, embedder, window_hours=window_hours)
    labels = [s.pair.label for s in scored]
    scores = [s.score for s in scored]
    within_top_k = [s.rank <= top_k for s in scored]
    return Evaluation(
        engine=metrics_at(scores, labels, threshold, within_top_k),
        engine_best=calibrate(scores, labels, within_top_k),
        jaccard_best=calibrate(jaccard_scores(pairs), labels),
        top_k=top_k,
    )


# --------------------------------------------------------------------------------------------------- nested CV

OuterScheme = Literal["slice", "story"]


@dataclass(frozen=True)
class Fold:
    """One outer fold: the pairs it holds out (indexes into the pairs list) and a name for reports."""

    name: str
    test: tuple[int, ...]


@dataclass(frozen=True)
class FoldResult:
    """What the nested procedure chose on a fold's training pairs, and how it did on the held-out pairs."""

    fold: str
    chosen: str
    threshold: float
    metrics: Metrics


def pair_slices(pairs: Sequence[LabeledPair]) -> list[str]:
    """The GDELT slice of each pair (its event's DATEADDED: the benchmark's events come in 15-minute slices)."""
    return [p.event["DATEADDED"] for p in pairs]


def _story_fold_of(
    stories: Sequence[int], slices: Sequence[str], indexes: Iterable[int], folds: int, rng: np.random.Generator
) -> dict[int, int]:
    """Stories (of the pairs at `indexes`) dealt into `folds` folds, slice by slice, so every fold holds stories of
    every slice in about the same share: story -> fold."""
    by_slice: dict[str, list[int]] = defaultdict(list)
    for i in indexes:
        if stories[i] not in by_slice[slices[i]]:
            by_slice[slices[i]].append(stories[i])
    fold_of: dict[int, int] = {}
    dealt = 0
    for slice_id in sorted(by_slice):
        members = by_slice[slice_id]
        for position in rng.permutation(len(members)).tolist():
            fold_of[members[position]] = dealt % folds
            dealt += 1
    return fold_of


def outer_folds(
    pairs: Sequence[LabeledPair], scheme: OuterScheme, *, folds: int = 3, repeats: int = 5, seed: int = 0
) -> list[Fold]:
    """Held-out parts for nested cross-validation; a story never straddles a fold.

    - "slice": one fold per GDELT slice (the held-out pairs share neither a story nor a day with the training
      pairs; the strictest split, and each fold is a whole window, as a new window is in production);
    - "story": `repeats` shuffles of the stories into `folds` folds, stratified by slice.
    """
    if scheme == "slice":
        slices = pair_slices(pairs)
        if len(set(slices)) < 2:
            raise TooFewStoriesError("the pairs come from one GDELT slice: holding out a slice needs at least two")
        return [Fold(f"slice {s}", tuple(i for i, x in enumerate(slices) if x == s)) for s in sorted(set(slices))]
    if folds < 2:
        raise ValueError(f"folds={folds}: need at least 2 folds to hold stories out")
    stories = story_ids(pairs)
    if len(set(stories)) < folds:
        raise TooFewStoriesError(
            f"the pairs hold {len(set(stories))} stories: story-split cross-validation needs at least {folds}"
        )
    rng = np.random.default_rng(seed)  # a reproducible shuffle, not a secret
    out: list[Fold] = []
    slices = pair_slices(pairs)
    for repeat in range(repeats):
        fold_of = _story_fold_of(stories, slices, range(len(pairs)), folds, rng)
        for fold in range(folds):
            test = tuple(i for i, s in enumerate(stories) if fold_of[s] == fold)
            out.append(Fold(f"stories r{repeat} f{fold}", test))
    return out


@dataclass(frozen=True)
class _Candidate:
    name: str
    scores: npt.NDArray[np.float64]
    eligible: npt.NDArray[np.bool_]


def _candidate(name: str, scored: Sequence[ScoredPair], top_k: int) -> _Candidate:
    return _Candidate(
        name,
        np.asarray([s.score for s in scored], dtype=np.float64),
        np.asarray([s.rank <= top_k for s in scored], dtype=bool),
    )


def _predict(candidate: _Candidate, train: Sequence[int], test: Sequence[int], labels: Sequence[int]) -> Metrics:
    """Calibrate the candidate's threshold on `train` only, then measure `test` at it."""
    threshold = calibrate(
        candidate.scores[list(train)].tolist(), [labels[i] for i in train], candidate.eligible[list(train)].tolist()
    ).threshold
    return metrics_at(
        candidate.scores[list(test)].tolist(),
        [labels[i] for i in test],
        threshold,
        candidate.eligible[list(test)].tolist(),
    )


def inner_cv_f1(
    pairs: Sequence[LabeledPair],
    candidate: _Candidate,
    train: Sequence[int],
    *,
    folds: int = 4,
    repeats: int = 3,
    seed: int = 1,
) -> float:
    """Story-split CV *inside* `train`: each inner fold is predicted at the threshold calibrated on the other inner
    folds; the F1 of the pooled predictions, averaged over `repeats` shuffles. Only `train` pairs are read."""
    return _inner_cv_f1(
        [p.label for p in pairs], story_ids(pairs), pair_slices(pairs), candidate, train, folds, repeats, seed
    )


def _inner_cv_f1(
    labels: Sequence[int],
    stories: Sequence[int],
    slices: Sequence[str],
    candidate: _Candidate,
    train: Sequence[int],
    folds: int,
    repeats: int,
    seed: int,
) -> float:
    rng = np.random.default_rng(seed)  # the same inner shuffles for every candidate: a paired comparison
    results: list[float] = []
    for _ in range(repeats):
        fold_of = _story_fold_of(stories, slices, train, folds, rng)
        predicted: list[bool] = []
        truth: list[int] = []
        for fold in range(folds):
            inner_test = [i for i in train if fold_of[stories[i]] == fold]
            inner_train = [i for i in train if fold_of[stories[i]] != fold]
            if not inner_test or not inner_train:
                continue
            threshold = calibrate(
                candidate.scores[inner_train].tolist(),
                [labels[i] for i in inner_train],
                candidate.eligible[inner_train].tolist(),
            ).threshold
            predicted += ((candidate.scores[inner_test] >= threshold) & candidate.eligible[inner_test]).tolist()
            truth += [labels[i] for i in inner_test]
        results.append(metrics(predicted, truth, math.nan).f1)
    return float(np.mean(results))


def nested_cv(
    pairs: Sequence[LabeledPair],
    candidates: Mapping[str, Sequence[ScoredPair]],
    folds: Sequence[Fold],
    *,
    top_k: int = settings.DEFAULT_TOP_K,
    inner_folds: int = 4,
    inner_repeats: int = 3,
) -> list[FoldResult]:
    """Nested cross-validation: per outer fold, choose a candidate scoring by inner story-split CV on the fold's
    training pairs (ties go to the candidate listed first), calibrate its threshold on the training pairs, and
    measure the held-out pairs. No choice ever reads a held-out label.

    `candidates` maps a name to the pairs scored by that candidate (`score_pairs(..., params=...)`, same order as
    `pairs`). Scores come from whole windows, as in production, where all stories share a window.
    """
    labels = [p.label for p in pairs]
    stories, slices = story_ids(pairs), pair_slices(pairs)
    options = [_candidate(name, scored, top_k) for name, scored in candidates.items()]
    if not options:
        raise ValueError("nested_cv needs at least one candidate scoring")
    results: list[FoldResult] = []
    for fold in folds:
        held_out = set(fold.test)
        train = [i for i in range(len(pairs)) if i not in held_out]
        if len(options) == 1:
            chosen = options[0]
        else:
            inner = [
                _inner_cv_f1(labels, stories, slices, c, train, inner_folds, inner_repeats, seed=1) for c in options
            ]
            chosen = options[int(np.argmax(inner))]
        measured = _predict(chosen, train, fold.test, labels)
        results.append(FoldResult(fold.name, chosen.name, measured.threshold, measured))
    return results


def candidate_grid(
    *,
    event_weights: Iterable[float] = (SHIPPED.event_weight,),
    edit_weights: Iterable[float] = (SHIPPED.edit_weight,),
    event_neighbours: Iterable[int] = (SHIPPED.event_neighbours,),
    edit_neighbours: Iterable[int] = (SHIPPED.edit_neighbours,),
    country_penalties: Iterable[float] = (SHIPPED.country_penalty,),
) -> dict[str, ScoringParams]:
    """Named scorings over the product of the given values (the shipped constants where none are given)."""
    out: dict[str, ScoringParams] = {}
    for ew in event_weights:
        for dw in edit_weights:
            for ek in event_neighbours:
                for dk in edit_neighbours:
                    for penalty in country_penalties:
                        params = replace(
                            SHIPPED,
                            event_weight=ew,
                            edit_weight=dw,
                            event_neighbours=ek,
                            edit_neighbours=dk,
                            country_penalty=penalty,
                        )
                        name = f"event {ek}x{ew:g}, edit {dk}x{dw:g}, veto {penalty:g}"
                        out[name] = params
    return out


# The procedures `lakehouse evaluate --nested` measures (docs/correlation.md, "Nested estimate"); "no veto" is listed
# first, so the veto has to win the inner comparison outright (ties go to the first candidate):
# - shipped: the country veto is the one idea of this round the inner folds choose on or off; the hubness constants
#   are the previous round's;
# - every constant: the veto and all hubness constants re-chosen per training split (a 54-scoring grid around them);
# - baseline: the previous engine (no veto), its threshold re-chosen per training split.
NESTED_PROCEDURES: dict[str, dict[str, ScoringParams]] = {
    "shipped (veto chosen on inner folds)": candidate_grid(country_penalties=(0.0, SHIPPED.country_penalty)),
    "every constant re-chosen": candidate_grid(
        event_weights=(0.25, 0.35, 0.5),
        edit_weights=(0.25, 0.375, 0.5),
        edit_neighbours=(3, 5, 8),
        country_penalties=(0.0, SHIPPED.country_penalty),
    ),
    "baseline: previous engine": candidate_grid(country_penalties=(0.0,)),
}


@dataclass(frozen=True)
class NestedSummary:
    procedure: str
    scheme: OuterScheme
    folds: tuple[FoldResult, ...]

    @property
    def mean_f1(self) -> float:
        return float(np.mean([f.metrics.f1 for f in self.folds]))

    @property
    def worst_f1(self) -> float:
        return float(min(f.metrics.f1 for f in self.folds))

    def as_json(self) -> dict[str, object]:
        return {
            "procedure": self.procedure,
            "scheme": self.scheme,
            "mean_f1": round(self.mean_f1, 4),
            "worst_f1": round(self.worst_f1, 4),
            "folds": [
                {"fold": f.fold, "f1": round(f.metrics.f1, 4), "threshold": f.threshold, "chosen": f.chosen}
                for f in self.folds
            ],
        }


def nested_estimates(
    pairs: Sequence[LabeledPair],
    embedder: TextEmbedder,
    *,
    procedures: Mapping[str, Mapping[str, ScoringParams]] = NESTED_PROCEDURES,
    schemes: Sequence[OuterScheme] = ("slice", "story"),
    top_k: int = settings.DEFAULT_TOP_K,
    window_hours: int = settings.DEFAULT_WINDOW_HOURS,
) -> list[NestedSummary]:
    """Every procedure's nested estimate on the same outer folds (so they compare fold by fold)."""
    scored: dict[ScoringParams, list[ScoredPair]] = {}
    out: list[NestedSummary] = []
    for scheme in schemes:
        folds = outer_folds(pairs, scheme)
        for procedure, grid in procedures.items():
            candidates: dict[str, list[ScoredPair]] = {}
            for name, params in grid.items():
                if params not in scored:
                    scored[params] = score_pairs(pairs, embedder, window_hours=window_hours, params=params)
                candidates[name] = scored[params]
            results = nested_cv(pairs, candidates, folds, top_k=top_k)
            out.append(NestedSummary(procedure, scheme, tuple(results)))
    return out
