"""Start an update of an environment's pipeline and wait for it; tell whether its published tables exist.

The SDK edge of `lakehouse pipeline update` and of `lakehouse deploy`'s first-update step. The pipeline is found by
the name the stack gives it (`infra.stacks.pipeline.pipeline_name`), so no Terraform output has to be passed around.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from databricks.sdk.errors import NotFound

from lakehouse.errors import LakehouseError

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

# Terminal update states (Pipelines API, UpdateInfoState).
TERMINAL_OK = frozenset({"COMPLETED"})
TERMINAL_BAD = frozenset({"FAILED", "CANCELED"})

Progress = Callable[[str], None]


class PipelineUpdateError(LakehouseError):
    """The pipeline could not be found, its update failed, or it did not finish in time."""


def find_pipeline_id(client: WorkspaceClient, name: str) -> str:
    """The id of the pipeline named exactly `name` (the Pipelines API filters with SQL LIKE)."""
    escaped = name.replace("'", "''")
    matches = [p for p in client.pipelines.list_pipelines(filter=f"name LIKE '{escaped}'") if p.name == name]
    if not matches:
        raise PipelineUpdateError(
            f"no pipeline named {name!r} in this workspace: deploy the platform stack first (`lakehouse deploy`)"
        )
    if len(matches) > 1:
        ids = ", ".join(str(p.pipeline_id) for p in matches)
        raise PipelineUpdateError(f"{len(matches)} pipelines are named {name!r} ({ids}): delete the stray ones")
    return str(matches[0].pipeline_id)


def missing_tables(client: WorkspaceClient, catalog: str, tables: Iterable[tuple[str, str]]) -> list[str]:
    """Full names of `tables` (schema, table) that do not exist yet in `catalog`."""
    missing = []
    for schema, table in tables:
        full_name = f"{catalog}.{schema}.{table}"
        try:
            exists = bool(client.tables.exists(full_name).table_exists)
        except NotFound:  # the schema or catalog itself is missing
            exists = False
        if not exists:
            missing.append(full_name)
    return missing


def run_update(
    client: WorkspaceClient,
    pipeline_id: str,
    *,
    timeout_seconds: float,
    poll_seconds: float = 15.0,
    full_refresh: bool = False,
    progress: Progress = lambda _msg: None,
    sleep: Callable[[float], None] | None = None,
) -> str:
    """Start an update and return its terminal state (COMPLETED, FAILED or CANCELED).

    Bounded by polls, not by the wall clock: `timeout_seconds / poll_seconds` polls at most, so a test can run it
    with `sleep` doing nothing.
    """
    update_id = client.pipelines.start_update(pipeline_id, full_refresh=full_refresh).update_id
    if not update_id:
        raise PipelineUpdateError(f"pipeline {pipeline_id}: start_update returned no update_id")
    progress(f"pipeline {pipeline_id}: started update {update_id}")
    last = ""
    polls = max(1, int(timeout_seconds / max(poll_seconds, 0.001)))
    for _ in range(polls + 1):
        update = client.pipelines.get_update(pipeline_id, update_id).update
        state = update.state.value if update and update.state else "UNKNOWN"
        if state != last:
            progress(f"pipeline {pipeline_id}: update {update_id} is {state}")
            last = state
        if state in TERMINAL_OK | TERMINAL_BAD:
            return state
        (sleep or time.sleep)(poll_seconds)
    raise PipelineUpdateError(
        f"pipeline {pipeline_id}: update {update_id} still {last} after {timeout_seconds:.0f}s; follow it in the"
        " pipeline's UI or raise --timeout-minutes"
    )
