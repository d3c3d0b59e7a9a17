"""Synth-time guards: a forbidden resource makes `synth` itself fail with a message naming it and the fix."""

from __future__ import annotations

import json

import pytest

from infra.cdk import databricks
from infra.config import load_environment
from infra.guard_rules import resource_violations, stack_violations
from infra.main import new_app
from infra.stacks import PlatformStack


def _guarded_stack(tmp_path):
    """A real stack (which installs its own guards) to which a test adds one forbidden resource."""
    app = new_app(str(tmp_path / "out"))
    stack = PlatformStack(app, load_environment("staging"))
    return app, stack


def test_broad_all_privileges_fails_synth(tmp_path):
    app, stack = _guarded_stack(tmp_path)
    databricks.grants.Grants(
        stack,
        "oops",
        catalog="lakehouse_staging",
        grant=[databricks.grants.GrantsGrant(principal="account users", privileges=["ALL_PRIVILEGES"])],
    )
    with pytest.raises(RuntimeError) as excinfo:
        app.synth()
    message = str(excinfo.value)
    assert message.count("[staging/oops]") == 1, "one guard, one message"
    assert "[staging/oops] databricks_grants: grants ALL_PRIVILEGES to 'account users'" in message
    assert "grant specific privileges to a narrower group in infra/permissions.py" in message
    assert not (tmp_path / "out" / "stacks" / "staging" / "cdk.tf.json").exists()


def test_manage_for_users_group_fails_synth(tmp_path):
    app, stack = _guarded_stack(tmp_path)
    databricks.grants.Grants(
        stack,
        "oops",
        schema="x.y",
        grant=[databricks.grants.GrantsGrant(principal="Users", privileges=["MANAGE", "USE_SCHEMA"])],
    )
    with pytest.raises(RuntimeError, match=r"grants MANAGE to 'Users'"):
        app.synth()


def test_cluster_without_autotermination_and_oversized_fails_synth(tmp_path):
    app, stack = _guarded_stack(tmp_path)
    databricks.cluster.Cluster(
        stack,
        "big",
        spark_version="16.4.x-scala2.12",
        autoscale=databricks.cluster.ClusterAutoscale(min_workers=1, max_workers=20),
    )
    with pytest.raises(RuntimeError) as excinfo:
        app.synth()
    message = str(excinfo.value)
    assert "[staging/big] databricks_cluster: cluster has no auto-termination: set autotermination_minutes" in message
    assert "cluster autoscales to 20 workers: set autoscale max_workers to at most 8" in message


def test_policy_without_autotermination_fails_synth(tmp_path):
    app, stack = _guarded_stack(tmp_path)
    definition = {"autoscale.max_workers": {"type": "range", "maxValue": 8}}
    databricks.cluster_policy.ClusterPolicy(stack, "lax", name="lax", definition=json.dumps(definition))
    with pytest.raises(RuntimeError, match=r"\[staging/lax\] databricks_cluster_policy: cluster policy does not force"):
        app.synth()


def test_oversized_pipeline_and_job_clusters_fail_synth(tmp_path):
    app, stack = _guarded_stack(tmp_path)
    databricks.pipeline.Pipeline(
        stack,
        "wide",
        name="wide",
        cluster=[
            databricks.pipeline.PipelineCluster(
                label="default",
                autoscale=databricks.pipeline.PipelineClusterAutoscale(min_workers=1, max_workers=16, mode="ENHANCED"),
            )
        ],
    )
    databricks.job.Job(
        stack,
        "wide_job",
        name="wide",
        job_cluster=[
            databricks.job.JobJobCluster(
                job_cluster_key="k",
                new_cluster=databricks.job.JobJobClusterNewCluster(
                    spark_version="x",
                    autoscale=databricks.job.JobJobClusterNewClusterAutoscale(min_workers=1, max_workers=9),
                ),
            )
        ],
    )
    with pytest.raises(RuntimeError) as excinfo:
        app.synth()
    message = str(excinfo.value)
    assert "pipeline cluster 'default' autoscales to 16 workers" in message
    assert "job cluster 'k' autoscales to 9 workers" in message


def test_classic_job_compute_without_a_policy_fails_synth(tmp_path):
    app, stack = _guarded_stack(tmp_path)
    databricks.job.Job(
        stack,
        "no_policy",
        name="no-policy",
        job_cluster=[
            databricks.job.JobJobCluster(
                job_cluster_key="k",
                new_cluster=databricks.job.JobJobClusterNewCluster(spark_version="x", num_workers=0),
            )
        ],
    )
    with pytest.raises(RuntimeError, match=r"job cluster 'k' names no cluster policy: set policy_id"):
        app.synth()


def test_a_run_as_principal_without_can_use_on_its_policy_fails_synth(tmp_path):
    # Databricks creates compute from a policy only for principals with CAN_USE on it ("Manage compute policies").
    app, stack = _guarded_stack(tmp_path)
    policy = databricks.cluster_policy.ClusterPolicy(
        stack,
        "unshared_policy",
        name="unshared",
        definition=json.dumps(
            {"cluster_type": {"type": "fixed", "value": "job"}, "num_workers": {"type": "fixed", "value": 0}}
        ),
    )
    databricks.job.Job(
        stack,
        "orphan_job",
        name="orphan",
        run_as=databricks.job.JobRunAs(service_principal_name="11111111-2222-4333-8444-555555555555"),
        job_cluster=[
            databricks.job.JobJobCluster(
                job_cluster_key="k",
                new_cluster=databricks.job.JobJobClusterNewCluster(
                    spark_version="x", num_workers=0, policy_id=policy.id
                ),
            )
        ],
    )
    with pytest.raises(RuntimeError) as excinfo:
        app.synth()
    message = str(excinfo.value)
    assert (
        "databricks_job.orphan_job: job cluster 'k' uses policy ${databricks_cluster_policy.unshared_policy.id}"
        in message
    )
    assert "has no CAN_USE on it" in message


def test_real_stacks_pass_every_guard(synth):
    for stack in synth.stacks.values():
        assert stack_violations(stack) == []


@pytest.mark.parametrize(
    ("resource_type", "config", "expected"),
    [
        ("databricks_grants", {"grant": [{"principal": "account users", "privileges": ["SELECT"]}]}, []),
        ("databricks_grants", {"grant": [{"principal": "admins", "privileges": ["ALL_PRIVILEGES"]}]}, []),
        ("databricks_cluster", {"autotermination_minutes": 0, "num_workers": 2}, ["no auto-termination"]),
        ("databricks_cluster", {"autotermination_minutes": 30, "num_workers": 9}, ["9 fixed workers"]),
        ("databricks_cluster", {"autotermination_minutes": "${var.x}", "num_workers": 2}, []),
        ("databricks_cluster_policy", {"definition": "{not json"}, ["not valid JSON"]),
        (
            "databricks_cluster_policy",
            {
                "definition": json.dumps(
                    {
                        "cluster_type": {"type": "fixed", "value": "job"},
                        "autoscale.max_workers": {"type": "fixed", "value": 4},
                    }
                )
            },
            [],
        ),
        ("databricks_volume", {"name": "anything"}, []),
    ],
)
def test_rules_on_plain_configs(resource_type, config, expected):
    violations = resource_violations(resource_type, config)
    assert len(violations) == len(expected)
    for message, fragment in zip(violations, expected, strict=True):
        assert fragment in message
