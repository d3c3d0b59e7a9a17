"""Fixtures every test area shares: the repo root, ../shared (real data; optional), one local SparkSession."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"

# The embedding model loads from the installed package, never from a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# jsii (the CDK's runtime) and the cdktn CLI run on the Node 22 that package-lock.json pins, also outside `make`.
os.environ["PATH"] = os.pathsep.join([str(REPO_ROOT / "node_modules" / ".bin"), os.environ.get("PATH", "")])
os.environ.setdefault("CHECKPOINT_DISABLE", "1")
# Spark's Python workers must run this interpreter (the venv's), also when pytest is started outside `make`.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared (real GDELT/Wikimedia slices, labeled pairs). Tests that need it skip cleanly when absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip("../shared is absent: real-data tests need the shared data folder next to the repo")
    return SHARED_DIR


# SQL functions the Databricks Runtime the pipeline runs on has, but the open-source Spark of `.venv-runtime` (the
# pyspark release of that runtime, see `make test`) does not. The session defines each from open-source functions,
# so the transforms' other behaviour is still tested on that Spark; where Spark has the function (our pyspark), the
# definition is skipped. Keep the list to documented runtime functions; anything else failing there is a finding.
DATABRICKS_RUNTIME_FUNCTIONS = {
    # Databricks Runtime 17.2 and above (the pipeline's CURRENT channel is 17.3):
    # https://docs.databricks.com/aws/en/sql/language-manual/functions/try_to_date. Open-source Spark has it only
    # from 4.1.0 ("not available in PySpark 4.0.x", apache/spark#56672).
    "try_to_date": "CREATE TEMPORARY FUNCTION try_to_date(expr STRING, fmt STRING) RETURNS DATE "
    "RETURN CAST(try_to_timestamp(expr, fmt) AS DATE)",
}


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """One local SparkSession for the whole test run (starting one costs ~10 s)."""
    from pyspark.sql import SparkSession

    base = tmp_path_factory.mktemp("spark")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("lakehouse-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(base / "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={base / 'derby'}")
        .getOrCreate()
    )
    from pyspark.errors import ParseException

    for name, definition in DATABRICKS_RUNTIME_FUNCTIONS.items():
        if not session.catalog.functionExists(name):
            try:
                session.sql(definition)
            except ParseException:
                pass  # Spark < 4.0 has no SQL functions: the gap stays, and the tests that hit it fail there
    yield session
    session.stop()


# Fixtures that make a test slow: a local Spark, a synth of every stack (jsii + the provider bindings), the model.
HEAVY_FIXTURES = frozenset({"spark", "synth", "stack_reports", "fixture_report", "model_embedder"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs Spark, a synth, checkov or a pipeline run as `heavy`, from what it uses rather than
    by hand, so `make test-fast` (`-m "not heavy"`) can never silently include one."""
    heavy = pytest.mark.heavy
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        markers = ("slow", "spark", "realdata")  # realdata tests load the embedding model over ../shared
        if names & HEAVY_FIXTURES or any(item.get_closest_marker(m) for m in markers):
            item.add_marker(heavy)
