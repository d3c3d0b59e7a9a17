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
    WindowExtras,
    calibrate,
    enlarge_windows,
    jaccard,
    load_pairs,
    metrics_at,
    score_pairs,
    story_ids,
    story_split_cv,
)
from pipelines.correlate import window_start
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
