"""GDELT 2.0 Events export: the 61 codebook columns, a typed line parser, and the feed's small text formats.

Pure: plain values in, plain values out (no Spark, no HTTP), so the loader, the pipeline's adapters and the tests
share one definition of what a valid export row is.

Facts of the format (GDELT 2.0 Event Database codebook):
- one event per line, tab-separated, no header, exactly 61 fields, many of them empty;
- CAMEO codes (EventCode, EventBaseCode, EventRootCode, actor codes) are strings: "040" and "40" differ;
- geo FeatureIDs are signed numbers for city matches but textual (e.g. "UK", "USTX") for country/ADM1 matches;
- SQLDATE is YYYYMMDD, DATEADDED is YYYYMMDDHHMMSS in UTC and names the 15-minute slice the row was published in.

A line either parses into a `GdeltEvent` or becomes a `Rejection` that says which file, which line and why.
Nothing is dropped without a reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

# The 61 column names, in file order, exactly as the GDELT 2.0 event codebook spells them.
EXPORT_COLUMNS: Final[tuple[str, ...]] = (
    "GLOBALEVENTID",
    "SQLDATE",
    "MonthYear",
    "Year",
    "FractionDate",
    "Actor1Code",
    "Actor1Name",
    "Actor1CountryCode",
    "Actor1KnownGroupCode",
    "Actor1EthnicCode",
    "Actor1Religion1Code",
    "Actor1Religion2Code",
    "Actor1Type1Code",
    "Actor1Type2Code",
    "Actor1Type3Code",
    "Actor2Code",
    "Actor2Name",
    "Actor2CountryCode",
    "Actor2KnownGroupCode",
    "Actor2EthnicCode",
    "Actor2Religion1Code",
    "Actor2Religion2Code",
    "Actor2Type1Code",
    "Actor2Type2Code",
    "Actor2Type3Code",
    "IsRootEvent",
    "EventCode",
    "EventBaseCode",
    "EventRootCode",
    "QuadClass",
    "GoldsteinScale",
    "NumMentions",
    "NumSources",
    "NumArticles",
    "AvgTone",
    "Actor1Geo_Type",
    "Actor1Geo_FullName",
    "Actor1Geo_CountryCode",
    "Actor1Geo_ADM1Code",
    "Actor1Geo_ADM2Code",
    "Actor1Geo_Lat",
    "Actor1Geo_Long",
    "Actor1Geo_FeatureID",
    "Actor2Geo_Type",
    "Actor2Geo_FullName",
    "Actor2Geo_CountryCode",
    "Actor2Geo_ADM1Code",
    "Actor2Geo_ADM2Code",
    "Actor2Geo_Lat",
    "Actor2Geo_Long",
    "Actor2Geo_FeatureID",
    "ActionGeo_Type",
    "ActionGeo_FullName",
    "ActionGeo_CountryCode",
    "ActionGeo_ADM1Code",
    "ActionGeo_ADM2Code",
    "ActionGeo_Lat",
    "ActionGeo_Long",
    "ActionGeo_FeatureID",
    "DATEADDED",
    "SOURCEURL",
)
N_EXPORT_COLUMNS: Final = 61
assert len(EXPORT_COLUMNS) == N_EXPORT_COLUMNS  # a module-level invariant, checked once at import

# Codebook INTEGER columns other than the three dates (which get their own types below).
INTEGER_COLUMNS: Final[frozenset[str]] = frozenset(
    {
        "MonthYear",
        "Year",
        "IsRootEvent",
        "QuadClass",
        "NumMentions",
        "NumSources",
        "NumArticles",
        "Actor1Geo_Type",
        "Actor2Geo_Type",
        "ActionGeo_Type",
    }
)
FLOAT_COLUMNS: Final[frozenset[str]] = frozenset(
    {
        "FractionDate",
        "GoldsteinScale",
        "AvgTone",
        "Actor1Geo_Lat",
        "Actor1Geo_Long",
        "Actor2Geo_Lat",
        "Actor2Geo_Long",
        "ActionGeo_Lat",
        "ActionGeo_Long",
    }
)
# Columns without which a row is useless downstream (identity, event time, slice): empty or bad => rejected.
REQUIRED_COLUMNS: Final[tuple[str, ...]] = ("GLOBALEVENTID", "SQLDATE", "DATEADDED")
# Every other column is a string: codes keep leading zeros, FeatureIDs may be textual.
STRING_COLUMNS: Final[frozenset[str]] = (
    frozenset(EXPORT_COLUMNS) - INTEGER_COLUMNS - FLOAT_COLUMNS - set(REQUIRED_COLUMNS)
)

# Strict number syntax: Python's int()/float() also accept "1_000", " 7 ", "nan" and "inf", which GDELT never writes.
_INT_RE: Final = re.compile(r"-?[0-9]+")
_FLOAT_RE: Final = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_SLICE_RE: Final = re.compile(r"[0-9]{14}")

SLICE_MINUTES: Final = 15
EXPORT_SUFFIX: Final = ".export.CSV"


@dataclass(frozen=True)
class GdeltEvent:
    """One export row, typed. Field names are the codebook's column names; empty fields are None."""

    GLOBALEVENTID: int
    SQLDATE: date
    MonthYear: int | None
    Year: int | None
    FractionDate: float | None
    Actor1Code: str | None
    Actor1Name: str | None
    Actor1CountryCode: str | None
    Actor1KnownGroupCode: str | None
    Actor1EthnicCode: str | None
    Actor1Religion1Code: str | None
    Actor1Religion2Code: str | None
    Actor1Type1Code: str | None
    Actor1Type2Code: str | None
    Actor1Type3Code: str | None
    Actor2Code: str | None
    Actor2Name: str | None
    Actor2CountryCode: str | None
    Actor2KnownGroupCode: str | None
    Actor2EthnicCode: str | None
    Actor2Religion1Code: str | None
    Actor2Religion2Code: str | None
    Actor2Type1Code: str | None
    Actor2Type2Code: str | None
    Actor2Type3Code: str | None
    IsRootEvent: int | None
    EventCode: str | None
    EventBaseCode: str | None
    EventRootCode: str | None
    QuadClass: int | None
    GoldsteinScale: float | None
    NumMentions: int | None
    NumSources: int | None
    NumArticles: int | None
    AvgTone: float | None
    Actor1Geo_Type: int | None
    Actor1Geo_FullName: str | None
    Actor1Geo_CountryCode: str | None
    Actor1Geo_ADM1Code: str | None
    Actor1Geo_ADM2Code: str | None
    Actor1Geo_Lat: float | None
    Actor1Geo_Long: float | None
    Actor1Geo_FeatureID: str | None
    Actor2Geo_Type: int | None
    Actor2Geo_FullName: str | None
    Actor2Geo_CountryCode: str | None
    Actor2Geo_ADM1Code: str | None
    Actor2Geo_ADM2Code: str | None
    Actor2Geo_Lat: float | None
    Actor2Geo_Long: float | None
    Actor2Geo_FeatureID: str | None
    ActionGeo_Type: int | None
    ActionGeo_FullName: str | None
    ActionGeo_CountryCode: str | None
    ActionGeo_ADM1Code: str | None
    ActionGeo_ADM2Code: str | None
    ActionGeo_Lat: float | None
    ActionGeo_Long: float | None
    ActionGeo_FeatureID: str | None
    DATEADDED: datetime
    SOURCEURL: str | None

    @property
    def slice_id(self) -> str:
        """The 15-minute slice (YYYYMMDDHHMMSS) this row was published in."""
        return slice_id_of(floor_to_slice(self.DATEADDED))


