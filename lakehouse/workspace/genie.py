"""`lakehouse genie sync`: create or update the environment's Genie space from `genie/correlations.genie.json`.

The pinned Databricks provider has no Genie resource, so this runs after `cdktf deploy` (the analyst view must
exist). It is idempotent: the space is found by its title; it is created when absent, updated only when its title,
description, warehouse, folder or `serialized_space` differ from the file, and its permissions (object type `genie`
in the Permissions API) are patched only when a principal of `WORKSPACE_ACLS[GENIE_SPACE]` lacks its level.

REST (databricks-sdk 0.162.0, `w.genie`): GET /api/2.0/genie/spaces (paged by `page_token`), GET
/api/2.0/genie/spaces/{id}?include_serialized_space=true, POST /api/2.0/genie/spaces, PATCH
/api/2.0/genie/spaces/{id} (with the `etag` read, so a concurrent edit fails instead of being overwritten); GET
/api/2.0/sql/warehouses (the environment's warehouse by name); GET and PATCH /api/2.0/permissions/genie/{id}.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from infra.config import EnvironmentConfig
from infra.observability import GenieSpaceSpec
from infra.permissions import WORKSPACE_ACLS, WorkspaceObject, is_service_principal
from lakehouse.workspace.client import WorkspaceError
from lakehouse.workspace.client import sdk_errors as shared_sdk_errors

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient


class GenieSyncError(WorkspaceError):
    """The space cannot be synced as asked (ambiguous title, unknown warehouse); the message says how to fix it."""


@dataclass
class SyncResult:
    space_id: str
    action: str  # created | updated | unchanged
    changed_fields: list[str] = field(default_factory=list)
    permissions_changed: bool = False

    @property
    def changed(self) -> bool:
        return self.action != "unchanged" or self.permissions_changed


GENIE_PERMISSION_FIX = (
    "run as the deploy service principal, which needs the Databricks SQL entitlement, CAN USE on the warehouse and"
    " CAN MANAGE on the space (docs/observability.md)"
)


@contextmanager
def sdk_errors(host: str, what: str) -> Iterator[None]:
    """The shared SDK-error translation (lakehouse.governance.audit), with the Genie sync's own fix for a 403."""
    with shared_sdk_errors(host, what, GENIE_PERMISSION_FIX):
        yield


def find_warehouse(client: WorkspaceClient, name: str) -> str:
    """The id of the SQL warehouse called `name` (the one the stack creates for the environment)."""
    matches = [w.id for w in client.warehouses.list() if w.name == name and w.id]
    if len(matches) != 1:
        found = "none" if not matches else f"{len(matches)} ({', '.join(matches)})"
        raise GenieSyncError(
            f"expected one SQL warehouse named {name!r}, found {found}: deploy the stack first (cdktf deploy), or "
            "pass --warehouse-id"
        )
    return str(matches[0])


def _spaces_titled(client: WorkspaceClient, title: str) -> list[str]:
    ids: list[str] = []
    token: str | None = None
    for _ in range(10_000):  # bounded: a server that never stops paging is an error, not a hang
        page = client.genie.list_spaces(page_token=token)
        ids += [s.space_id for s in page.spaces or [] if s.title == title]
        token = page.next_page_token
        if not token:
            return ids
    raise GenieSyncError("listing Genie spaces never stopped paginating")


def _same_space(current: str | None, desired: Mapping[str, Any]) -> bool:
    try:
        return current is not None and json.loads(current) == desired
    except json.JSONDecodeError:
        return False


def desired_acl(env: EnvironmentConfig) -> dict[str, str]:
    """Principal -> permission level on the Genie space, from the matrix."""
    return {env.principal(p): level for p, level in WORKSPACE_ACLS[WorkspaceObject.GENIE_SPACE].items()}


def _principal_key(principal: str) -> str:
    return "service_principal_name" if is_service_principal(principal) else "group_name"


