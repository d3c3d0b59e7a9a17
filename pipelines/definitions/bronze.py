"""Bronze: landed GDELT export lines and Wikimedia recentchange events, as they arrived, with ingest metadata."""

from pyspark import pipelines as dp
from pyspark.sql import DataFrame, SparkSession

from pipelines import sources, tables
from pipelines.transforms import bronze

spark = SparkSession.active()
settings = sources.pipeline_settings(spark)


@dp.table(name=tables.GDELT_BRONZE, comment="GDELT 2.0 export rows (61 string columns) with source file and time.")
def gdelt_events() -> DataFrame:
    lines = sources.read_landed_lines(spark, settings.gdelt_landing_path, file_glob=sources.GDELT_FILE_GLOB)
    return bronze.gdelt_bronze(lines)


@dp.table(name=tables.WIKIMEDIA_BRONZE, comment="Raw Wikimedia recentchange events (JSON) with source file and time.")
def wikimedia_events() -> DataFrame:
    lines = sources.read_landed_lines(spark, settings.wikimedia_landing_path, file_glob=sources.WIKIMEDIA_FILE_GLOB)
    return bronze.wikimedia_bronze(lines)
