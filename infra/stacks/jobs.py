"""The jobs: GDELT loader (scheduled, catches up), Wikimedia listener (continuous), and the pipeline's refresh job.

The loader and the listener are single-process Python scripts that run in the driver, so they never get workers:
`ingestion.compute = serverless` runs them on serverless jobs compute with a pinned environment, `single_node` on a
one-node job cluster under the single-node policy, with the same pins as task libraries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from infra.bundle import INGEST_SCRIPT
from infra.cdk import Annotations, Construct, databricks
from infra.config import EnvironmentConfig
from infra.permissions import Persona
from infra.runtime_deps import JOB_ENVIRONMENT_VERSION
from infra.stacks.bundle import CodeBundle
from infra.stacks.catalog import UnityCatalog
from infra.stacks.common import sorted_tags
from infra.stacks.compute import Compute
from infra.stacks.pipeline import LakeflowPipeline
from pipelines.wikimedia import parse_wikis

ENVIRONMENT_KEY = "ingest"
JOB_CLUSTER_KEY = "ingest"


class Jobs(Construct):
    """Handles: `jobs[name]` (the job resources, for the ACLs), `refresh_job` (None when the pipeline is continuous).

    Every job runs as the pipeline principal (`run_as`), so what it can touch is the matrix's PIPELINE row, and that
    principal holds CAN_USE on the job policy when its clusters use one.
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
        pipeline: LakeflowPipeline,
        dependencies: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.env = env
        self.uc = uc
        self.bundle = bundle
        self.compute = compute
        self.dependencies = tuple(dependencies)
        if INGEST_SCRIPT not in bundle.files:
            Annotations.of(self).add_warning(f"{INGEST_SCRIPT} is not in the bundle: the ingestion jobs would fail")
        self.jobs: dict[str, databricks.job.Job] = {}
        i = env.ingestion
        pause = "PAUSED" if i.paused else "UNPAUSED"
        landing = uc.landing_root
        # GDELT publishes an export every 15 minutes; each run lands every slice missed since the last landed one.
        self.jobs["job_gdelt_loader"] = databricks.job.Job(
            self,
            "job_gdelt_loader",
            name=f"lakehouse-gdelt-loader-{env.name}",
            task=[
                self._task(
                    "land_gdelt",
                    # Rejected rows still land raw and are quarantined by the pipeline, so they must not fail the
                    # run (exit 2) every 15 minutes; they show in the run log and in ops.expectation_counts.
                    ["gdelt", "--base-url", i.gdelt_base_url, "--out", f"{landing}/gdelt", "--allow-rejects"],
                    retries=True,
                ),
                # Silver describes event codes with GDELT's CAMEO lookup; land it once (a no-op afterwards). A
                # separate task, so an unreachable lookup never holds up the exports.
                self._task(
                    "land_cameo_lookup", ["cameo", "--out", f"{landing}/reference", "--if-missing"], retries=True
                ),
            ],
            schedule=databricks.job.JobSchedule(
                quartz_cron_expression=i.gdelt_cron, timezone_id=i.timezone, pause_status=pause
            ),
            timeout_seconds=900,
            **self._common(),
        )
        # The recent-change stream never ends: a continuous job keeps one listener running and restarts it on
        # failure. control_run_state makes the provider restart the active run whenever the job's configuration
        # changes (provider docs, databricks_job); the bundle digest in its tags makes every code deploy such a change,
        # so the listener never keeps running old code.
        self.jobs["job_wikimedia_listener"] = databricks.job.Job(
            self,
            "job_wikimedia_listener",
            name=f"lakehouse-wikimedia-listener-{env.name}",
            task=[self._task("listen_wikimedia", self._listener_parameters(pipeline), retries=False)],
            continuous=databricks.job.JobContinuous(pause_status=pause),
            control_run_state=True,
            **self._common(code_version=bundle.digest),
        )
        self.refresh_job = self._refresh_job(pipeline, pause)

    # -- pieces ---------------------------------------------------------------------------------------------------

    def _common(self, **extra_tags: str) -> dict[str, Any]:
        env = self.env
        compute: dict[str, Any]
        if env.ingestion.compute == "serverless":
            compute = {
                "environment": [
                    databricks.job.JobEnvironment(
                        environment_key=ENVIRONMENT_KEY,
                        spec=databricks.job.JobEnvironmentSpec(
                            environment_version=JOB_ENVIRONMENT_VERSION, dependencies=list(self.dependencies)
                        ),
                    )
                ]
            }
        else:
            compute = {"job_cluster": [self._single_node_cluster()]}
        return {
            **compute,
            "email_notifications": databricks.job.JobEmailNotifications(on_failure=list(env.notification_emails))
            if env.notification_emails
            else None,
            "run_as": databricks.job.JobRunAs(service_principal_name=env.principal(Persona.PIPELINE)),
            "tags": {**sorted_tags(env), **extra_tags},
            "max_concurrent_runs": 1,
            "depends_on": [self.bundle.folder, *self.bundle.files.values(), self.uc.landing],
        }

    def _single_node_cluster(self) -> databricks.job.JobJobCluster:
        env = self.env
        if self.compute.job_policy is None:
            raise ValueError("single-node ingestion compute needs the job cluster policy")
        # One node, no workers: the policy fixes the single-node settings (compute.single_node_job_policy_definition).
        return databricks.job.JobJobCluster(
            job_cluster_key=JOB_CLUSTER_KEY,
            new_cluster=databricks.job.JobJobClusterNewCluster(
                spark_version=env.cluster.spark_version,
                node_type_id=env.ingestion.node_type_id,
                num_workers=0,
                spark_conf={"spark.databricks.cluster.profile": "singleNode", "spark.master": "local[*, 4]"},
                policy_id=self.compute.job_policy.id,
                apply_policy_default_values=True,
                data_security_mode="SINGLE_USER",
                custom_tags={**sorted_tags(self.env), "ResourceClass": "SingleNode"},
            ),
        )

    def _task(self, key: str, parameters: list[str], *, retries: bool) -> databricks.job.JobTask:
        python_file = f"{self.bundle.root}/{INGEST_SCRIPT}"
        placement: dict[str, Any]
        if self.env.ingestion.compute == "serverless":
            placement = {"environment_key": ENVIRONMENT_KEY}
        else:
            placement = {
                "job_cluster_key": JOB_CLUSTER_KEY,
                "library": [
                    databricks.job.JobTaskLibrary(pypi=databricks.job.JobTaskLibraryPypi(package=p))
                    for p in self.dependencies
                ],
            }
        return databricks.job.JobTask(
            task_key=key,
            spark_python_task=databricks.job.JobTaskSparkPythonTask(
                python_file=python_file, source="WORKSPACE", parameters=parameters
            ),
            # Scheduled runs retry transient download errors; continuous jobs are restarted by the service instead.
            max_retries=2 if retries else None,
            min_retry_interval_millis=60_000 if retries else None,
            **placement,
        )

    def _listener_parameters(self, pipeline: LakeflowPipeline) -> list[str]:
        """Listener arguments: land only the wikis silver keeps, and name a real contact in the User-Agent
        (Wikimedia's User-Agent policy asks clients for one)."""
        params = ["wikimedia", "--url", self.env.ingestion.wikimedia_url, "--out", f"{self.uc.landing_root}/wikimedia"]
        for wiki in parse_wikis(pipeline.settings.wikis):
            params += ["--wiki", wiki]
        if self.env.notification_emails:
            params += ["--contact", self.env.notification_emails[0]]
        return params

    def _refresh_job(self, pipeline: LakeflowPipeline, pause: str) -> databricks.job.Job | None:
        """What starts a triggered pipeline's updates (docs/deploy.md, "What starts the pipeline").

        `scheduled`: a cron aligned a few minutes after each GDELT slice lands; `file_arrival`: a job trigger on the
        landing volume (Jobs "Trigger jobs when new files arrive": UC volumes are supported; at least 60 s apart).
        A continuous pipeline needs no job: one update keeps running.
        """
        p = self.env.pipeline
        if p.trigger == "continuous":
            return None
        trigger: dict[str, Any]
        if p.trigger == "scheduled":
            trigger = {
                "schedule": databricks.job.JobSchedule(
                    quartz_cron_expression=p.refresh_cron, timezone_id=self.env.ingestion.timezone, pause_status=pause
                )
            }
        else:
            trigger = {
                "trigger": databricks.job.JobTrigger(
                    pause_status=pause,
                    file_arrival=databricks.job.JobTriggerFileArrival(
                        url=f"{self.uc.landing_root}/",
                        min_time_between_triggers_seconds=300,
                        wait_after_last_change_seconds=60,
                    ),
                )
            }
        job = databricks.job.Job(
            self,
            "job_pipeline_refresh",
            name=f"lakehouse-pipeline-refresh-{self.env.name}",
            task=[
                databricks.job.JobTask(
                    task_key="refresh_pipeline",
                    pipeline_task=databricks.job.JobTaskPipelineTask(pipeline_id=pipeline.pipeline.id),
                )
            ],
            email_notifications=databricks.job.JobEmailNotifications(on_failure=list(self.env.notification_emails))
            if self.env.notification_emails
            else None,
            run_as=databricks.job.JobRunAs(service_principal_name=self.env.principal(Persona.PIPELINE)),
            tags=sorted_tags(self.env),
            max_concurrent_runs=1,
            **trigger,
        )
        self.jobs["job_pipeline_refresh"] = job
        return job
