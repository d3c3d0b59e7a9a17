"""`lakehouse drift`: classify a Terraform plan and audit grants, as one report. Exit 0 clean, 2 drift, 1 error."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from infra.config import ENVIRONMENT_NAMES
from infra.phases import all_stack_names, stack_names
from lakehouse.commands.options import workspace_auth_options


@click.command("drift")
@click.option("--env", "env_name", type=click.Choice(ENVIRONMENT_NAMES), required=True)
@click.option(
    "--stack",
    "stack_name",
    type=click.Choice(all_stack_names()),
    default=None,
    help="Which of the environment's stacks the plan is of (default: its platform stack, named like the env).",
)
@click.option(
    "--plan-json",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="`terraform show -json PLANFILE` output. Without it, runs terraform plan in the stack folder.",
)
@click.option(
    "--stack-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Synthesized stack folder (default: cdktf.out/stacks/<env>).",
)
@click.option("--audit/--no-audit", "with_audit", default=True, show_default=True, help="Also audit live grants.")
@click.option(
    "--fail-on",
    type=click.Choice(("drift", "destroy")),
    default="drift",
    show_default=True,
    help="drift: exit 2 on any real drift; destroy: exit 2 only when the destroy guard fires (PR plans).",
)
@click.option("--allow-destroy", is_flag=True, help="Report guarded destroys/replacements without failing on them.")
@click.option("--format", "fmt", type=click.Choice(("table", "json", "markdown")), default="table", show_default=True)
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Also write it here.")
@workspace_auth_options
def drift(
    env_name: str,
    stack_name: str | None,
    plan_json: Path | None,
    stack_dir: Path | None,
    with_audit: bool,
    fail_on: str,
    allow_destroy: bool,
    fmt: str,
    output: Path | None,
    host: str | None,
    profile: str | None,
    timeout_seconds: int,
    config_path: Path,
) -> None:
    """Classify every planned change as real drift or known provider noise, flag destroys and replacements of
    Unity Catalog securables, pipelines and jobs, and add the grant audit. Never applies anything."""
    from lakehouse.governance.drift import DriftReport, FailOn, render, terraform_plan_json
    from lakehouse.governance.plan import PlanFormatError, load_plan

    stack = stack_name or stack_names(env_name).platform
    if stack not in stack_names(env_name).all():
        raise click.BadParameter(f"{stack} is not a stack of {env_name}: use one of {stack_names(env_name).all()}")

    if plan_json is not None:
        try:
            text = plan_json.read_text(encoding="utf-8")
        except OSError as exc:  # exit 1 (an error), not click's usage exit 2 (which would read as "drift")
            raise PlanFormatError(
                f"{plan_json}: cannot read the plan ({exc.strerror}): make it with"
                " `terraform show -json PLANFILE > FILE`, or omit --plan-json to run terraform here"
            ) from exc
        plan = load_plan(text, str(plan_json))
        source = f"`{plan_json}`"
    else:
        folder = stack_dir or Path("cdktf.out") / "stacks" / stack
        plan = load_plan(terraform_plan_json(folder), f"terraform plan in {folder}")
        source = f"`terraform plan` in `{folder}`"
    audit = None
    if with_audit:
        from lakehouse.governance.audit import run_audit

        audit = run_audit(
            env_name, host=host, profile=profile, config_path=config_path, retry_timeout_seconds=timeout_seconds
        )
    report = DriftReport(stack, plan, audit, allow_destroy=allow_destroy, plan_source=source)
    mode = FailOn(fail_on)
    text = render(report, fmt, mode)
    if output is not None:
        output.write_text(text, encoding="utf-8")
    click.echo(text, nl=False)
    sys.exit(report.exit_code(mode))
