"""Compute an environment offers: cluster policies (interactive, job, pipeline), the shared cluster, the SQL warehouse.

Every classic cluster the stacks define names one of these policies, and the principal that creates it holds
CAN_USE on that policy (infra/permissions.py WORKSPACE_ACLS): Databricks creates compute only from a policy its
creator may use, and a policy is how the <= MAX_WORKERS cap, auto-termination and cost tags are enforced.
"""

from __future__ import annotations

import json
from typing import Any

from infra.cdk import Construct, databricks
from infra.config import EnvironmentConfig
from infra.guard_rules import MAX_WORKERS
from infra.stacks.common import sorted_tags


def _fixed(value: Any) -> dict[str, Any]:
    return {"type": "fixed", "value": value}


def _workers(default: int) -> dict[str, Any]:
    return {"type": "range", "minValue": 1, "maxValue": MAX_WORKERS, "defaultValue": default}


def _tag_rules(env: EnvironmentConfig) -> dict[str, dict[str, Any]]:
    # Required tags: fixed in every policy so cost reports can attribute every cluster.
    return {f"custom_tags.{k}": _fixed(v) for k, v in sorted_tags(env).items()}


def interactive_policy_definition(env: EnvironmentConfig) -> dict[str, Any]:
    c = env.cluster
    return {
        "cluster_type": _fixed("all-purpose"),
        "autotermination_minutes": _fixed(c.autotermination_minutes),
        "autoscale.min_workers": {
            "type": "range",
            "minValue": 1,
            "maxValue": MAX_WORKERS,
            "defaultValue": c.min_workers,
        },
        "autoscale.max_workers": {
            "type": "range",
            "minValue": 1,
            "maxValue": MAX_WORKERS,
            "defaultValue": c.max_workers,
        },
        **_tag_rules(env),
    }


def single_node_job_policy_definition(env: EnvironmentConfig) -> dict[str, Any]:
    """Job clusters for the ingestion scripts: one node, no workers (they run in the driver only).

    The single-node settings are the ones Databricks documents for single-node compute ("Single-node or
    multi-node compute": spark.databricks.cluster.profile singleNode, spark.master local[*], ResourceClass tag).
    Job clusters end with their run, so auto-termination does not apply.
    """
    return {
        "cluster_type": _fixed("job"),
        "num_workers": {**_fixed(0), "hidden": True},
        "spark_conf.spark.databricks.cluster.profile": {**_fixed("singleNode"), "hidden": True},
        "spark_conf.spark.master": {**_fixed("local[*, 4]"), "hidden": True},
        "custom_tags.ResourceClass": {**_fixed("SingleNode"), "hidden": True},
        "node_type_id": _fixed(env.ingestion.node_type_id),
        "data_security_mode": _fixed("SINGLE_USER"),
        **_tag_rules(env),
    }


def pipeline_policy_definition(env: EnvironmentConfig) -> dict[str, Any]:
    """Classic Lakeflow pipeline clusters: cluster_type `dlt` is the policy family pipelines may use."""
    p = env.pipeline
    return {
        "cluster_type": _fixed("dlt"),
        "autoscale.max_workers": {
            "type": "range",
            "minValue": 1,
            "maxValue": MAX_WORKERS,
            "defaultValue": p.max_workers,
        },
        "node_type_id": _fixed(p.node_type_id),
        **_tag_rules(env),
    }


class Compute(Construct):
    """Handles: `interactive_policy`, `job_policy`, `pipeline_policy` (None on serverless), `shared_cluster`,
    `warehouse`."""

    def __init__(self, scope: Construct, construct_id: str, env: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        c = env.cluster
        # Caps interactive clusters: forced auto-termination, at most MAX_WORKERS workers, cost tags.
        self.interactive_policy = databricks.cluster_policy.ClusterPolicy(
            self,
            "cluster_policy_interactive",
            name=f"lakehouse-interactive-{env.name}",
            description=f"All-purpose clusters: auto-terminate, autoscale <= {MAX_WORKERS} workers, cost tags.",
            definition=json.dumps(interactive_policy_definition(env), sort_keys=True),
        )
        # The ingestion jobs' one-node clusters (only when they do not run on serverless jobs compute).
        self.job_policy = (
            databricks.cluster_policy.ClusterPolicy(
                self,
                "cluster_policy_jobs",
                name=f"lakehouse-jobs-{env.name}",
                description="Ingestion job clusters: single node (the scripts run in the driver), cost tags.",
                definition=json.dumps(single_node_job_policy_definition(env), sort_keys=True),
            )
            if env.ingestion.compute == "single_node"
            else None
        )
        # The pipeline's classic cluster (serverless pipelines take no cluster policy).
        self.pipeline_policy = (
            None
            if env.pipeline.serverless
            else databricks.cluster_policy.ClusterPolicy(
                self,
                "cluster_policy_pipeline",
                name=f"lakehouse-pipeline-{env.name}",
                description=f"Lakeflow pipeline clusters: autoscale <= {MAX_WORKERS} workers, cost tags.",
                definition=json.dumps(pipeline_policy_definition(env), sort_keys=True),
            )
        )
        # Shared Unity Catalog cluster for exploration; standard access mode so many users share it safely.
        self.shared_cluster = databricks.cluster.Cluster(
            self,
            "shared_cluster",
            cluster_name=f"lakehouse-shared-{env.name}",
            spark_version=c.spark_version,
            node_type_id=c.node_type_id,
            autoscale=databricks.cluster.ClusterAutoscale(min_workers=c.min_workers, max_workers=c.max_workers),
            autotermination_minutes=c.autotermination_minutes,
            policy_id=self.interactive_policy.id,
            apply_policy_default_values=True,
            data_security_mode="USER_ISOLATION",
            custom_tags=sorted_tags(env),
        )
        # SQL warehouse for the views, the alerts and the dashboard; small and auto-stopping.
        self.warehouse = databricks.sql_endpoint.SqlEndpoint(
            self,
            "sql_warehouse",
            name=env.sql_warehouse.name,
            cluster_size=env.sql_warehouse.cluster_size,
            auto_stop_mins=env.sql_warehouse.auto_stop_mins,
            min_num_clusters=1,
            max_num_clusters=1,
            warehouse_type="PRO",
            enable_serverless_compute=True,
            tags=databricks.sql_endpoint.SqlEndpointTags(
                custom_tags=[
                    databricks.sql_endpoint.SqlEndpointTagsCustomTags(key=k, value=v)
                    for k, v in sorted_tags(env).items()
                ]
            ),
        )
