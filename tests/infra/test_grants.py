"""The permission matrix rendered per persona into authoritative `databricks_grants`, and the matrix's own rules."""

from __future__ import annotations

import pytest

from infra.config import load_environments
from infra.permissions import (
    ALL_PRIVILEGES,
    ANALYST_VIEW,
    CATALOG,
    COMPLIANCE_VIEW,
    MANAGE,
    MODIFY,
    SCHEMAS,
    SELECT,
    PermissionMatrix,
    Persona,
    SecurableType,
    schema,
    table,
)
from infra.phases import stack_names

ENVS = load_environments()
MATRIX = PermissionMatrix.default()


def _grants_by_target(synth, env_name) -> dict[str, dict[str, set[str]]]:
    """securable key as the stacks name it -> principal -> privileges, read back from an environment's stacks."""
    out = {}
    resources = {
        name: resource
        for stack in stack_names(env_name).all()
        for name, resource in synth.resources(stack, "databricks_grants").items()
    }
    for name, resource in resources.items():
        principals = {g["principal"]: set(g["privileges"]) for g in resource["grant"]}
        assert len(principals) == len(resource["grant"]), f"{name}: one grant block per principal"
        out[name] = principals
    return out


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_one_authoritative_grants_resource_per_securable_exactly_as_the_matrix(synth, stack):
    env = ENVS[stack]
    rendered = _grants_by_target(synth, stack)
    expected = MATRIX.grants_by_securable(env.principals)
    assert len(rendered) == len(expected)
    for securable, by_principal in expected.items():
        name = "grants_" + securable.key().replace(":", "_").replace(".", "_")
        assert rendered[name] == {p: set(privs) for p, privs in by_principal.items()}, name


@pytest.mark.parametrize("persona", list(Persona))
def test_each_persona_gets_exactly_its_matrix_rows(synth, persona):
    env = ENVS["production"]
    principal = env.principals[persona]
    rendered = _grants_by_target(synth, "production")
    held = {name: privs[principal] for name, privs in rendered.items() if principal in privs}
    expected: dict[str, set[str]] = {}
    for r in MATRIX.for_persona(persona):  # a persona may hold one securable through several rows
        expected.setdefault("grants_" + r.securable.key().replace(":", "_").replace(".", "_"), set()).update(
            r.privileges
        )
    assert held == expected


def test_grant_targets_reference_the_stack_resources(synth):
    grants = {
        **synth.resources("staging", "databricks_grants"),
        **synth.resources("staging-serving", "databricks_grants"),
    }
    assert grants["grants_catalog"]["catalog"] == "${databricks_catalog.catalog.name}"
    for s in SCHEMAS:
        assert grants[f"grants_schema_{s}"]["schema"] == f"${{databricks_schema.schema_{s}.id}}"
    assert grants["grants_volume_bronze_landing"]["volume"] == "${databricks_volume.volume_bronze_landing.id}"
    view = grants["grants_table_gold_correlations_analyst"]
    assert view["table"] == "lakehouse_staging.gold.correlations_analyst"
    assert view["depends_on"] == ["databricks_sql_table.view_gold_correlations_analyst"]


# -- the matrix itself ---------------------------------------------------------------------------------------------


def test_analysts_never_select_gold_tables_or_schemas_only_the_analyst_view():
    analyst_rows = MATRIX.for_persona(Persona.ANALYSTS)
    selectable = {r.securable for r in analyst_rows if SELECT in r.privileges}
    assert selectable == {table(*ANALYST_VIEW)}
    assert SELECT not in MATRIX.privileges(Persona.ANALYSTS, schema("gold"))
    assert SELECT not in MATRIX.privileges(Persona.ANALYSTS, CATALOG)
    assert MATRIX.privileges(Persona.ANALYSTS, table(*COMPLIANCE_VIEW)) == frozenset()
    assert MATRIX.privileges(Persona.ANALYSTS, table("gold", "correlations")) == frozenset()


def test_compliance_selects_and_modifies_everywhere_and_reads_the_unmasked_view():
    for securable in (CATALOG, *(schema(s) for s in SCHEMAS)):
        assert {SELECT, MODIFY} <= MATRIX.privileges(Persona.COMPLIANCE, securable), securable
    assert SELECT in MATRIX.privileges(Persona.COMPLIANCE, table(*COMPLIANCE_VIEW))


def test_only_platform_admins_and_the_deployer_hold_all_privileges_or_manage():
    for row in MATRIX.rows:
        if ALL_PRIVILEGES in row.privileges:
            assert row.persona is Persona.PLATFORM_ADMINS
        if MANAGE in row.privileges:
            assert row.persona in (Persona.PLATFORM_ADMINS, Persona.DEPLOYER)


def test_data_scientists_read_silver_and_gold_but_not_raw_layers():
    assert SELECT in MATRIX.privileges(Persona.DATA_SCIENTISTS, schema("silver"))
    assert SELECT in MATRIX.privileges(Persona.DATA_SCIENTISTS, schema("gold"))
    assert MATRIX.privileges(Persona.DATA_SCIENTISTS, schema("bronze")) == frozenset()
    assert MODIFY not in {p for r in MATRIX.for_persona(Persona.DATA_SCIENTISTS) for p in r.privileges}


