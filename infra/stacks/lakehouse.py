"""The lakehouse stack: everything one environment needs, rendered from its `EnvironmentConfig`.

Nothing here names a catalog, a principal, a size or a privilege: those come from `infra/environments.toml`
(via `infra.config`) and `infra.permissions.PermissionMatrix`. Resource ids are stable, readable names so the
golden snapshots and `terraform plan` addresses stay reviewable.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cdktn_provider_databricks.alert import (
    Alert,
    AlertCondition,
    AlertConditionOperand,
    AlertConditionOperandColumn,
    AlertConditionThreshold,
    AlertConditionThresholdValue,
)
from cdktn_provider_databricks.catalog import Catalog
from cdktn_provider_databricks.cluster import Cluster, ClusterAutoscale
from cdktn_provider_databricks.cluster_policy import ClusterPolicy
from cdktn_provider_databricks.grants import Grants, GrantsGrant
from cdktn_provider_databricks.job import (
    Job,
    JobContinuous,
    JobEmailNotifications,
    JobJobCluster,
    JobJobClusterNewCluster,
    JobJobClusterNewClusterAutoscale,
    JobRunAs,
    JobSchedule,
    JobTask,
    JobTaskLibrary,
    JobTaskLibraryPypi,
    JobTaskSparkPythonTask,
    JobTaskSqlTask,
    JobTaskSqlTaskAlert,
    JobTaskSqlTaskAlertSubscriptions,
)
from cdktn_provider_databricks.permissions import Permissions, PermissionsAccessControl
from cdktn_provider_databricks.pipeline import (
    Pipeline,
    PipelineCluster,
    PipelineClusterAutoscale,
    PipelineEventLog,
    PipelineLibrary,
    PipelineLibraryGlob,
    PipelineNotification,
    PipelineRunAs,
)
from cdktn_provider_databricks.provider import DatabricksProvider
from cdktn_provider_databricks.query import Query
from cdktn_provider_databricks.schema import Schema
from cdktn_provider_databricks.sql_endpoint import SqlEndpoint, SqlEndpointTags, SqlEndpointTagsCustomTags
from cdktn_provider_databricks.sql_table import SqlTable
from cdktn_provider_databricks.volume import Volume
from cdktn_provider_databricks.workspace_file import WorkspaceFile

from infra.bundle import INGEST_SCRIPT, PIPELINE_SOURCES_DIR, REPO_ROOT, bundle_files, job_pypi_requirements
from infra.cdk import (
    Annotations,
    Aspects,
    Construct,
    Fn,
    LocalBackend,
    TerraformAsset,
    TerraformOutput,
    TerraformResourceLifecycle,
    TerraformStack,
    TerraformVariable,
    Token,
)
from infra.cdk import (
    S3Backend as TerraformS3Backend,
)
from infra.config import EnvironmentConfig, S3Backend
from infra.guards import SynthGuards
from infra.permissions import (
    LANDING_VOLUME,
    SCHEMAS,
    WORKSPACE_ACLS,
    PermissionMatrix,
    Persona,
    Securable,
    SecurableType,
    WorkspaceObject,
)
from infra.toolchain import required_version
from infra.views import quote_name, secure_views
from pipelines.settings import PipelineSettings

EVENT_LOG = ("ops", "pipeline_event_log")  # contract: the pipeline's event log table
EXPECTATION_COUNTS = ("ops", "expectation_counts")
PIPELINE_DEFAULT_SCHEMA = "silver"
# Failure classes the pipeline mails about (the Pipelines API's alert names).
PIPELINE_ALERTS = ("on-update-failure", "on-update-fatal-failure", "on-flow-failure")


def _logical_id(*parts: str) -> str:
    """A Terraform-safe, readable resource name: `schema`, `gold` -> `schema_gold`."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", "_".join(parts)).strip("_").lower()


_APPLICATION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _access_control(principal: str, level: str) -> PermissionsAccessControl:
    """Service principals are named by application id (a UUID); everything else here is a group."""
    if _APPLICATION_ID.match(principal):
        return PermissionsAccessControl(service_principal_name=principal, permission_level=level)
    return PermissionsAccessControl(group_name=principal, permission_level=level)


