"""Hours of both feeds at S times the real rates, shaped like the captures (`lakehouse.local.feed_profile`).

`simulate_feeds(hours, scale)` generates, deterministically and without ../shared:

- GDELT: one export per 15-minute slice with ~1,952 x S rows (+-10 %), grouped into source URLs by the measured
  events-per-URL histogram (mean 4.3), each URL naming a story of 4-9 news words (3 % name none), events of one URL
  repeating a previous event's actors and action as often as the captures do (91 % distinct event texts), empty
  Actor1/Actor2/place and an earlier SQLDATE as often as measured;
- Wikimedia: enwiki recentchange events as a Poisson process at 1.67 x S events/s, of which 86 % in the main
  namespace and 2 % by bots (what silver keeps: 1.41 x S edits/s); titles repeat like the 18-minute capture (a new
  title 72 % of the time, else a recently edited one), a repeated title keeps its comment 37 % of the time, and
  comments are empty / a section marker / a section and words / free words in the measured proportions.

Words come from built-in vocabularies of real English words and names, so the model sees texts of realistic
length and tokenization. `SimulatedFeeds.between(t0, t1)` cuts the records that arrive in one update's slice.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lakehouse.local import feed_profile as profile
from lakehouse.local.sample import _Ids, gdelt_row, recentchange_event
from lakehouse.local.sample_stories import NOISE_PLACE, Actor
from pipelines.cameo import ROOT_CODES
from pipelines.gdelt import EXPORT_COLUMNS, parse_slice_id, slice_id_of

SIMULATION_START = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
SLICE = timedelta(minutes=15)

# Share of main-namespace edits that name a brand-new title; the others repeat the title of an edit a log-normal
# number of edits back (median 300 edits, about 3.5 minutes at 1x). Fitted to the capture's distinct-title ratio
# over its first 3, 6, 9, 12 and 18 minutes (0.90, 0.82, 0.78, 0.78, 0.75). Counted in edits, not seconds, so a
# stream at any scale repeats as the real one does over the same number of edits. The history starts with
# WARMUP_EDITS titles from before the simulation, as a capture starts in the middle of the stream.
NEW_TITLE_SHARE = 0.65
REPEAT_LAG_MEDIAN = 300
REPEAT_LAG_SIGMA = 1.2
WARMUP_EDITS = 3000
REPEAT_KEEPS_COMMENT = 0.37  # a repeated title keeps its previous comment: 91 % distinct edit texts
SAME_URL_REPEAT = 0.11  # a later event of a URL repeats an earlier one's fields: 91 % distinct event texts

_NEWS_WORDS = """
election president minister parliament government police court judge trial verdict protest rally strike union
workers wages budget tax inflation economy market shares bank central interest rates trade tariffs exports
imports oil gas energy prices climate storm flood drought wildfire earthquake tsunami hurricane typhoon rescue
victims killed injured attack bombing shooting suspect arrested charged prison sentence appeal ruling supreme
constitution reform vote referendum opposition coalition party leader campaign candidate poll debate summit
talks agreement treaty ceasefire peace war troops military army navy air strike missile drone border refugees
migrants asylum crisis hospital doctors patients vaccine outbreak virus health school students teachers
university research scientists space launch satellite rocket mission company merger deal investors profit
losses jobs factory plant mine pipeline railway airport flights airline crash accident fire explosion bridge
road traffic city council mayor residents housing rent prices water power outage blackout festival museum
film music concert award prize champion league match final cup team coach player injury transfer season record
fans stadium olympic marathon mountain river coast island village province region capital visit meeting
delegation embassy ambassador sanctions investigation report scandal corruption fraud bribery charges police
chief spokesman statement warning alert emergency evacuation aid donors charity volunteers church mosque temple
pope bishop king queen prince royal wedding funeral anniversary memorial monument heritage archaeologists
discovery ancient remains fossil species wildlife forest ocean fishing farmers harvest crops food shortage
""".split()
_TITLE_WORDS = """
Albert Anna Bandura Bodyguard Carlos Charlotte Cereus Dutcher Eliahu Emma Fairmont Francisco Georgia Hearts
Inbal Jeremy Kiss Lawson Lifetime Marion Marseille Olympique Pine Portland Radish Truth Killer Vacation Heads
Talking Goodbye Women Champions Parliament Kingdom Acts Transit Authority County Philharmonic Czech Chief
Conductor Social Media Summer Once River Lake Mount Saint Castle Abbey Railway Station Line Bridge Tower Palace
Cathedral University College School Academy Football Club Rugby Cricket Basketball Hockey Tennis Open Grand Prix
Championship Cup League Division Season Series Album Song Film Novel Band Orchestra Opera Ballet Festival Award
Election Referendum Constitution Army Navy Regiment Battalion Battle Siege War Treaty Revolution Empire Dynasty
Republic Province District Municipality Village Island Peninsula Valley Desert Forest National Park Museum
Gallery Library Hospital Airport Harbour Lighthouse Canal Tunnel Highway Route Avenue Street Square Market
Company Corporation Bank Airlines Motors Records Studios Pictures Television Radio Network Magazine Newspaper
Hurricane Typhoon Earthquake Flood Eruption Pandemic Protests Crisis Scandal Affair Trial Murder Disappearance
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson
Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson
Tokyo Osaka Lagos Nairobi Lima Quito Oslo Lisbon Hanoi Tbilisi Perth Accra Cork Tunis Santiago Hokkaido Brisbane
""".split()
_SECTIONS = (
    "Early life", "Career", "Personal life", "References", "External links", "History", "Reception", "Plot",
    "Results", "Squad", "Discography", "Filmography", "Background", "Legacy", "Geography", "Demographics",
    "Appearances and goals", "Combined reigns", "Other versions", "Honours", "Track listing", "Production",
)  # fmt: skip
_EDIT_WORDS = """
added removed fixed typo typos citation citations source sources reference references link links image infobox
category categories update updated updates updating clean cleanup copyedit copy edit grammar spelling formatting
format expanded expand rewrite rewrote reworded wording section sections content unsourced vandalism reverted
revert undo undid restored restore corrected correction date dates statistics stats results score table tables
caption photo lead intro paragraph sentence minor tweak tweaks consistency style manual per talk discussion
consensus merge split moved move redirect stub tagged tag template templates navbox portal wikilink wikilinks
dead archived archive url access removed duplicate duplicated readability sourced reliable new info information
""".split()
_ACTORS = (
    "UNITED STATES", "CHINA", "RUSSIA", "UKRAINE", "FRANCE", "GERMANY", "JAPAN", "INDIA", "BRAZIL", "MEXICO",
    "CANADA", "AUSTRALIA", "NIGERIA", "KENYA", "SOUTH AFRICA", "EGYPT", "ISRAEL", "IRAN", "TURKEY", "PAKISTAN",
    "POLICE", "GOVERNMENT", "PRESIDENT", "PRIME MINISTER", "MINISTRY", "MILITARY", "SOLDIER", "PROTESTER",
    "STUDENT", "COMPANY", "BUSINESS", "UNION", "COURT", "JUDGE", "PRISON", "REBEL", "MILITANT", "CITIZEN",
    "SCHOOL", "HOSPITAL", "DOCTOR", "PARLIAMENT", "SENATE", "CONGRESS", "OPPOSITION", "PARTY", "LEADER",
    "MAYOR", "GOVERNOR", "EMBASSY", "UNITED NATIONS", "EUROPEAN UNION", "NATO", "RED CROSS", "REFUGEE",
    "CHURCH", "COMMUNITY", "MEDIA", "JOURNALIST", "ATTORNEY", "CRIMINAL", "SUSPECT", "VICTIM", "EMPLOYEE",
)  # fmt: skip
_PLACES = (
    "Washington, District of Columbia, United States", "New York, New York, United States",
    "London, London, City of, United Kingdom", "Paris, Ile-de-France, France", "Berlin, Berlin, Germany",
    "Moscow, Moskva, Russia", "Kyiv, Kyyiv, Misto, Ukraine", "Beijing, Beijing, China", "Tokyo, Tokyo, Japan",
    "New Delhi, National Capital Territory of Delhi, India", "Lagos, Lagos, Nigeria", "Nairobi, Nairobi Area, Kenya",
    "Sydney, New South Wales, Australia", "Toronto, Ontario, Canada", "Mexico City, The Federal District, Mexico",
    "Sao Paulo, Sao Paulo, Brazil", "Cairo, Al Qahirah, Egypt", "Jerusalem, Israel (general), Israel",
    "Tehran, Tehran, Iran", "Istanbul, Istanbul, Turkey", "Karachi, Sindh, Pakistan", "Manila, Manila, Philippines",
    "Jakarta, Jakarta Raya, Indonesia", "Johannesburg, Gauteng, South Africa", "Santiago, Region Metropolitana, Chile",
    "Lima, Lima, Peru", "Madrid, Madrid, Spain", "Rome, Lazio, Italy", "Brussels, Brussels Capital, Belgium",
    "Chicago, Illinois, United States", "Los Angeles, California, United States", "Texas, United States",
    "California, United States", "Florida, United States", "Scotland, United Kingdom", "Ohio, United States",
    "Queensland, Australia", "Ontario, Canada", "Punjab, Pakistan", "Kashmir, Jammu and Kashmir, India",
)  # fmt: skip
_DOMAINS = (
    "www.reuters.com", "apnews.com", "www.theguardian.com", "www.bbc.co.uk", "www.nytimes.com", "www.aljazeera.com",
    "www.thehindu.com", "www.abc.net.au", "www.cbc.ca", "www.dailymail.co.uk", "www.independent.co.uk",
    "www.timescolonist.com", "belsat.eu", "www.bgdailynews.com", "www.news24.com", "www.straitstimes.com",
)  # fmt: skip
_SECTION_PATHS = ("news", "world", "politics", "business", "local", "sport", "national", "international")
# CAMEO codes the simulated events use, with GDELT's descriptions (served and landed as the run's lookup).
SIMULATION_CAMEO: Mapping[str, str] = {
    **ROOT_CODES,
    "010": "Make statement, not specified below",
    "012": "Make pessimistic comment",
    "013": "Make optimistic comment",
    "020": "Make an appeal or request, not specified below",
    "036": "Express intent to meet or negotiate",
    "040": "Consult, not specified below",
    "042": "Make a visit",
    "043": "Host a visit",
    "046": "Engage in negotiation",
    "051": "Praise or endorse",
    "057": "Sign formal agreement",
    "061": "Cooperate economically",
    "071": "Provide economic aid",
    "073": "Provide humanitarian aid",
    "0233": "Appeal for humanitarian aid",
    "090": "Investigate, not specified below",
    "111": "Criticize or denounce",
    "112": "Accuse, not specified below",
    "120": "Reject, not specified below",
    "130": "Threaten, not specified below",
    "141": "Demonstrate or rally, not specified below",
    "145": "Protest violently, riot",
    "173": "Arrest, detain, or charge with legal action",
    "190": "Use conventional military force, not specified below",
    "193": "Fight with small arms and light weapons",
}
_CODES = tuple(code for code in SIMULATION_CAMEO if len(code) >= 3)


@dataclass
class SimulatedFeeds:
    """Both feeds over `hours` from `start`, at `scale` times the real rates."""

    start: datetime
    hours: float
    scale: float
    gdelt_slices: dict[str, list[list[str]]]
    events: list[dict[str, Any]]  # recentchange events, by meta.dt
    cameo_lookup: dict[str, str] = field(default_factory=lambda: dict(SIMULATION_CAMEO))

    @property
    def gdelt_rows(self) -> int:
        return sum(len(rows) for rows in self.gdelt_slices.values())

    @property
    def records(self) -> int:
        """Input records: GDELT rows plus recentchange events (filtered by silver or not)."""
        return self.gdelt_rows + len(self.events)

    def between(self, t0: datetime, t1: datetime) -> tuple[dict[str, list[list[str]]], list[dict[str, Any]]]:
        """The slices whose DATEADDED and the events whose meta.dt fall in [t0, t1)."""
        slices = {s: rows for s, rows in self.gdelt_slices.items() if t0 <= parse_slice_id(s) < t1}
        stamps = [_event_time(e) for e in self.events]
        lo, hi = bisect.bisect_left(stamps, t0), bisect.bisect_left(stamps, t1)
        return slices, self.events[lo:hi]


def _event_time(event: Mapping[str, Any]) -> datetime:
    return datetime.strptime(str(event["meta"]["dt"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _weighted(rng: random.Random, weights: Mapping[int, int]) -> int:
    keys = list(weights)
    return rng.choices(keys, [weights[k] for k in keys])[0]


def _story_url(rng: random.Random, moment: datetime, serial: int) -> str:
    domain = rng.choice(_DOMAINS)
    if rng.random() < profile.GDELT_NO_SLUG_SHARE:
        return f"https://{domain}/article/{serial}"  # names no story: the engine falls back to the full text
    words = "-".join(rng.choice(_NEWS_WORDS) for _ in range(rng.randint(4, 9)))
    return f"https://{domain}/{rng.choice(_SECTION_PATHS)}/{moment:%Y/%m/%d}/{words}"


@dataclass(frozen=True)
class _EventFields:
    actor1: str
    actor2: str
    code: str
    place: str


def _event_fields(rng: random.Random) -> _EventFields:
    return _EventFields(
        actor1="" if rng.random() < profile.GDELT_ACTOR1_EMPTY else rng.choice(_ACTORS),
        actor2="" if rng.random() < profile.GDELT_ACTOR2_EMPTY else rng.choice(_ACTORS),
        code=rng.choice(_CODES),
        place="" if rng.random() < profile.GDELT_PLACE_EMPTY else rng.choice(_PLACES),
    )


def _gdelt_slice(rng: random.Random, moment: datetime, scale: float, first_id: int) -> list[list[str]]:
    column = {name: i for i, name in enumerate(EXPORT_COLUMNS)}
    target = max(0, round(rng.gauss(profile.GDELT_ROWS_PER_SLICE * scale, profile.GDELT_ROWS_PER_SLICE * scale * 0.1)))
    rows: list[list[str]] = []
    event_id = first_id
    while len(rows) < target:
        url = _story_url(rng, moment, event_id)
        seen: list[_EventFields] = []
        for _ in range(min(_weighted(rng, profile.GDELT_EVENTS_PER_URL), target - len(rows))):
            fields = rng.choice(seen) if seen and rng.random() < SAME_URL_REPEAT else _event_fields(rng)
            seen.append(fields)
            event_id += 1
            actor = Actor("", fields.actor1, "")
            row = gdelt_row(event_id, moment, url, actor, None, fields.code, NOISE_PLACE, rng)
            day = (
                moment
                if rng.random() < profile.GDELT_SQLDATE_IS_DAY_ADDED
                else moment - timedelta(days=rng.choice((1, 7, 30, 365)))
            )
            row[column["SQLDATE"]] = day.strftime("%Y%m%d")
            row[column["Actor2Name"]] = fields.actor2
            row[column["ActionGeo_FullName"]] = fields.place
            rows.append(row)
    return rows


def _title(rng: random.Random) -> str:
    words = [rng.choice(_TITLE_WORDS) for _ in range(rng.choices((1, 2, 3, 4), (2, 5, 5, 3))[0])]
    if rng.random() < 0.15:
        words.insert(0, str(rng.randint(1950, 2026)))
    return " ".join(words)


def _comment(rng: random.Random) -> str:
    draw = rng.random()
    empty = 1 - profile.WIKI_COMMENT_PRESENT
    if draw < empty:
        return ""
    section = f"/* {rng.choice(_SECTIONS)} */"
    if draw < empty + profile.WIKI_COMMENT_SECTION_ONLY:
        return section
    words = " ".join(rng.choice(_EDIT_WORDS) for _ in range(rng.randint(3, 11)))
    if rng.random() < 0.15:
        target = rng.choice(_TITLE_WORDS)
        words += f" [[{target}|{target.lower()}]]"
    if draw < empty + profile.WIKI_COMMENT_SECTION_ONLY + profile.WIKI_COMMENT_SECTION_AND_TEXT:
        return f"{section} {words}"
    return words


def _recentchanges(rng: random.Random, start: datetime, seconds: float, scale: float) -> list[dict[str, Any]]:
    ids = _Ids(rng)
    rate = profile.WIKI_EVENTS_PER_S * scale
    # (title, comment) of main-namespace edits, in order, starting with edits from before the simulation.
    history: list[tuple[str, str]] = [(_title(rng), _comment(rng)) for _ in range(WARMUP_EDITS)]
    events: list[dict[str, Any]] = []
    elapsed = rng.expovariate(rate) if rate > 0 else seconds
    users = ("Cdjp1", "Materialscientist", "Ser Amantio di Nicolao", "BD2412", "Onel5969", "Mathglot", "Ss112")
    while elapsed < seconds:
        at = start + timedelta(seconds=elapsed)
        elapsed += rng.expovariate(rate)
        bot = rng.random() < profile.WIKI_BOT_SHARE
        user = "Citation bot" if bot else rng.choice(users)
        if rng.random() >= profile.WIKI_MAIN_NAMESPACE_SHARE:
            namespace = _weighted(rng, profile.WIKI_OTHER_NAMESPACES)
            prefix = {2: "User", 118: "Draft", 4: "Wikipedia"}.get(namespace, "Talk")
            event = recentchange_event(ids, at, f"{prefix}:{_title(rng)}", _comment(rng), user=user, bot=bot,
                                       namespace=namespace)  # fmt: skip
        else:
            if rng.random() >= NEW_TITLE_SHARE:
                lag = min(len(history), max(1, int(rng.lognormvariate(math.log(REPEAT_LAG_MEDIAN), REPEAT_LAG_SIGMA))))
                title, previous = history[-lag]
                comment = previous if rng.random() < REPEAT_KEEPS_COMMENT else _comment(rng)
            else:
                title, comment = _title(rng), _comment(rng)
            history.append((title, comment))
            event = recentchange_event(ids, at, title, comment, user=user, bot=bot)
        event["minor"] = rng.random() < profile.WIKI_MINOR_SHARE
        events.append(event)
    return events


def simulate_feeds(hours: float, scale: float, *, seed: int = 11, start: datetime = SIMULATION_START) -> SimulatedFeeds:
    """`hours` of GDELT slices and recentchange events at `scale` times the measured rates (module docstring)."""
    if hours <= 0 or scale <= 0:
        raise ValueError(f"hours={hours} and scale={scale} must be positive")
    rng = random.Random(seed)  # noqa: S311 - reproducible simulated data, not cryptography
    slices: dict[str, list[list[str]]] = {}
    next_id = 1_300_000_000
    moment = start
    end = start + timedelta(hours=hours)
    while moment < end:
        rows = _gdelt_slice(rng, moment, scale, next_id)
        next_id += len(rows) + 1
        if rows:
            slices[slice_id_of(moment)] = rows
        moment += SLICE
    events = _recentchanges(rng, start, hours * 3600, scale)
    return SimulatedFeeds(start, hours, scale, slices, events)


def kept_edits(events: Sequence[Mapping[str, Any]]) -> list[tuple[float, str, str]]:
    """(epoch seconds, title, comment) of the events silver keeps (enwiki main namespace, edits, no bots)."""
    return [
        (_event_time(e).timestamp(), str(e["title"]), str(e.get("comment") or ""))
        for e in events
        if e.get("namespace") == 0 and not e.get("bot") and e.get("type") in ("edit", "new")
    ]
