"""The grant audit's edge: read live Unity Catalog grants with databricks-sdk and diff them with the matrix.

Auth is the SDK's unified auth, untouched: `DATABRICKS_HOST` / `DATABRICKS_TOKEN`, a config profile
(`--profile` or `DATABRICKS_CONFIG_PROFILE`), or `DATABRICKS_AUTH_TYPE=github-oidc` in GitHub Actions. SDK
failures become `LakehouseError`s that say whether the host is unreachable, the credentials are missing or
rejected, or the identity may not read a securable's grants, and how to fix each. A rejected token is an HTTP 403
like a real denial, told apart by its body (see `_credentials_rejected`).

What is audited: the catalog, every schema in it (except `information_schema`), the landing volume, and every
table and view listed live in those schemas. Pipeline-created tables are not managed by Terraform, so they
are found by listing, and since they inherit from their schema, any direct grant on them is drift.

Schemas Unity Catalog creates by itself: `information_schema` (every catalog lists it) is read-only metadata whose
access Unity Catalog derives from the other grants, so there is nothing to audit and it is skipped. `default` comes
with every new catalog; the Terraform provider drops it when it creates the catalog, so it exists only when the
catalog was made some other way. Its existence is not drift (the audit compares grants, not inventories), but it is
audited like any schema outside the matrix: a direct grant on it is unexpected, with a hint saying where it came
from. A grant whose principal was deleted is listed with `principal_id` and no name; it is reported as unexpected
under `deleted principal <id>` with the call that revokes it (the SDK's typed `PermissionsChange` has no
`principal_id` in 0.162.0, so the hint uses the REST path).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from databricks.sdk.errors import NotFound

from infra.config import DEFAULT_CONFIG_PATH, load_environment
from infra.permissions import PermissionMatrix, SecurableType
from lakehouse.governance.grants import Finding, FindingKind, GrantAudit, LiveSecurable, SecurableRef, diff_grants
from lakehouse.workspace.client import DEFAULT_RETRY_TIMEOUT_SECONDS, WorkspaceError, sdk_errors, workspace_client

if TYPE_CHECKING:
    from pathlib import Path

    from databricks.sdk import WorkspaceClient

SYSTEM_SCHEMAS = frozenset({"information_schema"})
# Created by Unity Catalog with every catalog (and dropped by the Terraform provider on create).
AUTO_CREATED_SCHEMA = "default"
# How a grant held by a deleted principal (no name, only `principal_id`) is shown in findings.
DELETED_PRINCIPAL_PREFIX = "deleted principal "


def read_grants(client: WorkspaceClient, ref: SecurableRef) -> dict[str, frozenset[str]] | None:
    """Direct grants on one securable (principal -> privileges), or None when the securable does not exist.

    Calls the grants endpoint through the SDK's ApiClient rather than `w.grants.get`, because the typed
    response drops privileges missing from the SDK's `Privilege` enum (`_repeated_enum`): an audit must see
    every privilege the server returns, including ones newer than the SDK.
    """
    path = f"/api/2.1/unity-catalog/permissions/{ref.type.value}/{ref.full_name}"
    out: dict[str, set[str]] = {}
    query: dict[str, Any] = {"max_results": 0}
    for _ in range(10_000):  # bounded: a server that never stops paging is an error, not a hang
        try:
            page = client.api_client.do("GET", path, query=query, headers={"Accept": "application/json"})
        except NotFound:
            return None
        if not isinstance(page, dict):
            raise WorkspaceError(f"unexpected grants response for {ref}: {type(page).__name__}")
        for assignment in page.get("privilege_assignments") or []:
            # A deleted principal keeps its grants under `principal_id`, with `principal` empty or absent.
            principal = (
                assignment.get("principal") or f"{DELETED_PRINCIPAL_PREFIX}{assignment.get('principal_id', '?')}"
            )
            out.setdefault(principal, set()).update(str(p) for p in assignment.get("privileges") or [])
        token = page.get("next_page_token")
        if not token:
            return {p: frozenset(v) for p, v in out.items()}
        query["page_token"] = token
    raise WorkspaceError(f"grants for {ref} never stopped paginating")


def read_live(client: WorkspaceClient, catalog: str, expected: Iterable[SecurableRef]) -> list[LiveSecurable]:
    """Read every securable to audit: the expected ones plus every schema and table listed live."""
    host = client.config.host or "?"
    to_read: dict[SecurableRef, str] = {ref: "permission matrix" for ref in expected}
    catalog_ref = SecurableRef(SecurableType.CATALOG, catalog)
    to_read.setdefault(catalog_ref, "catalog")
    try:
        with sdk_errors(host, f"read catalog {catalog}"):
            client.catalogs.get(catalog)
    except NotFound:
        # Nothing below a missing catalog can exist: every expected grant is missing.
        return [LiveSecurable(ref, exists=False, origin=origin) for ref, origin in sorted(to_read.items())]

    with sdk_errors(host, f"list schemas in {catalog}"):
        schemas = list(client.schemas.list(catalog_name=catalog))
    schema_names = sorted(s.name for s in schemas if s.name and s.name not in SYSTEM_SCHEMAS)
    for name in schema_names:
        origin = "schema created by Unity Catalog" if name == AUTO_CREATED_SCHEMA else "schema listed in catalog"
        to_read.setdefault(SecurableRef(SecurableType.SCHEMA, f"{catalog}.{name}"), origin)
    for name in schema_names:
        with sdk_errors(host, f"list tables in {catalog}.{name}"):
            tables = list(
                client.tables.list(catalog_name=catalog, schema_name=name, omit_columns=True, omit_properties=True)
            )
        for t in tables:
            full_name = t.full_name or f"{catalog}.{name}.{t.name}"
            kind = (t.table_type.value if t.table_type else "table").lower()
            to_read.setdefault(SecurableRef(SecurableType.TABLE, full_name), f"{kind} listed live")

    live: list[LiveSecurable] = []
    for ref, origin in sorted(to_read.items()):
        with sdk_errors(host, f"read grants on {ref}"):
            assignments = read_grants(client, ref)
        if assignments is None:
            live.append(LiveSecurable(ref, exists=False, origin=origin))
        else:
            live.append(LiveSecurable(ref, exists=True, assignments=assignments, origin=origin))
    return live


def run_audit(
    env_name: str,
    *,
    client: WorkspaceClient | None = None,
    host: str | None = None,
    profile: str | None = None,
    config_path: Path = DEFAULT_CONFIG_PATH,
    retry_timeout_seconds: int = DEFAULT_RETRY_TIMEOUT_SECONDS,
) -> GrantAudit:
    """Audit one environment's live grants against the permission matrix."""
    env = load_environment(env_name, config_path)
    expected = PermissionMatrix.default().expected_grants(env.catalog, env.principals)
    if client is None:
        client = workspace_client(env, host=host, profile=profile, retry_timeout_seconds=retry_timeout_seconds)
    expected_refs = {SecurableRef(g.securable_type, g.full_name) for g in expected}
    live = read_live(client, env.catalog, expected_refs)
    audit = diff_grants(expected, live, environment=env.name, catalog=env.catalog, host=client.config.host or "")
    return replace(audit, findings=tuple(_with_workspace_hint(f, env.catalog) for f in audit.findings))