@dataclass(frozen=True)
class Rejection:
    """A line that is not a valid export row: where it is and why, with the offending text kept."""

    source: str
    line_no: int
    reason: str
    line: str

    def describe(self) -> str:
        """`file:line: reason`, the form editors and CI logs link to."""
        return f"{self.source}:{self.line_no}: {self.reason}"


@dataclass(frozen=True)
class ParseReport:
    """The outcome of parsing a whole export: valid events and rejected lines, in file order."""

    source: str
    events: tuple[GdeltEvent, ...]
    rejections: tuple[Rejection, ...]

    @property
    def n_lines(self) -> int:
        return len(self.events) + len(self.rejections)


class _FieldError(ValueError):
    """One field failed to convert; the message names the column and the value."""


def _column_error(column: str, value: str, expected: str) -> _FieldError:
    shown = value if len(value) <= 40 else value[:37] + "..."
    return _FieldError(f"column {column} = {shown!r} is not {expected}")


def _parse_yyyymmdd(column: str, value: str) -> date:
    if len(value) != 8 or not value.isascii() or not value.isdigit():
        raise _column_error(column, value, "a date in YYYYMMDD form")
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError as exc:
        raise _column_error(column, value, f"a real calendar date ({exc})") from None


def _parse_yyyymmddhhmmss(column: str, value: str) -> datetime:
    if not _SLICE_RE.fullmatch(value):
        raise _column_error(column, value, "a UTC timestamp in YYYYMMDDHHMMSS form")
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise _column_error(column, value, f"a real UTC timestamp ({exc})") from None


