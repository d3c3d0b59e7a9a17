"""Ops tables built from plain values: the CAMEO lookup's status (one row per update)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as sf
from pyspark.sql import types as T

from pipelines import tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from pipelines.sources import CameoLookup

CAMEO_LOOKUP_TABLE = tables.CAMEO_LOOKUP
# A StructType, not a DDL string: parsing DDL needs an analyzer round trip, which pipeline query functions forbid.
CAMEO_LOOKUP_SCHEMA = T.StructType(
    [
        T.StructField("path", T.StringType()),
        T.StructField("status", T.StringType()),
        T.StructField("file_codes", T.IntegerType()),
        T.StructField("codes_in_use", T.IntegerType()),
        T.StructField("problem", T.StringType()),
    ]
)


def cameo_lookup_status(spark: SparkSession, lookup: CameoLookup) -> DataFrame:
    """One row: where the lookup was read from, `loaded` / `missing` / `unreadable`, and the fix when not loaded."""
    row = (lookup.path, lookup.status, lookup.file_codes, len(lookup.codes), lookup.problem)
    return spark.createDataFrame([row], CAMEO_LOOKUP_SCHEMA).withColumn("checked_at", sf.current_timestamp())
