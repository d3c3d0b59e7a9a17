"""Land GDELT 2.0 events exports: read `lastupdate.txt`, download, verify, unzip, land atomically, once per slice.

A scheduled run catches up (`land_catch_up`): it lands every slice between the newest one already landed and the one
`lastupdate.txt` names, oldest first and capped per run, so a failed or late run leaves no permanent gap.

Landed file: `<out>/<YYYYMMDDHHMMSS>.export.CSV`, the archive member's bytes unchanged (tab-separated, no header).
It appears only complete: bytes go to a dot-prefixed temporary file in the same folder (Spark file sources ignore
dot files), are fsynced, then renamed. A slice whose file exists is not fetched again, so reruns land nothing twice.

HTTP: one `requests.Session` with urllib3's `Retry` for connection errors and 429/5xx answers (honouring
`Retry-After`), timeouts on connect and read, and a few whole-download attempts on top for failures urllib3 cannot
retry (a body cut short, a size or md5 mismatch). Rows are parsed after unzipping: rejected lines (wrong column
count, unparseable dates or numbers) are logged with file and line and returned, never silently dropped; the file
still lands unchanged, since bronze keeps raw rows and the pipeline quarantines them.
"""

from __future__ import annotations

import hashlib
import logging
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Final, Literal

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pipelines.gdelt import (
    DEFAULT_MAX_CATCH_UP,
    SLICE_MINUTES,
    FeedEntry,
    Rejection,
    export_entry,
    export_file_name,
    landed_slice_ids,
    parse_export_text,
    parse_lastupdate,
    parse_slice_id,
    plan_catch_up,
    slice_id_of,
    slices_between,
)
from pipelines.ingest import IngestError
from pipelines.ingest.landing import write_atomically

log = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "http://data.gdeltproject.org/gdeltv2"
USER_AGENT: Final = f"lakehouse-ingest-gdelt/0.1 (GDELT 2.0 events loader) python-requests/{requests.__version__}"
# Rejections logged one by one before the log switches to a count (a broken file must not flood the job log).
MAX_LOGGED_REJECTIONS: Final = 20

LandStatus = Literal["landed", "already_present", "missing"]


@dataclass(frozen=True)
class DownloadPolicy:
    """Timeouts and retries of every GDELT request."""

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    # urllib3-level retries: connection errors and 429/500/502/503/504, with Retry-After honoured.
    http_retries: int = 5
    backoff_factor_s: float = 1.0
    backoff_max_s: float = 60.0
    # Whole-download attempts: a body cut short, a size/md5 mismatch or a corrupt archive is fetched again.
    download_attempts: int = 3

    def __post_init__(self) -> None:
        if self.connect_timeout_s <= 0 or self.read_timeout_s <= 0:
            raise IngestError("GDELT timeouts must be positive seconds")
        if self.http_retries < 0 or self.download_attempts < 1:
            raise IngestError("GDELT retries must be >= 0 and download attempts >= 1")


@dataclass(frozen=True)
class LandResult:
    """What happened to one slice."""

    slice_id: str
    status: LandStatus
    path: Path | None
    rows: int = 0
    bytes: int = 0
    rejections: tuple[Rejection, ...] = field(default=(), repr=False)

    @property
    def rejected_rows(self) -> int:
        return len(self.rejections)


