"""One drift report per environment: the classified Terraform plan plus the grant audit.

Rendering is pure (markdown for an issue or PR comment, JSON for machines, a plain table for terminals).
`terraform_plan_json` is the one edge here: it runs `terraform plan` + `terraform show -json` in a
synthesized stack folder when no plan JSON is given.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from lakehouse.errors import LakehouseError
from lakehouse.governance.grants import GrantAudit, render_audit_markdown, render_audit_table
from lakehouse.governance.plan import NOISE_RULES, Category, ClassifiedChange, PlanReport

TERRAFORM_TIMEOUT_SECONDS = 30 * 60
_RULE_SOURCES = {r.id: r.source for r in NOISE_RULES}


class FailOn(StrEnum):
    DRIFT = "drift"  # exit 2 on any real change, grant finding or guard violation (scheduled drift checks)
    DESTROY = "destroy"  # exit 2 only when the destroy guard fires (pull-request plans, where changes are the point)


class TerraformError(LakehouseError):
    """terraform is missing or failed; the message says what to install or fix."""


@dataclass(frozen=True)
class DriftReport:
    environment: str
    plan: PlanReport | None
    audit: GrantAudit | None
    allow_destroy: bool = False
    plan_source: str = ""

    @property
    def guard_fired(self) -> bool:
        return bool(self.plan and self.plan.guard_violations)

    @property
    def guard_blocks(self) -> bool:
        return self.guard_fired and not self.allow_destroy

    @property
    def plan_drift(self) -> bool:
        return bool(self.plan and not self.plan.clean)

    @property
    def grant_drift(self) -> bool:
        return bool(self.audit and not self.audit.clean)

    @property
    def clean(self) -> bool:
        return not (self.plan_drift or self.grant_drift)

    def status(self) -> str:
        if self.guard_blocks:
            return "blocked"
        return "clean" if self.clean else "drift"

    def exit_code(self, fail_on: FailOn = FailOn.DRIFT) -> int:
        if self.guard_blocks:
            return 2
        if fail_on is FailOn.DESTROY:
            return 0
        return 0 if self.clean else 2

    def to_dict(self, fail_on: FailOn = FailOn.DRIFT) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "status": self.status(),
            "exit_code": self.exit_code(fail_on),
            "plan_source": self.plan_source,
            "destroy_guard": {
                "fired": self.guard_fired,
                "allowed": self.allow_destroy,
                "violations": [c.address for c in self.plan.guard_violations] if self.plan else [],
            },
            "plan": self.plan.to_dict() if self.plan else None,
            "grants": self.audit.to_dict() if self.audit else None,
        }


def marker(environment: str) -> str:
    """A hidden line that lets the workflows find the issue or comment this report belongs to."""
    return f"<!-- lakehouse-drift:{environment} -->"


def _attrs(c: ClassifiedChange) -> str:
    parts = []
    if c.changed_attributes:
        parts.append(", ".join(f"`{a}`" for a in c.changed_attributes))
    if c.replace_paths:
        parts.append("forces replacement: " + ", ".join(f"`{p}`" for p in c.replace_paths))
    if c.reason:
        parts.append(c.reason)
    return "; ".join(parts) or "-"


def _rules(c: ClassifiedChange) -> str:
    return ", ".join(f"[`{r}`]({_RULE_SOURCES.get(r, '')})" for r in c.noise_rules) or "-"


def render_markdown(report: DriftReport) -> str:
    env = report.environment
    lines = [marker(env), f"## Drift report: `{env}`", ""]
    status = report.status()
    summary = {
        "blocked": "**Blocked by the destroy guard**: this plan destroys or replaces protected resources.",
        "drift": "**Drift found**: the workspace differs from the code.",
        "clean": "**Clean**: the workspace matches the code.",
    }[status]
    lines += [summary, ""]
    if report.plan_source:
        lines += [f"Plan: {report.plan_source}", ""]
    plan = report.plan
    if plan is not None:
        if plan.guard_violations:
            verdict = "allowed by the `allow-destroy` label" if report.allow_destroy else "fails this check"
            lines += [f"### Destroy guard ({verdict})", ""]
            lines += [f"- `{c.address}`: **{c.action.value}** ({_attrs(c)})" for c in plan.guard_violations]
            lines += [
                "",
                "Destroying a catalog, schema, volume, table, pipeline or job loses data, grants or run history."
                " If it is intended, add the `allow-destroy` label to the pull request.",
                "",
            ]
        counts = plan.counts()
        shown = ", ".join(f"{n} to {a}" for a, n in counts.items() if n) or "no changes"
        lines += [f"### Terraform plan (Terraform {plan.terraform_version}): {shown}", ""]
        if plan.real:
            lines += ["| resource | action | what differs |", "|---|---|---|"]
            for c in plan.real:
                details = "".join(f"<br>{d}" for d in c.details)
                lines.append(f"| `{c.address}` | {c.action.value} | {_attrs(c)}{details} |")
            lines.append("")
        if plan.noise:
            lines += [
                f"<details><summary>{len(plan.noise)} change(s) ignored as known provider noise</summary>",
                "",
                "| resource | attributes | rule |",
                "|---|---|---|",
            ]
            lines += [f"| `{c.address}` | {_attrs(c)} | {_rules(c)} |" for c in plan.noise]
            lines += ["", "</details>", ""]
        outside = [c for c in plan.outside_changes if c.category is Category.CHANGE]
        if outside:
            lines += ["Changed outside Terraform (detected on refresh):", ""]
            lines += [f"- `{c.address}`: {c.action.value} ({_attrs(c)})" for c in outside]
            lines.append("")
    if report.audit is not None:
        lines.append(render_audit_markdown(report.audit, heading_level=3))
    return "\n".join(lines).rstrip() + "\n"


def render_table(report: DriftReport) -> str:
    lines = [f"drift report: environment={report.environment} status={report.status()}"]
    plan = report.plan
    if plan is not None:
        for c in plan.guard_violations:
            allowed = " (allowed by --allow-destroy)" if report.allow_destroy else ""
            lines.append(f"DESTROY GUARD: {c.action.value} {c.address}{allowed}")
        for c in plan.changes:
            tag = "noise " if c.category is Category.NOISE else "change"
            extra = f"  rules: {', '.join(c.noise_rules)}" if c.noise_rules else ""
            lines.append(f"{tag}  {c.action.value:<8} {c.address}  {_attrs(c).replace('`', '')}{extra}")
            lines += [f"          {d}" for d in c.details]
        if not plan.changes:
            lines.append("plan: no changes")
    if report.audit is not None:
        lines.append(render_audit_table(report.audit).rstrip())
    return "\n".join(lines) + "\n"


def render(report: DriftReport, fmt: str, fail_on: FailOn = FailOn.DRIFT) -> str:
    if fmt == "json":
        return json.dumps(report.to_dict(fail_on), indent=2, sort_keys=True) + "\n"
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "table":
        return render_table(report)
    raise ValueError(f"unknown format {fmt!r}: use table, json or markdown")


# ------------------------------------------------------------------------------------------ edge: terraform


def _run(args: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            args, cwd=cwd, capture_output=True, text=True, timeout=TERRAFORM_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise TerraformError(f"`{' '.join(args)}` in {cwd} timed out after {TERRAFORM_TIMEOUT_SECONDS}s") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-20:])
        raise TerraformError(f"`{' '.join(args)}` failed in {cwd} (exit {done.returncode}):\n{tail}")
    return done.stdout


def terraform_plan_json(stack_dir: Path, terraform: str | None = None) -> str:
    """Plan the synthesized stack read-only (no lock, no apply) and return `terraform show -json` of it."""
    binary = terraform or shutil.which("terraform")
    if not binary:
        raise TerraformError(
            "terraform is not on PATH: install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install),"
            " or pass --plan-json FILE made by `terraform show -json PLANFILE`"
        )
    if not (stack_dir / "cdk.tf.json").is_file():
        raise TerraformError(f"{stack_dir} has no cdk.tf.json: synthesize the stacks first (`make synth`)")
    if not (stack_dir / ".terraform").is_dir():
        _run([binary, "init", "-input=false", "-no-color"], stack_dir)
    with tempfile.TemporaryDirectory(prefix="lakehouse-plan-") as tmp:
        plan_file = str(Path(tmp) / "drift.tfplan")
        # -lock=false: the drift identity is read-only and must not take the state lock an apply may need.
        _run([binary, "plan", "-input=false", "-no-color", "-lock=false", f"-out={plan_file}"], stack_dir)
        return _run([binary, "show", "-json", plan_file], stack_dir)
