"""Generated inputs in the real formats: GDELT 2.0 export rows (61 raw strings) and recentchange events."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.gdelt import EXPORT_COLUMNS

_CODES = ("010", "040", "0251", "190", "112", "036")
_FEATURE_IDS = ("-575268", "UK", "USTX", "1167861", "")


def gdelt_row(index: int, slice_id: str = "20191024143000", **overrides: str) -> list[str]:
    """One export row as GDELT writes it: codes with leading zeros, textual or numeric FeatureIDs, empty fields."""
    code = _CODES[index % len(_CODES)]
    values: dict[str, str] = dict.fromkeys(EXPORT_COLUMNS, "")
    values.update(
        {
            "GLOBALEVENTID": str(881990832 + index),
            "SQLDATE": slice_id[:8],
            "MonthYear": slice_id[:6],
            "Year": slice_id[:4],
            "FractionDate": "2019.8055",
            "Actor1Code": "GBR" if index % 2 else "",
            "Actor1Name": "UNITED KINGDOM" if index % 2 else "",
            "Actor1CountryCode": "GBR" if index % 2 else "",
            "Actor2Code": "IGOEUREEC",
            "Actor2Name": "THE EU",
            "IsRootEvent": str(index % 2),
            "EventCode": code,
            "EventBaseCode": code[:3],
            "EventRootCode": code[:2],
            "QuadClass": str(1 + index % 4),
            "GoldsteinScale": "-7.0" if index % 3 else "3.4",
            "NumMentions": str(1 + index),
            "NumSources": "1",
            "NumArticles": str(1 + index),
            "AvgTone": "-2.02774813233724",
            "Actor1Geo_Type": "0",
            "ActionGeo_Type": "4",
            "ActionGeo_FullName": "Essex, Essex, United Kingdom",
            "ActionGeo_CountryCode": "UK",
            "ActionGeo_ADM1Code": "UKE4",
            "ActionGeo_ADM2Code": "12552",
            "ActionGeo_Lat": "51.75",
            "ActionGeo_Long": "0.583333",
            "ActionGeo_FeatureID": _FEATURE_IDS[index % len(_FEATURE_IDS)],
            "DATEADDED": slice_id,
            "SOURCEURL": f"https://www.example.org/news/{index}-lorry-deaths",
        }
    )
    values.update(overrides)
    return [values[c] for c in EXPORT_COLUMNS]


def gdelt_rows(n: int, slice_id: str = "20191024143000") -> list[list[str]]:
    return [gdelt_row(i, slice_id) for i in range(n)]


def recentchange(
    index: int, *, wiki: str = "enwiki", namespace: int = 0, type_: str = "edit", bot: bool = False, **extra: Any
) -> dict[str, Any]:
    """A recentchange event shaped like mediawiki/recentchange/1.0.0 (fields the schema and the pipeline use)."""
    moment = datetime(2023, 7, 29, 7, 51, 39, tzinfo=UTC) + timedelta(seconds=index)
    title = f"Essex lorry deaths {index}"
    event: dict[str, Any] = {
        "$schema": "/mediawiki/recentchange/1.0.0",
        "meta": {
            "uri": f"https://en.wikipedia.org/wiki/{title.replace(' ', '_')}",
            "request_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"request-{index}")),
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"event-{index}")),
            "dt": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "domain": "en.wikipedia.org",
            "stream": "mediawiki.recentchange",
        },
        "id": 1659529639 + index,
        "type": type_,
        "namespace": namespace,
        "title": title,
        "comment": f"/* Victims */ update {index} — “quotes” and ünïcode",
        "timestamp": int(moment.timestamp()),
        "user": "87.12.215.232" if index % 3 == 0 else f"Editor{index}",
        "bot": bot,
        "minor": False,
        "length": {"old": 9000 + index, "new": 9010 + index},
        "revision": {"old": 1166824248 + index, "new": 1167689309 + index},
        "server_url": "https://en.wikipedia.org",
        "server_name": "en.wikipedia.org",
        "server_script_path": "/w",
        "wiki": wiki,
    }
    event.update(extra)
    return event


def recentchanges(n: int) -> list[dict[str, Any]]:
    return [recentchange(i) for i in range(n)]


def landed_events(out_dir: Path) -> list[dict[str, Any]]:
    """Every landed event, batch files in name (= time) order, asserting each line is one JSON object."""
    events: list[dict[str, Any]] = []
    for path in sorted(out_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            obj = json.loads(line)
            assert isinstance(obj, dict)
            events.append(obj)
    return events


def partial_files(out_dir: Path) -> list[Path]:
    """Temporary (dot-prefixed) files anywhere under the landing folder: there must never be any left."""
    return [p for p in out_dir.rglob(".*") if p.is_file()]


def meta_ids(events: Iterable[Mapping[str, Any]]) -> list[str]:
    return [str(e["meta"]["id"]) for e in events]
