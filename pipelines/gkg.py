"""GDELT Global Knowledge Graph (GKG 2.1) rows: the persons, organizations and locations one article names.

GDELT publishes a GKG file beside each 15-minute export (`YYYYMMDDHHMMSS.gkg.csv.zip`): one row per article,
tab-separated, no header, 27 columns (`GKG_COLUMNS`, names as in the GKG 2.1 codebook and
`../shared/data/gdelt/schema/gdelt2_gkg_headers.csv`). The export's `SOURCEURL` is the GKG row's
`DocumentIdentifier` when `SourceCollectionIdentifier` is 1 (the open web), so an event joins its article's row by
URL. The correlation engine needs the names the article mentions: many stories are known by a person or an
organization their URL does not name ("Lebanon's president" -> Michel Aoun).

Field formats (GKG 2.1 codebook):
- `V2Persons`, `V2Organizations`: `Name,CharOffset` blocks separated by `;`, one block per mention.
- `Persons`, `Organizations` (V1): `Name` blocks separated by `;`, each name once (used when V2 is empty).
- `V2Locations`: `Type#FullName#CountryCode#ADM1Code#ADM2Code#Lat#Long#FeatureID#CharOffset` blocks;
  `Locations` (V1): the same without ADM2Code and CharOffset.

Names come out ordered by how often the article mentions them (then by first mention), so a caller can keep the
few that matter. Pure Python (stdlib only).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pipelines.errors import LakehouseError

GKG_COLUMNS: tuple[str, ...] = (
    "GKGRECORDID",
    "DATE",
    "SourceCollectionIdentifier",
    "SourceCommonName",
    "DocumentIdentifier",
    "Counts",
    "V2Counts",
    "Themes",
    "V2Themes",
    "Locations",
    "V2Locations",
    "Persons",
    "V2Persons",
    "Organizations",
    "V2Organizations",
    "V2Tone",
    "Dates",
    "GCAM",
    "SharingImage",
    "RelatedImages",
    "SocialImageEmbeds",
    "SocialVideoEmbeds",
    "Quotations",
    "AllNames",
    "Amounts",
    "TranslationInfo",
    "Extras",
)
_COLUMN = {name: i for i, name in enumerate(GKG_COLUMNS)}
# SourceCollectionIdentifier 1 = WEB: DocumentIdentifier is the article's URL (2-6 are other collections whose
# identifiers are citations or ids, never an export's SOURCEURL).
WEB_COLLECTION = "1"


class GkgRowError(LakehouseError, ValueError):
    """A GKG line that is not a GKG 2.1 row (wrong column count, no record id)."""


@dataclass(frozen=True)
class GkgLocation:
    """One location block: GDELT's geo type (1 country, 2 US state, 3 US city, 4 world city, 5 world state)."""

    geo_type: str
    full_name: str
    country_code: str  # FIPS 10-4, as in the export's *Geo_CountryCode columns


@dataclass(frozen=True)
class GkgRecord:
    """The parts of a GKG row the correlation engine uses."""

    record_id: str
    date: str  # YYYYMMDDHHMMSS
    source_collection: str
    source_name: str
    document_identifier: str
    persons: tuple[str, ...]  # most mentioned first
    organizations: tuple[str, ...]  # most mentioned first
    locations: tuple[GkgLocation, ...]  # distinct, first mention first

    @property
    def url(self) -> str:
        """The article's URL ("" for collections that are not the open web)."""
        return self.document_identifier if self.source_collection == WEB_COLLECTION else ""


def _blocks(field: str) -> list[str]:
    return [block.strip() for block in field.split(";") if block.strip()]


def _ranked_names(enhanced: str, plain: str) -> tuple[str, ...]:
    """Names by mention count (then first offset) from a V2 field; the V1 field's order when V2 is empty."""
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for position, block in enumerate(_blocks(enhanced)):
        name, _, offset = block.rpartition(",")
        if not name:  # no offset: the whole block is the name
            name, offset = offset, ""
        name = " ".join(name.split())
        if not name:
            continue
        counts[name] = counts.get(name, 0) + 1
        where = int(offset) if offset.isdigit() else position
        first[name] = min(first.get(name, where), where)
    if counts:
        return tuple(sorted(counts, key=lambda n: (-counts[n], first[n], n)))
    return tuple(dict.fromkeys(" ".join(block.split()) for block in _blocks(plain)))


def _locations(enhanced: str, plain: str) -> tuple[GkgLocation, ...]:
    out: dict[tuple[str, str], GkgLocation] = {}
    for block in _blocks(enhanced) or _blocks(plain):
        parts = block.split("#")
        if len(parts) < 3 or not parts[1].strip():
            continue
        location = GkgLocation(parts[0].strip(), parts[1].strip(), parts[2].strip())
        out.setdefault((location.full_name, location.country_code), location)
    return tuple(out.values())


def parse_gkg_fields(fields: Sequence[str]) -> GkgRecord:
    """A GKG 2.1 row given as its 27 column values."""
    if len(fields) != len(GKG_COLUMNS):
        raise GkgRowError(f"a GKG 2.1 row has {len(GKG_COLUMNS)} tab-separated columns, this one has {len(fields)}")

    def get(name: str) -> str:
        return fields[_COLUMN[name]]

    record_id = get("GKGRECORDID").strip()
    if not record_id:
        raise GkgRowError("GKG row without GKGRECORDID")
    return GkgRecord(
        record_id=record_id,
        date=get("DATE").strip(),
        source_collection=get("SourceCollectionIdentifier").strip(),
        source_name=get("SourceCommonName").strip(),
        document_identifier=get("DocumentIdentifier").strip(),
        persons=_ranked_names(get("V2Persons"), get("Persons")),
        organizations=_ranked_names(get("V2Organizations"), get("Organizations")),
        locations=_locations(get("V2Locations"), get("Locations")),
    )


def parse_gkg_line(line: str) -> GkgRecord:
    """One line of a `.gkg.csv` file (tab-separated, no quoting; the line end is ignored)."""
    return parse_gkg_fields(line.rstrip("\r\n").split("\t"))


def records_by_url(records: Iterable[GkgRecord]) -> dict[str, GkgRecord]:
    """Web records keyed by article URL (the export's SOURCEURL); the first record of a URL wins."""
    out: dict[str, GkgRecord] = {}
    for record in records:
        if record.url:
            out.setdefault(record.url, record)
    return out


def gkg_row(values: Mapping[str, str]) -> list[str]:
    """The 27 column values of a GKG row from a mapping by column name (absent columns empty): for tests and
    fixtures that build rows in the codebook's format."""
    unknown = set(values) - set(GKG_COLUMNS)
    if unknown:
        raise GkgRowError(f"not GKG 2.1 columns: {', '.join(sorted(unknown))}")
    return [values.get(name, "") for name in GKG_COLUMNS]
