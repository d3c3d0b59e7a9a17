"""The Lakeflow pipeline: bronze -> silver -> gold from the landing volume, code from the bundle folder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from infra.bundle import PIPELINE_SOURCES_DIR
from infra.cdk import Construct, databricks
from infra.config import EnvironmentConfig
from infra.permissions import Persona
from infra.phases import pipeline_name
from infra.stacks.bundle import CodeBundle
from infra.stacks.catalog import UnityCatalog
from infra.stacks.common import sorted_tags
from infra.stacks.compute import Compute
from pipelines import tables
from pipelines.ingest.gdelt_loader import CAMEO_FILE_NAME
from pipelines.settings import PipelineSettings

EVENT_LOG = tables.split(tables.PIPELINE_EVENT_LOG)
PIPELINE_DEFAULT_SCHEMA = "silver"
# Failure classes the pipeline mails about (the Pipelines API's alert names).
PIPELINE_ALERTS = ("on-update-failure", "on-update-fatal-failure", "on-flow-failure")


def pipeline_settings(env: EnvironmentConfig, landing_root: str) -> PipelineSettings:
    """The pipeline's configuration map for one environment: its engine settings, landing paths inside its volume,
    and its catalog (the sink's foreachBatch writes name their catalog: it must be the pipeline's own)."""
    return env.pipeline.engine_settings(
        catalog=env.catalog,
        gdelt_landing_path=f"{landing_root}/gdelt",
        wikimedia_landing_path=f"{landing_root}/wikimedia",
        cameo_lookup_path=f"{landing_root}/reference/{CAMEO_FILE_NAME}",
    )


class LakeflowPipeline(Construct):
    """Handles: `pipeline`, `settings`.

    Python packages reach the pipeline's compute only two ways (Lakeflow docs, "Manage Python dependencies for
    pipelines"): the pipeline's `environment` on serverless, or a cluster init script on classic compute. Both are
    rendered from the same pins (`dependencies`, derived from what the pipeline code imports).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        env: EnvironmentConfig,
        *,
        uc: UnityCatalog,
        bundle: CodeBundle,
        compute: Compute,
        dependencies: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        p = env.pipeline
        self.settings = pipeline_settings(env, uc.landing_root)
        compute_args: dict[str, Any]
        if p.serverless:
            compute_args = {
                "serverless": True,
                "environment": databricks.pipeline.PipelineEnvironment(dependencies=list(dependencies)),
            }
        else:
            if compute.pipeline_policy is None or bundle.init_script_path is None:
                raise ValueError("classic pipeline compute needs the pipeline policy and the bundle's init script")
            compute_args = {
                # Enhanced autoscaling sizes streaming pipelines by backlog; the policy caps and tags the cluster.
                "cluster": [
                    databricks.pipeline.PipelineCluster(
                        label="default",
                        policy_id=compute.pipeline_policy.id,
                        apply_policy_default_values=True,
                        node_type_id=p.node_type_id,
                        autoscale=databricks.pipeline.PipelineClusterAutoscale(
                            min_workers=p.min_workers, max_workers=p.max_workers, mode="ENHANCED"
                        ),
                        init_scripts=[
                            databricks.pipeline.PipelineClusterInitScripts(
                                workspace=databricks.pipeline.PipelineClusterInitScriptsWorkspace(
                                    destination=bundle.init_script_path
                                )
                            )
                        ],
                        custom_tags=sorted_tags(env),
                    )
                ],
                "photon": p.photon,
                # ADVANCED is the edition with expectations (quarantine and expectation counts need them).
                "edition": "ADVANCED",
            }
        self.pipeline = databricks.pipeline.Pipeline(
            self,
            "pipeline",
            name=pipeline_name(env.name),
            catalog=uc.catalog.name,
            schema=uc.schemas[PIPELINE_DEFAULT_SCHEMA].name,
            # The bundle root, so `import pipelines.text` works from the pipeline's source files.
            root_path=bundle.root,
            library=[
                databricks.pipeline.PipelineLibrary(
                    glob=databricks.pipeline.PipelineLibraryGlob(include=f"{bundle.root}/{PIPELINE_SOURCES_DIR}/**")
                )
            ],
            configuration=self.settings.to_configuration(),
            channel=p.channel,
            # trigger = continuous: one update runs all the time; otherwise a job starts updates (jobs construct).
            continuous=p.trigger == "continuous",
            development=p.development,
            # Event log as a Unity Catalog table, so alerts and the health views can query it with SQL.
            event_log=databricks.pipeline.PipelineEventLog(
                catalog=uc.catalog.name, schema=uc.schemas[EVENT_LOG[0]].name, name=EVENT_LOG[1]
            ),
            notification=[
                databricks.pipeline.PipelineNotification(
                    email_recipients=list(env.notification_emails), alerts=list(PIPELINE_ALERTS)
                )
            ]
            if env.notification_emails
            else None,
            # Runs as the pipeline service principal, whose grants come from the permission matrix.
            run_as=databricks.pipeline.PipelineRunAs(service_principal_name=env.principal(Persona.PIPELINE)),
            tags=sorted_tags(env),
            depends_on=[bundle.folder, *bundle.files.values(), uc.landing],
            **compute_args,
        )
