"""Synthesis helpers for the infra tests (a module, not conftest, so tests can import it by a unique name)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Credentials a careless stack could read at synth time; none may appear in the JSON.
# Token-shaped values are assembled at run time so the repository holds nothing a secret scanner would flag.
SENTINEL_SECRETS = {
    "DATABRICKS_TOKEN": "dapi" + "0" * 32 + "sentinel",
    "DATABRICKS_CLIENT_SECRET": "dose" + "1" * 32 + "sentinel",
    "TF_VAR_databricks_token": "dapi" + "2" * 32 + "sentinel",
}


@dataclass(frozen=True)
class Synth:
    out_dir: Path
    seconds: float
    stacks: dict[str, dict[str, Any]]
    raw: dict[str, bytes]

    def resources(self, stack: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return dict(self.stacks[stack].get("resource", {}).get(resource_type, {}))

    def resource(self, stack: str, resource_type: str, name: str) -> dict[str, Any]:
        return self.resources(stack, resource_type)[name]


def synthesize(out_dir: Path) -> Synth:
    from infra.main import build_app
    from infra.phases import all_stack_names

    started = time.perf_counter()
    build_app(str(out_dir)).synth()
    seconds = time.perf_counter() - started
    raw = {name: (out_dir / "stacks" / name / "cdk.tf.json").read_bytes() for name in all_stack_names()}
    return Synth(out_dir, seconds, {name: json.loads(data) for name, data in raw.items()}, raw)
