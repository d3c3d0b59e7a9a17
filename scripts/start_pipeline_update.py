"""Post-deploy check: start an update of the deployed pipeline and wait until it finishes.

Used by .github/workflows/deploy.yml after `cdktf deploy staging`. Auth is the SDK's unified auth (the
workflow sets DATABRICKS_AUTH_TYPE=github-oidc, DATABRICKS_HOST and DATABRICKS_CLIENT_ID).
Exit 0 when the update COMPLETED, 2 when it FAILED or was CANCELED, 1 on any other error (timeout, auth).
"""

from __future__ import annotations

import argparse
import sys
import time

TERMINAL_OK = {"COMPLETED"}
TERMINAL_BAD = {"FAILED", "CANCELED"}


def wait_for_update(
    client: object,
    pipeline_id: str,
    *,
    timeout_seconds: float,
    poll_seconds: float = 15.0,
    full_refresh: bool = False,
) -> str:
    """Start an update and return its terminal state (COMPLETED, FAILED or CANCELED)."""
    from databricks.sdk import WorkspaceClient

    assert isinstance(client, WorkspaceClient)
    update_id = client.pipelines.start_update(pipeline_id, full_refresh=full_refresh).update_id
    if not update_id:
        raise RuntimeError(f"pipeline {pipeline_id}: start_update returned no update_id")
    print(f"pipeline {pipeline_id}: started update {update_id}", flush=True)
    deadline = time.monotonic() + timeout_seconds
    last = ""
    while time.monotonic() < deadline:
        update = client.pipelines.get_update(pipeline_id, update_id).update
        state = update.state.value if update and update.state else "UNKNOWN"
        if state != last:
            print(f"pipeline {pipeline_id}: update {update_id} is {state}", flush=True)
            last = state
        if state in TERMINAL_OK | TERMINAL_BAD:
            return state
        time.sleep(poll_seconds)
    raise TimeoutError(f"pipeline {pipeline_id}: update {update_id} still {last} after {timeout_seconds:.0f}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline-id", required=True)
    parser.add_argument("--timeout-minutes", type=float, default=60)
    parser.add_argument("--poll-seconds", type=float, default=15)
    parser.add_argument("--full-refresh", action="store_true")
    args = parser.parse_args(argv)
    from databricks.sdk import WorkspaceClient

    try:
        state = wait_for_update(
            WorkspaceClient(),
            args.pipeline_id,
            timeout_seconds=args.timeout_minutes * 60,
            poll_seconds=args.poll_seconds,
            full_refresh=args.full_refresh,
        )
    except Exception as exc:  # a CI step: print one line, no traceback, exit 1
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0 if state in TERMINAL_OK else 2


if __name__ == "__main__":
    sys.exit(main())
