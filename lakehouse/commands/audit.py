"""`lakehouse audit-grants`: live Unity Catalog grants vs the permission matrix. Exit 0 clean, 2 drift, 1 error."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from infra.config import DEFAULT_CONFIG_PATH, ENVIRONMENT_NAMES

FORMATS = ("table", "json", "markdown")


@click.command("audit-grants")
@click.option("--env", "env_name", type=click.Choice(ENVIRONMENT_NAMES), required=True, help="Environment to audit.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--host", default=None, help="Workspace URL (default: DATABRICKS_HOST, the profile's, or the config's).")
@click.option("--profile", default=None, help="A profile in ~/.databrickscfg (default: the SDK's unified auth).")
@click.option(
    "--timeout",
    "timeout_seconds",
    type=click.IntRange(1, 600),
    default=60,
    show_default=True,
    help="Give up on an unreachable workspace after this many seconds of retries.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_CONFIG_PATH,
    show_default=True,
    hidden=True,
)
def audit_grants(
    env_name: str, fmt: str, host: str | None, profile: str | None, timeout_seconds: int, config_path: Path
) -> None:
    """Compare the live grants on the catalog, its schemas, the landing volume, the secure views and every
    pipeline-created table with the permission matrix. Principals are compared exactly (case matters)."""
    from lakehouse.audit import run_audit
    from lakehouse.grants import render_audit

    audit = run_audit(
        env_name, host=host, profile=profile, config_path=config_path, retry_timeout_seconds=timeout_seconds
    )
    click.echo(render_audit(audit, fmt), nl=False)
    sys.exit(0 if audit.clean else 2)
