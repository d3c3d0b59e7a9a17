"""GKG 2.1 rows (`pipelines.gkg`), built in the codebook's format: names ranked by mentions, locations, URLs."""

from __future__ import annotations

import pytest

from pipelines.gkg import (
    GKG_COLUMNS,
    GkgLocation,
    GkgRowError,
    gkg_row,
    parse_gkg_fields,
    parse_gkg_line,
    records_by_url,
)

URL = "https://www.romseyadvertiser.co.uk/news/national/17374429.londonderry-car-bombing-nothing-to-do-with-brexit/"


def row(**values: str) -> list[str]:
    return gkg_row({"GKGRECORDID": "20190121220000-42", "DATE": "20190121220000", **values})


def test_names_are_ranked_by_mentions_then_first_mention() -> None:
    record = parse_gkg_fields(
        row(
            SourceCollectionIdentifier="1",
            DocumentIdentifier=URL,
            V2Persons="Theresa May,950;Karen Bradley,120;Karen Bradley,610;Mary Lou McDonald,300;Theresa May,40",
            V2Organizations="Police Service of Northern Ireland,200;New IRA,88;New IRA,500",
        )
    )
    assert record.persons == ("Theresa May", "Karen Bradley", "Mary Lou McDonald")
    assert record.organizations == ("New IRA", "Police Service of Northern Ireland")
    assert record.url == URL and record.record_id == "20190121220000-42"


def test_v1_names_are_used_when_the_v2_field_is_empty() -> None:
    record = parse_gkg_fields(row(Persons="karen bradley;theresa may;karen bradley", Organizations="new ira"))
    assert record.persons == ("karen bradley", "theresa may")
    assert record.organizations == ("new ira",)


def test_locations_from_v2_and_v1_blocks() -> None:
    v2 = "1#United Kingdom#UK#UK##54#-2#UK#35;4#Londonderry, Derry, United Kingdom#UK#UKD5##55#-7.3#-2593#120"
    record = parse_gkg_fields(row(V2Locations=v2 + ";1#United Kingdom#UK#UK##54#-2#UK#900"))
    assert record.locations == (
        GkgLocation("1", "United Kingdom", "UK"),
        GkgLocation("4", "Londonderry, Derry, United Kingdom", "UK"),
    )
    v1_only = parse_gkg_fields(row(Locations="1#Ireland#EI#EI#53#-8#EI"))
    assert v1_only.locations == (GkgLocation("1", "Ireland", "EI"),)


def test_only_web_records_have_a_url_and_the_first_record_of_a_url_wins() -> None:
    web = parse_gkg_fields(row(SourceCollectionIdentifier="1", DocumentIdentifier=URL, V2Persons="A B,1"))
    again = parse_gkg_fields(row(SourceCollectionIdentifier="1", DocumentIdentifier=URL, V2Persons="C D,1"))
    citation = parse_gkg_fields(row(SourceCollectionIdentifier="2", DocumentIdentifier="BBC Monitoring 123"))
    assert citation.url == ""
    assert records_by_url([web, again, citation]) == {URL: web}


def test_a_tab_separated_line_parses_like_its_fields() -> None:
    fields = row(SourceCollectionIdentifier="1", DocumentIdentifier=URL, V2Persons="Karen Bradley,120")
    assert parse_gkg_line("\t".join(fields) + "\r\n") == parse_gkg_fields(fields)


def test_malformed_rows_are_errors() -> None:
    with pytest.raises(GkgRowError, match="27 tab-separated columns, this one has 26"):
        parse_gkg_line("\t".join([""] * 26))
    with pytest.raises(GkgRowError, match="without GKGRECORDID"):
        parse_gkg_fields([""] * len(GKG_COLUMNS))
    with pytest.raises(GkgRowError, match=r"not GKG 2\.1 columns: V2Names"):
        gkg_row({"V2Names": "x"})
