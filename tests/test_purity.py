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
        "pipelines.window_plan",
        "pipelines.engine_rows",
        "lakehouse.feed_profile",
        "lakehouse.feed_simulator",
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
