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
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import requests
from databricks.sdk.errors import NotFound, PermissionDenied, Unauthenticated
from databricks.sdk.errors.base import DatabricksError

from infra.config import DEFAULT_CONFIG_PATH, EnvironmentConfig, load_environment
from infra.permissions import PermissionMatrix, SecurableType
from lakehouse.errors import LakehouseError
from lakehouse.grants import Finding, FindingKind, GrantAudit, LiveSecurable, SecurableRef, diff_grants

if TYPE_CHECKING:
    from pathlib import Path

    from databricks.sdk import WorkspaceClient

SYSTEM_SCHEMAS = frozenset({"information_schema"})
# Created by Unity Catalog with every catalog (and dropped by the Terraform provider on create).
AUTO_CREATED_SCHEMA = "default"
# How a grant held by a deleted principal (no name, only `principal_id`) is shown in findings.
DELETED_PRINCIPAL_PREFIX = "deleted principal "
# Retries on connection errors are the SDK's; cap them so an unreachable host fails in about a minute, not 5.
DEFAULT_RETRY_TIMEOUT_SECONDS = 60

AUTH_HELP = (
    "set DATABRICKS_HOST and DATABRICKS_TOKEN (a personal access token), or pass --profile NAME for a profile in"
    " ~/.databrickscfg; in GitHub Actions use DATABRICKS_AUTH_TYPE=github-oidc with DATABRICKS_HOST,"
    " DATABRICKS_CLIENT_ID and `permissions: id-token: write` (see docs/governance.md)"
)


class WorkspaceError(LakehouseError):
    """The workspace could not be read; the message says which failure and how to fix it."""


class WorkspaceUnreachableError(WorkspaceError):
    """No HTTP answer from the host (DNS, network, proxy, wrong URL)."""


class WorkspaceAuthError(WorkspaceError):
    """No credentials could be configured, or the host rejected them (HTTP 401, or the invalid-token HTTP 403)."""


class WorkspacePermissionError(WorkspaceError):
    """Authenticated, but the identity may not read a securable's grants (HTTP 403)."""


def config_kwargs(
    env: EnvironmentConfig, *, host: str | None, profile: str | None, environ: Mapping[str, str]
) -> dict[str, Any]:
    """SDK Config arguments: --host wins; else DATABRICKS_HOST or a profile (resolved by the SDK itself);
    else the environment's `workspace_host` from infra/environments.toml."""
    kwargs: dict[str, Any] = {}
    if profile:
        kwargs["profile"] = profile
    if host:
        kwargs["host"] = host
    elif not (environ.get("DATABRICKS_HOST") or profile or environ.get("DATABRICKS_CONFIG_PROFILE")):
        kwargs["host"] = env.workspace_host
    return kwargs


def workspace_client(
    env: EnvironmentConfig,
    *,
    host: str | None = None,
    profile: str | None = None,
    retry_timeout_seconds: int = DEFAULT_RETRY_TIMEOUT_SECONDS,
) -> WorkspaceClient:
    """A WorkspaceClient through the SDK's unified auth.

    The host comes from --host, else DATABRICKS_HOST / the profile (the SDK's own resolution), else the
    environment's `workspace_host` in infra/environments.toml.
    """
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    kwargs = config_kwargs(env, host=host, profile=profile, environ=os.environ)
    kwargs["retry_timeout_seconds"] = retry_timeout_seconds
    shown_host = kwargs.get("host") or os.environ.get("DATABRICKS_HOST") or f"profile {profile}"
    try:
        with _sdk_errors(shown_host, "configure the workspace client"):
            return WorkspaceClient(config=Config(**kwargs))
    except ValueError as exc:  # the SDK's "cannot configure default credentials" and invalid-profile errors
        raise WorkspaceAuthError(f"no usable Databricks credentials for {shown_host}: {exc}. Fix: {AUTH_HELP}") from exc


def _is_connection_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _credentials_rejected(exc: PermissionDenied) -> bool:
    """Whether a 403 is the workspace refusing the credential itself rather than Unity Catalog denying an action.

    A token the workspace does not know gets HTTP 403 `{"error_code": 403, "message": "Invalid access token."}`
    (databricks-sdk-go #873, #917), which databricks-sdk-py maps by status to PermissionDenied like a real denial.
    Real denials carry a string code ("PERMISSION_DENIED"); the front door puts the status there as an integer
    (docs.databricks.com/api "Errors": some legacy endpoints return the HTTP status code as an integer).
    """
    return isinstance(exc.error_code, int) or str(exc).startswith("Invalid access token")


