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
    permissions; a second run changes nothing. Run it after `cdktf deploy` (the analyst view must exist)."""
    from infra.config import load_environment
    from infra.observability import genie_space
    from lakehouse.audit import workspace_client
    from lakehouse.genie import desired_acl, find_warehouse, sync_genie_space

    env = load_environment(env_name, config_path)
    spec = genie_space(env.name, env.catalog, env.workspace_root.removeprefix("/Workspace"))
    client = workspace_client(env, host=host, profile=profile, retry_timeout_seconds=timeout_seconds)
    if warehouse_id is None:
        from lakehouse.genie import sdk_errors

        with sdk_errors(client.config.host or "?", f"find the SQL warehouse {env.sql_warehouse.name!r}"):
            warehouse_id = find_warehouse(client, env.sql_warehouse.name)
    result = sync_genie_space(client, spec, warehouse_id=warehouse_id, acl=desired_acl(env))
    detail = f" ({', '.join(result.changed_fields)})" if result.changed_fields else ""
    permissions = "permissions granted" if result.permissions_changed else "permissions unchanged"
    click.echo(f"Genie space {spec.title!r} {result.space_id}: {result.action}{detail}; {permissions}")
