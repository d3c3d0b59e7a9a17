"""Ops: how many rows each expectation removed, per rule (zero rows included), so no row disappears unexplained;
and whether GDELT's CAMEO lookup was behind this update's event descriptions."""

from pyspark import pipelines as dp
from pyspark.sql import DataFrame, SparkSession

from pipelines import expectations, sources, tables
from pipelines.transforms import gdelt, ops, wikimedia

spark = SparkSession.active()
settings = sources.pipeline_settings(spark)


@dp.materialized_view(name=tables.EXPECTATION_COUNTS, comment="Rows that failed each expectation rule.")
def expectation_counts() -> DataFrame:
    return expectations.expectation_counts(
        {
            gdelt.SILVER_TABLE: spark.read.table(tables.GDELT_QUARANTINE),
            wikimedia.SILVER_TABLE: spark.read.table(tables.WIKIMEDIA_QUARANTINE),
        },
        [gdelt.GDELT_EXPECTATIONS, wikimedia.WIKIMEDIA_EXPECTATIONS],
    )


@dp.materialized_view(name=tables.CAMEO_LOOKUP, comment="The CAMEO lookup this update used; a problem if any.")
def cameo_lookup() -> DataFrame:
    return ops.cameo_lookup_status(spark, sources.cameo_lookup(settings.cameo_lookup_path))
