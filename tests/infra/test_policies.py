"""Custom checkov checks: each bad fixture trips its check, and both real stacks pass every check."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from infra.inventory import POLICIES_DIR, run_checkov, run_policy_checks
from lakehouse.commands.stacks import stacks as stacks_command

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# fixture file -> the check it must trip (ids from the file name: ckv_lh_1_... -> CKV_LH_1).
FIXTURE_FILES = sorted(p.name for p in FIXTURES.glob("*.tf.json"))
CHECK_IDS = {
    "CKV_LH_1",
    "CKV_LH_2",
    "CKV_LH_3",
    "CKV_LH_4",
    "CKV_LH_5",
    "CKV_LH_6",
    "CKV_LH_7",
    "CKV_LH_8",
    "CKV2_LH_1",
}


def _check_id(fixture: str) -> str:
    match = re.match(r"(ckv2?_lh_\d+)_", fixture)
    assert match, fixture
    return match.group(1).upper()


# A token-shaped literal is built here, not committed: the fixtures carry a placeholder so the repository never
# holds anything a secret scanner would flag.
FAKE_TOKEN_PLACEHOLDER = "__FAKE_DATABRICKS_TOKEN__"
FAKE_TOKEN = "dapi" + "0" * 32


@pytest.fixture(scope="module")
def fixture_report(tmp_path_factory):
    fixtures = tmp_path_factory.mktemp("policy-fixtures")
    for name in FIXTURE_FILES:
        text = (FIXTURES / name).read_text(encoding="utf-8")
        (fixtures / name).write_text(text.replace(FAKE_TOKEN_PLACEHOLDER, FAKE_TOKEN), encoding="utf-8")
    return run_checkov("fixtures", fixtures)


@pytest.fixture(scope="module")
def stack_reports(synth):
    return {r.stack: r for r in run_policy_checks(synth.out_dir)}


def test_every_check_has_a_bad_fixture():
    assert {_check_id(f) for f in FIXTURE_FILES} == CHECK_IDS
    defined = set(re.findall(r'id="(CKV_LH_\d+)"', " ".join(p.read_text() for p in POLICIES_DIR.glob("*.py"))))
    defined |= set(re.findall(r'id: "(CKV2_LH_\d+)"', " ".join(p.read_text() for p in POLICIES_DIR.glob("*.yaml"))))
    assert defined == CHECK_IDS


@pytest.mark.parametrize("fixture", FIXTURE_FILES)
def test_bad_fixture_trips_its_check(fixture_report, fixture):
    check_id = _check_id(fixture)
    data = json.loads((FIXTURES / fixture).read_text())
    bad = {name for by_name in data.get("resource", {}).values() for name in by_name if name.startswith("bad_")}
    failed = {
        r.resource.split(".", 1)[1]
        for r in fixture_report.failed
        if r.check_id == check_id and r.file_path == f"/{fixture}"
    }
    if bad:
        assert failed == bad, f"{check_id} should fail exactly on {sorted(bad)}"
    else:  # the provider fixture: the failing entity is the provider block
        assert failed == {"databricks"}
    good = {name for by_name in data.get("resource", {}).values() for name in by_name if name.startswith("good_")}
    assert not good & failed


def test_failures_carry_the_fix(fixture_report):
    details: dict[str, str] = {}
    for result in fixture_report.failed:
        details[result.check_id] = details.get(result.check_id, "") + " ".join(result.details)
    assert "set autotermination_minutes" in details["CKV_LH_1"]
    assert "at most 8" in details["CKV_LH_2"]
    assert "ENHANCED" in details["CKV_LH_3"]
    assert "event_log" in details["CKV_LH_4"]
    assert "narrower group" in details["CKV_LH_5"]
    assert "var.databricks_token" in details["CKV_LH_6"]
    assert "set policy_id" in details["CKV_LH_8"]


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_real_stacks_pass_every_check(stack_reports, stack):
    report = stack_reports[stack]
    assert report.failed == ()
    assert {r.check_id for r in report.passed} == CHECK_IDS
    assert stack_reports[f"{stack}-serving"].failed == ()
    # Results name real resource addresses (checkov's `resource.<name>` is mapped back to `<type>.<name>`).
    assert "databricks_cluster.shared_cluster" in {r.resource for r in report.passed if r.check_id == "CKV_LH_1"}


def test_policy_command_exit_codes(synth, stack_reports, tmp_path):
    runner = CliRunner()
    # Missing output: an error naming the fix (exit 1 via the LakehouseError handler in lakehouse.cli).
    from lakehouse.cli import main

    missing = runner.invoke(main, ["stacks", "policy", "--out", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1
    assert "synthesize first" in missing.output

    # A stack with a broad grant: exit 2 and the failing check is printed.
    bad_out = tmp_path / "cdktf.out"
    for stack in synth.stacks:
        (bad_out / "stacks" / stack).mkdir(parents=True)
        shutil.copy(synth.out_dir / "stacks" / stack / "cdk.tf.json", bad_out / "stacks" / stack / "cdk.tf.json")
    shutil.copy(FIXTURES / "ckv_lh_5_broad_grants.tf.json", bad_out / "stacks" / "staging" / "cdk.tf.json")
    failed = runner.invoke(stacks_command, ["policy", "--out", str(bad_out)])
    assert failed.exit_code == 2, failed.output
    assert "CKV_LH_5" in failed.output and "FAILED" in failed.output


def test_summary_command_lists_resources_per_stack(synth):
    result = CliRunner().invoke(stacks_command, ["summary", "--out", str(synth.out_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for stack in synth.stacks:
        resources = sum(len(v) for v in synth.stacks[stack]["resource"].values())
        assert f"{stack}: {resources} resources" in result.output
    assert "databricks_grants" in result.output and "grants_schema_gold" in result.output
    assert "backend s3" in result.output