def _with_workspace_hint(finding: Finding, catalog: str) -> Finding:
    """Hints only the workspace side can give: how to revoke a deleted principal's grant (Terraform cannot: the
    principal has no name to put in `databricks_grants`), and where a `default` schema comes from."""
    if finding.hint or finding.kind is not FindingKind.UNEXPECTED:
        return finding
    ref = finding.securable
    if finding.principal.startswith(DELETED_PRINCIPAL_PREFIX):
        principal_id = finding.principal.removeprefix(DELETED_PRINCIPAL_PREFIX)
        change = {
            "principal_id": int(principal_id) if principal_id.isdigit() else principal_id,
            "remove": sorted(finding.actual),
        }
        body = json.dumps({"changes": [change]})
        return replace(
            finding,
            hint=(
                f"the principal with id {principal_id} was deleted but still holds these privileges: revoke them by id"
                f" with `databricks api patch /api/2.1/unity-catalog/permissions/{ref.type.value}/{ref.full_name}"
                f" --json '{body}'` (a PermissionsChange with principal_id may only remove)"
            ),
        )
    if ref == SecurableRef(SecurableType.SCHEMA, f"{catalog}.{AUTO_CREATED_SCHEMA}"):
        return replace(
            finding,
            hint=(
                f"`{AUTO_CREATED_SCHEMA}` is created by Unity Catalog with every catalog (the Terraform provider drops"
                " it when it creates one, so this catalog was made another way) and is outside the permission"
                f" matrix: revoke this grant, or drop the schema (DROP SCHEMA {catalog}.{AUTO_CREATED_SCHEMA}) if"
                " nothing uses it"
            ),
        )
    return finding