def test_pipeline_writes_every_layer_and_the_landing_volume():
    for s in SCHEMAS:
        assert {SELECT, MODIFY, "CREATE_TABLE"} <= MATRIX.privileges(Persona.PIPELINE, schema(s))
    volumes = [r for r in MATRIX.for_persona(Persona.PIPELINE) if r.securable.type is SecurableType.VOLUME]
    assert [sorted(r.privileges) for r in volumes] == [["READ_VOLUME", "WRITE_VOLUME"]]


def test_expected_grants_are_flat_and_environment_specific():
    staging = MATRIX.expected_grants("lakehouse_staging", ENVS["staging"].principals)
    production = MATRIX.expected_grants("lakehouse_prod", ENVS["production"].principals)
    assert {g.full_name.split(".")[0] for g in staging} == {"lakehouse_staging"}
    assert {g.full_name.split(".")[0] for g in production} == {"lakehouse_prod"}
    assert len(staging) == sum(len(r.privileges) for r in MATRIX.rows)


def test_missing_principal_is_an_actionable_error():
    from infra.permissions import PermissionMatrixError

    principals = dict(ENVS["staging"].principals)
    del principals[Persona.COMPLIANCE]
    with pytest.raises(PermissionMatrixError, match=r"persona 'compliance' has no principal: add it under"):
        MATRIX.grants_by_securable(principals)


# -- workspace ACLs (compute, pipeline, jobs) ----------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_workspace_acls_rendered_from_the_acl_table(synth, stack):
    from infra.permissions import WORKSPACE_ACLS, WorkspaceObject

    env = ENVS[stack]
    permissions = synth.resources(stack, "databricks_permissions")
    targets = {
        "permissions_sql_warehouse": (WorkspaceObject.SQL_WAREHOUSE, "sql_endpoint_id"),
        "permissions_shared_cluster": (WorkspaceObject.SHARED_CLUSTER, "cluster_id"),
        "permissions_cluster_policy_interactive": (WorkspaceObject.INTERACTIVE_POLICY, "cluster_policy_id"),
        "permissions_pipeline": (WorkspaceObject.PIPELINE, "pipeline_id"),
        "permissions_job_gdelt_loader": (WorkspaceObject.JOBS, "job_id"),
        "permissions_job_wikimedia_listener": (WorkspaceObject.JOBS, "job_id"),
        "permissions_code_folder": (WorkspaceObject.CODE_FOLDER, "directory_path"),
    }
    if env.pipeline.trigger != "continuous":
        targets["permissions_job_pipeline_refresh"] = (WorkspaceObject.JOBS, "job_id")
    if env.ingestion.compute == "single_node":
        targets["permissions_cluster_policy_jobs"] = (WorkspaceObject.JOB_POLICY, "cluster_policy_id")
    if not env.pipeline.serverless:
        targets["permissions_cluster_policy_pipeline"] = (WorkspaceObject.PIPELINE_POLICY, "cluster_policy_id")
    assert set(permissions) == set(targets)
    for name, (kind, id_key) in targets.items():
        resource = permissions[name]
        assert resource[id_key].startswith("${")
        rendered = {}
        for ac in resource["access_control"]:
            principal = ac.get("group_name") or ac.get("service_principal_name")
            rendered[principal] = ac["permission_level"]
        assert rendered == {env.principals[p]: level for p, level in WORKSPACE_ACLS[kind].items()}, name
    # The pipeline service principal is named as a service principal, groups as groups.
    warehouse = permissions["permissions_sql_warehouse"]["access_control"]
    assert {"service_principal_name": env.principals[Persona.PIPELINE], "permission_level": "CAN_USE"} in warehouse
    assert {"group_name": env.principals[Persona.ANALYSTS], "permission_level": "CAN_USE"} in warehouse


def test_analysts_can_use_the_warehouse_but_not_the_shared_cluster():
    from infra.permissions import WORKSPACE_ACLS, WorkspaceObject

    assert WORKSPACE_ACLS[WorkspaceObject.SQL_WAREHOUSE][Persona.ANALYSTS] == "CAN_USE"
    assert Persona.ANALYSTS not in WORKSPACE_ACLS[WorkspaceObject.SHARED_CLUSTER]


def test_grants_follow_whatever_matrix_the_stack_is_given(tmp_path):
    """The stack re-types no privilege: a different matrix gives different grants."""
    import json

    from infra.cdk import Testing
    from infra.main import new_app
    from infra.permissions import PermissionMatrix, PersonaGrant
    from infra.stacks import PlatformStack

    extra = PersonaGrant(Persona.ANALYSTS, schema("silver"), frozenset({"USE_SCHEMA", "SELECT"}))
    matrix = PermissionMatrix((*MATRIX.rows, extra))
    stack = PlatformStack(new_app(str(tmp_path)), ENVS["staging"], matrix=matrix)
    grants = json.loads(Testing.synth(stack))["resource"]["databricks_grants"]
    silver = {g["principal"]: set(g["privileges"]) for g in grants["grants_schema_silver"]["grant"]}
    assert silver[ENVS["staging"].principals[Persona.ANALYSTS]] == {"USE_SCHEMA", "SELECT"}
