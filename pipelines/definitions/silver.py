"""Silver: typed, validated, deduplicated GDELT events and Wikimedia edits; violating rows go to ops quarantine.

Both the clean table and its quarantine read the landed files (the same source as bronze) and type them the same
way; the clean table drops the rows that violate an expectation before deduplicating, the quarantine table keeps
exactly those rows with the rule they broke. Why not read bronze or a validated view: the dedupe step is analyzed
when the graph is registered (Spark Connect resolves `dropDuplicatesWithinWatermark` columns eagerly), before any
pipeline table exists; a file source can be analyzed then.
"""

from pyspark import pipelines as dp
from pyspark.sql import DataFrame, SparkSession

from pipelines import expectations, sources
from pipelines.transforms import bronze, gdelt, wikimedia
from pipelines.wikimedia import parse_wikis

spark = SparkSession.active()
settings = sources.pipeline_settings(spark)
cameo = sources.cameo_lookup(settings.cameo_lookup_path)


def _typed_gdelt() -> DataFrame:
    lines = sources.read_landed_lines(spark, settings.gdelt_landing_path, file_glob=sources.GDELT_FILE_GLOB)
    return gdelt.typed_gdelt(bronze.gdelt_bronze(lines), cameo)


def _typed_wikimedia() -> DataFrame:
    lines = sources.read_landed_lines(spark, settings.wikimedia_landing_path, file_glob=sources.WIKIMEDIA_FILE_GLOB)
    return wikimedia.typed_wikimedia(bronze.wikimedia_bronze(lines))


@dp.table(name="silver.gdelt_events", comment="Typed GDELT events, one per GLOBALEVENTID, with CAMEO and event text.")
def gdelt_events() -> DataFrame:
    valid = expectations.drop_violations(_typed_gdelt(), gdelt.GDELT_EXPECTATIONS)
    return gdelt.silver_gdelt(valid, watermark_hours=settings.window_hours)


@dp.table(name="ops.gdelt_events_quarantine", comment="GDELT rows that violated an expectation, with the rule.")
def gdelt_events_quarantine() -> DataFrame:
    return expectations.quarantine(_typed_gdelt(), gdelt.GDELT_EXPECTATIONS)


@dp.table(name="silver.wikimedia_edits", comment="Main-namespace Wikipedia edits and creations, one per meta.id.")
def wikimedia_edits() -> DataFrame:
    valid = expectations.drop_violations(_typed_wikimedia(), wikimedia.WIKIMEDIA_EXPECTATIONS)
    return wikimedia.silver_wikimedia(
        valid,
        wikis=parse_wikis(settings.wikis),
        include_bots=settings.include_bots,
        watermark_hours=settings.window_hours,
    )


@dp.table(name="ops.wikimedia_edits_quarantine", comment="Wikimedia events that violated an expectation + rule.")
def wikimedia_edits_quarantine() -> DataFrame:
    return expectations.quarantine(_typed_wikimedia(), wikimedia.WIKIMEDIA_EXPECTATIONS)
