"""`lakehouse deploy`: the deploy steps of `infra.phases`, in order, with the CDK CLI and the workspace.

1. preflight (unless skipped): the one-time bootstrap is in place, or stop with what to fix;
2. `cdktn deploy <env>`: the platform stack;
3. when the tables the serving stack reads do not exist yet (an empty workspace), run the pipeline's first update
   and wait for it; otherwise skip;
4. `cdktn deploy <env>-serving`: views, their grants, health views, the dashboard, alerts;
5. the Genie space (`lakehouse genie sync`).

The CDK CLI is called through `run_cdk` (a function of argv returning an exit code) so tests can record the order.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from infra.config import EnvironmentConfig
from infra.phases import PIPELINE_OUTPUTS_SERVING_READS, deploy_steps, pipeline_name
from infra.repo import REPO_ROOT
from lakehouse.errors import LakehouseError
from lakehouse.workspace.pipeline_update import TERMINAL_OK, find_pipeline_id, missing_tables, run_update

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

RunCdk = Callable[[Sequence[str]], int]
Progress = Callable[[str], None]
SyncGenie = Callable[["WorkspaceClient", EnvironmentConfig], str]


def _sync_genie(client: WorkspaceClient, env: EnvironmentConfig) -> str:
    from lakehouse.workspace.genie import sync_for_environment

    return sync_for_environment(client, env)


class DeployError(LakehouseError):
    """A deploy step failed; the message names the step and what to do."""


@dataclass
class DeployResult:
    environment: str
    steps: list[str] = field(default_factory=list)


def cdk_cli(repo_root: Path = REPO_ROOT) -> RunCdk:
    """Run the pinned cdktn CLI (node_modules/.bin, on the Node 22 that package-lock.json pins) in the repo root."""
    bin_dir = repo_root / "node_modules" / ".bin"
    cli = bin_dir / "cdktn"
    if not cli.exists():
        found = shutil.which("cdktn")
        if found is None:
            raise DeployError("the cdktn CLI is not installed: run `make setup` (npm ci installs cdktn-cli)")
        cli = Path(found)

    def run(args: Sequence[str]) -> int:
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env.get("PATH", "")])
        env.setdefault("CHECKPOINT_DISABLE", "1")
        return subprocess.run([str(cli), *args], cwd=repo_root, env=env, check=False).returncode  # noqa: S603

    return run


def deploy(
    env: EnvironmentConfig,
    *,
    client: WorkspaceClient,
    run_cdk: RunCdk,
    auto_approve: bool,
    update_timeout_seconds: float = 3600,
    poll_seconds: float = 15,
    progress: Progress = lambda _msg: None,
    sleep: Callable[[float], None] | None = None,
    sync_genie: SyncGenie = _sync_genie,
) -> DeployResult:
    """Run every deploy step of `env` in order; raise DeployError on the first that fails."""
    result = DeployResult(env.name)
    for step in deploy_steps(env.name):
        if step.kind == "stack":
            assert step.stack is not None
            args = ["deploy", step.stack, *(["--auto-approve"] if auto_approve else [])]
            progress(f"deploy: cdktn {' '.join(args)}")
            code = run_cdk(args)
            if code != 0:
                raise DeployError(f"`cdktn {' '.join(args)}` failed (exit {code}); see its output above")
            result.steps.append(f"stack {step.stack}")
            continue
        if step.kind == "genie_space":
            outcome = sync_genie(client, env)
            progress(f"deploy: {outcome}")
            result.steps.append("genie space synced")
            continue
        missing = missing_tables(client, env.catalog, PIPELINE_OUTPUTS_SERVING_READS)
        if not missing:
            progress("deploy: the pipeline's tables exist; no first update needed")
            result.steps.append("pipeline tables present")
            continue
        progress(f"deploy: {len(missing)} pipeline table(s) missing ({', '.join(missing)}): running a first update")
        pipeline_id = find_pipeline_id(client, pipeline_name(env.name))
        state = run_update(
            client,
            pipeline_id,
            timeout_seconds=update_timeout_seconds,
            poll_seconds=poll_seconds,
            progress=progress,
            sleep=sleep,
        )
        if state not in TERMINAL_OK:
            raise DeployError(
                f"the pipeline's first update ended {state}: fix it (pipeline event log in the UI), then run"
                " `lakehouse deploy` again; the serving stack waits for the tables it reads"
            )
        still_missing = missing_tables(client, env.catalog, PIPELINE_OUTPUTS_SERVING_READS)
        if still_missing:
            raise DeployError(
                f"the pipeline's first update completed but did not publish {', '.join(still_missing)}: check the"
                " pipeline's definitions and event log; the serving stack cannot be created without them"
            )
        result.steps.append(f"pipeline first update {state}")
    return result