def make_session(policy: DownloadPolicy = DownloadPolicy()) -> requests.Session:  # frozen default
    """A session retrying connection errors and 429/5xx answers with exponential backoff and Retry-After."""
    retry = Retry(
        total=policy.http_retries,
        connect=policy.http_retries,
        read=policy.http_retries,
        status=policy.http_retries,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        backoff_factor=policy.backoff_factor_s,
        backoff_max=policy.backoff_max_s,
        respect_retry_after_header=True,
        raise_on_status=False,  # the last answer comes back as a response; _get() turns it into a clear error
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def _get(session: requests.Session, url: str, policy: DownloadPolicy) -> requests.Response:
    try:
        response = session.get(url, timeout=(policy.connect_timeout_s, policy.read_timeout_s))
    except requests.RequestException as exc:
        raise IngestError(
            f"GET {url} failed after {policy.http_retries} retries: {exc}. Check --base-url and the network."
        ) from exc
    return response


def _fetch_text(session: requests.Session, url: str, policy: DownloadPolicy) -> str:
    response = _get(session, url, policy)
    if response.status_code != 200:
        raise IngestError(
            f"GET {url} answered HTTP {response.status_code} after retries; check --base-url and the feed's status"
        )
    return response.text


def fetch_feed_entries(
    base_url: str, *, session: requests.Session, policy: DownloadPolicy = DownloadPolicy()
) -> list[FeedEntry]:
    """The entries of `<base_url>/lastupdate.txt`."""
    url = base_url.rstrip("/") + "/lastupdate.txt"
    try:
        return parse_lastupdate(_fetch_text(session, url, policy))
    except ValueError as exc:
        raise IngestError(f"{url}: {exc}") from exc


def _download_export(
    session: requests.Session,
    url: str,
    slice_id: str,
    policy: DownloadPolicy,
    *,
    expected_size: int | None,
    expected_md5: str | None,
) -> bytes | None:
    """The export CSV bytes inside the archive at `url`, verified; None when the archive does not exist (404)."""
    last_problem = ""
    for attempt in range(1, policy.download_attempts + 1):
        if attempt > 1:
            delay = min(policy.backoff_max_s, policy.backoff_factor_s * 2 ** (attempt - 2))
            log.warning(
                "retrying %s in %.1fs (attempt %d/%d): %s", url, delay, attempt, policy.download_attempts, last_problem
            )
            time.sleep(delay)
        try:
            response = session.get(url, timeout=(policy.connect_timeout_s, policy.read_timeout_s))
            archive = response.content
        except requests.RequestException as exc:
            last_problem = f"transfer failed: {exc}"
            continue
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            last_problem = f"HTTP {response.status_code}"
            continue
        if expected_size is not None and len(archive) != expected_size:
            last_problem = f"size mismatch: got {len(archive)} bytes, lastupdate.txt says {expected_size}"
            continue
        if expected_md5 is not None:
            actual = hashlib.md5(archive, usedforsecurity=False).hexdigest()
            if actual != expected_md5:
                last_problem = f"md5 mismatch: got {actual}, lastupdate.txt says {expected_md5}"
                continue
        try:
            return _unzip_export(archive, slice_id)
        except IngestError as exc:
            last_problem = str(exc)
            continue
    raise IngestError(
        f"{url}: giving up after {policy.download_attempts} attempts; last problem: {last_problem}. "
        "Nothing was landed; rerun later (the feed may be mid-publish) or check the archive by hand."
    )


def _unzip_export(archive: bytes, slice_id: str) -> bytes:
    expected = export_file_name(slice_id)
    try:
        with zipfile.ZipFile(BytesIO(archive)) as zf:
            names = zf.namelist()
            members = [n for n in names if n.rsplit("/", 1)[-1].lower() == expected.lower()]
            if len(members) != 1:
                raise IngestError(f"archive for slice {slice_id} holds {names}, expected one member {expected}")
            return zf.read(members[0])  # checks the member's CRC-32
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise IngestError(f"archive for slice {slice_id} is not a readable zip ({exc}); truncated or corrupt") from exc


def _check_rows(data: bytes, source: str) -> tuple[int, tuple[Rejection, ...]]:
    report = parse_export_text(data.decode("utf-8", errors="replace"), source=source)
    for index, rejection in enumerate(report.rejections):
        if index == MAX_LOGGED_REJECTIONS:
            log.warning("%s: %d more rejected rows not shown", source, len(report.rejections) - index)
            break
        log.warning("rejected row %s", rejection.describe())
    return len(report.events), report.rejections


def _land_slice(
    session: requests.Session,
    url: str,
    slice_id: str,
    out_dir: Path,
    policy: DownloadPolicy,
    *,
    expected_size: int | None,
    expected_md5: str | None,
) -> LandResult:
    name = export_file_name(slice_id)
    target = out_dir / name
    if target.exists():
        log.info("slice %s already landed at %s; nothing to do", slice_id, target)
        return LandResult(slice_id, "already_present", target)
    data = _download_export(session, url, slice_id, policy, expected_size=expected_size, expected_md5=expected_md5)
    if data is None:
        log.warning("slice %s: %s does not exist (404); GDELT has gaps, nothing landed", slice_id, url)
        return LandResult(slice_id, "missing", None)
    n_rows, rejections = _check_rows(data, name)
    path = write_atomically(out_dir / name, data)
    log.info("landed %s: %d rows, %d rejected, %d bytes", path, n_rows + len(rejections), len(rejections), len(data))
    return LandResult(slice_id, "landed", path, rows=n_rows + len(rejections), bytes=len(data), rejections=rejections)


def land_latest(
    base_url: str,
    out_dir: str | Path,
    *,
    policy: DownloadPolicy = DownloadPolicy(),  # frozen default
    session: requests.Session | None = None,
) -> LandResult:
    """Land the export listed in `<base_url>/lastupdate.txt` (verified against its size and md5).

    `base_url` is the folder holding lastupdate.txt: `DEFAULT_BASE_URL` for the public GDELT v2 feed.
    """
    own_session = session is None
    http = session or make_session(policy)
    try:
        try:
            entry = export_entry(fetch_feed_entries(base_url, session=http, policy=policy))
        except ValueError as exc:
            raise IngestError(f"{base_url.rstrip('/')}/lastupdate.txt: {exc}") from exc
        return _land_slice(
            http, entry.url, entry.slice_id, Path(out_dir), policy, expected_size=entry.size, expected_md5=entry.md5
        )
    finally:
        if own_session:
            http.close()


@dataclass(frozen=True)
class CatchUpResult:
    """One catch-up run: what happened to each slice it asked for, and the slices it left to the next runs."""

    latest: str
    results: tuple[LandResult, ...]
    deferred: tuple[str, ...]


def _export_url(base_url: str, slice_id: str) -> str:
    return f"{base_url.rstrip('/')}/{slice_id}.export.CSV.zip"


def land_catch_up(
    base_url: str,
    out_dir: str | Path,
    *,
    max_slices: int = DEFAULT_MAX_CATCH_UP,
    policy: DownloadPolicy = DownloadPolicy(),  # frozen default
    session: requests.Session | None = None,
) -> CatchUpResult:
    """Land every slice between the newest one in `out_dir` and the one `lastupdate.txt` names, oldest first.

    The landing folder is the only state: its newest `<slice>.export.CSV` is the watermark, so a failed or late
    run is made good by the next one, and a rerun lands nothing twice. At most `max_slices` slices per run; the
    rest are returned as `deferred` and land on the following runs. The latest slice is checked against the size
    and md5 of `lastupdate.txt`; older ones by the zip's CRC-32 only (GDELT lists their checksums solely in the
    very large `masterfilelist.txt`).

    A slice answering 404 is reported `missing` and asked for again by every later run until a newer slice has
    landed after it; from then on it is one of GDELT's gaps, and only `--backfill` asks for it again. Any other
    failure stops the run at that slice (raising IngestError) so the watermark never passes a slice that could not
    be landed: the next run retries it.
    """
    out = Path(out_dir)
    own_session = session is None
    http = session or make_session(policy)
    try:
        try:
            entry = export_entry(fetch_feed_entries(base_url, session=http, policy=policy))
            landed = landed_slice_ids(p.name for p in out.iterdir()) if out.is_dir() else []
            plan = plan_catch_up(landed, entry.slice_id, max_slices)
        except ValueError as exc:
            raise IngestError(f"{base_url.rstrip('/')}/lastupdate.txt: {exc}") from exc
        if plan.deferred:
            log.warning(
                "catching up: landing %d of %d missing slices (%s..%s); %d more (%s..%s) are left to the next runs, "
                "which land up to %d each (--max-catch-up)",
                len(plan.to_land),
                len(plan.to_land) + len(plan.deferred),
                plan.to_land[0],
                plan.to_land[-1],
                len(plan.deferred),
                plan.deferred[0],
                plan.deferred[-1],
                max_slices,
            )
        results: list[LandResult] = []
        for slice_id in plan.to_land:
            is_latest = slice_id == entry.slice_id
            try:
                results.append(
                    _land_slice(
                        http,
                        entry.url if is_latest else _export_url(base_url, slice_id),
                        slice_id,
                        out,
                        policy,
                        expected_size=entry.size if is_latest else None,
                        expected_md5=entry.md5 if is_latest else None,
                    )
                )
            except IngestError as exc:
                following = slice_id_of(parse_slice_id(slice_id) + timedelta(minutes=SLICE_MINUTES))
                raise IngestError(
                    f"catch-up stopped at slice {slice_id} after landing {len(results)} of {len(plan.to_land)} "
                    f"planned slices: {exc} The next run retries from {slice_id}; to give it up for good, land the "
                    f"slices after it with `--backfill {following} {entry.slice_id}`."
                ) from exc
        return CatchUpResult(entry.slice_id, tuple(results), plan.deferred)
    finally:
        if own_session:
            http.close()


def land_backfill(
    base_url: str,
    out_dir: str | Path,
    start: datetime,
    end: datetime,
    *,
    policy: DownloadPolicy = DownloadPolicy(),  # frozen default
    session: requests.Session | None = None,
    max_slices: int = 96 * 31,
) -> list[LandResult]:
    """Land every 15-minute slice from `start` to `end` (inclusive) from `<base_url>/<slice>.export.CSV.zip`.

    GDELT publishes no per-file checksum outside `lastupdate.txt` (and the very large `masterfilelist.txt`), so a
    backfilled archive is verified by the zip's own CRC-32 only. Slices that answer 404 are reported as missing.
    """
    try:
        slice_ids = slices_between(start, end)
    except ValueError as exc:
        raise IngestError(str(exc)) from exc
    if len(slice_ids) > max_slices:
        raise IngestError(
            f"backfill of {len(slice_ids)} slices exceeds the limit of {max_slices} (one month); split the range"
        )
    own_session = session is None
    http = session or make_session(policy)
    results: list[LandResult] = []
    try:
        for slice_id in slice_ids:
            results.append(
                _land_slice(
                    http,
                    _export_url(base_url, slice_id),
                    slice_id,
                    Path(out_dir),
                    policy,
                    expected_size=None,
                    expected_md5=None,
                )
            )
    finally:
        if own_session:
            http.close()
    return results


def summarize(results: Sequence[LandResult]) -> dict[str, int]:
    """Counts per status plus row totals, for the CLI's one-line summary."""
    summary = {"landed": 0, "already_present": 0, "missing": 0, "rows": 0, "rejected_rows": 0}
    for result in results:
        summary[result.status] += 1
        summary["rows"] += result.rows
        summary["rejected_rows"] += result.rejected_rows
    return summary


# GDELT's published CAMEO event-code lookup (code TAB description); silver describes each event's code with it.
DEFAULT_CAMEO_URL: Final = "https://www.gdeltproject.org/data/lookups/CAMEO.eventcodes.txt"
CAMEO_FILE_NAME: Final = "CAMEO.eventcodes.txt"

CameoStatus = Literal["landed", "unchanged", "already_present"]


@dataclass(frozen=True)
class CameoResult:
    status: CameoStatus
    path: Path
    codes: int


def land_cameo_lookup(
    url: str,
    out_dir: str | Path,
    *,
    if_missing: bool = False,
    policy: DownloadPolicy = DownloadPolicy(),
    session: requests.Session | None = None,
) -> CameoResult:
    """Land GDELT's CAMEO lookup as `<out_dir>/CAMEO.eventcodes.txt`, validated before it replaces the old one.

    A malformed download raises (CameoLookupError names the line) and leaves the landed file untouched, so the
    pipeline never reads a half-written or wrong lookup. `if_missing` makes the every-15-minutes job a no-op once
    the file exists; identical bytes are not rewritten.
    """
    from pipelines.cameo import parse_cameo_lookup

    target = Path(out_dir) / CAMEO_FILE_NAME
    if if_missing and target.exists():
        return CameoResult("already_present", target, len(parse_cameo_lookup(target.read_text("utf-8"))))
    text = _fetch_text(session or make_session(policy), url, policy)
    codes = parse_cameo_lookup(text, source=url)
    if not codes:
        raise IngestError(f"{url} holds no CAMEO codes; check --url (nothing was landed)")
    data = text.encode("utf-8")
    if target.exists() and target.read_bytes() == data:
        return CameoResult("unchanged", target, len(codes))
    write_atomically(target, data)
    log.info("landed CAMEO lookup (%d codes) at %s", len(codes), target)
    return CameoResult("landed", target, len(codes))
