"""The grant audit end to end: the real databricks-sdk over HTTP against a loopback Unity Catalog server seeded
from the permission matrix, then drift injected the ways it happens in real workspaces."""

from __future__ import annotations

import json
import re
import shlex
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, PermissionDenied
from databricks.sdk.service.catalog import PermissionsChange, Privilege
from fake_uc_server import (
    INVALID_TOKEN_BODY,
    PIPELINE_TABLES,
    FakeUnityCatalogServer,
    UnityCatalogState,
    seeded_state,
)

from infra.config import EnvironmentConfig, load_environment
from infra.permissions import ANALYST_VIEW, PermissionMatrix, Persona, SecurableType
from lakehouse.cli import main
from lakehouse.governance.audit import run_audit
from lakehouse.governance.grants import FindingKind, GrantAudit, SecurableRef
from lakehouse.workspace.client import (
    WorkspaceAuthError,
    WorkspacePermissionError,
    WorkspaceUnreachableError,
    config_kwargs,
    workspace_client,
)

TOKEN = "test-token"


@pytest.fixture(scope="module")
def staging() -> EnvironmentConfig:
    return load_environment("staging")


@pytest.fixture
def state(staging: EnvironmentConfig) -> UnityCatalogState:
    return seeded_state(staging.catalog, staging.principals)


@pytest.fixture
def uc(state: UnityCatalogState) -> Iterator[FakeUnityCatalogServer]:
    with FakeUnityCatalogServer(state) as server:
        yield server


def _client(
    env: EnvironmentConfig, server: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch, token: str = TOKEN
) -> WorkspaceClient:
    monkeypatch.setenv("DATABRICKS_TOKEN", token)
    return workspace_client(env, host=server.host, retry_timeout_seconds=5)


def _audit(env: EnvironmentConfig, server: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch) -> GrantAudit:
    return run_audit(env.name, client=_client(env, server, monkeypatch))


def _cli(server_host: str, *args: str, token: str = TOKEN) -> Result:
    env = {"DATABRICKS_HOST": server_host, "DATABRICKS_TOKEN": token}
    return CliRunner().invoke(main, ["audit-grants", "--env", "staging", "--timeout", "5", *args], env=env)


