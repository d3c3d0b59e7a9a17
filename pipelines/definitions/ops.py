"""Ops: how many rows each expectation removed, per rule (zero rows included), so no row disappears unexplained."""

from pyspark import pipelines as dp
from pyspark.sql import DataFrame, SparkSession

from pipelines import expectations
from pipelines.transforms import gdelt, wikimedia

spark = SparkSession.active()


@dp.materialized_view(name="ops.expectation_counts", comment="Rows that failed each expectation rule.")
def expectation_counts() -> DataFrame:
    return expectations.expectation_counts(
        {
            gdelt.SILVER_TABLE: spark.read.table("ops.gdelt_events_quarantine"),
            wikimedia.SILVER_TABLE: spark.read.table("ops.wikimedia_edits_quarantine"),
        },
        [gdelt.GDELT_EXPECTATIONS, wikimedia.WIKIMEDIA_EXPECTATIONS],
    )
