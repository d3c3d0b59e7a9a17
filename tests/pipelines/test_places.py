"""Country names in slugs and titles (`pipelines.places`): the inputs of the engine's country veto."""

from __future__ import annotations

import pytest

from pipelines.places import COUNTRIES, countries_named, names_other_countries


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019 Bolivian protests", {"bolivia"}),
        ("Japan–South Korea relations", {"japan", "south korea"}),
        ("european executive condemns violence in chile", {"chile"}),
        ("Accession of North Macedonia to the European Union", {"north macedonia"}),
        ("Skopje, Macedonia (general), Macedonia", {"north macedonia"}),
        ("2019 Turkish offensive into north-eastern Syria", {"turkey", "syria"}),
        ("press tv journalists in u s", {"united states"}),
        ("us navy to sail near reefs claimed by china", {"united states", "china"}),
        ("Trinidad and Tobago", {"trinidad and tobago"}),
        ("Côte d'Ivoire", {"ivory coast"}),
        ("", set()),
        ("Elijah Cummings", set()),
    ],
)
def test_names_and_adjectives_name_their_country(text: str, expected: set[str]) -> None:
    assert countries_named(text) == expected


def test_longer_names_win_over_the_countries_inside_them() -> None:
    assert countries_named("South Sudanese Civil War") == {"south sudan"}
    assert countries_named("South African police") == {"south africa"}
    assert countries_named("Sudanese army") == {"sudan"}
    assert countries_named("Papua New Guinea election") == {"papua new guinea"}


def test_plurals_and_slug_possessives_count_short_words_do_not() -> None:
    assert countries_named("bolivians march") == {"bolivia"}
    assert countries_named("icc arrests sudans bashir") == {"sudan"}  # "sudan's" in a URL slug
    assert countries_named("Sudan's president") == {"sudan"}
    assert countries_named("USS Lassen (DDG-82)") == set()  # "uss" is not "us" + s


def test_words_that_usually_mean_something_else_name_no_country() -> None:
    assert countries_named("Ebenezer Baptist Church, Georgia") == set()  # the US state
    assert countries_named("Michael Jordan") == set()
    assert countries_named("Niger Delta militants") == set()
    assert countries_named("Georgian wine") == {"georgia"}  # the adjective is unambiguous enough


def test_korean_alone_names_both_koreas() -> None:
    assert countries_named("Korean War") == {"north korea", "south korea"}
    assert countries_named("n korea fires missiles") == {"north korea"}
    assert not names_other_countries(countries_named("korean peninsula talks"), countries_named("North Korea"))


def test_names_other_countries_needs_countries_on_both_sides_and_none_shared() -> None:
    chile, bolivia = countries_named("chile"), countries_named("Bolivian")
    assert names_other_countries(chile, bolivia)
    assert not names_other_countries(chile, countries_named("Chilean protests"))
    assert not names_other_countries(chile, countries_named("Santiago Metro"))  # title names no country
    assert not names_other_countries(set(), bolivia)  # slug names no country
    assert not names_other_countries(countries_named("us china trade"), countries_named("China–US relations"))


def test_every_country_is_named_by_its_own_name_unless_its_name_is_ambiguous() -> None:
    ambiguous = {"georgia", "jordan", "chad", "guinea", "niger"}
    assert list(COUNTRIES) == sorted(COUNTRIES) and len(COUNTRIES) > 190
    for country in COUNTRIES:
        assert (countries_named(country) == {country}) != (country in ambiguous), country
