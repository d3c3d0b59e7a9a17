"""The rules of our workflows that generic linters do not know: pinned actions, least-privilege permissions,
concurrency, OIDC with separate identities, and the gating rules (production only through a protected environment,
nothing applies on pull requests, drift never applies). Syntax, expressions and shell are actionlint's job and
security smells zizmor's, both in `make lint`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.phases import all_stack_names

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
NAMES = ("ci", "plan", "deploy", "drift")
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
ACTIONS = WORKFLOWS.parent / "actions"
LOCAL_ACTION = re.compile(r"^\./\.github/actions/[\w-]+$")
APPLY = re.compile(
    r"\b(terraform\b[^\n]*\bapply|cdkt[fn]\b[^\n]*\b(deploy|destroy|apply)|terraform\b[^\n]*\bdestroy"
    r"|lakehouse\b[^\n]*\bdeploy)"
)


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / f"{name}.yml").read_text())
    # YAML 1.1 reads the bare key `on` as the boolean True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def _steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job.get("steps", [])]


def _runs(workflow: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for _, step in _steps(workflow))


@pytest.fixture(params=NAMES)
def workflow(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param, _load(request.param)


def test_exactly_the_expected_workflows_exist() -> None:
    assert sorted(p.stem for p in WORKFLOWS.glob("*.y*ml")) == sorted(NAMES)


def test_every_action_is_pinned_to_a_full_commit_sha_with_its_version(workflow: tuple[str, dict[str, Any]]) -> None:
    name, data = workflow
    uses = [step["uses"] for _, step in _steps(data) if "uses" in step]
    assert uses, f"{name}: no actions used?"
    for ref in uses:
        assert SHA_PIN.match(ref) or LOCAL_ACTION.match(ref), f"{name}: {ref} is not pinned to a 40-hex commit SHA"
    for path in [WORKFLOWS / f"{name}.yml", *ACTIONS.glob("*/action.yml")]:
        for line in path.read_text().splitlines():
            if re.search(r"^\s*(-\s*)?uses:", line) and "./.github/actions/" not in line:
                assert re.search(r"@[0-9a-f]{40} # v\d", line), f"{path.name}: pin without `# vX`: {line.strip()}"


def test_permissions_are_least_privilege(workflow: tuple[str, dict[str, Any]]) -> None:
    name, data = workflow
    assert data["permissions"] == {"contents": "read"}, f"{name}: the workflow default must be read-only"
    allowed_writes = {
        "ci": set(),
        "plan": {"id-token", "pull-requests"},
        "deploy": {"id-token"},
        "drift": {"id-token", "issues"},
    }[name]
    for job_id, job in data["jobs"].items():
        perms = job.get("permissions", {})
        assert isinstance(perms, dict), f"{name}.{job_id}: use an explicit permissions map, not {perms!r}"
        writes = {scope for scope, level in perms.items() if level == "write"}
        assert writes <= allowed_writes, f"{name}.{job_id}: unexpected write scopes {writes - allowed_writes}"
        assert perms.get("contents", "read") == "read"


def test_every_workflow_has_a_concurrency_group(workflow: tuple[str, dict[str, Any]]) -> None:
    name, data = workflow
    jobs = data["jobs"].values()
    assert "concurrency" in data or all("concurrency" in job for job in jobs), f"{name}: no concurrency group"


def test_checkout_never_persists_the_token(workflow: tuple[str, dict[str, Any]]) -> None:
    name, data = workflow
    for job_id, step in _steps(data):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, f"{name}.{job_id}"


def test_no_expression_is_interpolated_into_a_shell_script(workflow: tuple[str, dict[str, Any]]) -> None:
    # Untrusted values (labels, branch names) reach scripts through env vars, never through `${{ }}` in `run:`.
    name, data = workflow
    for job_id, step in _steps(data):
        assert "${{" not in step.get("run", ""), f"{name}.{job_id}: `${{{{ }}}}` inside run: {step.get('name')}"


def test_ci_lints_type_checks_and_runs_make_test_on_prs_and_main() -> None:
    data = _load("ci")
    assert "pull_request" in data["on"]
    assert data["on"]["push"]["branches"] == ["main"]
    runs = _runs(data)
    assert "make lint" in runs and "make test" in runs
    assert "id-token" not in str(data), "CI needs no cloud identity"


def test_plan_runs_on_infra_pipeline_and_sql_changes_and_never_applies() -> None:
    data = _load("plan")
    assert set(data["on"]) == {"pull_request"}
    paths = data["on"]["pull_request"]["paths"]
    assert {"infra/**", "pipelines/**", "sql/**"} <= set(paths)
    runs = _runs(data)
    assert not APPLY.search(runs), "a pull-request workflow must not apply"
    assert "make synth" in runs
    assert re.search(r"terraform\b.*\binit\b", runs) and re.search(r"terraform\b.*\bplan\b", runs)
    assert "--fail-on destroy" in runs and "--allow-destroy" in runs
    job = data["jobs"]["plan"]
    assert [m["stack"] for m in job["strategy"]["matrix"]["include"]] == list(all_stack_names())
    sticky = [s for _, s in _steps(data) if s.get("uses", "").startswith("marocchino/sticky-pull-request-comment@")]
    assert len(sticky) == 1 and "matrix.stack" in sticky[0]["with"]["header"], "one sticky comment per stack"
    assert "allow-destroy" in job["env"]["ALLOW_DESTROY"]


def test_nothing_applies_on_pull_request_anywhere() -> None:
    for name in NAMES:
        data = _load(name)
        if APPLY.search(_runs(data)):
            assert "pull_request" not in data["on"] and "pull_request_target" not in data["on"], name


def test_deploy_staging_on_main_and_production_only_through_a_protected_environment() -> None:
    data = _load("deploy")
    assert data["on"]["push"]["branches"] == ["main"]
    assert data["on"]["push"]["tags"] == ["v*"]
    assert "workflow_dispatch" in data["on"]
    staging, production = data["jobs"]["staging"], data["jobs"]["production"]
    assert staging["environment"] == "staging"
    assert "refs/heads/main" in staging["if"]
    assert production["environment"] == "production"
    assert "refs/tags/v" in production["if"] and "workflow_dispatch" in production["if"]
    assert "refs/heads/main" not in production["if"], "a push to main must never reach production"
    staging_runs = "\n".join(s.get("run", "") for s in staging["steps"])
    # `lakehouse deploy` runs infra/phases.py's steps (platform, first pipeline update if needed, serving).
    assert "lakehouse deploy --env staging --auto-approve" in staging_runs
    assert "lakehouse pipeline update --env staging --wait" in staging_runs
    assert "audit-grants --env staging" in staging_runs
    production_runs = "\n".join(s.get("run", "") for s in production["steps"])
    assert "lakehouse deploy --env production --auto-approve" in production_runs
    assert "staging" not in production_runs
    for job in (staging, production):
        assert job["concurrency"]["cancel-in-progress"] is False, "never cancel an apply half-way"


def test_every_applying_job_has_an_environment() -> None:
    for name in NAMES:
        for job_id, job in _load(name)["jobs"].items():
            runs = "\n".join(s.get("run", "") for s in job.get("steps", []))
            if APPLY.search(runs):
                assert job.get("environment") in ("staging", "production"), f"{name}.{job_id}"


def test_drift_is_scheduled_and_manual_never_applies_and_manages_one_issue_per_environment() -> None:
    data = _load("drift")
    assert set(data["on"]) == {"schedule", "workflow_dispatch"}
    runs = _runs(data)
    assert not APPLY.search(runs), "drift must never apply"
    assert "-detailed-exitcode" in runs
    assert "lakehouse drift" in runs
    job = data["jobs"]["drift"]
    assert [m["stack"] for m in job["strategy"]["matrix"]["include"]] == list(all_stack_names())
    script = next(s for _, s in _steps(data) if s.get("uses", "").startswith("actions/github-script@"))["with"][
        "script"
    ]
    assert "lakehouse-drift:${stack}" in script  # the marker `lakehouse drift` writes into the report
    assert "issues.create" in script and "state: 'closed'" in script and "issues.update" in script


def test_databricks_auth_is_oidc_with_a_token_fallback_and_separate_identities() -> None:
    identities: dict[str, set[str]] = {}
    for name in ("plan", "deploy", "drift"):
        for job_id, job in _load(name)["jobs"].items():
            if "env" not in job:  # plan.yml's `synth` job: the PR's code, no identity at all
                assert "id-token" not in job.get("permissions", {}), f"{name}.{job_id}"
                continue
            env = job["env"]
            assert "'github-oidc'" in env["DATABRICKS_AUTH_TYPE"], f"{name}.{job_id}: OIDC is the default"
            assert "'pat'" in env["DATABRICKS_AUTH_TYPE"] and "secrets." in env["DATABRICKS_TOKEN"]
            assert job["permissions"]["id-token"] == "write", f"{name}.{job_id}: OIDC needs id-token: write"
            identities.setdefault(name, set()).add(env["DATABRICKS_CLIENT_ID"])
            identities[name].add(env["DATABRICKS_TOKEN"])
    assert identities["plan"] == identities["drift"], "plan and drift share the read-only identity"
    assert not identities["plan"] & identities["deploy"], "apply must use a different identity than plan/drift"
    assert all("READONLY" in ref for ref in identities["plan"])
    assert all("DEPLOY" in ref for ref in identities["deploy"])