def _workspace_api_path(workspace_path: str) -> str:
    """Workspace files are addressed without the `/Workspace` prefix that runtime paths (root_path) carry."""
    return workspace_path.removeprefix("/Workspace")


class LakehouseStack(TerraformStack):
    """One environment: Unity Catalog objects and grants, compute, the pipeline, ingestion jobs, views, alerts."""

    def __init__(
        self,
        scope: Construct,
        env: EnvironmentConfig,
        *,
        matrix: PermissionMatrix | None = None,
        repo_root: Path = REPO_ROOT,
    ) -> None:
        super().__init__(scope, env.name)
        self.env = env
        self.matrix = matrix or PermissionMatrix.default()
        self.repo_root = repo_root
        self.production = env.name == "production"
        self.admins = env.principal(Persona.PLATFORM_ADMINS)
        self.landing_root = f"/Volumes/{env.catalog}/{LANDING_VOLUME[0]}/{LANDING_VOLUME[1]}"

        self._backend_and_provider()
        self._unity_catalog()
        self._compute()
        self._bundle()
        self._pipeline()
        self._ingestion_jobs()
        self._secure_views()
        self._grants()
        self._observability()
        self._workspace_acls()
        self._outputs()
        # Guards run on every resource of the stack before any JSON is written; a violation fails synth.
        Aspects.of(self).add(SynthGuards())

    # -- state and auth -------------------------------------------------------------------------------------------

    def _backend_and_provider(self) -> None:
        # A Terraform older than the range cdktf.json declares fails at init with a clear message instead of
        # misreading the backend (S3's use_lockfile needs >= 1.10).
        self.add_override("terraform.required_version", required_version())
        backend = self.env.backend
        if isinstance(backend, S3Backend):
            # Production state is shared by CI and operators: remote, encrypted, and locked against concurrent applies.
            TerraformS3Backend(
                self,
                bucket=backend.bucket,
                key=backend.key,
                region=backend.region,
                encrypt=backend.encrypt,
                dynamodb_table=backend.dynamodb_table,
                # Terraform >= 1.10 native S3 locking (hashicorp/terraform#35661); cdktn's S3Backend takes it natively.
                use_lockfile=backend.use_lockfile or None,
            )
        else:
            # Staging state stays next to the synthesized stack (relative path: no developer's home in the JSON).
            LocalBackend(self, path=backend.path)

        # The workspace URL is a variable so CI can point a plan at another workspace without re-synthesizing.
        self.host = TerraformVariable(
            self,
            "databricks_host",
            type="string",
            default=self.env.workspace_host,
            description="Databricks workspace URL (override with TF_VAR_databricks_host).",
        )
        # Optional and sensitive: null means the provider's own auth chain (DATABRICKS_TOKEN, a profile, OIDC).
        # Secrets are never read at synth time, so no token can reach cdk.tf.json.
        self.token = TerraformVariable(
            self,
            "databricks_token",
            type="string",
            sensitive=True,
            nullable=True,
            default=Token.null_value(),
            description="Personal access token; leave unset to use the provider's environment or profile auth.",
        )
        # Views and table grants need tables that only the pipeline's first update creates (see docs/infra.md).
        self.outputs_ready = TerraformVariable(
            self,
            "pipeline_outputs_ready",
            type="bool",
            default=True,
            description="Set false for the very first apply, before the pipeline has created its gold tables.",
        )
        # The single workspace-level provider every resource uses.
        DatabricksProvider(self, "databricks", host=self.host.string_value, token=self.token.string_value)

    # -- Unity Catalog --------------------------------------------------------------------------------------------

    def _protected(self) -> TerraformResourceLifecycle | None:
        # Production data must never disappear because of a refactor: Terraform refuses any plan that destroys it.
        return TerraformResourceLifecycle(prevent_destroy=True) if self.production else None

    def _unity_catalog(self) -> None:
        env = self.env
        # One catalog per environment isolates staging data from production; admins own it (not the deployer).
        self.catalog = Catalog(
            self,
            "catalog",
            name=env.catalog,
            owner=self.admins,
            comment=f"Lakehouse GDELT x Wikimedia correlations ({env.name}); managed by CDKTF.",
            properties=dict(sorted(env.tags.items())),
            lifecycle=self._protected(),
        )
        # Medallion layers plus ops (quarantine, expectation counts, the pipeline's event log).
        self.schemas = {
            name: Schema(
                self,
                _logical_id("schema", name),
                catalog_name=self.catalog.name,
                name=name,
                owner=self.admins,
                comment=f"{name} layer of the lakehouse ({env.name}).",
                lifecycle=self._protected(),
            )
            for name in SCHEMAS
        }
        schema_name, volume_name = LANDING_VOLUME
        # Managed volume where the ingestion jobs land raw files and the pipeline's Auto Loader reads them.
        self.landing = Volume(
            self,
            _logical_id("volume", schema_name, volume_name),
            catalog_name=self.catalog.name,
            schema_name=self.schemas[schema_name].name,
            name=volume_name,
            volume_type="MANAGED",
            owner=self.admins,
            comment="Raw GDELT exports, Wikimedia recent-change batches and the CAMEO lookup.",
            lifecycle=self._protected(),
        )

    # -- compute --------------------------------------------------------------------------------------------------

    def _policy_tags(self) -> dict[str, dict[str, Any]]:
        # Required tags: fixed in every policy so cost reports can attribute every cluster.
        return {f"custom_tags.{k}": {"type": "fixed", "value": v} for k, v in sorted(self.env.tags.items())}

    def _compute(self) -> None:
        env, c = self.env, self.env.cluster
        interactive_policy: dict[str, Any] = {
            "cluster_type": {"type": "fixed", "value": "all-purpose"},
            "autotermination_minutes": {"type": "fixed", "value": c.autotermination_minutes},
            "autoscale.min_workers": {"type": "range", "minValue": 1, "maxValue": 8, "defaultValue": c.min_workers},
            "autoscale.max_workers": {"type": "range", "minValue": 1, "maxValue": 8, "defaultValue": c.max_workers},
            **self._policy_tags(),
        }
        # Caps interactive clusters: forced auto-termination, at most 8 workers, cost tags.
        self.interactive_policy = ClusterPolicy(
            self,
            "cluster_policy_interactive",
            name=f"lakehouse-interactive-{env.name}",
            description="All-purpose clusters: auto-terminate, autoscale <= 8 workers, cost tags.",
            definition=json.dumps(interactive_policy, sort_keys=True),
        )
        job_policy: dict[str, Any] = {
            # Job clusters end with their run, so auto-termination does not apply; the size cap and tags do.
            "cluster_type": {"type": "fixed", "value": "job"},
            "autoscale.min_workers": {"type": "range", "minValue": 1, "maxValue": 8, "defaultValue": 1},
            "autoscale.max_workers": {"type": "range", "minValue": 1, "maxValue": 8, "defaultValue": 2},
            **self._policy_tags(),
        }
        # Caps the ingestion jobs' clusters.
        self.job_policy = ClusterPolicy(
            self,
            "cluster_policy_jobs",
            name=f"lakehouse-jobs-{env.name}",
            description="Job clusters: autoscale <= 8 workers, cost tags.",
            definition=json.dumps(job_policy, sort_keys=True),
        )
        # Shared Unity Catalog cluster for exploration; standard access mode so many users share it safely.
        self.shared_cluster = Cluster(
            self,
            "shared_cluster",
            cluster_name=f"lakehouse-shared-{env.name}",
            spark_version=c.spark_version,
            node_type_id=c.node_type_id,
            autoscale=ClusterAutoscale(min_workers=c.min_workers, max_workers=c.max_workers),
            autotermination_minutes=c.autotermination_minutes,
            policy_id=self.interactive_policy.id,
            apply_policy_default_values=True,
            data_security_mode="USER_ISOLATION",
            custom_tags=dict(sorted(env.tags.items())),
        )

    # -- bundle ---------------------------------------------------------------------------------------------------

    def _bundle(self) -> None:
        root = self.env.workspace_root
        self.bundle: dict[str, WorkspaceFile] = {}
        for bundle_file in bundle_files(self.repo_root):
            name = _logical_id("file", bundle_file.relative_path)
            # Copies the file into the stack's assets/ folder; the path in the JSON is relative and content-addressed.
            asset = TerraformAsset(
                self,
                _logical_id("asset", bundle_file.relative_path),
                path=str(self.repo_root / bundle_file.relative_path),
                asset_hash=bundle_file.md5,
            )
            # One workspace file per bundle file; its md5 makes Terraform re-upload exactly the files that changed.
            self.bundle[bundle_file.relative_path] = WorkspaceFile(
                self,
                name,
                path=_workspace_api_path(bundle_file.workspace_path(root)),
                source=asset.path,
                md5=bundle_file.md5,
            )

    # -- pipeline -------------------------------------------------------------------------------------------------

    def _pipeline_settings(self) -> PipelineSettings:
        p = self.env.pipeline
        return PipelineSettings(
            window_hours=p.window_hours,
            similarity_threshold=p.similarity_threshold,
            gdelt_landing_path=f"{self.landing_root}/gdelt",
            wikimedia_landing_path=f"{self.landing_root}/wikimedia",
            cameo_lookup_path=f"{self.landing_root}/reference/CAMEO.eventcodes.txt",
        )

    def _listener_parameters(self, url: str) -> list[str]:
        """Listener arguments: land only the wikis silver keeps, and name a real contact in the User-Agent
        (Wikimedia's User-Agent policy asks clients for one)."""
        params = ["wikimedia", "--url", url, "--out", f"{self.landing_root}/wikimedia"]
        for wiki in self._pipeline_settings().wikis.split(","):
            if wiki.strip():
                params += ["--wiki", wiki.strip()]
        if self.env.notification_emails:
            params += ["--contact", self.env.notification_emails[0]]
        return params

    def _pipeline(self) -> None:
        env, p = self.env, self.env.pipeline
        root = env.workspace_root
        classic: dict[str, Any] = {}
        if not p.serverless:
            classic = {
                # Enhanced autoscaling sizes streaming pipelines by backlog, within the same <= 8 worker cap.
                "cluster": [
                    PipelineCluster(
                        label="default",
                        node_type_id=env.cluster.node_type_id,
                        autoscale=PipelineClusterAutoscale(
                            min_workers=p.min_workers, max_workers=p.max_workers, mode="ENHANCED"
                        ),
                        custom_tags=dict(sorted(env.tags.items())),
                    )
                ],
                "photon": p.photon,
                # ADVANCED is the edition with expectations (quarantine and expectation counts need them).
                "edition": "ADVANCED",
            }
        # The Lakeflow pipeline: bronze -> silver -> gold from the landing volume, code from the uploaded bundle.
        self.pipeline = Pipeline(
            self,
            "pipeline",
            name=f"lakehouse-correlations-{env.name}",
            catalog=self.catalog.name,
            schema=self.schemas[PIPELINE_DEFAULT_SCHEMA].name,
            # The bundle root, so `import pipelines.text` works from the pipeline's source files.
            root_path=root,
            library=[PipelineLibrary(glob=PipelineLibraryGlob(include=f"{root}/{PIPELINE_SOURCES_DIR}/**"))],
            configuration=self._pipeline_settings().to_configuration(),
            serverless=True if p.serverless else None,
            channel=p.channel,
            continuous=p.continuous,
            development=p.development,
            # Event log as a Unity Catalog table, so alerts and the ops CLI can query it with SQL.
            event_log=PipelineEventLog(
                catalog=self.catalog.name, schema=self.schemas[EVENT_LOG[0]].name, name=EVENT_LOG[1]
            ),
            notification=[
                PipelineNotification(email_recipients=list(env.notification_emails), alerts=list(PIPELINE_ALERTS))
            ]
            if env.notification_emails
            else None,
            # Runs as the pipeline service principal, whose grants come from the permission matrix.
            run_as=PipelineRunAs(service_principal_name=env.principal(Persona.PIPELINE)),
            tags=dict(sorted(env.tags.items())),
            depends_on=[*self.bundle.values(), self.landing],
            **classic,
        )

    # -- ingestion ------------------------------------------------------------------------------------------------

    def _job_cluster(self) -> JobJobCluster:
        env, i = self.env, self.env.ingestion
        # Small, policy-bound job cluster: the loaders are I/O-bound Python scripts.
        return JobJobCluster(
            job_cluster_key="ingest",
            new_cluster=JobJobClusterNewCluster(
                spark_version=env.cluster.spark_version,
                node_type_id=i.node_type_id,
                autoscale=JobJobClusterNewClusterAutoscale(min_workers=i.min_workers, max_workers=i.max_workers),
                policy_id=self.job_policy.id,
                apply_policy_default_values=True,
                data_security_mode="SINGLE_USER",
                custom_tags=dict(sorted(env.tags.items())),
            ),
        )

    def _ingest_task(self, key: str, parameters: list[str], *, retries: bool) -> JobTask:
        # The contract's path (the upload's workspace_path would be the same string); jobs depend on the upload.
        python_file = f"{self.env.workspace_root}/{INGEST_SCRIPT}"
        return JobTask(
            task_key=key,
            job_cluster_key="ingest",
            spark_python_task=JobTaskSparkPythonTask(
                python_file=python_file, source="WORKSPACE", parameters=parameters
            ),
            library=[
                JobTaskLibrary(pypi=JobTaskLibraryPypi(package=p))
                for p in job_pypi_requirements(self.repo_root / "requirements.txt")
            ],
            # Scheduled runs retry transient download errors; continuous jobs are restarted by the service instead.
            max_retries=2 if retries else None,
            min_retry_interval_millis=60_000 if retries else None,
        )

    def _ingestion_jobs(self) -> None:
        env, i = self.env, self.env.ingestion
        if INGEST_SCRIPT not in self.bundle:
            Annotations.of(self).add_warning(f"{INGEST_SCRIPT} is not in the bundle yet: the ingestion jobs would fail")
        pause = "PAUSED" if i.paused else "UNPAUSED"
        common: dict[str, Any] = {
            "job_cluster": [self._job_cluster()],
            "email_notifications": JobEmailNotifications(on_failure=list(env.notification_emails))
            if env.notification_emails
            else None,
            "run_as": JobRunAs(service_principal_name=env.principal(Persona.PIPELINE)),
            "tags": dict(sorted(env.tags.items())),
            "max_concurrent_runs": 1,
            "depends_on": [*self.bundle.values(), self.landing],
        }
        # GDELT publishes an export every 15 minutes; the loader lands the newest one into the volume.
        self.jobs: dict[str, Job] = {}
        self.jobs["job_gdelt_loader"] = Job(
            self,
            "job_gdelt_loader",
            name=f"lakehouse-gdelt-loader-{env.name}",
            task=[
                self._ingest_task(
                    "land_gdelt",
                    # Rejected rows still land raw and are quarantined by the pipeline, so they must not fail
                    # the run (exit 2) every 15 minutes; they show in the run log and in ops.expectation_counts.
                    ["gdelt", "--base-url", i.gdelt_base_url, "--out", f"{self.landing_root}/gdelt", "--allow-rejects"],
                    retries=True,
                ),
                # Silver describes event codes with GDELT's CAMEO lookup; land it once (a no-op afterwards). A
                # separate task, so an unreachable lookup never holds up the exports.
                self._ingest_task(
                    "land_cameo_lookup",
                    ["cameo", "--out", f"{self.landing_root}/reference", "--if-missing"],
                    retries=True,
                ),
            ],
            schedule=JobSchedule(quartz_cron_expression=i.gdelt_cron, timezone_id=i.timezone, pause_status=pause),
            timeout_seconds=900,
            **common,
        )
        # The recent-change stream never ends: a continuous job keeps one listener running and restarts it on failure.
        self.jobs["job_wikimedia_listener"] = Job(
            self,
            "job_wikimedia_listener",
            name=f"lakehouse-wikimedia-listener-{env.name}",
            task=[
                self._ingest_task(
                    "listen_wikimedia",
                    self._listener_parameters(i.wikimedia_url),
                    retries=False,
                )
            ],
            continuous=JobContinuous(pause_status=pause),
            **common,
        )

    # -- secure views ---------------------------------------------------------------------------------------------

    def _outputs_count(self) -> Any:
        return Token.as_number(Fn.conditional(self.outputs_ready.boolean_value, 1, 0))

    def _secure_views(self) -> None:
        env = self.env
        # SQL warehouse that creates the views (and runs the alert queries); small and auto-stopping.
        self.warehouse = SqlEndpoint(
            self,
            "sql_warehouse",
            name=env.sql_warehouse.name,
            cluster_size=env.sql_warehouse.cluster_size,
            auto_stop_mins=env.sql_warehouse.auto_stop_mins,
            min_num_clusters=1,
            max_num_clusters=1,
            warehouse_type="PRO",
            enable_serverless_compute=True,
            tags=SqlEndpointTags(
                custom_tags=[SqlEndpointTagsCustomTags(key=k, value=v) for k, v in sorted(env.tags.items())]
            ),
        )
        self.views: dict[tuple[str, str], SqlTable] = {}
        for view in secure_views(env.catalog, env.principals):
            # Secure view (masking + row filter by group membership) rendered from sql/views/<name>.sql.
            self.views[(view.schema, view.name)] = SqlTable(
                self,
                _logical_id("view", view.schema, view.name),
                catalog_name=self.catalog.name,
                schema_name=self.schemas[view.schema].name,
                name=view.name,
                table_type="VIEW",
                view_definition=view.definition,
                warehouse_id=self.warehouse.id,
                owner=self.admins,
                comment=f"Secure view from sql/views/{view.name}.sql; managed by CDKTF.",
                count=self._outputs_count(),
            )

    # -- grants ---------------------------------------------------------------------------------------------------

    def _grants(self) -> None:
        for securable, by_principal in self.matrix.grants_by_securable(self.env.principals).items():
            target: dict[str, Any] = self._grant_target(securable)
            # Authoritative grants for one securable, rendered from the permission matrix: anything else is revoked.
            Grants(
                self,
                _logical_id("grants", securable.key()),
                grant=[GrantsGrant(principal=p, privileges=sorted(privs)) for p, privs in sorted(by_principal.items())],
                **target,
            )

    def _grant_target(self, securable: Securable) -> dict[str, Any]:
        if securable.type is SecurableType.CATALOG:
            return {"catalog": self.catalog.name}
        if securable.type is SecurableType.SCHEMA:
            return {"schema": self.schemas[str(securable.schema)].id}
        if securable.type is SecurableType.VOLUME:
            return {"volume": self.landing.id}
        # Tables and views exist only once the pipeline (or the view) does: gate them like the views.
        view = self.views.get((str(securable.schema), str(securable.name)))
        return {
            "table": securable.full_name(self.env.catalog),
            "count": self._outputs_count(),
            "depends_on": [view] if view is not None else [self.pipeline],
        }

    # -- observability --------------------------------------------------------------------------------------------

    def _observability(self) -> None:
        env = self.env
        parent = _workspace_api_path(env.workspace_root)
        queries = {
            # Rows the pipeline's expectations rejected (quarantined) so far.
            "expectation_failures": (
                "failed_rows",
                "SELECT coalesce(sum(failed_rows), 0) AS failed_rows "
                f"FROM {quote_name(env.catalog, *EXPECTATION_COUNTS)}",
            ),
            # Pipeline updates or flows that failed in the last hour, from the event log.
            "pipeline_errors": (
                "errors",
                "SELECT count(*) AS errors FROM "
                f"{quote_name(env.catalog, *EVENT_LOG)} "
                "WHERE level = 'ERROR' AND timestamp >= current_timestamp() - INTERVAL 1 HOUR",
            ),
        }
        alerts: list[Alert] = []
        for key, (column, sql) in queries.items():
            # Saved query the alert evaluates on the views warehouse.
            query = Query(
                self,
                _logical_id("query", key),
                display_name=f"lakehouse {key.replace('_', ' ')} ({env.name})",
                query_text=sql,
                warehouse_id=self.warehouse.id,
                parent_path=parent,
                # The bundle uploads create the workspace folder the query is saved in.
                depends_on=list(self.bundle.values()),
            )
            # Fires when the value is above zero.
            alerts.append(
                Alert(
                    self,
                    _logical_id("alert", key),
                    display_name=f"lakehouse {key.replace('_', ' ')} ({env.name})",
                    query_id=query.id,
                    condition=AlertCondition(
                        op="GREATER_THAN",
                        operand=AlertConditionOperand(column=AlertConditionOperandColumn(name=column)),
                        threshold=AlertConditionThreshold(value=AlertConditionThresholdValue(double_value=0)),
                    ),
                    parent_path=parent,
                    seconds_to_retrigger=3600,
                )
            )
        subscriptions = [JobTaskSqlTaskAlertSubscriptions(user_name=e) for e in env.notification_emails]
        # Evaluates the alerts hourly and mails the on-call addresses when one triggers. It runs as its owner (the
        # deployer, who owns the queries and alerts), so no extra ACL on them is needed.
        self.jobs["job_alerts"] = Job(
            self,
            "job_alerts",
            name=f"lakehouse-alerts-{env.name}",
            task=[
                JobTask(
                    task_key=_logical_id("evaluate", key),
                    sql_task=JobTaskSqlTask(
                        warehouse_id=self.warehouse.id,
                        alert=JobTaskSqlTaskAlert(alert_id=alert.id, subscriptions=subscriptions),
                    ),
                )
                for key, alert in zip(queries, alerts, strict=True)
            ],
            schedule=JobSchedule(
                quartz_cron_expression="0 0 * * * ?",
                timezone_id=env.ingestion.timezone,
                pause_status="PAUSED" if env.ingestion.paused else "UNPAUSED",
            ),
            max_concurrent_runs=1,
            # A failing evaluation (say, a missing table) must not look like a quiet "no alert".
            email_notifications=JobEmailNotifications(on_failure=list(env.notification_emails))
            if env.notification_emails
            else None,
            tags=dict(sorted(env.tags.items())),
        )

    # -- workspace ACLs -------------------------------------------------------------------------------------------

    def _workspace_acls(self) -> None:
        targets: dict[WorkspaceObject, list[tuple[str, dict[str, Any]]]] = {
            WorkspaceObject.SQL_WAREHOUSE: [("sql_warehouse", {"sql_endpoint_id": self.warehouse.id})],
            WorkspaceObject.SHARED_CLUSTER: [("shared_cluster", {"cluster_id": self.shared_cluster.id})],
            WorkspaceObject.INTERACTIVE_POLICY: [
                ("cluster_policy_interactive", {"cluster_policy_id": self.interactive_policy.id})
            ],
            WorkspaceObject.PIPELINE: [("pipeline", {"pipeline_id": self.pipeline.id})],
            WorkspaceObject.JOBS: [(name, {"job_id": job.id}) for name, job in sorted(self.jobs.items())],
        }
        for kind, objects in targets.items():
            by_principal = {self.env.principal(persona): level for persona, level in WORKSPACE_ACLS[kind].items()}
            for name, target in objects:
                # Authoritative workspace ACL from infra/permissions.py WORKSPACE_ACLS (who may use or see it).
                Permissions(
                    self,
                    _logical_id("permissions", name),
                    access_control=[_access_control(p, level) for p, level in sorted(by_principal.items())],
                    **target,
                )

    def _outputs(self) -> None:
        # What operators need after an apply: where the data lives and which pipeline to start.
        TerraformOutput(self, "catalog_name", value=self.catalog.name)
        TerraformOutput(self, "pipeline_id", value=self.pipeline.id)
        TerraformOutput(self, "warehouse_id", value=self.warehouse.id)
