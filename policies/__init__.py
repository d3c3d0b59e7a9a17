"""Custom checkov checks for `databricks_*` resources (checkov ships none).

Run: `checkov --framework terraform_json --skip-download --external-checks-dir policies -d cdktf.out/stacks/<stack>`.
The rule logic lives in pure modules (`infra.guard_rules`, shared with the synth-time guards, and
`policies.grant_targets`); the other modules here adapt it to checkov's check classes. Each check has a failing
fixture under `tests/infra/fixtures/`. `defined_checks()` lists the checks this folder defines, so the tests and
docs/infra.md are held to the folder itself rather than to a list typed elsewhere.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import yaml

POLICIES_DIR = Path(__file__).resolve().parent


def defined_checks() -> dict[str, str]:
    """check id -> check name for every check in this folder, found the way checkov finds them.

    checkov imports every Python module here and keeps the check objects they create, and reads every YAML file's
    `metadata`; this does the same in-process (importing registers the checks with checkov, which is harmless).
    """
    from checkov.common.checks.base_check import BaseCheck
    from checkov.common.graph.checks_infra.base_check import BaseGraphCheck

    found: dict[str, str] = {}
    for module_info in pkgutil.iter_modules([str(POLICIES_DIR)]):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, BaseCheck | BaseGraphCheck) and value.id:
                found[value.id] = value.name
    for path in sorted(POLICIES_DIR.glob("*.y*ml")):
        metadata = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("metadata") or {}
        if metadata.get("id"):
            found[str(metadata["id"])] = str(metadata.get("name", ""))
    return dict(sorted(found.items()))
