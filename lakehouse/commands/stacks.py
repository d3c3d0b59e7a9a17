"""`lakehouse stacks summary|policy|vet`: what the synthesized stacks would create, our checkov policies on them, and
the vetting of a pull request's stack before a credentialed plan."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from lakehouse.governance.stack_checks import run_policy_checks, summarize

_OUT = click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("cdktf.out"),
    show_default=True,
    help="The cdktf output folder (holds stacks/<name>/cdk.tf.json).",
)


@click.group("stacks")
def stacks() -> None:
    """Inspect the synthesized CDKTF stacks (run `make synth` first)."""


@stacks.command("summary")
@_OUT
def summary(out_dir: Path) -> None:
    """Print, per stack, the resources it would create (counts by type, and their names)."""
    console = Console()
    for stack in summarize(out_dir):
        table = Table(title=f"{stack.name}: {stack.resource_count} resources, backend {stack.backend}")
        table.add_column("resource type", style="cyan", no_wrap=True)
        table.add_column("count", justify="right")
        table.add_column("names")
        for resource_type, names in stack.resources.items():
            table.add_row(resource_type, str(len(names)), ", ".join(names))
        console.print(table)
        console.print(f"  variables: {', '.join(stack.variables)}    outputs: {', '.join(stack.outputs)}\n")


@stacks.command("policy")
@_OUT
def policy(out_dir: Path) -> None:
    """Run checkov with the checks in policies/ over both stacks. Exit 0 pass, 2 failed checks, 1 error."""
    console = Console()
    reports = run_policy_checks(out_dir)
    failed_total = 0
    for report in reports:
        table = Table(title=f"{report.stack}: {len(report.passed)} passed, {len(report.failed)} failed")
        table.add_column("check", no_wrap=True)
        table.add_column("result", no_wrap=True)
        table.add_column("resource")
        table.add_column("details / name")
        for result in report.failed:
            table.add_row(
                result.check_id, "[red]FAILED[/red]", result.resource, "; ".join(result.details) or result.check_name
            )
        passed_by_check: dict[str, list[str]] = {}
        for result in report.passed:
            passed_by_check.setdefault(result.check_id, []).append(result.resource)
        for check_id, resources in sorted(passed_by_check.items()):
            table.add_row(check_id, "[green]passed[/green]", f"{len(resources)} resources", "")
        console.print(table)
        failed_total += len(report.failed)
    if failed_total:
        console.print(f"[red]{failed_total} failed check(s)[/red]")
        sys.exit(2)
    console.print("[green]all policy checks passed[/green]")


@stacks.command("vet")
@_OUT
@click.option("--stack", "stack_name", required=True, help="The stack to vet (e.g. staging-serving).")
def vet(out_dir: Path, stack_name: str) -> None:
    """Refuse a synthesized stack a credentialed `terraform plan` must not run (PR plans): another provider,
    a provisioner, an external program or another backend. Exit 0 clean, 2 refused, 1 error."""
    from infra.platform_rules import untrusted_stack_violations
    from lakehouse.governance.stack_checks import load_stack

    problems = untrusted_stack_violations(load_stack(out_dir, stack_name))
    for problem in problems:
        click.echo(f"refused: {stack_name}: {problem}", err=True)
    if problems:
        sys.exit(2)
    click.echo(f"{stack_name}: only Databricks resources on the configured state; safe to plan")
