"""`ingest`: the click group behind `lakehouse ingest` and the Databricks ingestion jobs.

    python pipelines/ingest/cli.py gdelt --base-url URL --out DIR [--max-catch-up N | --backfill FROM TO]
    python pipelines/ingest/cli.py wikimedia --url URL --out DIR [--max-events N] [--since TS]

Exit codes: 0 clean, 2 landed with findings (rejected GDELT rows), 1 error (message on stderr, nothing partial).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script (Databricks spark_python_task): put the bundle root (two folders up) on sys.path so
    # `import pipelines...` resolves to the uploaded bundle.
    _script = Path(globals().get("__file__") or sys.argv[0]).resolve()
    sys.path.insert(0, str(_script.parent.parent.parent))

import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import click

from pipelines.gdelt import DEFAULT_MAX_CATCH_UP
from pipelines.ingest import IngestError

T = TypeVar("T")


def _fail(exc: IngestError) -> NoReturn:
    click.secho(f"error: {exc}", fg="red", err=True)
    sys.exit(1)


def _run(action: Callable[[], T]) -> T:
    try:
        return action()
    except IngestError as exc:
        _fail(exc)


def _parse_moment(value: str) -> datetime:
    """YYYYMMDDHHMMSS (GDELT's slice form) or ISO-8601; naive means UTC."""
    try:
        moment = (
            datetime.strptime(value, "%Y%m%d%H%M%S")
            if value.isdigit() and len(value) == 14
            else datetime.fromisoformat(value.replace("Z", "+00:00"))
        )
    except ValueError:
        raise IngestError(
            f"--backfill bound {value!r} is neither YYYYMMDDHHMMSS nor ISO-8601 (e.g. 2019-10-24T14:30Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@click.group("ingest", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-q", "--quiet", is_flag=True, help="Log warnings and errors only.")
def ingest(quiet: bool) -> None:
    """Land GDELT exports or Wikimedia recent changes as raw files for the pipeline."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pipelines.ingest").setLevel(logging.WARNING if quiet else logging.INFO)


@ingest.command("cameo")
@click.option("--url", default=None, help="GDELT's CAMEO.eventcodes.txt [default: GDELT's published lookup].")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Reference folder.")
@click.option("--if-missing", is_flag=True, help="Do nothing when the lookup is already landed.")
def cameo(url: str | None, out_dir: str, if_missing: bool) -> None:
    """Land GDELT's CAMEO event-code lookup (validated, atomic) for silver's event descriptions."""
    from pipelines.cameo import CameoLookupError
    from pipelines.ingest.gdelt_loader import DEFAULT_CAMEO_URL, land_cameo_lookup

    def action() -> int:
        try:
            result = land_cameo_lookup(url or DEFAULT_CAMEO_URL, out_dir, if_missing=if_missing)
        except CameoLookupError as exc:
            raise IngestError(f"{exc}; nothing was landed (the previous lookup, if any, is kept)") from exc
        click.echo(json.dumps({"status": result.status, "path": str(result.path), "codes": result.codes}))
        return 0

    sys.exit(_run(action))


@ingest.command("gdelt")
@click.option("--base-url", default=None, help="Folder holding lastupdate.txt [default: the public GDELT v2 feed].")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Landing folder.")
@click.option(
    "--backfill", nargs=2, metavar="FROM TO", default=None, help="Land every 15-minute slice FROM..TO (inclusive)."
)
@click.option(
    "--max-catch-up",
    type=click.IntRange(min=1),
    default=None,
    help="Without --backfill: land at most N of the slices missed since the newest landed one, oldest first; "
    f"later runs land the rest [default: {DEFAULT_MAX_CATCH_UP}].",
)
@click.option("--connect-timeout", type=float, default=10.0, show_default=True, help="Seconds.")
@click.option("--read-timeout", type=float, default=60.0, show_default=True, help="Seconds.")
@click.option("--retries", type=int, default=5, show_default=True, help="HTTP retries (5xx/429/connection).")
@click.option(
    "--allow-rejects",
    is_flag=True,
    help="Exit 0 even when rows were rejected (they are still logged and landed raw); default exit 2.",
)
def gdelt(
    base_url: str | None,
    out_dir: str,
    backfill: tuple[str, str] | None,
    max_catch_up: int | None,
    connect_timeout: float,
    read_timeout: float,
    retries: int,
    allow_rejects: bool,
) -> None:
    """Land every GDELT 2.0 events export missed since the newest one under OUT (or a backfill range)."""
    from pipelines.ingest.gdelt_loader import DEFAULT_BASE_URL, DownloadPolicy, land_backfill, land_catch_up, summarize

    def action() -> int:
        policy = DownloadPolicy(connect_timeout_s=connect_timeout, read_timeout_s=read_timeout, http_retries=retries)
        url = base_url or DEFAULT_BASE_URL
        deferred: tuple[str, ...] = ()
        if backfill:
            if max_catch_up is not None:
                raise IngestError("--max-catch-up limits the default catch-up run; drop it when using --backfill")
            results = land_backfill(url, out_dir, _parse_moment(backfill[0]), _parse_moment(backfill[1]), policy=policy)
        else:
            caught_up = land_catch_up(url, out_dir, max_slices=max_catch_up or DEFAULT_MAX_CATCH_UP, policy=policy)
            results, deferred = list(caught_up.results), caught_up.deferred
        for result in results:
            click.echo(
                json.dumps(
                    {
                        "slice": result.slice_id,
                        "status": result.status,
                        "path": str(result.path) if result.path else None,
                        "rows": result.rows,
                        "rejected_rows": result.rejected_rows,
                    }
                )
            )
        summary = summarize(results)
        # Slices past --max-catch-up land on the next runs; the count shows how far behind the landing folder is.
        summary["deferred"] = len(deferred)
        click.echo(json.dumps({"summary": summary}))
        return 2 if summary["rejected_rows"] and not allow_rejects else 0

    sys.exit(_run(action))


@ingest.command("wikimedia")
@click.option("--url", default=None, help="EventStreams URL [default: the public recentchange stream].")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Landing folder.")
@click.option("--max-events", type=click.IntRange(min=1), default=None, help="Stop after N events have landed.")
@click.option("--since", default=None, help="Replay from this ISO-8601 time or epoch ms (ignores saved position).")
@click.option("--max-seconds", type=float, default=None, help="Stop after this many seconds.")
@click.option("--wiki", "wikis", multiple=True, help="Keep only these wikis, e.g. enwiki (repeat) [default: all].")
@click.option("--namespace", "namespaces", multiple=True, type=int, help="Keep only these namespaces [default: all].")
@click.option("--type", "types", multiple=True, help="Keep only these change types, e.g. edit (repeat) [default: all].")
@click.option("--bots/--no-bots", default=True, show_default=True, help="Keep bot edits.")
@click.option("--drop-duplicates", is_flag=True, help="Skip events whose meta.id was recently landed (still counted).")
@click.option("--contact", default=None, help="Contact for the User-Agent (Wikimedia policy): e-mail or URL.")
@click.option("--flush-bytes", type=click.IntRange(min=1), default=None, help="Flush a batch at this size.")
@click.option("--flush-seconds", type=float, default=None, help="Flush a batch at this age.")
@click.option("--idle-stop-seconds", type=float, default=None, help="Stop after this long without events.")
@click.option("--max-failures", type=int, default=None, help="Give up after this many failed connections in a row.")
def wikimedia(
    url: str | None,
    out_dir: str,
    max_events: int | None,
    since: str | None,
    max_seconds: float | None,
    wikis: tuple[str, ...],
    namespaces: tuple[int, ...],
    types: tuple[str, ...],
    bots: bool,
    drop_duplicates: bool,
    contact: str | None,
    flush_bytes: int | None,
    flush_seconds: float | None,
    idle_stop_seconds: float | None,
    max_failures: int | None,
) -> None:
    """Land Wikimedia recent changes under OUT as JSON-lines batches, resuming where the last run stopped."""
    from pipelines.ingest.wikimedia_listener import DEFAULT_STREAM_URL, ListenerConfig, listen

    def action() -> int:
        overrides: dict[str, Any] = {
            "include_bots": bots,
            "drop_duplicates": drop_duplicates,
            "wikis": wikis,
            "namespaces": namespaces,
            "types": types,
        }
        for key, value in (
            ("contact", contact),
            ("flush_max_bytes", flush_bytes),
            ("flush_max_seconds", flush_seconds),
            ("idle_stop_s", idle_stop_seconds),
            ("max_failures", max_failures),
        ):
            if value is not None:
                overrides[key] = value
        config = ListenerConfig(**overrides)
        result = listen(
            url or DEFAULT_STREAM_URL,
            out_dir,
            max_events=max_events,
            max_seconds=max_seconds,
            since=since,
            config=config,
        )
        report = asdict(result)
        report["batches"] = [str(p) for p in result.batches]
        click.echo(json.dumps(report))
        return 0

    sys.exit(_run(action))


if __name__ == "__main__":
    ingest()
