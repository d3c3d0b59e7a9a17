"""The observability builders rendered with the pinned provider's own classes, the way the stack is to wire them
(docs/observability.md, "How the stack deploys these"): proof that their values fit `databricks_dashboard`,
`databricks_permissions.dashboard_id` and `databricks_sql_table` views, before the stack itself uses them.

Provider arguments (terraform-provider-databricks docs, `dashboard` and `sql_table` resources): a dashboard takes
`display_name`, `parent_path`, `warehouse_id`, `serialized_dashboard` (or `file_path`) and `embed_credentials`; a
view is a `sql_table` with `table_type = "VIEW"` and `view_definition`; dashboard ACLs are `databricks_permissions`
with `dashboard_id`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import load_environment
from infra.observability import dashboard_spec, health_views
from infra.permissions import WORKSPACE_ACLS, WorkspaceObject


@pytest.fixture(scope="module")
def synthesized() -> dict[str, Any]:
    from cdktf import TerraformStack, Testing
    from cdktf_cdktf_provider_databricks.dashboard import Dashboard
    from cdktf_cdktf_provider_databricks.permissions import Permissions, PermissionsAccessControl
    from cdktf_cdktf_provider_databricks.provider import DatabricksProvider
    from cdktf_cdktf_provider_databricks.sql_table import SqlTable

    env = load_environment("staging")
    stack = TerraformStack(Testing.app(), "wiring")
    DatabricksProvider(stack, "databricks", host=env.workspace_host)
    warehouse_id = "warehouse-id"
    views: dict[str, SqlTable] = {}
    for spec in health_views(env.catalog):
        views[spec.name] = SqlTable(
            stack,
            f"view_ops_{spec.name}",
            catalog_name=env.catalog,
            schema_name=spec.schema,
            name=spec.name,
            table_type="VIEW",
            view_definition=spec.definition,
            comment=spec.comment,
            warehouse_id=warehouse_id,
            owner=env.principals[next(iter(env.principals))],
            depends_on=[views[d] for d in spec.depends_on],
        )
    board = dashboard_spec(env.name, env.catalog, env.workspace_root.removeprefix("/Workspace"))
    dashboard = Dashboard(
        stack,
        "dashboard",
        display_name=board.display_name,
        parent_path=board.parent_path,
        warehouse_id=warehouse_id,
        serialized_dashboard=board.serialized_dashboard,
        embed_credentials=board.embed_credentials,
    )
    Permissions(
        stack,
        "permissions_dashboard",
        dashboard_id=dashboard.id,
        access_control=[
            PermissionsAccessControl(group_name=env.principals[p], permission_level=level)
            for p, level in sorted(WORKSPACE_ACLS[WorkspaceObject.DASHBOARD].items())
        ],
    )
    return {"env": env, "json": json.loads(Testing.synth(stack))}


def test_the_dashboard_synthesizes_with_the_rendered_json(synthesized: dict[str, Any]) -> None:
    env, out = synthesized["env"], synthesized["json"]
    dashboard = out["resource"]["databricks_dashboard"]["dashboard"]
    assert dashboard["embed_credentials"] is False
    assert dashboard["parent_path"] == "/Shared/lakehouse/staging"
    doc = json.loads(dashboard["serialized_dashboard"])
    assert {p["name"] for p in doc["pages"]} >= {"correlations", "pipeline_health"}
    assert f"`{env.catalog}`.`gold`.`correlations_analyst`" in dashboard["serialized_dashboard"]


def test_dashboard_permissions_come_from_the_matrix(synthesized: dict[str, Any]) -> None:
    env, out = synthesized["env"], synthesized["json"]
    acl = out["resource"]["databricks_permissions"]["permissions_dashboard"]
    assert acl["dashboard_id"] == "${databricks_dashboard.dashboard.id}"
    assert {a["group_name"]: a["permission_level"] for a in acl["access_control"]} == {
        env.principals[p]: level for p, level in WORKSPACE_ACLS[WorkspaceObject.DASHBOARD].items()
    }


def test_health_views_synthesize_as_views_in_dependency_order(synthesized: dict[str, Any]) -> None:
    tables = synthesized["json"]["resource"]["databricks_sql_table"]
    daily = tables["view_ops_pipeline_health_daily"]
    assert daily["table_type"] == "VIEW" and daily["schema_name"] == "ops"
    assert "pipeline_expectation_failures" in daily["view_definition"]
    assert set(daily["depends_on"]) == {
        "databricks_sql_table.view_ops_pipeline_updates",
        "databricks_sql_table.view_ops_pipeline_expectation_failures",
        "databricks_sql_table.view_ops_pipeline_landing_latency",
    }
    assert not tables["view_ops_pipeline_events"].get("depends_on")
