"""What each stack renders from the config (read from the session's single synth). The rules a real workspace
enforces on these resources are in test_platform_rules.py; this module checks that config reaches the JSON."""

from __future__ import annotations

import base64
import json

import pytest

from infra.bundle import bundle_files
from infra.config import load_environments
from infra.permissions import SCHEMAS
from infra.phases import stack_names
from infra.runtime_deps import runtime_dependencies
from infra.views import secure_views
from pipelines.ingest.gdelt_loader import CAMEO_FILE_NAME
from pipelines.settings import PipelineSettings

ENVS = load_environments()
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
ENV_NAMES = ("staging", "production")
DEPS = runtime_dependencies()


def _platform(name: str) -> str:
    return stack_names(name).platform


def _serving(name: str) -> str:
    return stack_names(name).serving


@pytest.mark.parametrize("stack", [s for env in ENV_NAMES for s in stack_names(env).all()])
def test_provider_reads_host_and_token_from_variables(synth, stack):
    env = ENVS[stack.removesuffix("-serving")]
    data = synth.stacks[stack]
    assert data["provider"]["databricks"] == [{"host": "${var.databricks_host}", "token": "${var.databricks_token}"}]
    variables = data["variable"]
    assert variables["databricks_host"]["default"] == env.workspace_host
    token = variables["databricks_token"]
    assert token["sensitive"] is True
    assert token["default"] is None  # optional: null falls back to the provider's own auth chain


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_catalog_schemas_and_landing_volume_are_owned_by_the_deployer(synth, env_name):
    env = ENVS[env_name]
    stack = _platform(env_name)
    deployer = env.principals["deployer"]
    (catalog,) = synth.resources(stack, "databricks_catalog").values()
    assert (catalog["name"], catalog["owner"], catalog["storage_root"]) == (env.catalog, deployer, env.storage_root)
    schemas = synth.resources(stack, "databricks_schema")
    assert sorted(s["name"] for s in schemas.values()) == sorted(SCHEMAS)
    for schema in schemas.values():
        assert schema["catalog_name"] == "${databricks_catalog.catalog.name}"
        assert schema["owner"] == deployer
    (volume,) = synth.resources(stack, "databricks_volume").values()
    assert (volume["name"], volume["volume_type"], volume["owner"]) == ("landing", "MANAGED", deployer)
    assert volume["schema_name"] == "${databricks_schema.schema_bronze.name}"


