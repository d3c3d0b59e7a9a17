"""`lakehouse genie sync --env ENV`: create or update the environment's Genie space. Exit 0 synced, 1 error."""

from __future__ import annotations

from pathlib import Path

import click

from infra.config import ENVIRONMENT_NAMES
from lakehouse.commands.options import workspace_auth_options


@click.group("genie")
def genie() -> None:
    """The Genie space over the analyst view (genie/correlations.genie.json)."""


@genie.command("sync")
@click.option("--env", "env_name", type=click.Choice(ENVIRONMENT_NAMES), required=True, help="Environment to sync.")
@click.option(
    "--warehouse-id",
    default=None,
    help="SQL warehouse for the space (default: the environment's warehouse, found by its name in the config).",
)
@workspace_auth_options
def sync(
    env_name: str,
    warehouse_id: str | None,
    host: str | None,
    profile: str | None,
    timeout_seconds: int,
    config_path: Path,
) -> None:
    """Create the space if it is missing, update it where it differs from the file, and grant the matrix's
    permissions; a second run changes nothing. `lakehouse deploy` runs it after the serving stack (the analyst view
    must exist)."""
    from infra.config import load_environment
    from lakehouse.workspace.client import workspace_client
    from lakehouse.workspace.genie import sync_for_environment

    env = load_environment(env_name, config_path)
    client = workspace_client(env, host=host, profile=profile, retry_timeout_seconds=timeout_seconds)
    click.echo(sync_for_environment(client, env, warehouse_id))
