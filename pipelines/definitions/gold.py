"""Gold: the correlation sink, fed by one append flow over both silver tables.

Where `pyspark.pipelines` has a ForEachBatch sink (Databricks' `dp.foreach_batch_sink`, Public Preview,
docs.databricks.com/aws/en/ldp/for-each-batch), the sink runs inside the pipeline: each micro-batch of new silver
rows goes to `correlation_sink.process_batch`, which embeds new texts, recomputes only the open windows that
received rows and writes gold.correlations, gold.trending_stories, silver.text_vectors and the ops tables itself.

Open-source `spark-pipelines` (pyspark 4.3) has no ForEachBatch sink and cannot express this incrementally (a
watermark or a dedupe on a pipeline table is analyzed eagerly at registration), so nothing is registered here
locally: `lakehouse run-local` runs the same stream and the same function after each pipeline update
(`correlation_sink.run_available_now`).
"""

from pyspark import pipelines as dp
from pyspark.sql import DataFrame, SparkSession

from pipelines import sources
from pipelines.transforms import correlation_sink

spark = SparkSession.active()
settings = sources.pipeline_settings(spark)

if sources.has_foreach_batch_sink():

    @dp.foreach_batch_sink(name=correlation_sink.SINK_NAME)  # type: ignore[attr-defined, untyped-decorator]
    def correlations_sink(df: DataFrame, batch_id: int) -> None:
        correlation_sink.process_batch(df, batch_id, settings=settings)

    @dp.append_flow(target=correlation_sink.SINK_NAME, name="silver_rows_to_correlations")
    def silver_rows() -> DataFrame:
        return correlation_sink.silver_rows(spark)
