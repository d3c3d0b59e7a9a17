"""The bundle the stacks upload: which files under `pipelines/` go to the workspace, and their content hashes.

Pure and deterministic: files are listed in sorted POSIX order with paths relative to the repo root, so two
synths of the same tree give identical bytes and no developer's absolute path reaches the JSON.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from infra.repo import REPO_ROOT
from pipelines.errors import LakehouseError

BUNDLE_PACKAGE = "pipelines"
# Source and small reference data only: bytecode caches, editor droppings and local outputs never ship.
BUNDLE_SUFFIXES = frozenset({".py", ".sql", ".txt", ".json", ".yml", ".yaml", ".csv", ".tsv"})
_SKIPPED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
# The contract: the pipeline's source files are exactly these; everything else is importable support code.
PIPELINE_SOURCES_DIR = "pipelines/definitions"
INGEST_SCRIPT = "pipelines/ingest/cli.py"


class BundleError(LakehouseError):
    """The bundle or requirements.txt is not what the stacks expect."""


@dataclass(frozen=True, order=True)
class BundleFile:
    relative_path: str  # POSIX, relative to the repo root, e.g. "pipelines/text.py"
    md5: str

    def workspace_path(self, workspace_root: str) -> str:
        return f"{workspace_root}/{self.relative_path}"


def _shipped(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    if any(part in _SKIPPED_DIRS or part.startswith(".") for part in parts):
        return False
    return path.is_file() and path.suffix in BUNDLE_SUFFIXES


def bundle_files(repo_root: Path = REPO_ROOT, package: str = BUNDLE_PACKAGE) -> tuple[BundleFile, ...]:
    """Every shipped file under `<repo_root>/<package>`, sorted by relative path, with its md5."""
    base = repo_root / package
    if not base.is_dir():
        raise BundleError(f"{base}: the bundle folder is missing; the stacks upload {package}/** to the workspace")
    files = [p for p in base.rglob("*") if _shipped(p, repo_root)]
    return tuple(
        sorted(
            BundleFile(
                p.relative_to(repo_root).as_posix(), hashlib.md5(p.read_bytes(), usedforsecurity=False).hexdigest()
            )
            for p in files
        )
    )


_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)")


def normalize_name(name: str) -> str:
    """PEP 503 normalized distribution name ("PyYAML" and "pyyaml" name the same distribution)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_pins(lines: Iterable[str]) -> dict[str, str]:
    """Normalized package name -> exact version from `name==version` lines (comments and blanks ignored)."""
    pins: dict[str, str] = {}
    for line in lines:
        match = _PIN.match(line)
        if match:
            pins[normalize_name(match.group(1))] = match.group(2)
    return pins
