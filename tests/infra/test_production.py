"""What differs between staging and production, and nothing else does by accident."""

from __future__ import annotations

from infra.config import load_environments

ENVS = load_environments()


def test_production_state_is_remote_encrypted_and_locked(synth):
    backend = synth.stacks["production"]["terraform"]["backend"]
    assert list(backend) == ["s3"]
    s3 = backend["s3"]
    assert s3["bucket"] == ENVS["production"].backend.bucket
    assert s3["encrypt"] is True
    assert s3["use_lockfile"] is True


def test_staging_state_is_local_with_a_relative_path(synth):
    backend = synth.stacks["staging"]["terraform"]["backend"]
    assert backend == {"local": {"path": "terraform.staging.tfstate"}}


def test_prevent_destroy_on_production_data_only(synth):
    for resource_type in ("databricks_catalog", "databricks_schema", "databricks_volume"):
        for name, resource in synth.resources("production", resource_type).items():
            assert resource["lifecycle"] == {"prevent_destroy": True}, name
        for name, resource in synth.resources("staging", resource_type).items():
            assert "lifecycle" not in resource, name


def test_development_mode_photon_and_schedules(synth):
    prod = synth.resource("production", "databricks_pipeline", "pipeline")
    staging = synth.resource("staging", "databricks_pipeline", "pipeline")
    assert (prod["development"], staging["development"]) == (False, True)
    assert prod["photon"] is True
    assert synth.resource("production", "databricks_job", "job_gdelt_loader")["schedule"]["pause_status"] == "UNPAUSED"
    assert synth.resource("staging", "databricks_job", "job_gdelt_loader")["schedule"]["pause_status"] == "PAUSED"


def test_both_stacks_have_the_same_resource_addresses(synth):
    """One stack class: environments differ in values, never in which resources exist."""

    def addresses(stack: str) -> set[str]:
        return {f"{t}.{n}" for t, by_name in synth.stacks[stack]["resource"].items() for n in by_name}

    assert addresses("staging") == addresses("production")
