"""Gold: correlated (event, edit) pairs per tumbling window, and the trending stories they form.

Materialized views over silver: each update recomputes the windows from the deduplicated silver tables, so a
late event within the watermark still lands in its window.
"""

from pyspark import pipelines as dp
from pyspark.sql import DataFrame, SparkSession

from pipelines import expectations, sources
from pipelines.transforms import gold

spark = SparkSession.active()
settings = sources.pipeline_settings(spark)
partitions = sources.parallelism(spark)


@dp.materialized_view(name="gold.correlations", comment="Event x edit pairs with cosine >= threshold, per window.")
@expectations.expect_all_or_fail(gold.GOLD_EXPECTATIONS)
def correlations() -> DataFrame:
    return gold.correlations(
        spark.read.table("silver.gdelt_events"),
        spark.read.table("silver.wikimedia_edits"),
        window_hours=settings.window_hours,
        threshold=settings.similarity_threshold,
        top_k=settings.top_k,
        partitions=partitions,
    )


@dp.materialized_view(name="gold.trending_stories", comment="Per window, stories by correlated events and edits.")
def trending_stories() -> DataFrame:
    return gold.trending_stories(spark.read.table("gold.correlations"))
