"""The two stacks of an environment, each a short wiring list you can read top to bottom (see infra/phases.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.cdk import Aspects, Construct, TerraformOutput, databricks
from infra.config import EnvironmentConfig
from infra.guards import SynthGuards
from infra.permissions import (
    CATALOG,
    LANDING_VOLUME,
    SCHEMAS,
    SECURE_VIEWS,
    PermissionMatrix,
    Securable,
    WorkspaceObject,
    schema,
    table,
    volume,
)
from infra.phases import stack_names
from infra.repo import REPO_ROOT
from infra.runtime_deps import RuntimeDependencies, runtime_dependencies
from infra.stacks.acls import WorkspaceAcls
from infra.stacks.bundle import CodeBundle
from infra.stacks.catalog import UnityCatalog
from infra.stacks.common import ReadableStack, terraform_settings
from infra.stacks.compute import Compute
from infra.stacks.grants import UnityGrants
from infra.stacks.jobs import Jobs
from infra.stacks.pipeline import LakeflowPipeline
from infra.stacks.serving import Alerts, HealthViews, LakeviewDashboard, SecureViews


class PlatformStack(ReadableStack):
    """Everything that can be created on an empty workspace: Unity Catalog objects and their grants, compute, the
    code folder, the pipeline, the jobs and their ACLs."""

    def __init__(
        self,
        scope: Construct,
        env: EnvironmentConfig,
        *,
        matrix: PermissionMatrix | None = None,
        repo_root: Path = REPO_ROOT,
        dependencies: RuntimeDependencies | None = None,
    ) -> None:
        name = stack_names(env.name).platform
        super().__init__(scope, name)
        matrix = matrix or PermissionMatrix.default()
        deps = dependencies or runtime_dependencies(repo_root)
        terraform_settings(self, env, name)

        uc = UnityCatalog(self, "unity_catalog", env)
        UnityGrants(
            self,
            "grants",
            env,
            matrix,
            {
                CATALOG: {"catalog": uc.catalog.name},
                **{schema(s): {"schema": uc.schemas[s].id} for s in SCHEMAS},
                volume(*LANDING_VOLUME): {"volume": uc.landing.id},
            },
        )
        compute = Compute(self, "compute", env)
        bundle = CodeBundle(
            self,
            "bundle",
            env,
            repo_root,
            init_script=None if env.pipeline.serverless else deps.pipeline_init_script,
        )
        pipeline = LakeflowPipeline(
            self, "pipeline", env, uc=uc, bundle=bundle, compute=compute, dependencies=deps.pipeline
        )
        jobs = Jobs(self, "jobs", env, uc=uc, bundle=bundle, compute=compute, pipeline=pipeline, dependencies=deps.jobs)
        acl_targets: dict[WorkspaceObject, list[tuple[str, dict[str, Any]]]] = {
            WorkspaceObject.SQL_WAREHOUSE: [("sql_warehouse", {"sql_endpoint_id": compute.warehouse.id})],
            WorkspaceObject.SHARED_CLUSTER: [("shared_cluster", {"cluster_id": compute.shared_cluster.id})],
            WorkspaceObject.INTERACTIVE_POLICY: [
                ("cluster_policy_interactive", {"cluster_policy_id": compute.interactive_policy.id})
            ],
            WorkspaceObject.PIPELINE: [("pipeline", {"pipeline_id": pipeline.pipeline.id})],
            WorkspaceObject.JOBS: [(job_name, {"job_id": job.id}) for job_name, job in sorted(jobs.jobs.items())],
            WorkspaceObject.CODE_FOLDER: [("code_folder", {"directory_path": bundle.folder.path})],
        }
        if compute.job_policy is not None:
            acl_targets[WorkspaceObject.JOB_POLICY] = [
                ("cluster_policy_jobs", {"cluster_policy_id": compute.job_policy.id})
            ]
        if compute.pipeline_policy is not None:
            acl_targets[WorkspaceObject.PIPELINE_POLICY] = [
                ("cluster_policy_pipeline", {"cluster_policy_id": compute.pipeline_policy.id})
            ]
        WorkspaceAcls(self, "acls", env, acl_targets)

        # What operators and `lakehouse deploy` need after an apply.
        TerraformOutput(self, "catalog_name", value=uc.catalog.name)
        TerraformOutput(self, "pipeline_id", value=pipeline.pipeline.id)
        TerraformOutput(self, "warehouse_id", value=compute.warehouse.id)
        # Guards run on every resource of the stack before any JSON is written; a violation fails synth.
        Aspects.of(self).add(SynthGuards())


class ServingStack(ReadableStack):
    """What reads the pipeline's tables: secure views and their grants, alerts. Deployed after the pipeline's first
    update (infra/phases.py), so every table it selects from exists."""

    def __init__(self, scope: Construct, env: EnvironmentConfig, *, matrix: PermissionMatrix | None = None) -> None:
        name = stack_names(env.name).serving
        super().__init__(scope, name)
        matrix = matrix or PermissionMatrix.default()
        terraform_settings(self, env, name)
        # The platform stack's warehouse, looked up by name: no state of another stack is read.
        warehouse = databricks.data_databricks_sql_warehouse.DataDatabricksSqlWarehouse(
            self, "warehouse", name=env.sql_warehouse.name
        )
        views = SecureViews(self, "views", env, warehouse_id=warehouse.id)
        view_securables: dict[Securable, dict[str, Any]] = {
            table(*key): {"table": f"{env.catalog}.{key[0]}.{key[1]}", "depends_on": [views.views[key]]}
            for key in SECURE_VIEWS
        }
        UnityGrants(self, "grants", env, matrix, view_securables)
        Alerts(self, "alerts", env, warehouse_id=warehouse.id)
        health = HealthViews(self, "health", env, warehouse_id=warehouse.id)
        board = LakeviewDashboard(
            self,
            "dashboard",
            env,
            warehouse_id=warehouse.id,
            after=[*views.views.values(), *health.views.values()],
        )
        WorkspaceAcls(
            self, "acls", env, {WorkspaceObject.DASHBOARD: [("dashboard", {"dashboard_id": board.dashboard.id})]}
        )
        Aspects.of(self).add(SynthGuards())
