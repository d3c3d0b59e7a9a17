"""Wikimedia EventStreams `mediawiki/recentchange` events -> the edit fields the silver layer keeps.

Pure: plain mappings in, frozen dataclasses out. The Spark transform (`pipelines.transforms.wikimedia`) applies
the same rules with SQL built here (`RECENTCHANGE_SCHEMA`, `silver_filter_sql`), and a test checks that the SQL
and the Python predicate agree.

What silver keeps: main-namespace (0) edits and page creations (`type` "edit" / "new") on the configured wikis,
without bot edits unless asked. Logged-out editors appear with an IP address as `user`; `editor_is_anonymous`
says so (temporary accounts such as `~2025-12345-6` are not IP addresses).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from pipelines.errors import LakehouseError

KEPT_TYPES: Final = ("edit", "new")
MAIN_NAMESPACE: Final = 0

# The recentchange fields the pipeline reads (mediawiki/recentchange/1.0.0), as a Spark DDL schema for from_json.
RECENTCHANGE_SCHEMA: Final = (
    "`$schema` STRING, meta STRUCT<uri: STRING, request_id: STRING, id: STRING, dt: STRING, domain: STRING,"
    " stream: STRING>, id BIGINT, type STRING, namespace INT, title STRING, title_url STRING, comment STRING,"
    " timestamp BIGINT, user STRING, bot BOOLEAN, minor BOOLEAN, patrolled BOOLEAN,"
    " length STRUCT<old: BIGINT, new: BIGINT>, revision STRUCT<old: BIGINT, new: BIGINT>,"
    " server_url STRING, server_name STRING, wiki STRING"
)


def is_ip_address(user: str | None) -> bool:
    """True when a recentchange `user` is an IPv4/IPv6 address, i.e. a logged-out editor."""
    if not user:
        return False
    try:
        ipaddress.ip_address(user.strip())
    except ValueError:
        return False
    return True


def parse_wikis(wikis: str) -> tuple[str, ...]:
    """`"enwiki, dewiki"` -> ("enwiki", "dewiki"); raises ValueError when nothing is left."""
    names = tuple(dict.fromkeys(w.strip() for w in wikis.split(",") if w.strip()))
    if not names:
        raise ValueError(f"no wiki names in {wikis!r}: set lakehouse.wikis to e.g. 'enwiki'")
    for name in names:
        if not name.replace("_", "").isalnum():
            raise ValueError(f"{name!r} is not a wiki database name (e.g. 'enwiki')")
    return names


@dataclass(frozen=True)
class RecentChangeEdit:
    """The fields of one recentchange event the pipeline uses."""

    edit_id: str  # meta.id: unique per event, the dedupe key
    edit_time: datetime  # meta.dt, UTC
    type: str
    namespace: int | None
    wiki: str
    title: str
    comment: str
    editor: str
    bot: bool

    @property
    def editor_is_anonymous(self) -> bool:
        return is_ip_address(self.editor)


class RecentChangeError(LakehouseError, ValueError):
    """The event lacks a field every edit needs (meta.id, meta.dt, title)."""


def parse_meta_dt(value: str) -> datetime:
    """`meta.dt` (ISO 8601, `Z` or offset) -> aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def edit_from_event(event: Mapping[str, Any]) -> RecentChangeEdit:
    """Extract the edit fields; raises `RecentChangeError` naming the missing field."""
    meta = event.get("meta")
    if not isinstance(meta, Mapping) or not meta.get("id"):
        raise RecentChangeError("event has no meta.id: it cannot be deduplicated")
    try:
        edit_time = parse_meta_dt(str(meta.get("dt") or ""))
    except ValueError as exc:
        raise RecentChangeError(f"event {meta['id']} has no valid meta.dt: {meta.get('dt')!r}") from exc
    title = event.get("title")
    if not isinstance(title, str) or not title.strip():
        raise RecentChangeError(f"event {meta['id']} has no title")
    namespace = event.get("namespace")
    return RecentChangeEdit(
        edit_id=str(meta["id"]),
        edit_time=edit_time,
        type=str(event.get("type") or ""),
        namespace=namespace if isinstance(namespace, int) else None,
        wiki=str(event.get("wiki") or ""),
        title=title,
        comment=str(event.get("comment") or ""),
        editor=str(event.get("user") or ""),
        bot=bool(event.get("bot")),
    )


def keeps(edit: RecentChangeEdit, *, wikis: Iterable[str], include_bots: bool) -> bool:
    """Silver's filter: main-namespace edits/creations on the configured wikis, bots only when asked."""
    return (
        edit.type in KEPT_TYPES
        and edit.namespace == MAIN_NAMESPACE
        and edit.wiki in set(wikis)
        and (include_bots or not edit.bot)
    )


def silver_filter_sql(*, wikis: Iterable[str], include_bots: bool) -> str:
    """The same filter as `keeps`, as a Spark SQL predicate over the columns `type, namespace, wiki, bot`."""
    wiki_list = ", ".join("'" + w.replace("'", "''") + "'" for w in wikis)
    kept_types = ", ".join(f"'{t}'" for t in KEPT_TYPES)
    bot_clause = "" if include_bots else " AND NOT coalesce(bot, false)"
    return (
        f"coalesce(type IN ({kept_types}), false) AND coalesce(namespace = {MAIN_NAMESPACE}, false)"
        f" AND coalesce(wiki IN ({wiki_list}), false){bot_clause}"
    )
