"""Synth assertions for every resource family of both stacks (read from the session's single synth)."""

from __future__ import annotations

import json

import pytest

from infra.bundle import bundle_files, job_pypi_requirements
from infra.config import load_environments
from infra.permissions import SCHEMAS
from infra.views import secure_views
from pipelines.ingest.gdelt_loader import CAMEO_FILE_NAME
from pipelines.settings import PipelineSettings

ENVS = load_environments()
STACKS = ("staging", "production")


@pytest.mark.parametrize("stack", STACKS)
def test_provider_reads_host_and_token_from_variables(synth, stack):
    data = synth.stacks[stack]
    assert data["provider"]["databricks"] == [{"host": "${var.databricks_host}", "token": "${var.databricks_token}"}]
    variables = data["variable"]
    assert variables["databricks_host"]["default"] == ENVS[stack].workspace_host
    token = variables["databricks_token"]
    assert token["sensitive"] is True
    assert token["default"] is None  # optional: null falls back to the provider's own auth chain


@pytest.mark.parametrize("stack", STACKS)
def test_catalog_schemas_and_landing_volume(synth, stack):
    env = ENVS[stack]
    admins = env.principals["platform_admins"]
    (catalog,) = synth.resources(stack, "databricks_catalog").values()
    assert catalog["name"] == env.catalog
    assert catalog["owner"] == admins
    schemas = synth.resources(stack, "databricks_schema")
    assert sorted(s["name"] for s in schemas.values()) == sorted(SCHEMAS)
    for schema in schemas.values():
        assert schema["catalog_name"] == "${databricks_catalog.catalog.name}"
        assert schema["owner"] == admins
    (volume,) = synth.resources(stack, "databricks_volume").values()
    assert (volume["name"], volume["volume_type"], volume["owner"]) == ("landing", "MANAGED", admins)
    assert volume["schema_name"] == "${databricks_schema.schema_bronze.name}"


@pytest.mark.parametrize("stack", STACKS)
def test_cluster_policies_and_shared_cluster(synth, stack):
    env = ENVS[stack]
    policies = {
        p["name"]: json.loads(p["definition"]) for p in synth.resources(stack, "databricks_cluster_policy").values()
    }
    interactive = policies[f"lakehouse-interactive-{stack}"]
    assert interactive["autotermination_minutes"] == {"type": "fixed", "value": env.cluster.autotermination_minutes}
    for definition in policies.values():
        assert definition["autoscale.max_workers"]["maxValue"] == 8
        for key, value in env.tags.items():  # required tags, fixed
            assert definition[f"custom_tags.{key}"] == {"type": "fixed", "value": value}
    assert policies[f"lakehouse-jobs-{stack}"]["cluster_type"] == {"type": "fixed", "value": "job"}

    cluster = synth.resource(stack, "databricks_cluster", "shared_cluster")
    assert cluster["autoscale"] == {"min_workers": 1, "max_workers": 8}
    assert cluster["autotermination_minutes"] == env.cluster.autotermination_minutes
    assert cluster["policy_id"] == "${databricks_cluster_policy.cluster_policy_interactive.id}"
    assert cluster["custom_tags"] == env.tags


@pytest.mark.parametrize("stack", STACKS)
def test_bundle_uploads_every_pipeline_file_with_its_md5(synth, stack):
    env = ENVS[stack]
    files = synth.resources(stack, "databricks_workspace_file")
    expected = {f.relative_path: f.md5 for f in bundle_files()}
    assert expected, "the bundle is empty"
    uploaded = {}
    for resource in files.values():
        workspace_prefix = env.workspace_root.removeprefix("/Workspace") + "/"
        assert resource["path"].startswith(workspace_prefix)
        relative = resource["path"].removeprefix(workspace_prefix)
        # Relative, content-addressed asset path: no absolute path of the machine that synthesized.
        assert resource["source"].startswith("assets/") and resource["source"].endswith(relative.rsplit("/", 1)[-1])
        assert resource["md5"] in resource["source"]
        uploaded[relative] = resource["md5"]
    assert uploaded == expected
    # The asset itself was copied next to the stack, byte for byte.
    some = next(iter(files.values()))
    assert (synth.out_dir / "stacks" / stack / some["source"]).is_file()


