"""`lakehouse evaluate` on small generated pair files: metrics, calibration, bad input (no ../shared needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lakehouse.cli import main
from lakehouse.evaluate import PairsFileError, calibrate, jaccard, load_pairs, metrics_at


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
