"""`lakehouse drift`: plan classification + grant audit as one report, its exit codes, and how it drives
terraform (plan and show only, never apply)."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fake_uc_server import FakeUnityCatalogServer, seeded_state

from infra.config import load_environment
from lakehouse.cli import main
from lakehouse.governance.drift import DriftReport, FailOn, marker, render
from lakehouse.governance.plan import load_plan

FIXTURES = Path(__file__).parent / "fixtures"


def _drift(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["drift", "--env", "staging", *args], env=env)


def _fixture(name: str) -> str:
    return str(FIXTURES / f"plan_{name}.json")


@pytest.mark.parametrize(
    ("fixture", "fail_on", "allow_destroy", "expected_exit"),
    [
        ("noop", "drift", False, 0),
        ("noise", "drift", False, 0),
        ("update", "drift", False, 2),
        ("update", "destroy", False, 0),  # a PR's own changes are the point; only destroys fail the check
        ("grant_drift", "drift", False, 2),
        ("destroy_schema", "destroy", False, 2),
        ("destroy_schema", "destroy", True, 0),  # the allow-destroy label
        ("destroy_schema", "drift", True, 2),  # allowed, but still drift for a scheduled check
        ("replace_pipeline", "destroy", False, 2),
    ],
)
def test_exit_codes(fixture: str, fail_on: str, allow_destroy: bool, expected_exit: int) -> None:
    args = ["--plan-json", _fixture(fixture), "--no-audit", "--fail-on", fail_on, "--format", "json"]
    result = _drift(*args, *(["--allow-destroy"] if allow_destroy else []))
    assert result.exit_code == expected_exit, result.output
    body = json.loads(result.stdout)
    assert body["exit_code"] == expected_exit
    assert body["grants"] is None


def test_the_markdown_report_flags_the_guard_and_collapses_noise() -> None:
    blocked = _drift("--plan-json", _fixture("destroy_schema"), "--no-audit", "--format", "markdown")
    assert blocked.stdout.startswith(marker("staging"))
    assert "### Destroy guard (fails this check)" in blocked.stdout
    assert "- `databricks_schema.schema_gold`: **delete**" in blocked.stdout
    assert "`allow-destroy` label" in blocked.stdout
    noisy = _drift("--plan-json", _fixture("noise"), "--no-audit", "--format", "markdown")
    assert "**Clean**" in noisy.stdout
    assert "<details><summary>5 change(s) ignored as known provider noise</summary>" in noisy.stdout
    assert "(https://github.com/databricks/terraform-provider-databricks/issues/1204)" in noisy.stdout


def test_output_file_holds_the_same_report(tmp_path: Path) -> None:
    out = tmp_path / "comment.md"
    result = _drift("--plan-json", _fixture("update"), "--no-audit", "--format", "markdown", "--output", str(out))
    assert result.exit_code == 2
    assert out.read_text() == result.stdout
    assert "| `databricks_job.job_gdelt_loader` | update | `schedule` |" in out.read_text()


@pytest.fixture
def uc_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[FakeUnityCatalogServer, dict[str, str]]]:
    for name in list(os.environ):
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "absent.databrickscfg"))
    env = load_environment("staging")
    state = seeded_state(env.catalog, env.principals)
    state.grant("table", f"{env.catalog}.gold.correlations", "analysts", "SELECT")
    with FakeUnityCatalogServer(state) as server:
        yield server, {"DATABRICKS_HOST": server.host, "DATABRICKS_TOKEN": "test-token"}


def test_plan_and_grant_audit_combine_into_one_report(
    uc_env: tuple[FakeUnityCatalogServer, dict[str, str]],
) -> None:
    _, env = uc_env
    md = _drift("--plan-json", _fixture("noise"), "--format", "markdown", env=env)
    assert md.exit_code == 2  # the plan is clean (noise only), the grants are not
    assert "**Drift found**" in md.stdout
    assert "### Grant audit: `staging`" in md.stdout
    assert "| `table lakehouse_staging.gold.correlations` | `analysts` | unexpected |" in md.stdout
    as_json = json.loads(_drift("--plan-json", _fixture("noise"), "--format", "json", env=env).stdout)
    assert as_json["status"] == "drift"
    assert as_json["plan"]["clean"] is True
    assert as_json["grants"]["counts"]["unexpected"] == 1
    # --fail-on destroy ignores grant drift (PR plans); nothing is guarded here.
    assert _drift("--plan-json", _fixture("noise"), "--fail-on", "destroy", env=env).exit_code == 0


def test_an_audit_error_is_exit_1_with_the_reason(uc_env: tuple[FakeUnityCatalogServer, dict[str, str]]) -> None:
    _, env = uc_env
    result = _drift("--plan-json", _fixture("noop"), "--timeout", "5", env={**env, "DATABRICKS_TOKEN": "wrong"})
    assert result.exit_code == 1
    assert "HTTP 403: Invalid access token" in result.stderr and "new personal access token" in result.stderr


def test_a_missing_plan_file_is_an_error_not_drift(tmp_path: Path) -> None:
    result = _drift("--no-audit", "--plan-json", str(tmp_path / "absent.json"))
    assert result.exit_code == 1
    assert "cannot read the plan" in result.stderr


def test_without_terraform_on_path_the_error_says_what_to_do(tmp_path: Path) -> None:
    result = _drift("--no-audit", "--stack-dir", str(tmp_path), env={"PATH": str(tmp_path)})
    assert result.exit_code == 1
    assert "terraform is not on PATH" in result.stderr
    assert "--plan-json" in result.stderr


FAKE_TERRAFORM = """#!{python}
import json, os, sys
with open(os.environ["FAKE_TF_LOG"], "a") as log:
    log.write(json.dumps([os.getcwd()] + sys.argv[1:]) + "\\n")
