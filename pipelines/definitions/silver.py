"""Silver: typed, validated, deduplicated GDELT events and Wikimedia edits; violating rows go to ops quarantine.

The clean table drops the rows that violate an expectation *before* deduplicating (so an invalid copy of an event
never wins the dedupe); the quarantine table keeps exactly those rows with the rule they broke. Both read the same
input and type it the same way:

- On Databricks the input is the bronze streaming table (each landed file is read once, by bronze's Auto Loader)
  and the drop is the native `dp.expect_all_or_drop` on a temporary view, so every rule's pass/fail counts land in
  the pipeline event log (`expectations.dropping_view`).
- Locally the input is the landed files again and the drop a filter: open-source Spark Connect analyzes the dedupe
  eagerly when the graph is registered, when no pipeline table exists yet (`sources.silver_reads_bronze`).
"""

from pyspark import pipelines as dp
from pyspark.sql import DataFrame, SparkSession

from pipelines import expectations, sources, tables
from pipelines.transforms import bronze, gdelt, wikimedia
from pipelines.wikimedia import parse_wikis

spark = SparkSession.active()
settings = sources.pipeline_settings(spark)
cameo = sources.cameo_lookup(settings.cameo_lookup_path).codes


def _gdelt_bronze() -> DataFrame:
    if sources.silver_reads_bronze():
        return spark.readStream.table(bronze.GDELT_TABLE)
    lines = sources.read_landed_lines(spark, settings.gdelt_landing_path, file_glob=sources.GDELT_FILE_GLOB)
    return bronze.gdelt_bronze(lines)


def _wikimedia_bronze() -> DataFrame:
    if sources.silver_reads_bronze():
        return spark.readStream.table(bronze.WIKIMEDIA_TABLE)
    lines = sources.read_landed_lines(spark, settings.wikimedia_landing_path, file_glob=sources.WIKIMEDIA_FILE_GLOB)
    return bronze.wikimedia_bronze(lines)


def _typed_gdelt() -> DataFrame:
    return gdelt.typed_gdelt(_gdelt_bronze(), cameo)


def _typed_wikimedia() -> DataFrame:
    return wikimedia.typed_wikimedia(_wikimedia_bronze())


valid_gdelt = expectations.dropping_view(spark, "gdelt_events_valid", gdelt.GDELT_EXPECTATIONS, _typed_gdelt)
valid_wikimedia = expectations.dropping_view(
    spark, "wikimedia_edits_valid", wikimedia.WIKIMEDIA_EXPECTATIONS, _typed_wikimedia
)


@dp.table(name=tables.GDELT_SILVER, comment="Typed GDELT events, one per GLOBALEVENTID, with CAMEO and event text.")
def gdelt_events() -> DataFrame:
    return gdelt.silver_gdelt(valid_gdelt(), watermark_hours=settings.window_hours)


@dp.table(name=tables.GDELT_QUARANTINE, comment="GDELT rows that violated an expectation, with the rule.")
def gdelt_events_quarantine() -> DataFrame:
    return expectations.quarantine(_typed_gdelt(), gdelt.GDELT_EXPECTATIONS)


@dp.table(name=tables.WIKIMEDIA_SILVER, comment="Main-namespace Wikipedia edits and creations, one per meta.id.")
def wikimedia_edits() -> DataFrame:
    return wikimedia.silver_wikimedia(
        valid_wikimedia(),
        wikis=parse_wikis(settings.wikis),
        include_bots=settings.include_bots,
        watermark_hours=settings.window_hours,
    )


@dp.table(name=tables.WIKIMEDIA_QUARANTINE, comment="Wikimedia events that violated an expectation + rule.")
def wikimedia_edits_quarantine() -> DataFrame:
    return expectations.quarantine(_typed_wikimedia(), wikimedia.WIKIMEDIA_EXPECTATIONS)