def _convert(column: str, value: str) -> Any:
    """Field text -> typed value; raises _FieldError with the column name when it does not fit."""
    if column == "GLOBALEVENTID":
        if not _INT_RE.fullmatch(value) or value.startswith("-"):
            raise _column_error(column, value, "a non-negative integer event id")
        return int(value)
    if column == "SQLDATE":
        return _parse_yyyymmdd(column, value)
    if column == "DATEADDED":
        return _parse_yyyymmddhhmmss(column, value)
    if value == "":
        return None
    if column in INTEGER_COLUMNS:
        if not _INT_RE.fullmatch(value):
            raise _column_error(column, value, "an integer")
        return int(value)
    if column in FLOAT_COLUMNS:
        if not _FLOAT_RE.fullmatch(value):
            raise _column_error(column, value, "a decimal number")
        return float(value)
    return value


def split_export_line(line: str) -> list[str]:
    """The raw fields of one line (its trailing newline, LF or CRLF, removed); no validation."""
    if line.endswith("\n"):
        line = line[:-1]
    if line.endswith("\r"):
        line = line[:-1]
    return line.split("\t")


def parse_export_line(line: str, *, source: str = "<string>", line_no: int = 1) -> GdeltEvent | Rejection:
    """Parse one export line into a typed event, or say (file, line, reason) why it is not one.

    Never raises for bad input: every string yields either a `GdeltEvent` or a `Rejection`.
    """
    fields = split_export_line(line)
    if len(fields) != N_EXPORT_COLUMNS:
        return Rejection(
            source,
            line_no,
            f"expected {N_EXPORT_COLUMNS} tab-separated columns, found {len(fields)}"
            " (is this a GDELT 2.0 events export, not mentions/GKG or a GDELT 1.0 file?)",
            line,
        )
    if "\n" in line.rstrip("\r\n") or "\r" in line.rstrip("\r\n"):
        return Rejection(source, line_no, "line contains an embedded line break", line)
    values: list[Any] = []
    for column, value in zip(EXPORT_COLUMNS, fields, strict=True):
        try:
            values.append(_convert(column, value))
        except _FieldError as exc:
            return Rejection(source, line_no, str(exc), line)
    return GdeltEvent(*values)


def iter_parse_export(lines: Iterable[str], *, source: str = "<string>") -> Iterator[GdeltEvent | Rejection]:
    """Parse lines in order (line numbers start at 1); blank lines are reported as rejections, not skipped."""
    for line_no, line in enumerate(lines, start=1):
        if line in ("", "\r", "\n", "\r\n"):
            # A blank line is not a row; it is still reported so no line vanishes without a word.
            yield Rejection(source, line_no, "blank line", line)
            continue
        yield parse_export_line(line, source=source, line_no=line_no)