if sys.argv[1] == "show":
    sys.stdout.write(open(os.environ["FAKE_TF_PLAN"]).read())
elif sys.argv[1] == "plan" and os.environ.get("FAKE_TF_FAIL"):
    sys.stderr.write("Error: Invalid provider configuration\\n")
    sys.exit(1)
"""


@pytest.fixture
def fake_terraform(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    terraform = bin_dir / "terraform"
    terraform.write_text(FAKE_TERRAFORM.format(python=sys.executable))
    terraform.chmod(terraform.stat().st_mode | stat.S_IEXEC)
    stack = tmp_path / "stacks" / "staging"
    stack.mkdir(parents=True)
    (stack / "cdk.tf.json").write_text("{}")
    log = tmp_path / "terraform.log"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_TF_LOG": str(log)}
    return stack, log, env


def test_without_a_plan_file_it_plans_read_only_and_never_applies(
    fake_terraform: tuple[Path, Path, dict[str, str]],
) -> None:
    stack, log, env = fake_terraform
    result = _drift(
        "--no-audit", "--stack-dir", str(stack), "--format", "json", env={**env, "FAKE_TF_PLAN": _fixture("update")}
    )
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["plan"]["counts"]["update"] == 1
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c[1] for c in calls] == ["init", "plan", "show"]
    assert all(c[0] == str(stack) for c in calls)
    plan_args = calls[1]
    assert "-lock=false" in plan_args and "-input=false" in plan_args
    assert not any("apply" in arg for c in calls for arg in c)


def test_a_failing_terraform_plan_is_exit_1_with_its_error(fake_terraform: tuple[Path, Path, dict[str, str]]) -> None:
    stack, _, env = fake_terraform
    (stack / ".terraform").mkdir()  # already initialised: init is skipped
    result = _drift(
        "--no-audit", "--stack-dir", str(stack), env={**env, "FAKE_TF_PLAN": _fixture("noop"), "FAKE_TF_FAIL": "1"}
    )
    assert result.exit_code == 1
    assert "terraform" in result.stderr and "plan" in result.stderr
    assert "Invalid provider configuration" in result.stderr


def test_a_stack_folder_that_was_not_synthesized_says_so(fake_terraform: tuple[Path, Path, dict[str, str]]) -> None:
    stack, _, env = fake_terraform
    result = _drift("--no-audit", "--stack-dir", str(stack.parent / "production"), env=env)
    assert result.exit_code == 1
    assert "make synth" in result.stderr


def test_render_rejects_unknown_formats() -> None:
    report = DriftReport("staging", load_plan(Path(_fixture("noop")).read_text()), None)
    assert report.exit_code(FailOn.DRIFT) == 0
    with pytest.raises(ValueError, match="unknown format"):
        render(report, "html")