@pytest.mark.parametrize("stack", STACKS)
def test_pipeline(synth, stack):
    env = ENVS[stack]
    pipeline = synth.resource(stack, "databricks_pipeline", "pipeline")
    assert pipeline["catalog"] == "${databricks_catalog.catalog.name}"
    assert pipeline["schema"] == "${databricks_schema.schema_silver.name}"
    assert pipeline["root_path"] == env.workspace_root
    assert pipeline["library"] == [{"glob": {"include": f"{env.workspace_root}/pipelines/definitions/**"}}]
    (cluster,) = pipeline["cluster"]
    assert cluster["autoscale"] == {"min_workers": 1, "max_workers": 8, "mode": "ENHANCED"}
    assert "serverless" not in pipeline
    assert pipeline["event_log"] == {
        "catalog": "${databricks_catalog.catalog.name}",
        "schema": "${databricks_schema.schema_ops.name}",
        "name": "pipeline_event_log",
    }
    assert pipeline["development"] is env.pipeline.development
    assert pipeline["photon"] is env.pipeline.photon
    assert pipeline["continuous"] is env.pipeline.continuous
    assert pipeline["channel"] == env.pipeline.channel
    assert pipeline["notification"][0]["email_recipients"] == list(env.notification_emails)
    assert pipeline["run_as"] == {"service_principal_name": env.principals["pipeline"]}
    # The configuration map is exactly what the pipeline code parses back.
    settings = PipelineSettings.from_configuration(pipeline["configuration"])
    landing = f"/Volumes/{env.catalog}/bronze/landing"
    assert settings.gdelt_landing_path == f"{landing}/gdelt"
    assert settings.wikimedia_landing_path == f"{landing}/wikimedia"
    assert settings.cameo_lookup_path.startswith(f"{landing}/reference/")
    assert settings.window_hours == env.pipeline.window_hours
    assert settings.similarity_threshold == env.pipeline.similarity_threshold
    # Code is uploaded before the pipeline is created or updated.
    uploads = {f"databricks_workspace_file.{name}" for name in synth.resources(stack, "databricks_workspace_file")}
    assert uploads <= set(pipeline["depends_on"])


def test_serverless_pipeline_has_no_cluster(tmp_path):
    """A config switch, not a code change: serverless drops the classic cluster block."""
    from infra.cdk import App, Testing
    from infra.config import EnvironmentConfig
    from infra.stacks import LakehouseStack

    env = ENVS["staging"]
    body = {k: getattr(env, k) for k in EnvironmentConfig.__dataclass_fields__}
    body["pipeline"] = type(env.pipeline)(**{**env.pipeline.__dict__, "serverless": True})
    stack = LakehouseStack(App(outdir=str(tmp_path)), EnvironmentConfig(**body))
    pipeline = next(iter(json.loads(Testing.synth(stack))["resource"]["databricks_pipeline"].values()))
    assert pipeline["serverless"] is True
    assert "cluster" not in pipeline and "photon" not in pipeline


@pytest.mark.parametrize("stack", STACKS)
def test_ingestion_jobs(synth, stack):
    env = ENVS[stack]
    landing = f"/Volumes/{env.catalog}/bronze/landing"
    pins = [{"pypi": {"package": p}} for p in job_pypi_requirements()]
    gdelt = synth.resource(stack, "databricks_job", "job_gdelt_loader")
    wiki = synth.resource(stack, "databricks_job", "job_wikimedia_listener")
    expected_pause = "PAUSED" if env.ingestion.paused else "UNPAUSED"
    assert gdelt["schedule"] == {
        "quartz_cron_expression": "0 0/15 * * * ?",
        "timezone_id": "UTC",
        "pause_status": expected_pause,
    }
    assert wiki["continuous"] == {"pause_status": expected_pause}
    assert "schedule" not in wiki
    assert [t["task_key"] for t in gdelt["task"]] == ["land_gdelt", "land_cameo_lookup"]
    assert [t["task_key"] for t in wiki["task"]] == ["listen_wikimedia"]
    for job, task, params in (
        (
            gdelt,
            gdelt["task"][0],
            ["gdelt", "--base-url", env.ingestion.gdelt_base_url, "--out", f"{landing}/gdelt", "--allow-rejects"],
        ),
        # The lookup lands where the pipeline's configuration map says silver reads it.
        (gdelt, gdelt["task"][1], ["cameo", "--out", f"{landing}/reference", "--if-missing"]),
        (
            wiki,
            wiki["task"][0],
            # Only the wikis silver keeps, and a real contact in the User-Agent (Wikimedia's policy).
            [
                *("wikimedia", "--url", env.ingestion.wikimedia_url, "--out", f"{landing}/wikimedia"),
                *("--wiki", "enwiki", "--contact", env.notification_emails[0]),
            ],
        ),
    ):
        python_task = task["spark_python_task"]
        assert python_task["parameters"] == params
        assert python_task["source"] == "WORKSPACE"
        assert python_task["python_file"] == f"{env.workspace_root}/pipelines/ingest/cli.py"
        # Every uploaded file (the script among them once it exists) is in place before the job changes.
        uploads = {f"databricks_workspace_file.{name}" for name in synth.resources(stack, "databricks_workspace_file")}
        assert uploads <= set(job["depends_on"])
        assert task["library"] == pins
        (cluster,) = job["job_cluster"]
        new_cluster = cluster["new_cluster"]
        assert new_cluster["autoscale"]["max_workers"] <= 8
        assert new_cluster["policy_id"] == "${databricks_cluster_policy.cluster_policy_jobs.id}"
        assert job["email_notifications"] == {"on_failure": list(env.notification_emails)}
        assert job["run_as"] == {"service_principal_name": env.principals["pipeline"]}
        assert job["max_concurrent_runs"] == 1
        assert job["tags"] == env.tags
    pipeline = synth.resource(stack, "databricks_pipeline", "pipeline")
    assert pipeline["configuration"]["lakehouse.cameo_lookup_path"] == f"{landing}/reference/{CAMEO_FILE_NAME}"


