"""A deterministic, realistic sample in the real formats: GDELT 2.0 export rows and Wikimedia recentchange events
about a set of shared stories, plus unrelated noise and some malformed records.

- GDELT rows have the 61 codebook columns as GDELT writes them (strings, many empty, DATEADDED naming the
  15-minute slice), grouped by slice so `lakehouse.local.gdelt_feed.GdeltFeedServer` can serve them as export zips.
- Wikimedia events follow `mediawiki/recentchange/1.0.0` (meta.id UUIDs, meta.dt, rc ids, revisions, lengths).
- A planted story has events (several per URL, as GDELT codes several events per article) and edits to the
  Wikipedia articles about it in the same 4-hour window; noise events and noise edits share no topic.
- Malformed records cover each expectation (short row, non-numeric id, bad DATEADDED, missing URL; missing
  meta.id, bad meta.dt, missing title); duplicates, bots, talk pages and other wikis exercise dedupe and filters.
- `SampleTruth` records what the pipeline must find, so the end-to-end test asserts against it.

The benchmark's larger, realistic feeds come from `lakehouse.local.feed_simulator` (rates and repetition measured from
real captures), not from this module.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lakehouse.local.sample_stories import (
    NOISE_ACTORS,
    NOISE_COMMENTS,
    NOISE_PLACE,
    NOISE_TITLES,
    NOISE_URLS,
    SAMPLE_CAMEO,
    STORIES,
    Actor,
    Place,
)
from pipelines.gdelt import EXPORT_COLUMNS, parse_slice_id, slice_id_of, slices_between
from pipelines.settings import DEFAULT_WINDOW_HOURS

BASE_TIME = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
# The sample plants its stories in the pipeline's windows, so it uses the pipeline's default window length.
WINDOW_HOURS = DEFAULT_WINDOW_HOURS
N_WINDOWS = 3


@dataclass
class SampleTruth:
    """What the pipeline must find in the sample (keys are qualified table names or rule names)."""

    gdelt_rows: int = 0
    wikimedia_events: int = 0
    silver_events: int = 0
    silver_edits: int = 0
    quarantine: dict[str, int] = field(default_factory=dict)
    # story key -> (event ids, article titles): each event must correlate with at least one of the titles.
    planted: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    noise_event_ids: list[str] = field(default_factory=list)
    noise_titles: list[str] = field(default_factory=list)


@dataclass
class Sample:
    gdelt_slices: dict[str, list[list[str]]]
    wikimedia_events: list[dict[str, Any]]
    cameo_lookup: dict[str, str]
    truth: SampleTruth


def _fraction_date(day: datetime) -> str:
    return f"{day.year + (day.timetuple().tm_yday - 1) / 365.0:.4f}"


def _quad_class(code: str) -> str:
    root = int(code[:2])
    return "1" if root <= 5 else "2" if root <= 9 else "3" if root <= 14 else "4"


def _geo_fields(prefix: str, place: Place) -> dict[str, str]:
    """The seven geography columns GDELT repeats for Actor1Geo, Actor2Geo and ActionGeo."""
    return {
        f"{prefix}_Type": place.geo_type,
        f"{prefix}_FullName": place.full_name,
        f"{prefix}_CountryCode": place.country,
        f"{prefix}_ADM1Code": place.adm1,
        f"{prefix}_Lat": f"{place.lat:.4f}",
        f"{prefix}_Long": f"{place.lon:.4f}",
        f"{prefix}_FeatureID": place.feature_id,
    }


def gdelt_row(
    event_id: int,
    added: datetime,
    url: str,
    actor1: Actor,
    actor2: Actor | None,
    code: str,
    place: Place,
    rng: random.Random,
) -> list[str]:
    """One 61-column export row, as GDELT writes it (strings; empty strings for absent values)."""
    day = added - timedelta(hours=rng.randint(0, 20))
    values: dict[str, str] = dict.fromkeys(EXPORT_COLUMNS, "")
    values.update(
        GLOBALEVENTID=str(event_id),
        SQLDATE=day.strftime("%Y%m%d"),
        MonthYear=day.strftime("%Y%m"),
        Year=day.strftime("%Y"),
        FractionDate=_fraction_date(day),
        Actor1Code=actor1.code,
        Actor1Name=actor1.name,
        Actor1CountryCode=actor1.country,
        IsRootEvent=str(rng.randint(0, 1)),
        EventCode=code,
        EventBaseCode=code[:3],
        EventRootCode=code[:2],
        QuadClass=_quad_class(code),
        GoldsteinScale=f"{rng.choice([-10.0, -5.0, -2.0, 1.0, 3.0, 3.4, 7.0]):.1f}",
        NumMentions=str(rng.randint(1, 20)),
        NumSources=str(rng.randint(1, 4)),
        NumArticles=str(rng.randint(1, 20)),
        AvgTone=f"{rng.uniform(-8, 4):.10f}",
        **_geo_fields("Actor1Geo", place),
        **_geo_fields("ActionGeo", place),
        DATEADDED=slice_id_of(added),
        SOURCEURL=url,
    )
    if actor2 is not None:
        values.update(
            Actor2Code=actor2.code,
            Actor2Name=actor2.name,
            Actor2CountryCode=actor2.country,
            **_geo_fields("Actor2Geo", place),
        )
    return [values[c] for c in EXPORT_COLUMNS]


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.rc_id = 1_810_000_000
        self.rev_id = 1_260_000_000

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def recentchange_event(
    ids: _Ids,
    at: datetime,
    title: str,
    comment: str,
    *,
    user: str,
    bot: bool = False,
    namespace: int = 0,
    kind: str = "edit",
    wiki: str = "enwiki",
) -> dict[str, Any]:
    """One `mediawiki/recentchange/1.0.0` event as EventStreams sends it."""
    domain = {"enwiki": "en.wikipedia.org", "dewiki": "de.wikipedia.org", "wikidatawiki": "www.wikidata.org"}[wiki]
    ids.rc_id += ids.rng.randint(1, 40)
    ids.rev_id += ids.rng.randint(1, 40)
    old_len = ids.rng.randint(800, 90_000)
    title_url = title.replace(" ", "_")
    event: dict[str, Any] = {
        "$schema": "/mediawiki/recentchange/1.0.0",
        "meta": {
            "uri": f"https://{domain}/wiki/{title_url}",
            "request_id": ids.uuid(),
            "id": ids.uuid(),
            "dt": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "domain": domain,
            "stream": "mediawiki.recentchange",
        },
        "id": ids.rc_id,
        "type": kind,
        "namespace": namespace,
        "title": title,
        "title_url": f"https://{domain}/wiki/{title_url}",
        "comment": comment,
        "timestamp": int(at.timestamp()),
        "user": user,
        "bot": bot,
        "notify_url": f"https://{domain}/w/index.php?diff={ids.rev_id}",
        "server_url": f"https://{domain}",
        "server_name": domain,
        "server_script_path": "/w",
        "wiki": wiki,
        "parsedcomment": comment,
    }
    if kind in ("edit", "new"):
        event.update(
            minor=ids.rng.random() < 0.2,
            patrolled=ids.rng.random() < 0.5,
            length={"old": None if kind == "new" else old_len, "new": old_len + ids.rng.randint(-200, 900)},
            revision={"old": None if kind == "new" else ids.rev_id - 7, "new": ids.rev_id},
        )
    return event


_USERS = ("Cdjp1", "Materialscientist", "Ser Amantio di Nicolao", "BD2412", "Citation bot", "Onel5969", "Mathglot")
_IPS = ("2a02:c7c:5a1e:9b00:d1f3:6a2e:4b7c:11aa", "203.0.113.47", "198.51.100.23")


def _user(rng: random.Random) -> str:
    return rng.choice(_IPS) if rng.random() < 0.2 else rng.choice(_USERS[:4] + _USERS[5:])


def _window_time(window: int, rng: random.Random, *, lo_min: int = 5, hi_min: int = 200) -> datetime:
    return BASE_TIME + timedelta(hours=WINDOW_HOURS * window, minutes=rng.randint(lo_min, hi_min))


def generate_sample(seed: int = 20261126) -> Sample:
    """The run-local sample: planted stories, noise, duplicates, filtered and malformed records."""
    rng = random.Random(seed)  # noqa: S311 - reproducible sample data, not cryptography
    ids = _Ids(rng)
    truth = SampleTruth()
    slices: dict[str, list[list[str]]] = defaultdict(list)
    events: list[dict[str, Any]] = []
    next_event_id = 1_250_000_000

    def add_row(row: list[str]) -> None:
        slices[row[EXPORT_COLUMNS.index("DATEADDED")]].append(row)
        truth.gdelt_rows += 1

    # Planted stories: 2-3 events per URL, edits to the story's articles a little later in the same window.
    for story in STORIES:
        event_ids: list[str] = []
        for url in story.urls:
            for actor1, actor2, code in story.actors:
                next_event_id += rng.randint(1, 30)
                added = _window_time(story.window, rng, hi_min=150)
                add_row(gdelt_row(next_event_id, added, url, actor1, actor2, code, story.place, rng))
                event_ids.append(str(next_event_id))
        titles = list(story.articles)
        for i, title in enumerate(story.articles):
            for comment in story.comments[i::2] or story.comments[:1]:
                at = _window_time(story.window, rng, lo_min=160, hi_min=235)
                events.append(recentchange_event(ids, at, title, comment, user=_user(rng)))
        truth.planted[story.key] = (event_ids, titles)
        truth.silver_events += len(event_ids)

    # Noise events (several per URL, as GDELT codes them) and noise edits, spread over all windows.
    for n in range(30):
        url = NOISE_URLS[n % len(NOISE_URLS)]
        next_event_id += rng.randint(1, 30)
        code = rng.choice(["010", "040", "036", "051"])
        actor = NOISE_ACTORS[n % len(NOISE_ACTORS)]
        add_row(gdelt_row(next_event_id, _window_time(n % N_WINDOWS, rng), url, actor, None, code, NOISE_PLACE, rng))
        truth.noise_event_ids.append(str(next_event_id))
    truth.silver_events += 30
    for n in range(36):
        title = NOISE_TITLES[n % len(NOISE_TITLES)]
        at = _window_time(n % N_WINDOWS, rng)
        events.append(recentchange_event(ids, at, title, rng.choice(NOISE_COMMENTS), user=_user(rng)))
    truth.noise_titles = list(NOISE_TITLES)
    truth.silver_edits = len(events)

    # Events silver filters out on purpose: bots, talk/user pages, other wikis, log entries.
    for n in range(6):
        at = _window_time(n % N_WINDOWS, rng)
        events.append(
            recentchange_event(ids, at, "2026 Hokkaido earthquake", "Bot: fixing links", user="Citation bot", bot=True)
        )
        events.append(recentchange_event(ids, at, "Talk:Santiago Metro", "reply", user=_user(rng), namespace=1))
        events.append(recentchange_event(ids, at, "Notre-Dame de Paris", "Kopie", user=_user(rng), wiki="dewiki"))
    events.append(recentchange_event(ids, _window_time(1, rng), "User:Example", "", user="Example", kind="log"))

    # GDELT publishes every 15 minutes: fill slices the stories left empty with more noise, so the feed has no gaps.
    first, last = min(slices), max(slices)
    for slice_id in slices_between(parse_slice_id(first), parse_slice_id(last)):
        if slice_id not in slices:
            next_event_id += rng.randint(1, 30)
            url = rng.choice(NOISE_URLS)
            added = parse_slice_id(slice_id) + timedelta(minutes=rng.randint(0, 14))
            add_row(gdelt_row(next_event_id, added, url, rng.choice(NOISE_ACTORS), None, "040", NOISE_PLACE, rng))
            truth.noise_event_ids.append(str(next_event_id))
            truth.silver_events += 1

    # Duplicates: GDELT re-publishes a row in a later slice; the stream replays an event (same meta.id).
    first_slice = sorted(slices)[0]
    replayed = list(slices[first_slice][0])
    later = datetime.strptime(first_slice, "%Y%m%d%H%M%S").replace(tzinfo=UTC) + timedelta(minutes=30)
    replayed[EXPORT_COLUMNS.index("DATEADDED")] = slice_id_of(later)
    add_row(replayed)
    events.append(json.loads(json.dumps(events[0])))

    # Malformed records, one (or two) per expectation rule.
    bad_slice = slice_id_of(_window_time(1, rng))
    template = gdelt_row(1, _window_time(1, rng), NOISE_URLS[0], NOISE_ACTORS[0], None, "010", NOISE_PLACE, rng)

    def malformed(**changes: str) -> list[str]:
        row = list(template)
        for column, value in changes.items():
            row[EXPORT_COLUMNS.index(column)] = value
        row[EXPORT_COLUMNS.index("DATEADDED")] = changes.get("DATEADDED", bad_slice)
        return row

    def add_malformed(row: list[str]) -> None:
        slices[bad_slice].append(row)
        truth.gdelt_rows += 1

    add_malformed(malformed(GLOBALEVENTID="1249999001")[:60])  # a truncated line: 60 fields
    add_malformed(malformed(GLOBALEVENTID="12499990O2"))  # letter O, not zero
    add_malformed(malformed(GLOBALEVENTID="1249999003", DATEADDED="20261126 9:00"))
    add_malformed(malformed(GLOBALEVENTID="1249999004", SOURCEURL=""))
    add_malformed(malformed(GLOBALEVENTID="1249999005", SOURCEURL="", DATEADDED="2026112"))
    truth.quarantine.update(
        gdelt_has_61_columns=1,
        gdelt_event_id_is_numeric=1,
        gdelt_dateadded_is_timestamp=2,
        gdelt_source_url_is_http=3,  # the truncated row lost its URL column too
    )
    no_id = recentchange_event(ids, _window_time(2, rng), "Ribosome", "copyedit", user=_user(rng))
    no_id["meta"].pop("id")
    bad_dt = recentchange_event(ids, _window_time(2, rng), "Ribosome", "copyedit", user=_user(rng))
    bad_dt["meta"]["dt"] = "yesterday"
    no_title = recentchange_event(ids, _window_time(2, rng), "", "copyedit", user=_user(rng))
    events.extend([no_id, bad_dt, no_title])
    truth.quarantine.update(
        wikimedia_is_json_object=0, wikimedia_has_meta_id=1, wikimedia_meta_dt_is_timestamp=1, wikimedia_has_title=1
    )

    events.sort(key=lambda e: (str(e["meta"].get("dt", "")), e["id"]))
    truth.wikimedia_events = len(events)
    return Sample(dict(sorted(slices.items())), events, dict(SAMPLE_CAMEO), truth)