def parse_export_text(text: str, *, source: str = "<string>") -> ParseReport:
    """Parse a whole export file's text (LF or CRLF line ends)."""
    # Split on LF only: str.splitlines() also breaks on \x85, \u2028 and friends, which may occur inside a field.
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file's final newline ends the last row; it does not start an empty one
    events: list[GdeltEvent] = []
    rejections: list[Rejection] = []
    for outcome in iter_parse_export(lines, source=source):
        if isinstance(outcome, GdeltEvent):
            events.append(outcome)
        else:
            rejections.append(outcome)
    return ParseReport(source, tuple(events), tuple(rejections))


def export_row_to_line(fields: Sequence[str]) -> str:
    """Render 61 raw field strings as one export line (tab-separated, no trailing newline).

    Raises ValueError for a wrong field count or a field holding a tab or line break, which would corrupt the file.
    """
    if len(fields) != N_EXPORT_COLUMNS:
        raise ValueError(f"an export row has {N_EXPORT_COLUMNS} fields, got {len(fields)}")
    for column, value in zip(EXPORT_COLUMNS, fields, strict=True):
        if any(ch in value for ch in "\t\r\n"):
            raise ValueError(f"column {column} holds a tab or line break: {value!r}")
    return "\t".join(fields)


def export_rows_to_text(rows: Iterable[Sequence[str]]) -> str:
    """A whole export file's text: one line per row, each ending in LF (as GDELT publishes them)."""
    return "".join(export_row_to_line(row) + "\n" for row in rows)


# --- 15-minute slices ---------------------------------------------------------------------------------------


