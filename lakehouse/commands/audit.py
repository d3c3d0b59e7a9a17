"""`lakehouse audit-grants`: live Unity Catalog grants vs the permission matrix. Exit 0 clean, 2 drift, 1 error."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from infra.config import ENVIRONMENT_NAMES
from lakehouse.commands.options import workspace_auth_options

FORMATS = ("table", "json", "markdown")


@click.command("audit-grants")
@click.option("--env", "env_name", type=click.Choice(ENVIRONMENT_NAMES), required=True, help="Environment to audit.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@workspace_auth_options
def audit_grants(
    env_name: str, fmt: str, host: str | None, profile: str | None, timeout_seconds: int, config_path: Path
) -> None:
    """Compare the live grants on the catalog, its schemas, the landing volume, the secure views and every
    pipeline-created table with the permission matrix. Principals are compared exactly (case matters)."""
    from lakehouse.governance.audit import run_audit
    from lakehouse.governance.grants import render_audit

    audit = run_audit(
        env_name, host=host, profile=profile, config_path=config_path, retry_timeout_seconds=timeout_seconds
    )
    click.echo(render_audit(audit, fmt), nl=False)
    sys.exit(0 if audit.clean else 2)
