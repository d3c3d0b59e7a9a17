"""Custom checkov checks: each bad fixture trips its check, and both real stacks pass every check."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from lakehouse.commands.stacks import stacks as stacks_command
from lakehouse.governance.stack_checks import run_checkov, run_policy_checks
from policies import defined_checks
from policies.grant_targets import declared_securables, granted_addresses, ungranted_securables

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# fixture file -> the check it must trip (ids from the file name: ckv_lh_1_... -> CKV_LH_1).
FIXTURE_FILES = sorted(p.name for p in FIXTURES.glob("*.tf.json"))
# The checks are whatever policies/ defines (as checkov loads them), never a list typed here.
CHECK_IDS = set(defined_checks())
GRANT_TARGET_FIXTURES = sorted(f for f in FIXTURE_FILES if f.startswith("ckv2_lh_1_"))


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
    # Both directions: a check without a fixture, or a fixture for a check policies/ no longer defines, fails.
    assert CHECK_IDS, "policies/ defines no check: did a module stop creating its check object?"
    assert {_check_id(f) for f in FIXTURE_FILES} == CHECK_IDS


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


def _judged(report, check_id: str, fixture: str, *, passed: bool) -> set[str]:
    return {
        r.resource.split(".", 1)[1]
        for r in report.results
        if r.check_id == check_id and r.file_path == f"/{fixture}" and r.passed is passed
    }


@pytest.mark.parametrize("fixture", GRANT_TARGET_FIXTURES)
def test_grant_target_check_passes_exactly_the_granted_securables(fixture_report, fixture):
    """CKV2_LH_1 judges every catalog and schema: the good_ ones pass (a literal `catalog.schema` name, any case, or a
    `${databricks_schema.x.id}` reference), the bad_ ones fail (a catalog only mentioned inside a schema grant, a
    schema named under another catalog, a schema's short `.name`)."""
    data = json.loads((FIXTURES / fixture).read_text())
    judged = {
        name: name.startswith("good_")
        for resource_type in ("databricks_catalog", "databricks_schema")
        for name in data["resource"].get(resource_type, {})
    }
    assert _judged(fixture_report, "CKV2_LH_1", fixture, passed=True) == {n for n, good in judged.items() if good}
    assert _judged(fixture_report, "CKV2_LH_1", fixture, passed=False) == {n for n, good in judged.items() if not good}


@pytest.mark.parametrize("fixture", GRANT_TARGET_FIXTURES)
def test_the_grant_target_rule_agrees_with_checkov_on_each_fixture(fixture):
    """The pure rule alone (no checkov) fails the same resources checkov reports, each with its fix."""
    resources = json.loads((FIXTURES / fixture).read_text())["resource"]
    ungranted = ungranted_securables(resources)
    expected = {
        f"{resource_type}.{name}"
        for resource_type in ("databricks_catalog", "databricks_schema")
        for name in resources.get(resource_type, {})
        if name.startswith("bad_")
    }
    assert set(ungranted) == expected
    for address, message in ungranted.items():
        kind, attribute = ("catalog", "name") if address.startswith("databricks_catalog.") else ("schema", "id")
        assert f"add databricks_grants with {kind} = ${{{address}.{attribute}}}" in message


def test_a_grants_resource_counts_only_for_the_securable_it_targets():
    resources = {
        "databricks_catalog": {"c": {"name": "Lake"}},
        "databricks_schema": {
            "gold": {"catalog_name": "${databricks_catalog.c.name}", "name": "gold"},
            "silver": {"catalog_name": "${databricks_catalog.c.name}", "name": "silver"},
        },
        "databricks_grants": {
            # A table grant mentions the catalog and the schema: it grants neither.
            "t": {"table": "${databricks_schema.silver.id}.events"},
            "s": {"schema": "${databricks_catalog.c.name}.gold"},
        },
    }
    assert granted_addresses(resources) == {"databricks_schema.gold"}
    assert set(ungranted_securables(resources)) == {"databricks_catalog.c", "databricks_schema.silver"}
    # Unity Catalog stores names in lower case: a literal in another case names the same catalog.
    resources["databricks_grants"]["c"] = {"catalog": "lake"}
    assert granted_addresses(resources) == {"databricks_catalog.c", "databricks_schema.gold"}


def test_a_grants_resource_with_count_zero_grants_nothing_and_unresolved_names_need_a_reference():
    resources = {
        "databricks_catalog": {"c": {"name": "${var.catalog}"}},
        "databricks_grants": {"g": {"catalog": "${databricks_catalog.c.name}", "count": 0}},
    }
    assert granted_addresses(resources) == frozenset()
    resources["databricks_grants"]["g"]["count"] = "${var.enabled ? 1 : 0}"  # unknown here: judged as present
    assert granted_addresses(resources) == {"databricks_catalog.c"}
    # A catalog named by a variable cannot be matched by a literal: only a reference proves the target.
    resources["databricks_grants"]["g"] = {"catalog": "lakehouse_staging"}
    assert granted_addresses(resources) == frozenset()
    assert [s.value for s in declared_securables(resources)] == [None]
    assert (
        "catalog (databricks_catalog.c) is the target of no databricks_grants"
        in (ungranted_securables(resources)["databricks_catalog.c"])
    )


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
