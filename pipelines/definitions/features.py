"""Features: gold as a feature table (per story and window), primary-keyed on Databricks for feature engineering."""

from pyspark import pipelines as dp
from pyspark.sql import DataFrame, SparkSession

from pipelines import sources
from pipelines.transforms import features

spark = SparkSession.active()


@dp.materialized_view(
    name=features.FEATURE_TABLE,
    comment="Per story and window: events, edits, scores, editors, wikis, countries; key (story_id, window_start).",
    # The PRIMARY KEY constraint only where the runtime accepts it (Databricks); the columns are the same everywhere.
    schema=features.schema_ddl(primary_key=sources.on_databricks()),
)
def story_window_features() -> DataFrame:
    return features.story_window_features(
        spark.read.table("gold.correlations"), spark.read.table("silver.gdelt_events")
    )
