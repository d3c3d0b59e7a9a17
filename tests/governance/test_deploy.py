"""`lakehouse deploy` and `lakehouse preflight` with the real databricks-sdk against a loopback workspace.

The CDK CLI is replaced by a recorder (`run_cdk`): what matters here is the order the steps run in on an empty
workspace and on one that already has the pipeline's tables, and that every failure stops the deploy with a fix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import pytest
from click.testing import CliRunner
from fake_uc_server import UnityCatalogState
from fake_workspace import FakeWorkspaceServer, WorkspaceState

from infra.config import EnvironmentConfig, load_environment
from infra.permissions import Persona, is_service_principal
from infra.phases import PIPELINE_OUTPUTS_SERVING_READS, pipeline_name
from lakehouse.cli import main
from lakehouse.workspace.client import workspace_client
from lakehouse.workspace.deploy import DeployError, deploy
from lakehouse.workspace.preflight import evaluate, observe

TOKEN = "test-token"


@pytest.fixture(autouse=True)
def deploy_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)


@pytest.fixture
def env() -> EnvironmentConfig:
    return load_environment("staging")


def _ready_workspace(env: EnvironmentConfig) -> WorkspaceState:
    """What the one-time bootstrap in docs/deploy.md leaves: the deployer is an admin with CREATE CATALOG, every
    principal exists, the storage root is inside an external location."""
    deployer = env.principal(Persona.DEPLOYER)
    principals = set(env.principals.values())
    return WorkspaceState(
        identity=deployer,
        groups={"admins"},
        workspace_groups={p for p in principals if not is_service_principal(p)},
        service_principals={p for p in principals if is_service_principal(p)},
        metastore_privileges={deployer: {"CREATE_CATALOG"}},
        external_locations=[env.storage_root.rsplit("/", 1)[0] + "/"] if env.storage_root else [],
    )


def _empty_uc() -> UnityCatalogState:
    return UnityCatalogState()


@pytest.fixture
def workspace(env: EnvironmentConfig) -> WorkspaceState:
    return _ready_workspace(env)


@pytest.fixture
def server(workspace: WorkspaceState) -> Iterator[FakeWorkspaceServer]:
    with FakeWorkspaceServer(_empty_uc(), workspace) as srv:
        yield srv


class RecordingCdk:
    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, args: Sequence[str]) -> int:
        self.calls.append(list(args))
        return 1 if self.fail_on and self.fail_on in args else 0


def _pipeline(server: FakeWorkspaceServer, env: EnvironmentConfig, states: list[str], publishes: bool = True) -> None:
    server.state.pipelines = {pipeline_name(env.name): "p-1"}
    server.state.pipeline_update_states["p-1"] = states
    if publishes:
        server.workspace.publishes["p-1"] = [f"{env.catalog}.{s}.{t}" for s, t in PIPELINE_OUTPUTS_SERVING_READS]


# ------------------------------------------------------------------------------------------------ deploy order


def test_an_empty_workspace_gets_platform_then_first_update_then_serving(env, server):
    cdk = RecordingCdk()
    _pipeline(server, env, ["QUEUED", "RUNNING", "COMPLETED"])
    client = workspace_client(env, host=server.host, retry_timeout_seconds=5)
    log: list[str] = []
    synced: list[str] = []

    def sync_genie(_client: object, e: EnvironmentConfig) -> str:
        synced.append(f"{e.name} after {len(cdk.calls)} stacks")
        return "synced"

    result = deploy(
        env,
        client=client,
        run_cdk=cdk,
        auto_approve=True,
        poll_seconds=1,
        progress=log.append,
        sleep=lambda _s: None,
        sync_genie=sync_genie,
    )
    assert cdk.calls == [["deploy", "staging", "--auto-approve"], ["deploy", "staging-serving", "--auto-approve"]]
    assert result.steps == [
        "stack staging",
        "pipeline first update COMPLETED",
        "stack staging-serving",
        "genie space synced",
    ]
    assert synced == ["staging after 2 stacks"]  # after the serving stack: the space reads the analyst view
    started = [i for i, (method, path, _q) in enumerate(server.requests) if method == "POST" and "/updates" in path]
    assert len(started) == 1
    assert any("pipeline table(s) missing" in line for line in log)


def test_a_workspace_with_the_tables_skips_the_update(env, server):
    for schema, table in PIPELINE_OUTPUTS_SERVING_READS:
        server.state.tables[f"{env.catalog}.{schema}.{table}"] = "MANAGED"
    cdk = RecordingCdk()
    client = workspace_client(env, host=server.host, retry_timeout_seconds=5)
    result = deploy(env, client=client, run_cdk=cdk, auto_approve=False, sync_genie=lambda _c, _e: "synced")
    assert cdk.calls == [["deploy", "staging"], ["deploy", "staging-serving"]]
    assert result.steps[1] == "pipeline tables present"
    assert not [r for r in server.requests if r[0] == "POST"]


def test_a_failed_first_update_stops_before_the_serving_stack(env, server):
    cdk = RecordingCdk()
    _pipeline(server, env, ["RUNNING", "FAILED"])
    client = workspace_client(env, host=server.host, retry_timeout_seconds=5)
    with pytest.raises(DeployError, match=r"first update ended FAILED: fix it .* then run `lakehouse deploy` again"):
        deploy(env, client=client, run_cdk=cdk, auto_approve=True, poll_seconds=1, sleep=lambda _s: None)
    assert cdk.calls == [["deploy", "staging", "--auto-approve"]]


def test_an_update_that_publishes_nothing_is_an_error_not_a_view_failure_later(env, server):
    cdk = RecordingCdk()
    _pipeline(server, env, ["COMPLETED"], publishes=False)
    client = workspace_client(env, host=server.host, retry_timeout_seconds=5)
    with pytest.raises(DeployError, match=r"completed but did not publish .*gold.correlations"):
        deploy(env, client=client, run_cdk=cdk, auto_approve=True, poll_seconds=1, sleep=lambda _s: None)
    assert len(cdk.calls) == 1


def test_a_failed_platform_apply_stops_everything(env, server):
    cdk = RecordingCdk(fail_on="staging")
    client = workspace_client(env, host=server.host, retry_timeout_seconds=5)
    with pytest.raises(DeployError, match=r"`cdktn deploy staging --auto-approve` failed \(exit 1\)"):
        deploy(env, client=client, run_cdk=cdk, auto_approve=True)
    assert cdk.calls == [["deploy", "staging", "--auto-approve"]]
    assert not [r for r in server.requests if "/tables/" in r[1]]


# ------------------------------------------------------------------------------------------------ preflight


def _preflight(env: EnvironmentConfig, server: FakeWorkspaceServer) -> list[str]:
    client = workspace_client(env, host=server.host, retry_timeout_seconds=5)
    report = evaluate(env, observe(client, env))
    return [f"{f.check}: {f.detail} | {f.fix}" for f in report.failed]


def test_preflight_passes_on_a_bootstrapped_workspace(env, server):
    assert _preflight(env, server) == []


def test_preflight_names_each_missing_bootstrap_step_and_its_fix(env, server):
    ws = server.workspace
    ws.identity = "someone@example.com"
    ws.groups = set()
    ws.metastore_privileges = {}
    ws.external_locations = []
    ws.workspace_groups.discard(env.principal(Persona.ANALYSTS))
    ws.service_principals.discard(env.principal(Persona.AUDITOR))
    problems = "\n".join(_preflight(env, server))
    assert "deploying identity: someone@example.com is not the deployer persona" in problems
    assert (
        "workspace admin: not a workspace admin | a workspace admin adds the deployer to the `admins` group" in problems
    )
    assert f"GRANT CREATE CATALOG ON METASTORE TO `{env.principal(Persona.DEPLOYER)}`" in problems
    assert f"storage_root {env.storage_root} is outside every external location" in problems
    assert f"missing: {env.principal(Persona.ANALYSTS)}" in problems
    assert f"missing: {env.principal(Persona.AUDITOR)}" in problems


def test_preflight_requires_storage_root_where_the_metastore_has_none(env, server):
    # Metastores of workspaces enabled for Unity Catalog automatically have no storage root: CREATE CATALOG needs
    # MANAGED LOCATION then.
    no_root = dataclasses.replace(env, storage_root=None)
    problems = _preflight(no_root, server)
    assert any(p.startswith("managed storage: neither the metastore nor the environment") for p in problems)
    server.workspace.metastore_storage_root = "s3://metastore-root/"
    assert _preflight(no_root, server) == []


def test_preflight_on_a_workspace_without_a_metastore(env, server):
    server.workspace.metastore_id = None
    problems = _preflight(env, server)
    assert any("no Unity Catalog metastore is assigned" in p for p in problems)


def test_deploy_command_stops_on_preflight_findings_with_exit_2(env, server):
    server.workspace.groups = set()
    result = CliRunner().invoke(main, ["deploy", "--env", "staging", "--host", server.host, "--timeout", "5"])
    assert result.exit_code == 2, result.output
    assert "[FAIL] workspace admin" in result.output
    assert not [r for r in server.requests if r[0] == "POST"]


def test_preflight_command_exit_codes(env, server):
    ok = CliRunner().invoke(main, ["preflight", "--env", "staging", "--host", server.host, "--timeout", "5"])
    assert ok.exit_code == 0, ok.output
    assert "preflight: ready to deploy" in ok.output
