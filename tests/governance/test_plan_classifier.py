"""The plan classifier on fixtures in Terraform's `terraform show -json` format: no-op, update in place, known
provider noise, a destroyed schema and a replaced pipeline (destroy guard), plus malformed input."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from lakehouse.governance.plan import (
    GUARDED_TYPES,
    NOISE_RULES,
    Action,
    Category,
    PlanFormatError,
    classify_plan,
    classify_update,
    load_plan,
    noise_rules_markdown,
)

FIXTURES = Path(__file__).parent / "fixtures"


def _plan(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"plan_{name}.json").read_text())


def test_a_no_op_plan_is_clean() -> None:
    report = classify_plan(_plan("noop"))
    assert report.clean
    assert report.changes == ()
    assert report.guard_violations == ()
    assert report.terraform_version == "1.9.8"


def test_an_update_in_place_is_a_real_change_but_not_guarded() -> None:
    report = classify_plan(_plan("update"))
    (change,) = report.changes
    assert (change.address, change.action, change.category) == (
        "databricks_job.job_gdelt_loader",
        Action.UPDATE,
        Category.CHANGE,
    )
    assert change.changed_attributes == ("schedule",)
    assert not change.guarded
    assert report.counts()["update"] == 1


def test_known_provider_noise_is_classified_with_the_rule_that_explains_it() -> None:
    report = classify_plan(_plan("noise"))
    assert report.clean
    assert report.real == ()
    rules = {c.address: c.noise_rules for c in report.noise}
    assert rules == {
        "databricks_sql_endpoint.sql_warehouse": ("sql-endpoint-num-clusters",),
        "databricks_grants.grants_schema_silver": ("grants-privilege-spelling-order",),
        "databricks_pipeline.pipeline": ("pipeline-catalog-schema-case",),
        "databricks_cluster.shared_cluster": ("data-security-mode-alias",),
        "databricks_sql_table.view_gold_correlations_analyst": ("sql-table-column-type-spelling",),
    }
    # What changed outside Terraform (resource_drift) is classified with the same rules.
    (outside,) = report.outside_changes
    assert outside.category is Category.NOISE


def test_noise_on_one_attribute_does_not_hide_a_real_change_on_another() -> None:
    report = classify_plan(_plan("grant_drift"))
    by_address = {c.address: c for c in report.changes}
    warehouse = by_address["databricks_sql_endpoint.sql_warehouse"]
    assert warehouse.category is Category.CHANGE
    assert warehouse.changed_attributes == ("auto_stop_mins",)
    assert warehouse.noise_rules == ("sql-endpoint-num-clusters",)


def test_a_case_only_principal_change_in_grants_is_real_drift_with_per_principal_details() -> None:
    report = classify_plan(_plan("grant_drift"))
    grants = next(c for c in report.changes if c.resource_type == "databricks_grants")
    assert grants.category is Category.CHANGE
    details = "\n".join(grants.details)
    assert "Data-Scientists: unexpected (unexpected SELECT, USE_SCHEMA); only the case differs" in details
    assert "data-scientists: missing (missing SELECT, USE_SCHEMA)" in details
    assert "analysts: unexpected (unexpected SELECT)" in details


def test_a_destroyed_schema_fires_the_guard() -> None:
    report = classify_plan(_plan("destroy_schema"))
    assert [c.address for c in report.guard_violations] == ["databricks_schema.schema_gold"]
    by_address = {c.address: c for c in report.changes}
    assert by_address["databricks_schema.schema_gold"].action is Action.DELETE
    assert by_address["databricks_schema.schema_gold"].reason == "delete_because_no_resource_config"
    # Deleting the grants resource is a real change, but grants hold no data: not guarded.
    assert not by_address["databricks_grants.grants_schema_gold"].guarded


def test_a_replaced_pipeline_fires_the_guard_and_names_what_forces_it() -> None:
    report = classify_plan(_plan("replace_pipeline"))
    (violation,) = report.guard_violations
    assert violation.address == "databricks_pipeline.pipeline"
    assert violation.action is Action.REPLACE
    assert violation.replace_paths == ("catalog",)
    # Computed attributes unknown until apply (id, url, state) are not listed as what the code changes.
    assert violation.changed_attributes == ("catalog",)
    created = next(c for c in report.changes if c.action is Action.CREATE)
    assert created.resource_type == "databricks_job" and not created.guarded


@pytest.mark.parametrize("actions", [["create", "delete"], ["delete", "create"], ["delete"]])
@pytest.mark.parametrize("resource_type", sorted(GUARDED_TYPES))
def test_every_guarded_type_is_guarded_on_destroy_and_replace(resource_type: str, actions: list[str]) -> None:
    plan = _plan("noop")
    plan["resource_changes"] = [
        {
            "address": f"{resource_type}.x",
            "type": resource_type,
            "change": {"actions": actions, "before": {"name": "x"}, "after": None if actions == ["delete"] else {}},
        }
    ]
    (change,) = classify_plan(plan).changes
    assert change.guarded


def test_destroying_something_without_data_is_not_guarded() -> None:
    plan = _plan("noop")
    plan["resource_changes"] = [
        {
            "address": "databricks_workspace_file.f",
            "type": "databricks_workspace_file",
            "change": {"actions": ["delete"], "before": {"path": "/x"}, "after": None},
        },
        {
            "address": "databricks_job.j",
            "type": "databricks_job",
            "change": {"actions": ["forget"], "before": {"name": "j"}, "after": None},
        },
    ]
    report = classify_plan(plan)
    assert report.guard_violations == ()
    assert len(report.real) == 2


def test_an_attribute_unknown_until_apply_is_never_noise() -> None:
    before = {"num_clusters": 0, "id": "w1"}
    after = {"num_clusters": 1}
    category, attrs, _ = classify_update("databricks_sql_endpoint", before, after, {"id": True})
    assert category is Category.CHANGE
    assert attrs == ("id",)


def test_privilege_spelling_is_noise_but_principal_case_is_not() -> None:
    def grants(principal: str, *privileges: str) -> dict[str, Any]:
        return {"grant": [{"principal": principal, "privileges": list(privileges)}]}

    assert (
        classify_update("databricks_grants", grants("a", "ALL PRIVILEGES"), grants("a", "ALL_PRIVILEGES"), {})[0]
        is Category.NOISE
    )
    assert (
        classify_update("databricks_grants", grants("Analysts", "SELECT"), grants("analysts", "SELECT"), {})[0]
        is Category.CHANGE
    )


def test_a_rule_applies_only_to_its_resource_types() -> None:
    category, attrs, rules = classify_update("databricks_job", {"num_clusters": 0}, {"num_clusters": 1}, {})
    assert (category, attrs, rules) == (Category.CHANGE, ("num_clusters",), ())


def test_the_plan_is_not_mutated() -> None:
    plan = _plan("noise")
    snapshot = copy.deepcopy(plan)
    classify_plan(plan)
    assert plan == snapshot


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", r"is not JSON .*terraform show -json"),
        ("[]", r"must be an object"),
        ('{"format_version": "0.1"}', r"unsupported plan format_version '0\.1'"),
        ('{"terraform_version": "1.9.8", "values": {}}', r"format_version None"),
        ('{"format_version": "1.2", "errored": true}', r"plan errored"),
        (
            '{"format_version": "1.2", "resource_changes": [{"address": "a.b", "change": {"actions": ["explode"]}}]}',
            r"a\.b: unknown plan actions \['explode'\]",
        ),
        ('{"format_version": "1.2", "resource_changes": [{"address": "a.b"}]}', r"a\.b: resource change without"),
    ],
)
def test_malformed_plans_are_rejected_with_an_actionable_message(text: str, message: str) -> None:
    with pytest.raises(PlanFormatError, match=message) as info:
        load_plan(text, "plan.json")
    assert str(info.value).startswith("plan.json")


def test_every_noise_rule_is_documented_with_its_provider_issue(repo_root: Path) -> None:
    ids = [r.id for r in NOISE_RULES]
    assert len(ids) == len(set(ids))
    for rule in NOISE_RULES:
        provider = r"https://github\.com/databricks/terraform-provider-databricks"
        assert re.fullmatch(provider + r"/(issues|pull)/\d+", rule.source)
        assert rule.resource_types and rule.summary
    doc = (repo_root / "docs" / "governance.md").read_text()
    assert noise_rules_markdown() in doc, "docs/governance.md's noise table is stale: paste noise_rules_markdown()"