def _sync_permissions(client: WorkspaceClient, space_id: str, acl: Mapping[str, str]) -> bool:
    from databricks.sdk.service.iam import AccessControlRequest, PermissionLevel

    current: dict[str, set[str]] = {}
    for entry in client.permissions.get("genie", space_id).access_control_list or []:
        principal = entry.group_name or entry.service_principal_name or entry.user_name
        for perm in entry.all_permissions or []:
            if principal and perm.permission_level and not perm.inherited:
                current.setdefault(principal, set()).add(perm.permission_level.value)
    missing = {p: level for p, level in acl.items() if level not in current.get(p, set())}
    if not missing:
        return False
    # PATCH adds or changes the listed principals and leaves the owner's and anyone else's grants alone.
    client.permissions.update(
        "genie",
        space_id,
        access_control_list=[
            AccessControlRequest(**{_principal_key(p): p}, permission_level=PermissionLevel(level))
            for p, level in sorted(missing.items())
        ],
    )
    return True


def sync_genie_space(
    client: WorkspaceClient, spec: GenieSpaceSpec, *, warehouse_id: str, acl: Mapping[str, str]
) -> SyncResult:
    """Create or update the space so it equals `spec`, then its permissions; change nothing that already matches."""
    host = client.config.host or "?"
    with sdk_errors(host, "list Genie spaces"):
        ids = _spaces_titled(client, spec.title)
    if len(ids) > 1:
        raise GenieSyncError(
            f"{len(ids)} Genie spaces are titled {spec.title!r} ({', '.join(ids)}): trash the extra ones in the "
            "workspace (the sync finds its space by title), then run it again"
        )
    if not ids:
        with sdk_errors(host, f"create the Genie space {spec.title!r}"):
            created = client.genie.create_space(
                warehouse_id=warehouse_id,
                serialized_space=spec.serialized_space,
                title=spec.title,
                description=spec.description,
                parent_path=spec.parent_path,
            )
        result = SyncResult(created.space_id, "created")
    else:
        with sdk_errors(host, f"read the Genie space {ids[0]}"):
            current = client.genie.get_space(ids[0], include_serialized_space=True)
        changed = [
            name
            for name, same in (
                ("description", current.description == spec.description),
                ("warehouse_id", current.warehouse_id == warehouse_id),
                ("parent_path", current.parent_path in (None, spec.parent_path)),
                ("serialized_space", _same_space(current.serialized_space, spec.space)),
            )
            if not same
        ]
        if changed:
            with sdk_errors(host, f"update the Genie space {ids[0]}"):
                client.genie.update_space(
                    ids[0],
                    title=spec.title,
                    description=spec.description,
                    warehouse_id=warehouse_id,
                    serialized_space=spec.serialized_space,
                    parent_path=spec.parent_path if "parent_path" in changed else None,
                    etag=current.etag,
                )
        result = SyncResult(ids[0], "updated" if changed else "unchanged", changed)
    with sdk_errors(host, f"set permissions on the Genie space {result.space_id}"):
        result.permissions_changed = _sync_permissions(client, result.space_id, acl)
    return result


def sync_for_environment(client: WorkspaceClient, env: EnvironmentConfig, warehouse_id: str | None = None) -> str:
    """Sync the environment's space (genie/correlations.genie.json) and say what happened, in one line."""
    from infra.observability import genie_space

    spec = genie_space(env.name, env.catalog, env.workspace_root.removeprefix("/Workspace"))
    if warehouse_id is None:
        with sdk_errors(client.config.host or "?", f"find the SQL warehouse {env.sql_warehouse.name!r}"):
            warehouse_id = find_warehouse(client, env.sql_warehouse.name)
    result = sync_genie_space(client, spec, warehouse_id=warehouse_id, acl=desired_acl(env))
    detail = f" ({', '.join(result.changed_fields)})" if result.changed_fields else ""
    permissions = "permissions granted" if result.permissions_changed else "permissions unchanged"
    return f"Genie space {spec.title!r} {result.space_id}: {result.action}{detail}; {permissions}"