def test_a_workspace_as_deployed_is_clean_and_every_page_is_read(
    staging: EnvironmentConfig, uc: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit = _audit(staging, uc, monkeypatch)
    assert audit.clean, audit.findings
    expected_refs = {
        SecurableRef(g.securable_type, g.full_name)
        for g in PermissionMatrix.default().expected_grants(staging.catalog, staging.principals)
    }
    pipeline_tables = {SecurableRef(SecurableType.TABLE, f"{staging.catalog}.{s}.{t}") for s, t in PIPELINE_TABLES}
    assert audit.securables_checked == len(expected_refs | pipeline_tables)
    # The catalog has 5 principals and gold 4 tables: with pages of 2 both need page tokens.
    paged = [(path, q) for method, path, q in uc.requests if "page_token=" in q]
    assert any(path.endswith(f"/permissions/catalog/{staging.catalog}") for path, _ in paged)
    assert any(path.endswith("/tables") and "schema_name=gold" in q for path, q in paged)
    # Every listing starts with an empty page that carries a token (as Unity Catalog may answer): an audit that
    # stopped there would have read no grant at all and reported every expected one missing.
    assert uc.empty_pages_served > 0
    # information_schema is listed by the server but never audited.
    assert not any("information_schema" in path for _, path, _ in uc.requests)


def test_an_extra_grant_made_through_the_api_is_unexpected_and_exits_2(
    staging: EnvironmentConfig, uc: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = _client(staging, uc, monkeypatch)
    writer.grants.update(
        "schema",
        f"{staging.catalog}.silver",
        changes=[PermissionsChange(principal="analysts", add=[Privilege.SELECT, Privilege.USE_SCHEMA])],
    )
    (finding,) = _audit(staging, uc, monkeypatch).findings
    assert (finding.securable.full_name, finding.principal, finding.kind) == (
        f"{staging.catalog}.silver",
        "analysts",
        FindingKind.UNEXPECTED,
    )
    assert finding.unexpected_privileges == {"SELECT", "USE_SCHEMA"}
    result = _cli(uc.host, "--format", "json")
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["counts"] == {"missing": 0, "unexpected": 1, "changed": 0}


def test_a_revoked_privilege_is_changed(
    staging: EnvironmentConfig, state: UnityCatalogState, uc: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    state.revoke("schema", f"{staging.catalog}.gold", "compliance-auditors", "MODIFY")
    (finding,) = _audit(staging, uc, monkeypatch).findings
    assert finding.kind is FindingKind.CHANGED
    assert finding.missing_privileges == {"MODIFY"}
    assert finding.actual == {"USE_SCHEMA", "SELECT"}


def test_a_case_changed_principal_is_drift_with_a_case_hint(
    staging: EnvironmentConfig, state: UnityCatalogState, uc: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    state.rename_principal("table", f"{staging.catalog}.gold.correlations_analyst", "analysts", "Analysts")
    findings = _audit(staging, uc, monkeypatch).findings
    assert {(f.principal, f.kind) for f in findings} == {
        ("analysts", FindingKind.MISSING),
        ("Analysts", FindingKind.UNEXPECTED),
    }
    assert all("only the case differs" in f.hint for f in findings)
    result = _cli(uc.host)
    assert result.exit_code == 2
    assert "hint: table lakehouse_staging.gold.correlations_analyst / Analysts: only the case differs" in result.stdout


def test_a_grant_on_a_pipeline_created_table_is_unexpected(
    staging: EnvironmentConfig, state: UnityCatalogState, uc: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    state.grant("table", f"{staging.catalog}.gold.correlations", "analysts", "SELECT")
    (finding,) = _audit(staging, uc, monkeypatch).findings
    assert finding.securable == SecurableRef(SecurableType.TABLE, f"{staging.catalog}.gold.correlations")
    assert finding.kind is FindingKind.UNEXPECTED
    result = _cli(uc.host, "--format", "markdown")
    assert result.exit_code == 2
    assert "| `table lakehouse_staging.gold.correlations` | `analysts` | unexpected | unexpected SELECT |" in (
        result.stdout
    )


def test_grants_on_a_schema_outside_the_matrix_are_unexpected(
    staging: EnvironmentConfig, state: UnityCatalogState, uc: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    state.schemas.add(f"{staging.catalog}.scratch")
    state.grant("schema", f"{staging.catalog}.scratch", "account users", "ALL_PRIVILEGES")
    (finding,) = _audit(staging, uc, monkeypatch).findings
    assert (finding.securable.full_name, finding.principal) == (f"{staging.catalog}.scratch", "account users")


def test_a_privilege_newer_than_the_sdk_is_still_reported(
    staging: EnvironmentConfig, state: UnityCatalogState, uc: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The typed `w.grants.get` drops enum values it does not know; the audit reads the raw response.
    state.grant("catalog", staging.catalog, "analysts", "SOME_FUTURE_PRIVILEGE")
    (finding,) = _audit(staging, uc, monkeypatch).findings
    assert finding.kind is FindingKind.CHANGED
    assert finding.unexpected_privileges == {"SOME_FUTURE_PRIVILEGE"}


def test_a_secure_view_that_is_not_deployed_reports_its_grants_missing(
    staging: EnvironmentConfig, state: UnityCatalogState, uc: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    del state.tables[f"{staging.catalog}.{ANALYST_VIEW[0]}.{ANALYST_VIEW[1]}"]
    audit = _audit(staging, uc, monkeypatch)
    assert [str(s) for s in audit.missing_securables] == [f"table {staging.catalog}.gold.correlations_analyst"]
    (finding,) = audit.findings
    assert (finding.principal, finding.kind) == ("analysts", FindingKind.MISSING)
    assert "does not exist" in finding.hint


def test_a_missing_catalog_reports_every_expected_grant_missing(
    staging: EnvironmentConfig, state: UnityCatalogState, uc: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    state.catalogs.clear()
    audit = _audit(staging, uc, monkeypatch)
    expected = PermissionMatrix.default().grants_by_securable(staging.principals)
    assert len(audit.findings) == sum(len(by_principal) for by_principal in expected.values())
    assert {f.kind for f in audit.findings} == {FindingKind.MISSING}


def test_the_read_only_token_can_audit_but_not_grant(
    staging: EnvironmentConfig, uc: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = _client(staging, uc, monkeypatch, token="read-only-token")
    assert run_audit(staging.name, client=reader).clean
    with pytest.raises(PermissionDenied):
        reader.grants.update(
            "catalog", staging.catalog, changes=[PermissionsChange(principal="analysts", add=[Privilege.SELECT])]
        )


def test_the_fake_answers_an_unknown_token_as_a_workspace_does(uc: FakeUnityCatalogServer) -> None:
    """Byte for byte what databricks-sdk-go #873/#917 logged: HTTP 403, 52 bytes, integer error_code."""
    request = urllib.request.Request(
        f"{uc.host}/api/2.1/unity-catalog/catalogs/x", headers={"Authorization": "Bearer wrong"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 403
    assert caught.value.headers["X-Databricks-Reason-Phrase"] == "Invalid access token."
    assert caught.value.read() == INVALID_TOKEN_BODY == b'{"error_code":403,"message":"Invalid access token."}'


def test_the_sdk_alone_cannot_tell_a_rejected_token_from_a_denial(
    staging: EnvironmentConfig, uc: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the audit looks at the error body: databricks-sdk maps both 403s to PermissionDenied."""
    with pytest.raises(PermissionDenied) as rejected:
        _client(staging, uc, monkeypatch, token="wrong").catalogs.get(staging.catalog)
    assert rejected.value.error_code == 403  # the integer from the body
    reader = _client(staging, uc, monkeypatch, token="read-only-token")
    with pytest.raises(PermissionDenied) as denied:
        reader.grants.update(
            "catalog",
            staging.catalog,
            changes=[PermissionsChange(principal="analysts", add=[Privilege.SELECT])],
        )
    assert denied.value.error_code == "PERMISSION_DENIED"
    # (the SDK appends its config summary to 401/403 messages)
    assert str(denied.value).startswith(f"User does not have MANAGE on Catalog '{staging.catalog}'.")


def test_a_wrong_token_is_an_authentication_error_that_says_to_fix_the_token(
    staging: EnvironmentConfig, uc: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _client(staging, uc, monkeypatch, token="wrong")
    with pytest.raises(WorkspaceAuthError) as caught:
        run_audit(staging.name, client=client)
    message = str(caught.value)
    assert re.search(r"HTTP 403: Invalid access token\..*new personal access token.*DATABRICKS_TOKEN", message)
    assert "databricks auth login --host" in message
    # Not the permission advice a real 403 gets.
    assert not isinstance(caught.value, WorkspacePermissionError)
    assert "metastore admin" not in message and "MANAGE" not in message
    assert uc.rejected_tokens == 1  # the first call failed and the audit stopped there
    result = _cli(uc.host, token="wrong")
    assert result.exit_code == 1
    assert "authentication to http://127.0.0.1" in result.stderr
    assert "Invalid access token" in result.stderr and "new personal access token" in result.stderr
    assert "Traceback" not in result.output


def test_a_securable_the_identity_may_not_read_is_a_permission_error(
    staging: EnvironmentConfig, state: UnityCatalogState, uc: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    state.forbidden.add(("schema", f"{staging.catalog}.ops"))
    with pytest.raises(WorkspacePermissionError, match=r"HTTP 403.*lakehouse_staging\.ops.*MANAGE") as caught:
        _audit(staging, uc, monkeypatch)
    assert "access token" not in str(caught.value)  # the permission advice, not the token advice


def test_a_deleted_principals_grant_is_unexpected_and_the_hint_revokes_it(
    staging: EnvironmentConfig, state: UnityCatalogState, uc: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    analysts = staging.principals[Persona.ANALYSTS]
    deleted_id = state.delete_principal(analysts)
    client = _client(staging, uc, monkeypatch)
    # The typed SDK call sees the entry with no principal at all (the REST reference's shape).
    (entry,) = [
        a for a in client.grants.get("catalog", staging.catalog).privilege_assignments or [] if a.principal is None
    ]
    assert entry.privileges == [Privilege.USE_CATALOG]

    audit = run_audit(staging.name, client=client)
    deleted = f"deleted principal {deleted_id}"
    expected_refs = {
        SecurableRef(g.securable_type, g.full_name)
        for g in PermissionMatrix.default().expected_grants(staging.catalog, staging.principals)
        if g.principal == analysts
    }
    assert {(f.securable, f.principal, f.kind) for f in audit.findings} == {
        (ref, principal, kind)
        for ref in expected_refs
        for principal, kind in ((analysts, FindingKind.MISSING), (deleted, FindingKind.UNEXPECTED))
    }
    # Each hint carries a call that revokes the orphaned grant; run it as printed (through the SDK's HTTP client).
    for finding in (f for f in audit.findings if f.principal == deleted):
        command = shlex.split(re.search(r"`(databricks api patch [^`]+)`", finding.hint).group(1))
        assert command[:4] == [
            "databricks",
            "api",
            "patch",
            f"/api/2.1/unity-catalog/permissions/{finding.securable.type.value}/{finding.securable.full_name}",
        ]
        client.api_client.do("PATCH", command[3], body=json.loads(command[command.index("--json") + 1]))
    after = run_audit(staging.name, client=client)
    assert {(f.principal, f.kind) for f in after.findings} == {(analysts, FindingKind.MISSING)}
    # principal_id may only remove, as the reference says.
    with pytest.raises(BadRequest):
        client.api_client.do(
            "PATCH",
            f"/api/2.1/unity-catalog/permissions/catalog/{staging.catalog}",
            body={"changes": [{"principal_id": deleted_id, "add": ["SELECT"]}]},
        )


def test_a_catalog_made_outside_the_stack_keeps_its_default_schema_which_is_not_drift(
    staging: EnvironmentConfig, state: UnityCatalogState, uc: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    state.create_catalog(staging.catalog)  # as the UI or SQL would: Unity Catalog adds `default`
    default = f"{staging.catalog}.default"
    assert default in state.schemas
    audit = _audit(staging, uc, monkeypatch)
    assert audit.clean, audit.findings
    # It was audited (its grants read), not skipped; information_schema was skipped.
    assert ("GET", f"/api/2.1/unity-catalog/permissions/schema/{default}") in {(m, p) for m, p, _ in uc.requests}
    assert not any("information_schema" in path for _, path, _ in uc.requests)

    state.grant("schema", default, "account users", "USE_SCHEMA", "CREATE_TABLE")
    (finding,) = _audit(staging, uc, monkeypatch).findings
    assert (finding.securable, finding.principal, finding.kind) == (
        SecurableRef(SecurableType.SCHEMA, default),
        "account users",
        FindingKind.UNEXPECTED,
    )
    assert "created by Unity Catalog with every catalog" in finding.hint
    assert f"DROP SCHEMA {default}" in finding.hint


def test_an_unreachable_host_is_reported_as_such(staging: EnvironmentConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    client = workspace_client(staging, host=f"http://127.0.0.1:{port}", retry_timeout_seconds=1)
    with pytest.raises(WorkspaceUnreachableError, match=r"cannot reach the workspace at http://127\.0\.0\.1.*--host"):
        run_audit(staging.name, client=client)


def test_no_credentials_at_all_is_an_authentication_error(staging: EnvironmentConfig) -> None:
    with pytest.raises(WorkspaceAuthError, match=r"no usable Databricks credentials.*DATABRICKS_HOST and"):
        workspace_client(staging, host="http://127.0.0.1:9", retry_timeout_seconds=1)


def test_the_host_comes_from_the_flag_then_unified_auth_then_the_environment_config(
    staging: EnvironmentConfig,
) -> None:
    assert config_kwargs(staging, host=None, profile=None, environ={}) == {"host": staging.workspace_host}
    assert config_kwargs(staging, host="https://x", profile=None, environ={"DATABRICKS_HOST": "https://y"}) == {
        "host": "https://x"
    }
    # DATABRICKS_HOST or a profile: the SDK resolves the host itself.
    assert config_kwargs(staging, host=None, profile=None, environ={"DATABRICKS_HOST": "https://y"}) == {}
    assert config_kwargs(staging, host=None, profile="ci", environ={}) == {"profile": "ci"}
    assert config_kwargs(staging, host=None, profile=None, environ={"DATABRICKS_CONFIG_PROFILE": "ci"}) == {}


def test_pipeline_update_command_waits_for_a_terminal_state(
    state: UnityCatalogState, uc: FakeUnityCatalogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from lakehouse.cli import main as lakehouse_main

    monkeypatch.setenv("DATABRICKS_HOST", uc.host)
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    runner = CliRunner()

    def run(states: list[str], *extra: str) -> int:
        state.pipelines = {"lakehouse-correlations-staging": "p-1"}
        state.pipeline_update_states["p-1"] = states
        args = ["pipeline", "update", "--env", "staging", "--poll-seconds", "1", *extra]
        return runner.invoke(lakehouse_main, args, catch_exceptions=False).exit_code

    monkeypatch.setattr("lakehouse.workspace.pipeline_update.time.sleep", lambda _s: None)
    assert run(["QUEUED", "RUNNING", "COMPLETED"]) == 0
    assert run(["RUNNING", "FAILED"]) == 2
    assert run(["RUNNING"], "--timeout-minutes", "1") == 1  # still running after 60 polls: an error, not a pass
    state.pipelines = {}
    missing = runner.invoke(lakehouse_main, ["pipeline", "update", "--env", "staging"])
    assert missing.exit_code == 1 and "no pipeline named 'lakehouse-correlations-staging'" in missing.output
