"""Golden snapshot per stack: every infrastructure change shows up as a reviewed diff of tests/infra/snapshots/.

Update with `make snapshot-update` (pytest tests/infra/test_snapshots.py --snapshot-update). The bundle's
workspace files are left out (one per file under pipelines/, which other areas edit all the time), and so is the
bundle digest the listener job carries as its `code_version` tag; their paths, hashes and sources are asserted
against the tree in test_stacks.py and test_platform_rules.py instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.phases import all_stack_names

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
BUNDLE_TYPE = "databricks_workspace_file"


def normalize(synthesized: dict[str, Any]) -> dict[str, Any]:
    data = json.loads(json.dumps(synthesized))
    resources = data.get("resource", {})
    resources.pop(BUNDLE_TYPE, None)
    for by_name in resources.values():
        for config in by_name.values():
            if isinstance(config.get("depends_on"), list):
                config["depends_on"] = [d for d in config["depends_on"] if not d.startswith(BUNDLE_TYPE + ".")]
            if isinstance(config.get("tags"), dict):
                config["tags"].pop("code_version", None)
    return data


@pytest.mark.parametrize("stack", all_stack_names())
def test_snapshot(synth, stack, snapshot_update):
    path = SNAPSHOTS / f"{stack}.json"
    current = json.dumps(normalize(synth.stacks[stack]), indent=2, sort_keys=True) + "\n"
    if snapshot_update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(current, encoding="utf-8")
        return
    assert path.is_file(), f"{path} is missing: run `make snapshot-update` and commit it"
    expected = path.read_text(encoding="utf-8")
    assert current == expected, (
        f"{stack} stack differs from {path.name}: review the change, then run `make snapshot-update` and commit"
    )
