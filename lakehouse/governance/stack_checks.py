"""Read synthesized stacks (`<out>/stacks/<name>/cdk.tf.json`) and check them with checkov and our policies.

`summarize_stack` is pure (a dict in, a summary out). `run_policy_checks` is the edge that runs the checkov CLI
(`--framework terraform_json --skip-download --external-checks-dir policies`) and parses its JSON report.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from infra.phases import all_stack_names
from infra.repo import POLICIES_DIR, REPO_ROOT
from lakehouse.errors import LakehouseError

STACK_FILE = "cdk.tf.json"
CHECKOV_TIMEOUT_SECONDS = 600


class StackOutputError(LakehouseError):
    """The synthesized output is missing, unreadable, or checkov could not check it."""


@dataclass(frozen=True)
class StackSummary:
    name: str
    backend: str
    resources: dict[str, tuple[str, ...]]  # resource type -> resource names, sorted
    variables: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def resource_count(self) -> int:
        return sum(len(names) for names in self.resources.values())


def stack_file(out_dir: Path, stack: str) -> Path:
    return out_dir / "stacks" / stack / STACK_FILE


def load_stack(out_dir: Path, stack: str) -> dict[str, Any]:
    path = stack_file(out_dir, stack)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise StackOutputError(f"{path}: not found; synthesize first (`make synth` or `cdktn synth`)") from exc
    except OSError as exc:
        raise StackOutputError(f"{path}: cannot read it ({exc.strerror}); check --out") from exc
    except json.JSONDecodeError as exc:
        raise StackOutputError(f"{path}: not valid JSON ({exc}); synthesize again") from exc
    if not isinstance(data, dict):
        raise StackOutputError(f"{path}: expected a JSON object; synthesize again")
    return data


def summarize_stack(name: str, synthesized: Mapping[str, Any]) -> StackSummary:
    resources = {
        resource_type: tuple(sorted(by_name))
        for resource_type, by_name in sorted((synthesized.get("resource") or {}).items())
    }
    backend = next(iter((synthesized.get("terraform") or {}).get("backend") or {"none": {}}))
    return StackSummary(
        name=name,
        backend=backend,
        resources=resources,
        variables=tuple(sorted(synthesized.get("variable") or {})),
        outputs=tuple(sorted(synthesized.get("output") or {})),
    )


def summarize(out_dir: Path, stacks: tuple[str, ...] | None = None) -> list[StackSummary]:
    return [summarize_stack(stack, load_stack(out_dir, stack)) for stack in stacks or all_stack_names()]


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    check_name: str
    resource: str
    passed: bool
    details: tuple[str, ...] = ()
    file_path: str = ""  # relative to the scanned folder, e.g. "/cdk.tf.json"


@dataclass(frozen=True)
class PolicyReport:
    stack: str
    results: tuple[CheckResult, ...]

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    @property
    def passed(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.passed)


def parse_checkov_report(stack: str, raw: str) -> PolicyReport:
    """checkov's `-o json` output (one report, or a list of reports per framework) to a PolicyReport."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise StackOutputError(f"checkov printed no JSON report for {stack}: {raw[:300]!r}") from exc
    reports = data if isinstance(data, list) else [data]
    results: list[CheckResult] = []
    for report in reports:
        summary = report.get("summary") or {}
        if summary.get("parsing_errors"):
            raise StackOutputError(
                f"checkov could not parse {stack}: {report.get('results', {}).get('parsing_errors')}; synthesize again"
            )
        body = report.get("results") or {}
        for key, passed in (("passed_checks", True), ("failed_checks", False)):
            for check in body.get(key) or []:
                results.append(
                    CheckResult(
                        check_id=str(check.get("check_id")),
                        check_name=str(check.get("check_name")),
                        resource=str(check.get("resource")),
                        passed=passed,
                        details=tuple(str(d) for d in check.get("details") or ()),
                        file_path=str(check.get("file_path", "")),
                    )
                )
    return PolicyReport(stack, tuple(sorted(results, key=lambda r: (r.passed, r.check_id, r.resource))))


def name_resources(report: PolicyReport, synthesized: Mapping[str, Any]) -> PolicyReport:
    """checkov names Python-check results in `.tf.json` files `resource.<name>`; restore `<type>.<name>`."""
    types: dict[str, list[str]] = {}
    for resource_type, by_name in (synthesized.get("resource") or {}).items():
        for name in by_name or {}:
            types.setdefault(name, []).append(resource_type)

    def full(resource: str) -> str:
        prefix, _, name = resource.partition(".")
        candidates = types.get(name, [])
        return f"{candidates[0]}.{name}" if prefix == "resource" and len(candidates) == 1 else resource

    return PolicyReport(report.stack, tuple(replace(r, resource=full(r.resource)) for r in report.results))


def checkov_command(stack_dir: Path, policies_dir: Path = POLICIES_DIR) -> list[str]:
    checkov = shutil.which("checkov") or str(Path(sys.executable).with_name("checkov"))
    return [
        checkov,
        "--framework",
        "terraform_json",
        "--skip-download",
        "--external-checks-dir",
        str(policies_dir),
        "-d",
        str(stack_dir),
        "-o",
        "json",
    ]


def run_checkov(label: str, folder: Path, policies_dir: Path = POLICIES_DIR) -> PolicyReport:
    """Run checkov with our checks over one folder of `.tf.json` files and parse its report."""
    try:
        proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
            checkov_command(folder, policies_dir),
            capture_output=True,
            text=True,
            timeout=CHECKOV_TIMEOUT_SECONDS,
            check=False,
            # checkov imports infra.guard_rules from the policies: run from the repo root.
            cwd=REPO_ROOT,
            env=_checkov_env(),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackOutputError(f"could not run checkov on {label}: {exc}") from exc
    report = parse_checkov_report(label, proc.stdout)
    if not report.results:
        raise StackOutputError(
            f"checkov ran no check on {label} (exit {proc.returncode}): is {policies_dir} a checks folder? "
            f"{proc.stderr[-300:]}"
        )
    return report


def checkov_view(synthesized: Mapping[str, Any]) -> dict[str, Any]:
    """The stack as checkov 3.3's terraform_json parser can read it: scalar settings of the `terraform` block (such as
    `required_version`) removed. Its `hclify` accepts only objects there and reports the whole file as a parsing
    error otherwise; no check of ours reads that block."""
    view = dict(synthesized)
    if isinstance(view.get("terraform"), Mapping):
        view["terraform"] = {k: v for k, v in view["terraform"].items() if isinstance(v, Mapping)}
    return view


def run_policy_checks(
    out_dir: Path, stacks: tuple[str, ...] | None = None, policies_dir: Path = POLICIES_DIR
) -> list[PolicyReport]:
    """Run checkov with our checks over each synthesized stack; raises StackOutputError when it cannot."""
    reports = []
    for stack in stacks or all_stack_names():
        path = stack_file(out_dir, stack)
        if not path.is_file():
            raise StackOutputError(f"{path}: not found; synthesize first (`make synth` or `cdktn synth`)")
        synthesized = load_stack(out_dir, stack)
        with tempfile.TemporaryDirectory(prefix=f"checkov-{stack}-") as scratch:
            (Path(scratch) / path.name).write_text(json.dumps(checkov_view(synthesized)), encoding="utf-8")
            report = run_checkov(stack, Path(scratch), policies_dir)
        reports.append(name_resources(report, synthesized))
    return reports


def _checkov_env() -> dict[str, str]:
    env = dict(os.environ)
    # The policies import infra.guard_rules; make the repo importable even without the editable install.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env
