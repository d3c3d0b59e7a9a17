"""The audit and the destroy guard agree with what the stacks really synthesize (the reviewed golden snapshots
in tests/infra/snapshots): the audit's expected grants are exactly the stack's `databricks_grants`, and a plan
that destroys the whole stack trips the guard on every securable, the pipeline and every job."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.config import load_environment
from infra.permissions import PermissionMatrix, SecurableType
from infra.phases import stack_names
from lakehouse.governance.grants import SecurableRef, expected_by_securable
from lakehouse.governance.plan import GUARDED_TYPES, Action, classify_plan

SNAPSHOTS = Path(__file__).resolve().parents[1] / "infra" / "snapshots"
REFERENCE = re.compile(r"^\$\{(databricks_\w+)\.(\w+)\.(\w+)\}$")
# Types in the stack that hold data, grants or run history: the guard must cover them.
MUST_GUARD = {"databricks_catalog", "databricks_schema", "databricks_volume", "databricks_sql_table"} | {
    "databricks_pipeline",
    "databricks_job",
}


def _snapshot(env: str) -> dict[str, Any]:
    """The environment's stacks (platform and serving snapshots) as one resource map: together they are what a
    deploy creates, and the audit and the guard must agree with both."""
    merged: dict[str, Any] = {"resource": {}}
    for stack in stack_names(env).all():
        path = SNAPSHOTS / f"{stack}.json"
        if not path.is_file():
            pytest.fail(f"{path} is missing: the infra snapshot tests create it (make snapshot-update)")
        for rtype, by_name in json.loads(path.read_text()).get("resource", {}).items():
            merged["resource"].setdefault(rtype, {}).update(by_name)
    return merged


def _resolve(resources: dict[str, dict[str, Any]], value: str) -> str:
    """Resolve the `${type.name.attr}` references our grants use to the Unity Catalog full name."""
    match = REFERENCE.match(value)
    if not match:
        return value
    rtype, name, attr = match.groups()
    body = resources[rtype][name]
    if attr == "name" or rtype == "databricks_catalog":
        return _resolve(resources, body["name"])
    if rtype == "databricks_schema":
        return f"{_resolve(resources, body['catalog_name'])}.{body['name']}"
    if rtype == "databricks_volume":
        return f"{_resolve(resources, body['catalog_name'])}.{_resolve(resources, body['schema_name'])}.{body['name']}"
    raise AssertionError(f"unhandled reference {value}")


@pytest.mark.parametrize("env_name", ["staging", "production"])
def test_the_audits_expected_grants_are_the_stacks_grants(env_name: str) -> None:
    env = load_environment(env_name)
    snapshot = _snapshot(env_name)
    resources = snapshot["resource"]
    synthesized: dict[SecurableRef, dict[str, frozenset[str]]] = {}
    for body in resources["databricks_grants"].values():
        (kind,) = [k for k in ("catalog", "schema", "volume", "table") if k in body]
        ref = SecurableRef(SecurableType(kind), _resolve(resources, body[kind]))
        synthesized[ref] = {g["principal"]: frozenset(g["privileges"]) for g in body["grant"]}
    expected = expected_by_securable(PermissionMatrix.default().expected_grants(env.catalog, env.principals))
    assert synthesized == expected


@pytest.mark.parametrize("env_name", ["staging", "production"])
def test_destroying_the_whole_stack_trips_the_guard_on_everything_that_holds_data(env_name: str) -> None:
    resources = _snapshot(env_name)["resource"]
    present = set(resources)
    assert present & MUST_GUARD == MUST_GUARD, "the stack no longer has one of the guarded types: update MUST_GUARD"
    assert MUST_GUARD <= set(GUARDED_TYPES)

    def plan(actions: list[str]) -> dict[str, Any]:
        changes = [
            {
                "address": f"{rtype}.{name}",
                "type": rtype,
                "change": {"actions": actions, "before": {} if actions != ["create"] else None, "after": None},
            }
            for rtype, by_name in resources.items()
            for name in by_name
        ]
        return {"format_version": "1.2", "terraform_version": "1.9.8", "resource_changes": changes}

    destroyed = classify_plan(plan(["delete"]))
    guarded = {c.address for c in destroyed.guard_violations}
    assert guarded == {f"{t}.{n}" for t in MUST_GUARD & present for n in resources[t]}
    assert all(c.action is Action.DELETE for c in destroyed.changes)
    # Creating the stack from scratch (the first deploy) never trips the guard.
    assert classify_plan(plan(["create"])).guard_violations == ()
