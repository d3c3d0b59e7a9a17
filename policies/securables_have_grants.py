"""CKV2_LH_1 every catalog and schema is the target of a `databricks_grants` resource.

Its access is then authoritative (rendered from infra/permissions.py) instead of whatever was clicked in the UI.
The rule is `policies.grant_targets.ungranted_securables`: a grants resource counts for the securable its
`catalog` / `schema` attribute names (by reference or by the exact name/id), not for every resource it mentions.

Why a graph check with our own solver and not YAML or a resource check: the decision needs every resource of the
stack at once (a resource check sees one), and checkov's YAML `connection` operator only knows that some attribute
references some resource, which is the name-text matching this check replaces. Why the solver reads the stack's
JSON itself: checkov's graph renders references in place (`${databricks_catalog.c.name}` becomes the catalog's
name, `${databricks_schema.s.id}` loses its `${}`), so a literal and a reference could no longer be told apart.
cdktf writes one `cdk.tf.json` per stack directory, so each file is judged on its own (as are the fixtures).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from checkov.common.bridgecrew.check_type import CheckType
from checkov.common.checks_infra.registry import get_graph_checks_registry
from checkov.common.graph.checks_infra.base_check import BaseGraphCheck
from checkov.common.graph.checks_infra.enums import SolverType
from checkov.common.graph.checks_infra.solvers.base_solver import BaseSolver
from checkov.common.graph.graph_builder import CustomAttributes
from checkov.runner_filter import RunnerFilter
from networkx import DiGraph

from policies.grant_targets import CATALOG_TYPE, SCHEMA_TYPE, ungranted_securables

CHECK_ID = "CKV2_LH_1"
CHECK_NAME = (
    "Every Databricks catalog and schema is the target of a databricks_grants resource (its catalog/schema attribute)"
)
JUDGED_TYPES = (CATALOG_TYPE, SCHEMA_TYPE)


def _vertices(graph: Any) -> list[dict[str, Any]]:
    """Vertex attribute dicts from either graph library checkov may use (networkx, or rustworkx by default, whose
    node payloads checkov stores as (index, attributes) pairs)."""
    if isinstance(graph, DiGraph):
        return [data for _, data in graph.nodes(data=True)]
    return [data for _, data in graph.nodes()]


def _stack_resources(path: str) -> Mapping[str, Any] | None:
    """The `resource` section of one synthesized file, or None when it is not Terraform JSON."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    resources = data.get("resource") if isinstance(data, dict) else None
    return resources if isinstance(resources, Mapping) else {}


class GrantTargetSolver(BaseSolver):
    """Passes every catalog/schema a grants resource targets, fails the others (see module docstring)."""

    def __init__(self) -> None:
        super().__init__(SolverType.COMPLEX)

    def get_operation(self, *args: Any, **kwargs: Any) -> Any:  # unused: `run` decides for the whole graph
        return None

    def _get_operation(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def run(self, graph_connector: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        passed: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        unknown: list[dict[str, Any]] = []
        verdicts: dict[str, dict[str, str] | None] = {}
        for vertex in _vertices(graph_connector):
            if vertex.get(CustomAttributes.BLOCK_TYPE) != "resource":
                continue
            if vertex.get(CustomAttributes.RESOURCE_TYPE) not in JUDGED_TYPES:
                continue
            path = str(vertex.get(CustomAttributes.FILE_PATH, ""))
            if path not in verdicts:
                resources = _stack_resources(path)
                verdicts[path] = None if resources is None else ungranted_securables(resources)
            ungranted = verdicts[path]
            if ungranted is None:
                unknown.append(vertex)  # e.g. an HCL file under the `terraform` framework: not ours to judge
            elif vertex.get(CustomAttributes.ID) in ungranted:
                failed.append(vertex)
            else:
                passed.append(vertex)
        return passed, failed, unknown


def _check() -> BaseGraphCheck:
    check = BaseGraphCheck()
    check.id = CHECK_ID
    check.name = CHECK_NAME
    check.category = "IAM"
    check.resource_types = list(JUDGED_TYPES)
    check.set_solver(GrantTargetSolver())
    return check


securables_have_grants = _check()

# checkov imports this file while loading `--external-checks-dir`; graph checks live in the terraform graph registry
# (the `terraform_json` runner uses it too), so register there once, as checkov's YAML loader would.
_registry = get_graph_checks_registry(CheckType.TERRAFORM)
if not any(c.id == CHECK_ID for c in _registry.checks):
    _registry.checks.append(securables_have_grants)
    RunnerFilter.notify_external_check(CHECK_ID)
