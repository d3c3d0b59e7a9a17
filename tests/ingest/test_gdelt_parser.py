"""The GDELT 2.0 export parser: typed values, leading zeros, textual FeatureIDs, and a reason for every rejection."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ingest_factories import gdelt_row

from pipelines.gdelt import (
    EXPORT_COLUMNS,
    FLOAT_COLUMNS,
    INTEGER_COLUMNS,
    GdeltEvent,
    Rejection,
    export_entry,
    export_file_name,
    export_row_to_line,
    export_rows_to_text,
    parse_export_line,
    parse_export_text,
    parse_lastupdate,
    parse_slice_id,
    slice_id_of,
    slices_between,
    split_export_line,
)


def test_export_columns_are_the_61_codebook_names_in_file_order() -> None:
    assert len(EXPORT_COLUMNS) == 61
    assert len(set(EXPORT_COLUMNS)) == 61
    assert EXPORT_COLUMNS[0] == "GLOBALEVENTID"
    assert EXPORT_COLUMNS[26:29] == ("EventCode", "EventBaseCode", "EventRootCode")
    assert EXPORT_COLUMNS[58:] == ("ActionGeo_FeatureID", "DATEADDED", "SOURCEURL")
    # The typed record has one field per column, same names, same order.
    assert tuple(GdeltEvent.__dataclass_fields__) == EXPORT_COLUMNS


def test_a_generated_row_parses_into_typed_values() -> None:
    row = gdelt_row(2)  # EventCode "0251", FeatureID "USTX", Actor1 fields empty
    event = parse_export_line(export_row_to_line(row), source="x.CSV", line_no=7)
    assert isinstance(event, GdeltEvent)
    assert event.GLOBALEVENTID == 881990834
    assert event.SQLDATE == date(2019, 10, 24)
    assert event.DATEADDED == datetime(2019, 10, 24, 14, 30, tzinfo=UTC)
    assert event.slice_id == "20191024143000"
    assert (event.EventCode, event.EventBaseCode, event.EventRootCode) == ("0251", "025", "02")
    assert event.ActionGeo_FeatureID == "USTX"
    assert event.Actor1Name is None
    assert event.GoldsteinScale == -7.0
    assert event.NumMentions == 3
    assert event.ActionGeo_ADM2Code == "12552"  # a string column, even when it looks numeric


def test_codes_keep_leading_zeros_and_feature_ids_may_be_signed_numbers() -> None:
    event = parse_export_line(export_row_to_line(gdelt_row(1, EventCode="040", ActionGeo_FeatureID="-575268")))
    assert isinstance(event, GdeltEvent)
    assert event.EventCode == "040"
    assert event.ActionGeo_FeatureID == "-575268"


def test_crlf_and_lf_line_ends_parse_the_same() -> None:
    line = export_row_to_line(gdelt_row(0))
    assert parse_export_line(line + "\n") == parse_export_line(line + "\r\n") == parse_export_line(line)


@pytest.mark.parametrize("n_fields", [0, 1, 57, 58, 60, 62])
def test_wrong_column_count_is_rejected_with_file_line_and_count(n_fields: int) -> None:
    line = "\t".join(["1"] * n_fields) if n_fields else ""
    outcome = parse_export_line(line, source="20191024143000.export.CSV", line_no=12)
    assert isinstance(outcome, Rejection)
    assert outcome.describe().startswith("20191024143000.export.CSV:12: expected 61 tab-separated columns")
    assert f"found {max(n_fields, 1)}" in outcome.reason
    assert outcome.line == line


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("SQLDATE", "20191324", "SQLDATE"),
        ("SQLDATE", "", "SQLDATE"),
        ("SQLDATE", "2019-10-24", "YYYYMMDD"),
        ("DATEADDED", "20191024253000", "DATEADDED"),
        ("DATEADDED", "201910241430", "YYYYMMDDHHMMSS"),
        ("GLOBALEVENTID", "abc", "GLOBALEVENTID"),
        ("GLOBALEVENTID", "-5", "GLOBALEVENTID"),
        ("NumMentions", "1_000", "NumMentions"),
        ("AvgTone", "nan", "AvgTone"),
        ("ActionGeo_Lat", " 51.7", "ActionGeo_Lat"),
    ],
)
def test_unparseable_values_are_rejected_naming_the_column(column: str, value: str, expected: str) -> None:
    outcome = parse_export_line(export_row_to_line(gdelt_row(0, **{column: value})), source="f", line_no=3)
    assert isinstance(outcome, Rejection)
    assert expected in outcome.reason
    assert outcome.line_no == 3


def test_only_lf_ends_a_row() -> None:
    # \x85 and \u2028 are line breaks to str.splitlines(), but just characters inside a GDELT field.
    row = gdelt_row(0, Actor1Name="A\x85B", SOURCEURL="https://x.org/\u2028")
    report = parse_export_text(export_rows_to_text([row, gdelt_row(1)]))
    assert [e.Actor1Name for e in report.events] == ["A\x85B", "UNITED KINGDOM"]
    assert report.rejections == ()


def test_whole_text_keeps_every_line_accounted_for_in_order() -> None:
    good = [export_row_to_line(gdelt_row(i)) for i in range(3)]
    text = "\n".join([good[0], "only\tthree\tfields", good[1], "", good[2]]) + "\n"
    report = parse_export_text(text, source="mixed.CSV")
    assert [e.GLOBALEVENTID for e in report.events] == [881990832, 881990833, 881990834]
    assert [(r.line_no, r.reason.split(",")[0]) for r in report.rejections] == [
        (2, "expected 61 tab-separated columns"),
        (4, "blank line"),
    ]
    assert report.n_lines == 5


def test_export_row_to_line_refuses_rows_that_would_corrupt_the_file() -> None:
    with pytest.raises(ValueError, match="61 fields, got 60"):
        export_row_to_line(gdelt_row(0)[:60])
    with pytest.raises(ValueError, match="SOURCEURL holds a tab"):
        export_row_to_line(gdelt_row(0, SOURCEURL="http://a\tb"))
    text = export_rows_to_text([gdelt_row(0), gdelt_row(1)])
    assert text.count("\n") == 2 and text.endswith("\n")
    assert split_export_line(text.splitlines(keepends=True)[1]) == gdelt_row(1)


def test_slices_are_15_minute_keys() -> None:
    assert slice_id_of(datetime(2019, 10, 24, 14, 44, 59, tzinfo=UTC)) == "20191024143000"
    assert slices_between(datetime(2019, 10, 24, 23, 50), datetime(2019, 10, 25, 0, 30)) == [
        "20191024234500",
        "20191025000000",
        "20191025001500",
        "20191025003000",
    ]
    with pytest.raises(ValueError, match="reversed"):
        slices_between(datetime(2019, 10, 25), datetime(2019, 10, 24))
    with pytest.raises(ValueError, match="15-minute boundary"):
        parse_slice_id("20191024143100")
    assert export_file_name("20191024143000") == "20191024143000.export.CSV"


LASTUPDATE = (
    "150383 297a16b493de7cf6ca809a7cc31d0b93 http://data.gdeltproject.org/gdeltv2/20191024143000.export.CSV.zip\n"
    "318084 bb27f78ba45f69a17ea6ed7755e9f8ff http://data.gdeltproject.org/gdeltv2/20191024143000.mentions.CSV.zip\n"
    "10768507 ea8dde0beb0ba98810a92db068c0ce99 http://data.gdeltproject.org/gdeltv2/20191024143000.gkg.csv.zip\n"
)


def test_lastupdate_parses_and_the_export_entry_is_picked() -> None:
    entries = parse_lastupdate(LASTUPDATE)
    assert [e.kind for e in entries] == ["export", "mentions", "gkg"]
    export = export_entry(entries)
    assert (export.size, export.md5, export.slice_id) == (150383, "297a16b493de7cf6ca809a7cc31d0b93", "20191024143000")
    with pytest.raises(ValueError, match="line 2 is not '<size> <md5> <url>'"):
        parse_lastupdate(LASTUPDATE.splitlines()[0] + "\n<html>maintenance</html>\n")
    with pytest.raises(ValueError, match=r"exactly one '\*.export.CSV.zip' entry, found 0"):
        export_entry(entries[1:])


def test_parser_module_is_pure(repo_root: Path) -> None:
    probe = (
        "import json, sys, pipelines.gdelt; "
        "print(json.dumps(sorted(m for m in ('pyspark', 'requests') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=repo_root, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


# --- properties ---------------------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_arbitrary_text_never_crashes_the_parser(line: str) -> None:
    outcome = parse_export_line(line, source="fuzz", line_no=1)
    assert isinstance(outcome, GdeltEvent | Rejection)
    if isinstance(outcome, Rejection):
        assert outcome.reason and outcome.source == "fuzz" and outcome.line == line


_field = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\t\r\n"), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(_field, min_size=61, max_size=61))
def test_arbitrary_61_field_rows_parse_or_name_a_column(fields: list[str]) -> None:
    outcome = parse_export_line("\t".join(fields))
    if isinstance(outcome, Rejection):
        assert any(f"column {c} " in outcome.reason for c in EXPORT_COLUMNS) or "line break" in outcome.reason
    else:
        # Whatever parses round-trips: strings unchanged, numbers equal to their text.
        for column, raw in zip(EXPORT_COLUMNS, fields, strict=True):
            value = getattr(outcome, column)
            if column in INTEGER_COLUMNS or column == "GLOBALEVENTID":
                assert value == (int(raw) if raw else None)
            elif column in FLOAT_COLUMNS:
                assert value == (float(raw) if raw else None)
            elif column not in ("SQLDATE", "DATEADDED"):
                assert value == (raw or None)


@st.composite
def _valid_rows(draw: st.DrawFn) -> list[str]:
    index = draw(st.integers(min_value=0, max_value=10_000))
    moment = draw(st.datetimes(min_value=datetime(2015, 2, 19), max_value=datetime(2030, 12, 31)))
    code = draw(st.from_regex(r"0[0-9]{1,3}", fullmatch=True))
    feature = draw(
        st.one_of(
            st.from_regex(r"-?[0-9]{1,8}", fullmatch=True), st.from_regex(r"[A-Z]{2}[0-9A-Z]{0,2}", fullmatch=True)
        )
    )
    name = draw(_field)
    return gdelt_row(
        index,
        slice_id_of(moment),
        EventCode=code,
        ActionGeo_FeatureID=feature,
        Actor2Name=name,
        SQLDATE=moment.strftime("%Y%m%d"),
    )


@settings(max_examples=200, deadline=None)
@given(_valid_rows())
def test_valid_rows_always_parse_and_keep_their_strings(row: list[str]) -> None:
    event = parse_export_line(export_row_to_line(row))
    assert isinstance(event, GdeltEvent), event
    assert event.EventCode == row[26] and event.EventCode.startswith("0")
    assert event.ActionGeo_FeatureID == row[58]
    assert event.Actor2Name == (row[16] or None)
    assert event.slice_id == row[59]
