"""The sample's cast: the CAMEO codes it uses, its planted stories (URLs, actors, places, article titles and
edit comments) and the noise that must not correlate. Data only; `lakehouse.local.sample` turns it into records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# CAMEO codes the sample uses, with GDELT's descriptions (the sample's reference file lists exactly these).
SAMPLE_CAMEO: Mapping[str, str] = {
    "010": "Make statement, not specified below",
    "020": "Make an appeal or request, not specified below",
    "036": "Express intent to meet or negotiate",
    "040": "Consult, not specified below",
    "042": "Make a visit",
    "043": "Host a visit",
    "051": "Praise or endorse",
    "070": "Provide aid, not specified below",
    "0233": "Appeal for humanitarian aid",
    "112": "Accuse, not specified below",
    "141": "Demonstrate or rally, not specified below",
    "145": "Protest violently, riot",
    "173": "Arrest, detain, or charge with legal action",
    "190": "Use conventional military force, not specified below",
}


@dataclass(frozen=True)
class Place:
    full_name: str
    country: str
    adm1: str
    lat: float
    lon: float
    feature_id: str
    geo_type: str = "4"


@dataclass(frozen=True)
class Actor:
    code: str
    name: str
    country: str


@dataclass(frozen=True)
class Story:
    key: str
    urls: tuple[str, ...]
    actors: tuple[tuple[Actor, Actor | None, str], ...]  # (actor1, actor2, CAMEO code) per event
    place: Place
    articles: tuple[str, ...]
    comments: tuple[str, ...]
    window: int  # index of the 4-hour window the story happens in


_GOV = {
    "JPN": Actor("JPNGOV", "JAPAN", "JPN"),
    "CHL": Actor("CHLGOV", "CHILE", "CHL"),
    "USA": Actor("USA", "UNITED STATES", "USA"),
    "FRA": Actor("FRAGOV", "FRANCE", "FRA"),
    "KEN": Actor("KEN", "KENYA", "KEN"),
    "IND": Actor("INDGOV", "INDIA", "IND"),
    "GBR": Actor("GBRCOP", "POLICE", "GBR"),
    "AUS": Actor("AUS", "AUSTRALIA", "AUS"),
}

STORIES: tuple[Story, ...] = (
    Story(
        "hokkaido_earthquake",
        ("https://www.japantimes.co.jp/news/2026/11/26/national/hokkaido-earthquake-tsunami-warning-coast/",),
        ((_GOV["JPN"], None, "0233"), (Actor("JPNMIL", "JAPANESE", "JPN"), _GOV["JPN"], "070")),
        Place("Sapporo, Hokkaido, Japan", "JA", "JA12", 43.0667, 141.35, "-231236"),
        ("2026 Hokkaido earthquake", "Tsunami warnings in Japan"),
        ("/* Casualties */ update death toll", "added tsunami warning details", "Created page about the earthquake"),
        0,
    ),
    Story(
        "chile_protests",
        (
            "https://www.reuters.com/world/americas/santiago-metro-fare-protests-turn-violent-chile-2026-11-26/",
            "https://www.theguardian.com/world/2026/nov/26/chile-protests-santiago-metro-fare-curfew",
        ),
        ((Actor("CHLOPP", "PROTESTER", "CHL"), _GOV["CHL"], "145"), (_GOV["CHL"], None, "173")),
        Place("Santiago, Region Metropolitana, Chile", "CI", "CI12", -33.45, -70.6667, "-901998"),
        ("2026 Chilean protests", "Santiago Metro"),
        ("/* Curfew */ curfew declared in Santiago", "metro fare protests spread"),
        0,
    ),
    Story(
        "notre_dame_reopening",
        ("https://www.france24.com/en/europe/20261126-notre-dame-cathedral-spire-restoration-completed",),
        ((_GOV["FRA"], None, "043"), (Actor("FRA", "PARIS", "FRA"), _GOV["FRA"], "051")),
        Place("Paris, Ile-de-France, France", "FR", "FRA8", 48.8667, 2.3333, "-1456928"),
        ("Notre-Dame de Paris", "Notre-Dame de Paris fire"),
        ("/* Restoration */ spire restoration completed", "update restoration section"),
        1,
    ),
    Story(
        "kenya_floods",
        ("https://www.nation.africa/kenya/news/floods-displace-thousands-in-tana-river-county-4567890",),
        ((Actor("KENGOV", "KENYA", "KEN"), None, "020"), (Actor("KENHLH", "RED CROSS", "KEN"), None, "070")),
        Place("Garissa, North-Eastern, Kenya", "KE", "KE06", -0.4536, 39.6401, "-2399480"),
        ("2026 Kenya floods", "Tana River (Kenya)"),
        ("/* Impact */ thousands displaced in Tana River County", "flood casualties added"),
        1,
    ),
    Story(
        "mars_sample_return",
        ("https://www.space.com/nasa-mars-sample-return-mission-launch-delayed-budget",),
        ((Actor("USAGOV", "NASA", "USA"), None, "010"), (_GOV["USA"], Actor("USALEG", "CONGRESS", "USA"), "112")),
        Place("Washington, District of Columbia, United States", "US", "USDC", 38.8951, -77.0364, "531871"),
        ("Mars Sample Return", "NASA"),
        ("/* Budget */ launch delayed after budget cuts", "Mars sample return schedule"),
        2,
    ),
    Story(
        "india_monsoon_cricket",
        ("https://www.espncricinfo.com/story/india-australia-test-washed-out-by-rain-in-brisbane-1408765",),
        ((_GOV["IND"], _GOV["AUS"], "042"), (Actor("AUS", "BRISBANE", "AUS"), _GOV["IND"], "043")),
        Place("Brisbane, Queensland, Australia", "AS", "AS04", -27.5, 153.0167, "-1561728"),
        ("2026–27 Border–Gavaskar Trophy", "The Gabba"),
        ("/* Third Test */ match washed out by rain", "rain delay at the Gabba"),
        2,
    ),
)

NOISE_URLS: tuple[str, ...] = (
    "https://www.localnews12.com/business/regional-bakery-chain-reports-record-quarterly-sales",
    "https://www.citypaper.com/arts/jazz-quartet-announces-winter-concert-series",
    "https://www.techdigest.com/reviews/budget-smartphone-battery-life-test",
    "https://www.bizjournal.com/startups/payroll-software-startup-opens-new-office",
    "https://www.countyherald.com/community/farmers-market-moves-indoors-for-winter",
    "https://www.dailyrecord.com/story/news/local/zoning-board-approves-apartment-complex",
)
# Chosen far from every story and noise URL (all-MiniLM-L6-v2 cosine < 0.11), so nothing correlates with them.
NOISE_TITLES: tuple[str, ...] = (
    "Quaternion",
    "Horseshoe crab",
    "Noether's theorem",
    "Bryophyte",
    "Ribosome",
    "Euler's identity",
    "Cyrillic script",
    "Ordovician",
)
NOISE_COMMENTS: tuple[str, ...] = (
    "copyedit",
    "fixed typo",
    "/* References */ added citation",
    "Reverted edits by vandal",
    "infobox image",
    "",
)
NOISE_ACTORS: tuple[Actor, ...] = (
    Actor("USABUS", "COMPANY", "USA"),
    Actor("USAEDU", "SCHOOL", "USA"),
    Actor("USA", "CHICAGO", "USA"),
    Actor("CAN", "TORONTO", "CAN"),
)
NOISE_PLACE = Place("Columbus, Ohio, United States", "US", "USOH", 39.9612, -82.9988, "1085931", "3")
