"""`lakehouse deploy`, `lakehouse preflight` and `lakehouse pipeline update`: the deploy path, thin over the
modules of lakehouse.workspace. Exit 0 done, 2 findings or a failed update, 1 error."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from infra.config import ENVIRONMENT_NAMES, EnvironmentConfig, load_environment
from lakehouse.commands.options import workspace_auth_options

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient


def _connect(
    env_name: str, host: str | None, profile: str | None, timeout_seconds: int, config_path: Path
) -> tuple[EnvironmentConfig, WorkspaceClient]:
    from lakehouse.workspace.client import workspace_client

    env = load_environment(env_name, config_path)
    return env, workspace_client(env, host=host, profile=profile, retry_timeout_seconds=timeout_seconds)


def _say(message: str) -> None:
    click.echo(message, err=True)


@click.command("preflight")
@click.option("--env", "env_name", type=click.Choice(ENVIRONMENT_NAMES), required=True)
@workspace_auth_options
def preflight(env_name: str, host: str | None, profile: str | None, timeout_seconds: int, config_path: Path) -> None:
    """Check, as the identity about to deploy, that the one-time workspace bootstrap is in place."""
    from lakehouse.workspace.client import sdk_errors
    from lakehouse.workspace.preflight import evaluate, observe

    env, client = _connect(env_name, host, profile, timeout_seconds, config_path)
    with sdk_errors(client.config.host or env.workspace_host, "read what preflight checks"):
        report = evaluate(env, observe(client, env))
    click.echo(report.render(), nl=False)
    sys.exit(report.exit_code)


@click.command("deploy")
@click.option("--env", "env_name", type=click.Choice(ENVIRONMENT_NAMES), required=True)
@click.option("--auto-approve", is_flag=True, help="Apply without asking (CI). Without it cdktn asks per stack.")
@click.option("--skip-preflight", is_flag=True, help="Deploy even when preflight finds problems (not advised).")
@click.option(
    "--timeout-minutes",
    type=click.IntRange(1, 720),
    default=60,
    show_default=True,
    help="How long the pipeline's first update may take.",
)
@workspace_auth_options
def deploy(
    env_name: str,
    auto_approve: bool,
    skip_preflight: bool,
    timeout_minutes: int,
    host: str | None,
    profile: str | None,
    timeout_seconds: int,
    config_path: Path,
) -> None:
    """Deploy an environment: platform stack, the pipeline's first update when its tables are missing, serving
    stack (infra/phases.py). The one command to type, on an empty workspace as on every later deploy."""
    from lakehouse.workspace.client import sdk_errors
    from lakehouse.workspace.deploy import cdk_cli
    from lakehouse.workspace.deploy import deploy as run_deploy
    from lakehouse.workspace.preflight import evaluate, observe

    env, client = _connect(env_name, host, profile, timeout_seconds, config_path)
    shown = client.config.host or env.workspace_host
    if not skip_preflight:
        with sdk_errors(shown, "read what preflight checks"):
            report = evaluate(env, observe(client, env))
        click.echo(report.render(), nl=False, err=True)
        if report.failed:
            sys.exit(2)
    with sdk_errors(shown, "deploy"):
        result = run_deploy(
            env,
            client=client,
            run_cdk=cdk_cli(),
            auto_approve=auto_approve,
            update_timeout_seconds=timeout_minutes * 60,
            progress=_say,
        )
    click.echo(f"deployed {env.name}: " + "; ".join(result.steps))


@click.group("pipeline")
def pipeline() -> None:
    """Operate an environment's deployed pipeline."""


@pipeline.command("update")
@click.option("--env", "env_name", type=click.Choice(ENVIRONMENT_NAMES), required=True)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the update to finish.")
@click.option("--full-refresh", is_flag=True, help="Recompute every table from scratch.")
@click.option("--timeout-minutes", type=click.IntRange(1, 720), default=60, show_default=True)
@click.option("--poll-seconds", type=click.FloatRange(1, 600), default=15, show_default=True)
@workspace_auth_options
def update(
    env_name: str,
    wait: bool,
    full_refresh: bool,
    timeout_minutes: int,
    poll_seconds: float,
    host: str | None,
    profile: str | None,
    timeout_seconds: int,
    config_path: Path,
) -> None:
    """Start an update of the environment's pipeline (found by name) and, by default, wait for its end state."""
    from infra.phases import pipeline_name
    from lakehouse.workspace.client import sdk_errors
    from lakehouse.workspace.pipeline_update import TERMINAL_OK, find_pipeline_id, run_update

    env, client = _connect(env_name, host, profile, timeout_seconds, config_path)
    with sdk_errors(client.config.host or env.workspace_host, "start a pipeline update"):
        pipeline_id = find_pipeline_id(client, pipeline_name(env.name))
        if not wait:
            update_id = client.pipelines.start_update(pipeline_id, full_refresh=full_refresh).update_id
            click.echo(f"pipeline {pipeline_id}: started update {update_id}")
            return
        state = run_update(
            client,
            pipeline_id,
            timeout_seconds=timeout_minutes * 60,
            poll_seconds=poll_seconds,
            full_refresh=full_refresh,
            progress=_say,
        )
    click.echo(f"pipeline {pipeline_id}: update {state}")
    sys.exit(0 if state in TERMINAL_OK else 2)