def _auth_error(host: str, what: str, status: int, exc: BaseException) -> WorkspaceAuthError:
    return WorkspaceAuthError(
        f"authentication to {host} failed while trying to {what} (HTTP {status}: {_first_line(exc)}): the workspace"
        " rejected the credentials themselves (the token is invalid, expired or revoked, or was issued by another"
        " workspace); this is not a missing permission. Fix: create a new personal access token in that workspace"
        " (User settings > Developer > Access tokens) and set DATABRICKS_TOKEN, or refresh the profile with"
        f" `databricks auth login --host {host}`; check that --host/DATABRICKS_HOST names the workspace that issued"
        " the token; in GitHub Actions renew the DATABRICKS_TOKEN secret or check the OIDC setup (docs/governance.md)"
    )


AUDIT_PERMISSION_FIX = (
    "run the audit as a metastore admin, the securable's owner, or a principal holding MANAGE on the catalog"
    " (docs/deploy.md, Identities)"
)


@contextmanager
def _sdk_errors(host: str, what: str, permission_fix: str = AUDIT_PERMISSION_FIX) -> Iterator[None]:
    """Translate SDK/HTTP failures into actionable errors. NotFound is left to the caller (it means drift).
    `permission_fix` is what a 403 that is not a rejected token tells the user to do (it depends on the command)."""
    try:
        yield
    except NotFound:
        raise
    except Unauthenticated as exc:
        raise _auth_error(host, what, 401, exc) from exc
    except PermissionDenied as exc:
        if _credentials_rejected(exc):
            raise _auth_error(host, what, 403, exc) from exc
        raise WorkspacePermissionError(
            f"the identity may not {what} on {host} (HTTP 403: {_first_line(exc)}). Fix: {permission_fix}"
        ) from exc
    except (TimeoutError, requests.exceptions.RequestException) as exc:
        if _is_connection_failure(exc):
            raise WorkspaceUnreachableError(
                f"cannot reach the workspace at {host} while trying to {what}: {_first_line(exc.__cause__ or exc)}."
                " Fix: check the host (--host or DATABRICKS_HOST, e.g. https://<workspace>.cloud.databricks.com),"
                " your network, VPN or proxy (HTTPS_PROXY)"
            ) from exc
        raise WorkspaceUnreachableError(
            f"the workspace at {host} did not answer in time while trying to {what}: retry, or raise --timeout"
        ) from exc
    except DatabricksError as exc:
        raise WorkspaceError(f"the workspace at {host} refused to {what}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


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
        with _sdk_errors(host, f"read catalog {catalog}"):
            client.catalogs.get(catalog)
    except NotFound:
        # Nothing below a missing catalog can exist: every expected grant is missing.
        return [LiveSecurable(ref, exists=False, origin=origin) for ref, origin in sorted(to_read.items())]

    with _sdk_errors(host, f"list schemas in {catalog}"):
        schemas = list(client.schemas.list(catalog_name=catalog))
    schema_names = sorted(s.name for s in schemas if s.name and s.name not in SYSTEM_SCHEMAS)
    for name in schema_names:
        origin = "schema created by Unity Catalog" if name == AUTO_CREATED_SCHEMA else "schema listed in catalog"
        to_read.setdefault(SecurableRef(SecurableType.SCHEMA, f"{catalog}.{name}"), origin)
    for name in schema_names:
        with _sdk_errors(host, f"list tables in {catalog}.{name}"):
            tables = list(
                client.tables.list(catalog_name=catalog, schema_name=name, omit_columns=True, omit_properties=True)
            )
        for t in tables:
            full_name = t.full_name or f"{catalog}.{name}.{t.name}"
            kind = (t.table_type.value if t.table_type else "table").lower()
            to_read.setdefault(SecurableRef(SecurableType.TABLE, full_name), f"{kind} listed live")

    live: list[LiveSecurable] = []
    for ref, origin in sorted(to_read.items()):
        with _sdk_errors(host, f"read grants on {ref}"):
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


# The SDK-error translation other workspace commands (deploy, preflight, pipeline update) share.
sdk_errors = _sdk_errors