def floor_to_slice(moment: datetime) -> datetime:
    """The start of the 15-minute slice holding `moment` (naive datetimes are taken as UTC)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % SLICE_MINUTES, second=0, microsecond=0)


def slice_id_of(moment: datetime) -> str:
    """YYYYMMDDHHMMSS of the slice holding `moment`: the key GDELT names its files by."""
    return floor_to_slice(moment).strftime("%Y%m%d%H%M%S")


def parse_slice_id(slice_id: str) -> datetime:
    """A slice id back to its UTC start; raises ValueError unless it is a real, 15-minute aligned timestamp."""
    if not _SLICE_RE.fullmatch(slice_id):
        raise ValueError(f"slice id {slice_id!r} is not YYYYMMDDHHMMSS")
    moment = datetime.strptime(slice_id, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    if moment != floor_to_slice(moment):
        raise ValueError(f"slice id {slice_id!r} is not on a 15-minute boundary (use :00, :15, :30 or :45, 00 s)")
    return moment


def slices_between(start: datetime, end: datetime) -> list[str]:
    """Every slice id from the slice holding `start` to the slice holding `end`, inclusive, oldest first."""
    first, last = floor_to_slice(start), floor_to_slice(end)
    if last < first:
        raise ValueError(f"backfill range is reversed: {slice_id_of(first)} is after {slice_id_of(last)}")
    step = timedelta(minutes=SLICE_MINUTES)
    out: list[str] = []
    current = first
    while current <= last:
        out.append(current.strftime("%Y%m%d%H%M%S"))
        current += step
    return out


def export_file_name(slice_id: str) -> str:
    """The landed file name for a slice: `<YYYYMMDDHHMMSS>.export.CSV` (the name GDELT's zip member has)."""
    parse_slice_id(slice_id)
    return slice_id + EXPORT_SUFFIX


# --- catch-up after missed runs -------------------------------------------------------------------------------

# Slices one scheduled run lands at most when it catches up (8 hours of GDELT). The 15-minute job gains
# DEFAULT_MAX_CATCH_UP - 1 slices per run on a backlog, so a day-long outage is made good in about 45 minutes, while
# one run (~2 s per slice) stays far inside the job's 15-minute timeout.
DEFAULT_MAX_CATCH_UP: Final = 32


@dataclass(frozen=True)
class CatchUpPlan:
    """What one catch-up run asks the feed for: `to_land` oldest first, `deferred` left to the next runs."""

    watermark: str | None  # the newest slice already landed (None: the landing folder has none yet)
    latest: str  # the slice `lastupdate.txt` names
    to_land: tuple[str, ...]
    deferred: tuple[str, ...]


def landed_slice_ids(file_names: Iterable[str]) -> list[str]:
    """The slice ids of landed export files among `file_names`, sorted; anything else in the folder is ignored.

    Only `<YYYYMMDDHHMMSS>.export.CSV` on a 15-minute boundary counts, so the loader's dot-prefixed temporary files,
    `_state/` and unrelated files never move the catch-up watermark.
    """
    found: set[str] = set()
    for name in file_names:
        if not name.endswith(EXPORT_SUFFIX):
            continue
        slice_id = name[: -len(EXPORT_SUFFIX)]
        try:
            parse_slice_id(slice_id)
        except ValueError:
            continue
        found.add(slice_id)
    return sorted(found)


def plan_catch_up(landed: Iterable[str], latest: str, max_slices: int = DEFAULT_MAX_CATCH_UP) -> CatchUpPlan:
    """Every slice after the newest landed one up to `latest`, oldest first, at most `max_slices` of them.

    - Nothing landed yet: only `latest` (a first run does not fetch history; `--backfill` does that on purpose).
    - Caught up (or the feed is behind the folder): only `latest`, which the loader finds already landed or lands.
    - Otherwise the `max_slices` oldest missing slices; the newer ones are `deferred` and, since the watermark only
      moves as slices land, the next run starts exactly where this one stopped: none is skipped or landed twice.
    """
    if max_slices < 1:
        raise ValueError(f"the catch-up limit must be at least 1 slice, got {max_slices}")
    latest_moment = parse_slice_id(latest)
    done = set(landed)
    for slice_id in done:
        parse_slice_id(slice_id)
    watermark = max(done) if done else None
    if watermark is None or watermark >= latest:
        return CatchUpPlan(watermark, latest, (latest,), ())
    after_watermark = parse_slice_id(watermark) + timedelta(minutes=SLICE_MINUTES)
    pending = [s for s in slices_between(after_watermark, latest_moment) if s not in done]
    return CatchUpPlan(watermark, latest, tuple(pending[:max_slices]), tuple(pending[max_slices:]))


# --- lastupdate.txt -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEntry:
    """One line of GDELT's `lastupdate.txt`: `<size> <md5> <url>`."""

    size: int
    md5: str
    url: str

    @property
    def file_name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def kind(self) -> str:
        """`export`, `mentions` or `gkg` (the part between the slice id and `.CSV.zip`)."""
        parts = self.file_name.split(".")
        return parts[1].lower() if len(parts) >= 3 else ""

    @property
    def slice_id(self) -> str:
        return self.file_name.split(".", 1)[0]


_MD5_RE: Final = re.compile(r"[0-9a-fA-F]{32}")


def parse_lastupdate(text: str) -> list[FeedEntry]:
    """Parse `lastupdate.txt`; raises ValueError naming the bad line when one does not match the format."""
    entries: list[FeedEntry] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3 or not parts[0].isdigit() or not _MD5_RE.fullmatch(parts[1]):
            raise ValueError(f"lastupdate.txt line {line_no} is not '<size> <md5> <url>': {line[:200]!r}")
        entries.append(FeedEntry(size=int(parts[0]), md5=parts[1].lower(), url=parts[2]))
    return entries


def export_entry(entries: Sequence[FeedEntry]) -> FeedEntry:
    """The events export among the feed entries; raises ValueError when there is none (or several)."""
    exports = [e for e in entries if e.kind == "export" and e.file_name.endswith(EXPORT_SUFFIX + ".zip")]
    if len(exports) != 1:
        names = ", ".join(e.file_name for e in entries) or "none"
        raise ValueError(
            f"lastupdate.txt must list exactly one '*.export.CSV.zip' entry, found {len(exports)} ({names})"
        )
    parse_slice_id(exports[0].slice_id)
    return exports[0]
