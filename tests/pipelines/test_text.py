"""Text building: URL slugs, event text from GDELT fields, edit text from title + comment, content tokens."""

from __future__ import annotations

import pytest

from pipelines.text import (
    EventFields,
    build_edit_text,
    build_event_text,
    clean_edit_comment,
    content_tokens,
    story_text,
    url_slug_words,
)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        # Date folders, section names and the trailing slash go; the story segment stays.
        (
            "https://www.usatoday.com/story/news/politics/2019/10/24/elijah-cummings-funeral-obama-speak/4081679002/",
            ["elijah", "cummings", "funeral", "obama", "speak"],
        ),
        # File extension and a numeric id segment go.
        (
            "https://www.heraldscotland.com/news/17374485.theresa-may-warns-peoples-vote/",
            ["theresa", "may", "warns", "peoples", "vote"],
        ),
        (
            "http://www.nigerianeye.com/2019/01/police-refuse-to-release-melaye.html",
            ["police", "refuse", "to", "release", "melaye"],
        ),
        # A one-word story segment among section names.
        ("https://www.panorama.am/en/news/2019/10/24/Franco/2186279", ["franco"]),
        # Mixed letter/digit ids (Reuters' idUSKBN..., articleNNN) are not words.
        (
            "https://www.reuters.com/article/us-syria-turkey/five-turkish-soldiers-wounded-idUSKBN1X31W0",
            ["five", "turkish", "soldiers", "wounded"],
        ),
        # The slug can live in a query parameter.
        (
            "https://www.plenglish.com/index.php?o=rn&id=48257&SEO=european-executive-condemns-violence-in-chile",
            ["european", "executive", "condemns", "violence", "in", "chile"],
        ),
        ("", []),
        ("   ", []),
        ("https://example.com/", []),
        ("https://example.com/12345/67890", []),
    ],
)
def test_url_slug_words(url: str, words: list[str]) -> None:
    assert url_slug_words(url) == words


def test_slug_keeps_ordinals_and_drops_hex_ids() -> None:
    assert url_slug_words("http://www.dailypioneer.com/todays-newspaper/3rd-phase-to-decide-bihar-battle.html") == [
        "3rd",
        "phase",
        "to",
        "decide",
        "bihar",
        "battle",
    ]
    words = url_slug_words(
        "http://www.stltoday.com/business/local/walgreens-boots-to-buy-rite-aid/article_42bcd541-2edd-50b3-928b.html"
    )
    assert words == ["walgreens", "boots", "to", "buy", "rite", "aid"]


def test_slug_with_underscores_and_percent_escapes() -> None:
    assert url_slug_words("https://article.wn.com/view/2019/01/21/Zimbabwes_President_Cancels_Tour/") == [
        "zimbabwes",
        "president",
        "cancels",
        "tour",
    ]
    assert url_slug_words("https://x.org/news/caf%C3%A9-owner-wins-award") == ["café", "owner", "wins", "award"]


GDELT_ROW = {
    "GLOBALEVENTID": "881992836",
    "SQLDATE": "20191024",
    "Actor1Name": "MARYLAND",
    "Actor2Name": "HILLARY CLINTON",
    "EventDescription": "Host a visit",
    "ActionGeo_FullName": "Baltimore, Maryland, United States",
    "SOURCEURL": "https://www.usatoday.com/story/news/2019/10/24/elijah-cummings-funeral/4081679002/",
}


def test_event_text_puts_the_story_first_then_actors_action_place() -> None:
    fields = EventFields.from_gdelt(GDELT_ROW)
    assert fields.year == "2019"
    assert story_text(fields) == "elijah cummings funeral"
    assert build_event_text(fields) == (
        "elijah cummings funeral. Maryland Host a visit Hillary Clinton in Baltimore, Maryland, United States"
    )


def test_event_text_leaves_out_empty_parts() -> None:
    no_url = EventFields.from_gdelt({**GDELT_ROW, "SOURCEURL": "", "Actor2Name": None})
    assert build_event_text(no_url) == "Maryland Host a visit in Baltimore, Maryland, United States"
    place_only = EventFields(place="Spain")
    assert build_event_text(place_only) == "Spain"
    assert build_event_text(EventFields()) == ""
    assert EventFields(sql_date="2019-10").year == ""


def test_edit_text_with_and_without_comment() -> None:
    assert build_edit_text("Elijah Cummings") == "Elijah Cummings"
    assert build_edit_text("Elijah Cummings", "") == "Elijah Cummings"
    assert build_edit_text("  Elijah   Cummings ", "/* Death */ added [[Baltimore|funeral]] date") == (
        "Elijah Cummings: Death added funeral date"
    )
    assert build_edit_text("", "only a comment") == "only a comment"


def test_clean_edit_comment_removes_wiki_markup() -> None:
    assert clean_edit_comment("/* Early life */ {{cite web}} '''bold''' [[Link]]") == "Early life cite web bold Link"
    assert clean_edit_comment("") == ""


def test_content_tokens_drop_stop_words_and_numbers_but_keep_years() -> None:
    assert content_tokens("The 2019 Sri Lanka Easter bombings, 253 dead") == [
        "2019",
        "sri",
        "lanka",
        "easter",
        "bombings",
        "dead",
    ]
    assert content_tokens("Japan's talks with Seoul") == ["japan", "talks", "seoul"]
    assert content_tokens("") == []
