"""Which Terraform the stacks target: read from `cdktf.json` (`targetVersions.terraform`), the one place it is set.

cdktn reads the same field (its CLI passes it to the app as the `targetVersions` context) and refuses to synthesize
a feature the range does not support, e.g. S3's native lock file before Terraform 1.10 (hashicorp/terraform#35661).
The stacks write it as `terraform.required_version`, and the GitHub workflows install the range's lower bound, so CI
always proves the oldest version we claim to support. Pure: no cdktn import, so workflows and checkov can read it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from infra.repo import REPO_ROOT
from pipelines.errors import LakehouseError

CDK_CONFIG = REPO_ROOT / "cdktf.json"
_LOWER_BOUND = re.compile(r"^>=\s*(\d+\.\d+\.\d+)$")


class ToolchainError(LakehouseError, ValueError):
    """cdktf.json does not declare a usable Terraform target."""


def target_versions(config: Path = CDK_CONFIG) -> dict[str, str]:
    """The `targetVersions` object of cdktf.json (what cdktn validates features against)."""
    data = json.loads(config.read_text(encoding="utf-8"))
    targets = data.get("targetVersions")
    if not isinstance(targets, dict) or "terraform" not in targets:
        raise ToolchainError(f'{config}: set "targetVersions": {{"terraform": ">=X.Y.Z"}} (the Terraform we support)')
    return {str(k): str(v) for k, v in targets.items()}


def terraform_minimum(config: Path = CDK_CONFIG) -> str:
    """The lower bound of the Terraform range (`>=1.11.4` -> `1.11.4`): what CI installs."""
    declared = target_versions(config)["terraform"]
    match = _LOWER_BOUND.match(declared.strip())
    if not match:
        raise ToolchainError(f'{config}: targetVersions.terraform must be ">=X.Y.Z" (got {declared!r})')
    return match.group(1)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def required_version(config: Path = CDK_CONFIG) -> str:
    """The range in Terraform's syntax, for `terraform { required_version = ... }`."""
    return f">= {terraform_minimum(config)}"
