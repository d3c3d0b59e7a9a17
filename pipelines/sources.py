"""Where the pipeline reads from, and its settings: the only place that differs between a laptop and Databricks.

- Landed files: on Databricks, Auto Loader (`cloudFiles`) over the landing volume (incremental file discovery,
  exactly-once per file); locally, Spark's file stream source over the run folder. Both read whole lines and
  record each row's file (`_metadata.file_path`). Names starting with `.` or `_` (in-flight temp files, the
  listener's `_state/`) are ignored by both.
- Silver's input: on Databricks silver reads the bronze streaming tables, so each landed file is read once (by
  bronze's Auto Loader); open-source Spark Connect analyzes a dedupe eagerly when the graph is registered, before
  any pipeline table exists, so locally silver reads the landed files itself (`silver_reads_bronze`).
- The correlation sink: Databricks runs it as a ForEachBatch sink inside the pipeline; open-source
  `spark-pipelines` has none, so `lakehouse run-local` runs it next to the pipeline (`has_foreach_batch_sink`).
- GDELT's CAMEO lookup: a missing or unreadable file is reported (a warning and a row in ops.cameo_lookup) and
  the built-in root codes are used; a malformed file stops the update (`CameoLookupError` names the line).
- Settings: the `lakehouse.*` keys of the pipeline configuration, read from the Spark conf.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
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


def silver_reads_bronze() -> bool:
    """Whether silver can read the bronze tables (Databricks) instead of the landed files (open-source Spark).

    Locally `dropDuplicatesWithinWatermark` on `spark.readStream.table("bronze...")` fails at registration with
    TABLE_OR_VIEW_NOT_FOUND: the Connect planner analyzes the dedupe's input before the pipeline created bronze.
    """
    return on_databricks()


def has_foreach_batch_sink() -> bool:
    """Whether `pyspark.pipelines` offers `foreach_batch_sink` (Databricks: yes; open-source pyspark 4.3: no)."""
    try:
        from pyspark import pipelines as dp
    except ImportError:  # pragma: no cover - pyspark without the pipelines extra
        return False
    return callable(getattr(dp, "foreach_batch_sink", None))


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


_log = logging.getLogger("pipelines.sources")


@dataclass(frozen=True)
class CameoLookup:
    """The CAMEO lookup the pipeline uses, and whether GDELT's file was behind it (published in ops.cameo_lookup)."""

    path: str
    codes: dict[str, str]  # the lookup in use: the file's codes over the built-in root codes
    file_codes: int  # codes read from the file (0 when it was not read)
    problem: str | None  # what is wrong with the file and how to fix it; None when it was read

    @property
    def status(self) -> str:
        if self.problem is None:
            return "loaded"
        return "missing" if not Path(self.path).exists() else "unreadable"


def cameo_lookup(path: str) -> CameoLookup:
    """GDELT's CAMEO lookup at `path` over the built-in root codes.

    A missing or unreadable file is not an error that should stop ingestion, but it must not pass unnoticed:
    events then get only their root code's description (e.g. "Consult" instead of "Make a visit"). It is logged
    as a warning and reported by `problem` (the pipeline publishes it in ops.cameo_lookup). A file that exists
    but is malformed raises (`CameoLookupError` names the line): a silently wrong lookup would mislabel events.
    """
    lookup_file = Path(path)
    problem: str | None = None
    if not lookup_file.exists():
        problem = (
            f"CAMEO lookup {path} is missing: events get only their root code's description. Land it with "
            "`lakehouse ingest cameo --out <landing>/reference` (the GDELT job's land_cameo_lookup task)."
        )
    else:
        try:
            text = lookup_file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CameoLookupError(f"{path} is not UTF-8 text: fetch GDELT's CAMEO.eventcodes.txt again") from exc
        except OSError as exc:
            problem = (
                f"CAMEO lookup {path} cannot be read ({exc.strerror or exc}): events get only their root code's "
                "description. Give the pipeline's identity READ VOLUME on the landing volume, or land the file again."
            )
        else:
            codes = parse_cameo_lookup(text, source=path)
            return CameoLookup(path, merged_lookup(codes), len(codes), None)
    _log.warning(problem)
    return CameoLookup(path, merged_lookup(), 0, problem)
