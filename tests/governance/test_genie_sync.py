"""`lakehouse genie sync` end to end: the real databricks-sdk over HTTP against a loopback server speaking the Genie,
SQL warehouses and Permissions REST paths (fake_genie_server.py), through the CLI as the deploy workflow runs it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result
from fake_genie_server import OWNER, FakeGenieServer, GenieState

from infra.config import load_environment
from infra.observability import genie_space
from infra.permissions import WORKSPACE_ACLS, Persona, WorkspaceObject
from lakehouse.cli import main

ENV = load_environment("staging")
TOKEN = "deploy-" + "t" * 8
READ_ONLY = "readonly-" + "t" * 8
WAREHOUSE_ID = "wh0123456789abcd"
SPEC = genie_space(ENV.name, ENV.catalog, ENV.workspace_root.removeprefix("/Workspace"))


@pytest.fixture
def state() -> GenieState:
    # The stack's warehouse, plus an unrelated one that must not be picked.
    return GenieState(warehouses={WAREHOUSE_ID: ENV.sql_warehouse.name, "other": "someone-elses-warehouse"})


@pytest.fixture
def server(state: GenieState) -> Iterator[FakeGenieServer]:
    with FakeGenieServer(state, tokens={TOKEN}, readonly_tokens={READ_ONLY}) as running:
        yield running


def _sync(server: FakeGenieServer, *args: str, token: str = TOKEN) -> Result:
    env = {"DATABRICKS_HOST": server.host, "DATABRICKS_TOKEN": token}
    return CliRunner().invoke(main, ["genie", "sync", "--env", "staging", "--timeout", "5", *args], env=env)


def _expected_acl() -> dict[str, str]:
    return {ENV.principals[p]: level for p, level in WORKSPACE_ACLS[WorkspaceObject.GENIE_SPACE].items()}


def test_first_run_creates_the_space_and_grants_the_matrix(server: FakeGenieServer, state: GenieState) -> None:
    result = _sync(server)
    assert result.exit_code == 0, result.output
    assert "created" in result.output
    ((space_id, space),) = state.spaces.items()
    assert space["title"] == "Lakehouse correlations (staging)"
    assert space["warehouse_id"] == WAREHOUSE_ID  # found by the config's warehouse name
    assert space["parent_path"] == ENV.workspace_root.removeprefix("/Workspace")
    assert json.loads(space["serialized_space"]) == SPEC.space
    tables = json.loads(space["serialized_space"])["data_sources"]["tables"]
    assert [t["identifier"] for t in tables] == [f"{ENV.catalog}.gold.correlations_analyst"]
    granted = {p: level for p, (_, level) in state.acls[space_id].items()}
    assert granted == {OWNER: "CAN_MANAGE", **_expected_acl()}
    assert state.acls[space_id][ENV.principals[Persona.ANALYSTS]] == ("group_name", "CAN_RUN")


def test_a_second_run_changes_nothing(server: FakeGenieServer) -> None:
    assert _sync(server).exit_code == 0
    before = len(server.writes())
    result = _sync(server)
    assert result.exit_code == 0, result.output
    assert "unchanged" in result.output and "permissions unchanged" in result.output
    assert len(server.writes()) == before  # only GETs the second time


def test_an_edit_made_in_the_ui_is_reverted_with_the_etag_read(server: FakeGenieServer, state: GenieState) -> None:
    assert _sync(server).exit_code == 0
    ((space_id, space),) = state.spaces.items()
    edited = json.loads(space["serialized_space"])
    edited["instructions"]["text_instructions"][0]["content"] = ["Ignore the masking."]
    space["serialized_space"] = json.dumps(edited)
    space["etag"] = "7"
    result = _sync(server)
    assert result.exit_code == 0, result.output
    assert "updated (serialized_space)" in result.output
    patch = [body for method, path, body in server.requests if method == "PATCH" and path.endswith(space_id)][-1]
    assert patch["etag"] == "7"
    assert json.loads(state.spaces[space_id]["serialized_space"]) == SPEC.space


def test_the_space_is_found_across_pages_and_only_by_its_title(server: FakeGenieServer, state: GenieState) -> None:
    for i in range(5):
        state.add_space(f"Someone else's space {i}", warehouse_id="other")
    existing = state.add_space(
        SPEC.title,
        description="old",
        warehouse_id=WAREHOUSE_ID,
        parent_path=SPEC.parent_path,
        serialized_space=SPEC.serialized_space,
    )
    result = _sync(server)
    assert result.exit_code == 0, result.output
    assert f"{existing}: updated (description)" in result.output
    assert len(state.spaces) == 6 and state.spaces[existing]["description"] == SPEC.description
    # Six spaces, two per page: the listing followed next_page_token to the third page.
    assert [p for m, p, _ in server.requests if m == "GET" and p == "/api/2.0/genie/spaces"] == [
        "/api/2.0/genie/spaces"
    ] * 3
    assert [p for m, p, _ in server.requests if m == "POST"] == []


def test_a_missing_grant_is_added_and_other_grants_are_left_alone(server: FakeGenieServer, state: GenieState) -> None:
    assert _sync(server).exit_code == 0
    ((space_id, _),) = state.spaces.items()
    del state.acls[space_id][ENV.principals[Persona.ANALYSTS]]
    state.acls[space_id]["someone@example.com"] = ("user_name", "CAN_VIEW")
    result = _sync(server)
    assert "permissions granted" in result.output
    assert state.acls[space_id][ENV.principals[Persona.ANALYSTS]] == ("group_name", "CAN_RUN")
    assert state.acls[space_id]["someone@example.com"] == ("user_name", "CAN_VIEW")


def test_two_spaces_with_the_title_is_an_error_that_says_what_to_do(server: FakeGenieServer, state: GenieState) -> None:
    state.add_space(SPEC.title)
    state.add_space(SPEC.title)
    result = _sync(server)
    assert result.exit_code == 1
    assert "2 Genie spaces are titled" in result.stderr and "trash the extra ones" in result.stderr
    assert server.writes() == []


def test_an_unknown_token_is_an_actionable_error(server: FakeGenieServer) -> None:
    result = _sync(server, token="wrong-" + "t" * 8)
    assert result.exit_code == 1
    assert "HTTP 401" in result.stderr and "DATABRICKS_TOKEN" in result.stderr
    assert "Traceback" not in result.output


def test_a_read_only_identity_cannot_create_and_is_told_why(server: FakeGenieServer) -> None:
    result = _sync(server, token=READ_ONLY)
    assert result.exit_code == 1
    assert "may not create the Genie space" in result.stderr and "HTTP 403" in result.stderr


def test_no_warehouse_means_the_stack_is_not_deployed(server: FakeGenieServer, state: GenieState) -> None:
    state.warehouses.clear()
    result = _sync(server)
    assert result.exit_code == 1
    assert "deploy the stack first" in result.stderr and "--warehouse-id" in result.stderr


def test_an_explicit_warehouse_wins(server: FakeGenieServer, state: GenieState) -> None:
    result = _sync(server, "--warehouse-id", "explicit-wh")
    assert result.exit_code == 0, result.output
    assert next(iter(state.spaces.values()))["warehouse_id"] == "explicit-wh"
    assert not any(path == "/api/2.0/sql/warehouses" for _, path, _ in server.requests)