def test_storage_root_is_optional(tmp_path):
    from infra.cdk import Testing
    from infra.main import new_app
    from infra.stacks import PlatformStack

    env = ENVS["staging"]
    body = {k: getattr(env, k) for k in type(env).__dataclass_fields__}
    body["storage_root"] = None
    stack = PlatformStack(new_app(str(tmp_path)), type(env)(**body))
    (catalog,) = json.loads(Testing.synth(stack))["resource"]["databricks_catalog"].values()
    assert "storage_root" not in catalog


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_cluster_policies_and_shared_cluster(synth, env_name):
    env = ENVS[env_name]
    stack = _platform(env_name)
    policies = {
        p["name"]: json.loads(p["definition"]) for p in synth.resources(stack, "databricks_cluster_policy").values()
    }
    interactive = policies[f"lakehouse-interactive-{env_name}"]
    assert interactive["autotermination_minutes"] == {"type": "fixed", "value": env.cluster.autotermination_minutes}
    for definition in policies.values():
        for key, value in env.tags.items():  # required tags, fixed
            assert definition[f"custom_tags.{key}"] == {"type": "fixed", "value": value}
    assert (f"lakehouse-jobs-{env_name}" in policies) is (env.ingestion.compute == "single_node")
    assert (f"lakehouse-pipeline-{env_name}" in policies) is (not env.pipeline.serverless)
    cluster = synth.resource(stack, "databricks_cluster", "shared_cluster")
    assert cluster["autoscale"] == {"min_workers": 1, "max_workers": 8}
    assert cluster["autotermination_minutes"] == env.cluster.autotermination_minutes
    assert cluster["policy_id"] == "${databricks_cluster_policy.cluster_policy_interactive.id}"
    assert cluster["custom_tags"] == env.tags


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_bundle_uploads_every_pipeline_file_with_its_md5_into_the_code_folder(synth, env_name):
    env = ENVS[env_name]
    stack = _platform(env_name)
    folder = synth.resource(stack, "databricks_directory", "code_folder")
    assert folder["path"] == env.workspace_root.removeprefix("/Workspace")
    files = synth.resources(stack, "databricks_workspace_file")
    expected = {f.relative_path: f.md5 for f in bundle_files()}
    assert expected, "the bundle is empty"
    uploaded = {}
    for resource in files.values():
        workspace_prefix = folder["path"] + "/"
        assert resource["path"].startswith(workspace_prefix)
        assert resource["depends_on"] == ["databricks_directory.code_folder"]
        relative = resource["path"].removeprefix(workspace_prefix)
        if "content_base64" in resource:  # the generated init script
            continue
        # Relative, content-addressed asset path: no absolute path of the machine that synthesized.
        assert resource["source"].startswith("assets/") and resource["source"].endswith(relative.rsplit("/", 1)[-1])
        assert resource["md5"] in resource["source"]
        uploaded[relative] = resource["md5"]
    assert uploaded == expected
    some = next(r for r in files.values() if "source" in r)
    assert (synth.out_dir / "stacks" / stack / some["source"]).is_file()


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_pipeline(synth, env_name):
    env = ENVS[env_name]
    stack = _platform(env_name)
    pipeline = synth.resource(stack, "databricks_pipeline", "pipeline")
    assert pipeline["catalog"] == "${databricks_catalog.catalog.name}"
    assert pipeline["schema"] == "${databricks_schema.schema_silver.name}"
    assert pipeline["root_path"] == env.workspace_root
    assert pipeline["library"] == [{"glob": {"include": f"{env.workspace_root}/pipelines/definitions/**"}}]
    assert pipeline["event_log"] == {
        "catalog": "${databricks_catalog.catalog.name}",
        "schema": "${databricks_schema.schema_ops.name}",
        "name": "pipeline_event_log",
    }
    assert pipeline["development"] is env.pipeline.development
    assert pipeline["continuous"] is (env.pipeline.trigger == "continuous")
    assert pipeline["channel"] == env.pipeline.channel
    assert pipeline["notification"][0]["email_recipients"] == list(env.notification_emails)
    assert pipeline["run_as"] == {"service_principal_name": env.principals["pipeline"]}
    if env.pipeline.serverless:
        assert pipeline["serverless"] is True
        assert pipeline["environment"] == {"dependencies": list(DEPS.pipeline)}
        assert "cluster" not in pipeline
    else:
        (cluster,) = pipeline["cluster"]
        assert cluster["autoscale"] == {
            "min_workers": env.pipeline.min_workers,
            "max_workers": env.pipeline.max_workers,
            "mode": "ENHANCED",
        }
        assert cluster["policy_id"] == "${databricks_cluster_policy.cluster_policy_pipeline.id}"
        (script,) = cluster["init_scripts"]
        init = synth.resource(stack, "databricks_workspace_file", "file_init_pipeline_dependencies_sh")
        assert script["workspace"]["destination"] == "/Workspace" + init["path"]
        assert base64.b64decode(init["content_base64"]).decode() == DEPS.pipeline_init_script
        assert pipeline["photon"] is env.pipeline.photon
    # The configuration map is exactly what the pipeline code parses back.
    settings = PipelineSettings.from_configuration(pipeline["configuration"])
    landing = f"/Volumes/{env.catalog}/bronze/landing"
    assert settings.gdelt_landing_path == f"{landing}/gdelt"
    assert settings.wikimedia_landing_path == f"{landing}/wikimedia"
    assert settings.cameo_lookup_path == f"{landing}/reference/{CAMEO_FILE_NAME}"
    assert settings.window_hours == env.pipeline.window_hours
    assert settings.similarity_threshold == env.pipeline.similarity_threshold
    engine_knobs = ("top_k", "lateness_minutes", "text_vector_retention_hours", "wikis", "include_bots")
    assert {k: getattr(settings, k) for k in engine_knobs} == {k: getattr(env.pipeline, k) for k in engine_knobs}
    # The correlation sink writes its tables by name from a foreachBatch function, outside the pipeline's dataset
    # graph (Lakeflow docs, "Use ForEachBatch to write to arbitrary data sinks"), so it must be told the catalog the
    # pipeline publishes to; any other catalog would put gold where no grant, view or health query looks.
    assert pipeline["catalog"] == "${databricks_catalog.catalog.name}"
    assert settings.catalog == synth.resource(stack, "databricks_catalog", "catalog")["name"] == env.catalog