@pytest.mark.parametrize("stack", STACKS)
def test_secure_views_deployed_on_the_warehouse(synth, stack):
    env = ENVS[stack]
    warehouse = synth.resource(stack, "databricks_sql_endpoint", "sql_warehouse")
    assert warehouse["name"] == env.sql_warehouse.name
    assert warehouse["auto_stop_mins"] == env.sql_warehouse.auto_stop_mins
    views = synth.resources(stack, "databricks_sql_table")
    rendered = {v.name: v.definition for v in secure_views(env.catalog, env.principals)}
    assert {v["name"] for v in views.values()} == set(rendered)
    for view in views.values():
        assert view["table_type"] == "VIEW"
        assert view["warehouse_id"] == "${databricks_sql_endpoint.sql_warehouse.id}"
        assert view["view_definition"] == rendered[view["name"]]
        assert f"is_account_group_member('{env.principals['compliance']}')" in view["view_definition"]
        assert f"`{env.catalog}`.`gold`.`correlations`" in view["view_definition"]
        # First apply: the views wait for the pipeline's tables (variable pipeline_outputs_ready).
        assert view["count"] == "${var.pipeline_outputs_ready ? 1 : 0}"


@pytest.mark.parametrize("stack", STACKS)
def test_alerts_on_expectations_and_event_log(synth, stack):
    env = ENVS[stack]
    queries = synth.resources(stack, "databricks_query")
    texts = " ".join(q["query_text"] for q in queries.values())
    assert f"`{env.catalog}`.`ops`.`expectation_counts`" in texts
    assert f"`{env.catalog}`.`ops`.`pipeline_event_log`" in texts
    alerts = synth.resources(stack, "databricks_alert")
    assert {a["query_id"] for a in alerts.values()} == {f"${{databricks_query.{n}.id}}" for n in queries}
    job = synth.resource(stack, "databricks_job", "job_alerts")
    alert_ids = {t["sql_task"]["alert"]["alert_id"] for t in job["task"]}
    assert alert_ids == {f"${{databricks_alert.{n}.id}}" for n in alerts}
    for task in job["task"]:
        assert [s["user_name"] for s in task["sql_task"]["alert"]["subscriptions"]] == list(env.notification_emails)


@pytest.mark.parametrize("stack", STACKS)
def test_tags_from_config_on_every_taggable_resource(synth, stack):
    tags = ENVS[stack].tags
    assert synth.resource(stack, "databricks_pipeline", "pipeline")["tags"] == tags
    assert synth.resource(stack, "databricks_pipeline", "pipeline")["cluster"][0]["custom_tags"] == tags
    for job in synth.resources(stack, "databricks_job").values():
        assert job["tags"] == tags
    warehouse_tags = synth.resource(stack, "databricks_sql_endpoint", "sql_warehouse")["tags"]["custom_tags"]
    assert {t["key"]: t["value"] for t in warehouse_tags} == tags
