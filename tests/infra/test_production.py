"""What differs between staging and production, and nothing else does by accident."""

from __future__ import annotations

from infra.config import load_environments
from infra.phases import all_stack_names

ENVS = load_environments()


def test_every_stack_keeps_its_state_in_its_own_locked_s3_object(synth):
    keys = set()
    for stack in all_stack_names():
        env = ENVS[stack.removesuffix("-serving")]
        backend = synth.stacks[stack]["terraform"]["backend"]
        assert list(backend) == ["s3"], stack
        s3 = backend["s3"]
        assert (s3["bucket"], s3["encrypt"], s3["use_lockfile"]) == (env.state.backend.bucket, True, True)
        assert s3["key"] == f"lakehouse/{env.name}/{stack}.tfstate"
        keys.add(s3["key"])
    assert len(keys) == len(all_stack_names()), "two stacks must never share a state object"


def test_prevent_destroy_on_production_data_only(synth):
    for resource_type in ("databricks_catalog", "databricks_schema", "databricks_volume"):
        for name, resource in synth.resources("production", resource_type).items():
            assert resource["lifecycle"] == {"prevent_destroy": True}, name
        for name, resource in synth.resources("staging", resource_type).items():
            assert "lifecycle" not in resource, name


def test_development_mode_compute_and_schedules(synth):
    prod = synth.resource("production", "databricks_pipeline", "pipeline")
    staging = synth.resource("staging", "databricks_pipeline", "pipeline")
    assert (prod["development"], staging["development"]) == (False, True)
    assert prod["photon"] is True and staging["serverless"] is True
    assert synth.resource("production", "databricks_job", "job_gdelt_loader")["schedule"]["pause_status"] == "UNPAUSED"
    assert synth.resource("staging", "databricks_job", "job_gdelt_loader")["schedule"]["pause_status"] == "PAUSED"


def test_environments_differ_only_where_their_config_does(synth):
    """One set of constructs: the resources that exist differ only by the compute and trigger each config picks."""

    def addresses(stack: str) -> set[str]:
        return {f"{t}.{n}" for t, by_name in synth.stacks[stack]["resource"].items() for n in by_name}

    assert addresses("staging-serving") == addresses("production-serving")
    config_driven = {
        # production: classic pipeline compute (policy + its ACL + init script), single-node ingestion clusters
        "databricks_cluster_policy.cluster_policy_pipeline",
        "databricks_permissions.permissions_cluster_policy_pipeline",
        "databricks_workspace_file.file_init_pipeline_dependencies_sh",
        "databricks_cluster_policy.cluster_policy_jobs",
        "databricks_permissions.permissions_cluster_policy_jobs",
        # staging: a scheduled pipeline has a refresh job (production's is continuous)
        "databricks_job.job_pipeline_refresh",
        "databricks_permissions.permissions_job_pipeline_refresh",
    }
    assert addresses("staging") ^ addresses("production") == config_driven
