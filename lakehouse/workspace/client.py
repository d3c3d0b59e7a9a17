"""The one databricks-sdk client factory, and the translation of SDK failures into errors that say how to fix them.

Auth is the SDK's unified auth, untouched: `DATABRICKS_HOST` / `DATABRICKS_TOKEN`, a config profile (`--profile` or
`DATABRICKS_CONFIG_PROFILE`), or `DATABRICKS_AUTH_TYPE=github-oidc` in GitHub Actions. Every command that talks to a
workspace (audit-grants, drift, deploy, preflight, pipeline update, genie sync) builds its client here and wraps its
calls in `sdk_errors`, so an unreachable host, missing or rejected credentials and a denied call read the same
everywhere. A rejected token is an HTTP 403 like a real denial, told apart by its body (`_credentials_rejected`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import requests
from databricks.sdk.errors import NotFound, PermissionDenied, Unauthenticated
from databricks.sdk.errors.base import DatabricksError

from infra.config import EnvironmentConfig
from lakehouse.errors import LakehouseError

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

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
        with sdk_errors(shown_host, "configure the workspace client"):
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
def sdk_errors(host: str, what: str, permission_fix: str = AUDIT_PERMISSION_FIX) -> Iterator[None]:
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
