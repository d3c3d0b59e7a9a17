"""The pure engine modules import neither Spark nor torch: the pipeline's workers and `lakehouse evaluate --help`
pay for them only when they embed. Checked in a fresh interpreter so other tests' imports cannot hide a leak."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("pyspark", "torch", "sentence_transformers", "transformers")


@pytest.mark.parametrize(
    "module",
    [
        "pipelines.text",
        "pipelines.correlate",
        "pipelines.embedding",
        "lakehouse.commands.evaluate",
        # Read by the stack and the docs: plain data, no Spark.
        "infra.observability",
        "pipelines.transforms.features",
        "lakehouse.local.event_log",
        "lakehouse.local.report",
        "pipelines.window_plan",
        "pipelines.engine_rows",
        "lakehouse.local.feed_profile",
        "lakehouse.local.feed_simulator",
    ],
)
def test_module_imports_no_spark_or_torch(module: str, repo_root: Path) -> None:
    probe = (
        f"import importlib, json, sys; importlib.import_module({module!r}); "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo_root, capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == []


def test_the_probe_would_see_a_heavy_import(repo_root: Path) -> None:
    # Guards the test above: the same probe reports torch once something imports it.
    probe = "import json, sys, torch; print(json.dumps(sorted(m for m in sys.modules if m == 'torch')))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo_root, capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(result.stdout) == ["torch"]


def _imported_packages(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            out.update(alias.name.split(".")[0] for alias in node.names)
    return out


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        # The bundle shipped to Databricks has neither infra nor lakehouse: pipelines is the lowest layer.
        ("pipelines", {"infra", "lakehouse", "policies"}),
        # The CDK app and the platform rules build on pipelines, never on the CLI.
        ("infra", {"lakehouse"}),
    ],
)
def test_layers_import_only_downwards(repo_root: Path, package: str, forbidden: set[str]) -> None:
    offenders = {
        str(path.relative_to(repo_root)): sorted(_imported_packages(path) & forbidden)
        for path in sorted((repo_root / package).rglob("*.py"))
        if _imported_packages(path) & forbidden
    }
    assert offenders == {}
