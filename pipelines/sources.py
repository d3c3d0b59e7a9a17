"""Where the pipeline reads from, and its settings: the only place that differs between a laptop and Databricks.

- Landed files: on Databricks, Auto Loader (`cloudFiles`) over the landing volume (incremental file discovery,
  exactly-once per file); locally, Spark's file stream source over the run folder. Both read whole lines and
  record each row's file (`_metadata.file_path`). Names starting with `.` or `_` (in-flight temp files, the
  listener's `_state/`) are ignored by both.
- Settings: the `lakehouse.*` keys of the pipeline configuration, read from the Spark conf.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Final

from pipelines.cameo import CameoLookupError, merged_lookup, parse_cameo_lookup
from pipelines.settings import PipelineSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

GDELT_FILE_GLOB: Final = "*.export.CSV"
WIKIMEDIA_FILE_GLOB: Final = "*.jsonl"


def on_databricks() -> bool:
    """True inside a Databricks runtime (the runtime sets DATABRICKS_RUNTIME_VERSION)."""
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def pipeline_settings(spark: SparkSession) -> PipelineSettings:
    """The pipeline's settings from its configuration map (which the runtime puts into the Spark conf)."""
    keys = PipelineSettings().to_configuration().keys()
    conf: dict[str, str] = {}
    for key in keys:
        value = spark.conf.get(key, None)
        if value is not None:
            conf[key] = value
    return PipelineSettings.from_configuration(conf)


def parallelism(spark: SparkSession, default: int = 8) -> int:
    """How many tasks a stage should use: `spark.sql.shuffle.partitions` when it is a number (Databricks may say
    "auto"), else `default`."""
    raw = spark.conf.get("spark.sql.shuffle.partitions", None)
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        value = default
    return max(1, value)


def read_landed_lines(spark: SparkSession, path: str, *, file_glob: str) -> DataFrame:
    """A stream of `raw_line, source_file` over the files landed under `path` matching `file_glob`."""
    from pyspark.sql import functions as sf

    if on_databricks():
        reader = (
            spark.readStream.format("cloudFiles")
            .option("cloudFiles.format", "text")
            .option("pathGlobFilter", file_glob)
        )
    else:
        reader = spark.readStream.format("text").option("pathGlobFilter", file_glob)
    return reader.load(path).select(
        sf.col("value").alias("raw_line"), sf.col("_metadata.file_path").alias("source_file")
    )


def cameo_lookup(path: str) -> dict[str, str]:
    """GDELT's CAMEO lookup at `path` over the built-in root codes; the root codes alone when the file is absent.

    A file that exists but is malformed raises (`CameoLookupError` names the line): a silently wrong lookup
    would mislabel every event.
    """
    lookup_file = Path(path)
    if not lookup_file.is_file():
        return merged_lookup()
    try:
        text = lookup_file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CameoLookupError(f"{path} is not UTF-8 text: fetch GDELT's CAMEO.eventcodes.txt again") from exc
    return merged_lookup(parse_cameo_lookup(text, source=path))
