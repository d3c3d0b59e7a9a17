"""CAMEO lookup: GDELT's file format, the built-in root codes, and the fallback order."""

from __future__ import annotations

import pytest

from pipelines.cameo import ROOT_CODES, CameoLookupError, describe, merged_lookup, parse_cameo_lookup, render_lookup


def test_parses_gdelt_format_with_header_and_crlf() -> None:
    text = (
        "CAMEOEVENTCODE\tEVENTDESCRIPTION\r\n01\tMAKE PUBLIC STATEMENT\r\n010\tMake statement\r\n\r\n"
        "0233\tAppeal for aid\r\n"
    )
    assert parse_cameo_lookup(text) == {
        "01": "MAKE PUBLIC STATEMENT",
        "010": "Make statement",
        "0233": "Appeal for aid",
    }


def test_codes_are_strings_leading_zeros_matter() -> None:
    lookup = parse_cameo_lookup("040\tConsult\n")
    assert describe("040", lookup) == "Consult"
    # "40" is not "040": it falls back to its first two digits as a root code ("40" is no root, so None).
    assert describe("40", lookup) is None


@pytest.mark.parametrize(
    ("line", "needle"),
    [("01 MAKE PUBLIC STATEMENT", "<CAMEO code><TAB>"), ("abc\tWords", "abc"), ("010\t", "010")],
)
def test_malformed_line_names_file_and_line(line: str, needle: str) -> None:
    with pytest.raises(CameoLookupError, match=r"cameo\.txt:2: .*") as info:
        parse_cameo_lookup("01\tMake public statement\n" + line + "\n", source="cameo.txt")
    assert needle in str(info.value)


def test_conflicting_duplicate_is_an_error() -> None:
    with pytest.raises(CameoLookupError, match="listed twice"):
        parse_cameo_lookup("010\tA\n010\tB\n")


def test_exact_code_then_root_code_fallback() -> None:
    lookup = merged_lookup({"0233": "Appeal for humanitarian aid"})
    assert describe("0233", lookup) == "Appeal for humanitarian aid"
    assert describe("0234", lookup) == ROOT_CODES["02"]  # not in the file: its root's description
    assert describe("", lookup) is None
    assert describe(None, lookup) is None


def test_builtin_root_table_has_the_twenty_roots() -> None:
    assert sorted(ROOT_CODES) == [f"{n:02d}" for n in range(1, 21)]


def test_render_round_trips() -> None:
    lookup = {"010": "Make statement", "0233": "Appeal for humanitarian aid"}
    assert parse_cameo_lookup(render_lookup(lookup)) == lookup