def test_pipeline_dependencies_pin_the_cpu_torch_build():
    # Plain PyPI's Linux torch wheel is the multi-GB CUDA build; the CPU build is on PyTorch's index as `+cpu`.
    assert f"--extra-index-url {TORCH_CPU_INDEX}" in DEPS.pipeline
    assert any(line.startswith("torch==") and line.endswith("+cpu") for line in DEPS.pipeline)
    assert "pip install" in DEPS.pipeline_init_script and TORCH_CPU_INDEX in DEPS.pipeline_init_script


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_ingestion_jobs(synth, env_name):
    env = ENVS[env_name]
    stack = _platform(env_name)
    landing = f"/Volumes/{env.catalog}/bronze/landing"
    gdelt = synth.resource(stack, "databricks_job", "job_gdelt_loader")
    wiki = synth.resource(stack, "databricks_job", "job_wikimedia_listener")
    expected_pause = "PAUSED" if env.ingestion.paused else "UNPAUSED"
    assert gdelt["schedule"] == {
        "quartz_cron_expression": env.ingestion.gdelt_cron,
        "timezone_id": "UTC",
        "pause_status": expected_pause,
    }
    assert wiki["continuous"] == {"pause_status": expected_pause}
    assert [t["task_key"] for t in gdelt["task"]] == ["land_gdelt", "land_cameo_lookup"]
    assert [t["task_key"] for t in wiki["task"]] == ["listen_wikimedia"]
    expected_params = {
        "land_gdelt": [
            "gdelt",
            "--base-url",
            env.ingestion.gdelt_base_url,
            "--out",
            f"{landing}/gdelt",
            "--allow-rejects",
        ],
        "land_cameo_lookup": ["cameo", "--out", f"{landing}/reference", "--if-missing"],
        "listen_wikimedia": [
            *("wikimedia", "--url", env.ingestion.wikimedia_url, "--out", f"{landing}/wikimedia"),
            *("--wiki", "enwiki", "--contact", env.notification_emails[0]),
        ],
    }
    uploads = {f"databricks_workspace_file.{name}" for name in synth.resources(stack, "databricks_workspace_file")}
    for job in (gdelt, wiki):
        assert uploads <= set(job["depends_on"])
        assert job["run_as"] == {"service_principal_name": env.principals["pipeline"]}
        assert job["max_concurrent_runs"] == 1
        for task in job["task"]:
            python_task = task["spark_python_task"]
            assert python_task["parameters"] == expected_params[task["task_key"]]
            assert python_task["python_file"] == f"{env.workspace_root}/pipelines/ingest/cli.py"
            if env.ingestion.compute == "serverless":
                assert task["environment_key"] == "ingest"
                (environment,) = job["environment"]
                assert environment["spec"]["dependencies"] == list(DEPS.jobs)
            else:
                assert task["library"] == [{"pypi": {"package": p}} for p in DEPS.jobs]
                (cluster,) = job["job_cluster"]
                assert cluster["new_cluster"]["num_workers"] == 0


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_secure_views_are_served_on_the_platform_warehouse(synth, env_name):
    env = ENVS[env_name]
    stack = _serving(env_name)
    (warehouse,) = synth.stacks[stack]["data"]["databricks_sql_warehouse"].values()
    assert warehouse["name"] == env.sql_warehouse.name
    rendered = {v.name: v.definition for v in secure_views(env.catalog, env.principals)}
    views = {k: v for k, v in synth.resources(stack, "databricks_sql_table").items() if v["name"] in rendered}
    assert {v["name"] for v in views.values()} == set(rendered)
    for view in views.values():
        assert view["table_type"] == "VIEW"
        assert view["warehouse_id"] == "${data.databricks_sql_warehouse.warehouse.id}"
        assert view["view_definition"] == rendered[view["name"]]
        assert view["owner"] == env.principals["deployer"]
        assert "count" not in view


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_alerts_mail_a_notification_destination_and_run_as_the_pipeline_principal(synth, env_name):
    env = ENVS[env_name]
    stack = _serving(env_name)
    destination = synth.resource(stack, "databricks_notification_destination", "notification_destination")
    assert destination["config"]["email"]["addresses"] == list(env.notification_emails)
    alerts = synth.resources(stack, "databricks_alert_v2")
    assert set(alerts) == {"alert_quarantine_ratio", "alert_pipeline_errors"}
    for alert in alerts.values():
        assert alert["run_as"] == {"service_principal_name": env.principals["pipeline"]}
        (subscription,) = alert["evaluation"]["notification"]["subscriptions"]
        assert subscription == {"destination_id": "${databricks_notification_destination.notification_destination.id}"}
        assert alert["schedule"]["quartz_cron_schedule"] == env.alerts.schedule_cron
    ratio = alerts["alert_quarantine_ratio"]
    assert ratio["evaluation"]["threshold"]["value"]["double_value"] == env.alerts.quarantine_ratio_max
    assert f"INTERVAL {env.alerts.lookback_hours} HOURS" in ratio["query_text"]


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_tags_from_config_on_every_taggable_resource(synth, env_name):
    env = ENVS[env_name]
    stack = _platform(env_name)
    pipeline = synth.resource(stack, "databricks_pipeline", "pipeline")
    assert pipeline["tags"] == env.tags
    for cluster in pipeline.get("cluster", []):
        assert cluster["custom_tags"] == env.tags
    for job in synth.resources(stack, "databricks_job").values():
        assert {k: v for k, v in job["tags"].items() if k in env.tags} == env.tags
    warehouse_tags = synth.resource(stack, "databricks_sql_endpoint", "sql_warehouse")["tags"]["custom_tags"]
    assert {t["key"]: t["value"] for t in warehouse_tags} == env.tags


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_the_serving_stack_deploys_the_health_views_and_the_dashboard(synth, env_name):
    from infra.observability import dashboard_spec, health_views

    env = ENVS[env_name]
    stack = _serving(env_name)
    tables = synth.resources(stack, "databricks_sql_table")
    for spec in health_views(env.catalog):
        view = tables[f"view_ops_{spec.name}"]
        assert (view["schema_name"], view["view_definition"]) == ("ops", spec.definition)
        assert view["owner"] == env.principals["deployer"]
        assert view.get("depends_on", []) == [f"databricks_sql_table.view_ops_{d}" for d in spec.depends_on]
    board = synth.resource(stack, "databricks_dashboard", "dashboard")
    expected = dashboard_spec(env.name, env.catalog, env.workspace_root.removeprefix("/Workspace"))
    assert board["serialized_dashboard"] == expected.serialized_dashboard
    assert board["embed_credentials"] is False  # tiles run with the viewer's grants: the analyst view masks per reader
    assert board["warehouse_id"] == "${data.databricks_sql_warehouse.warehouse.id}"
    acl = synth.resource(stack, "databricks_permissions", "permissions_dashboard")
    assert acl["dashboard_id"] == "${databricks_dashboard.dashboard.id}"
