"""The local run's folder layout, its pipeline spec and Spark confs, and the errors every local step raises."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from infra.repo import REPO_ROOT
from lakehouse.errors import LakehouseError
from pipelines import tables
from pipelines.settings import PipelineSettings
from pipelines.transforms.correlation_sink import SINK_TABLES

DEFINITIONS_DIR = REPO_ROOT / "pipelines" / "definitions"
DEFAULT_RUN_DIR = REPO_ROOT / ".local-run"
SCHEMAS = ("bronze", "silver", "gold", "ops")
# Every table the pipeline and its correlation sink publish (the contract's names), in layer order.
TABLES = tables.ALL_TABLES
# The sink's tables are partitioned by their replace key locally (pipelines.transforms.table_store).
SINK_TABLE_SPECS = {spec.name: spec for spec in SINK_TABLES}
RUN_DIR_MARKER = ".lakehouse-run"
# The local Spark behind `spark-pipelines`: two cores, the machine size `make run` is specified for.
LOCAL_MASTER = "local[2]"
PIPELINE_TIMEOUT_S = 900

Source = Literal["sample", "live"]
Progress = Callable[[str], None]


class LocalRunError(LakehouseError):
    """The local run could not complete; the message says which step failed and where its log is."""


# ------------------------------------------------------------------------------------------------ paths & spec


@dataclass(frozen=True)
class RunPaths:
    """The run folder's layout."""

    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def gdelt(self) -> Path:
        return self.landing / "gdelt"

    @property
    def wikimedia(self) -> Path:
        return self.landing / "wikimedia"

    @property
    def cameo(self) -> Path:
        return self.landing / "reference" / "CAMEO.eventcodes.txt"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def derby(self) -> Path:
        return self.root / "derby"

    @property
    def storage(self) -> Path:
        return self.root / "pipeline-storage"

    @property
    def spec(self) -> Path:
        return self.root / "pipeline" / "spark-pipeline.yml"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def engine(self) -> Path:
        return self.root / "engine"

    @property
    def sink_checkpoint(self) -> Path:
        return self.root / "sink-checkpoint"

    def table_dir(self, qualified: str) -> Path:
        schema, table = qualified.split(".")
        return self.warehouse / f"{schema}.db" / table


def settings_for(
    paths: RunPaths,
    *,
    threshold: float | None = None,
    window_hours: int | None = None,
    lateness_minutes: int | None = None,
) -> PipelineSettings:
    """The pipeline settings of a local run: landing paths inside the run folder, engine defaults otherwise."""
    defaults = PipelineSettings()
    return dataclasses.replace(
        defaults,
        window_hours=window_hours or defaults.window_hours,
        similarity_threshold=defaults.similarity_threshold if threshold is None else threshold,
        lateness_minutes=defaults.lateness_minutes if lateness_minutes is None else lateness_minutes,
        gdelt_landing_path=str(paths.gdelt),
        wikimedia_landing_path=str(paths.wikimedia),
        cameo_lookup_path=str(paths.cameo),
    )


def local_spec(paths: RunPaths, settings: PipelineSettings, definitions_dir: Path = DEFINITIONS_DIR) -> dict[str, Any]:
    """The `spark-pipelines` spec of a local run (plain data; written as YAML next to the run's other state).

    `libraries` must be relative to the spec's folder (spark-pipelines rejects absolute globs), so it points back
    into the repo's `pipelines/definitions/` from inside the run folder.
    """
    relative = os.path.relpath(definitions_dir.resolve(), paths.spec.parent.resolve())
    return {
        "name": "lakehouse-local",
        "storage": paths.storage.resolve().as_uri(),
        "database": "default",
        "configuration": {
            **settings.to_configuration(),
            "spark.sql.shuffle.partitions": "2",
            "spark.sql.session.timeZone": "UTC",
        },
        "libraries": [{"glob": {"include": f"{relative}/**"}}],
    }


def spark_submit_confs(paths: RunPaths) -> dict[str, str]:
    """Static confs of the local Spark behind the pipeline: a Hive catalog with a fixed warehouse.

    The Derby metastore lands in the run's `derby/` folder: the engine is told so (`derby.system.home`), and
    `spark-pipelines` is started with that folder as working directory (Derby's default home), since it does not
    hand `--driver-java-options` to a driver it starts itself (dry runs).
    """
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(paths.warehouse),
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.memory": "1g",
    }


def prepare_run_dir(root: Path) -> RunPaths:
    """Delete the previous run's state (only a folder this command created) and lay out a fresh one."""
    if root.exists():
        if any(root.iterdir()) and not (root / RUN_DIR_MARKER).exists():
            raise LocalRunError(
                f"{root} exists and was not created by `lakehouse run-local`; refusing to delete it. "
                "Pass --run-dir with an empty or new folder."
            )
        shutil.rmtree(root)
    paths = RunPaths(root)
    for folder in (paths.gdelt, paths.wikimedia, paths.cameo.parent, paths.warehouse, paths.derby, paths.logs):
        folder.mkdir(parents=True, exist_ok=True)
    paths.spec.parent.mkdir(parents=True, exist_ok=True)
    (root / RUN_DIR_MARKER).write_text("created by lakehouse run-local; deleted by the next run\n", encoding="utf-8")
    return paths
