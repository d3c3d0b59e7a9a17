"""Silver GDELT events: typed, described (CAMEO), validated, deduplicated on GLOBALEVENTID, with an event text.

Steps (each a function so the pipeline and the tests compose the same pieces):
`typed_gdelt` (bronze -> typed columns next to the raw ones) -> expectations (`GDELT_EXPECTATIONS`: drop into
quarantine) -> `silver_gdelt` (watermark on event time, dedupe within it, final columns + `event_text`).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import chain

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as sf

from pipelines import tables
from pipelines.expectations import Expectation, ExpectationSuite
from pipelines.transforms import text_udfs

SILVER_TABLE = tables.GDELT_SILVER

GDELT_EXPECTATIONS = ExpectationSuite(
    SILVER_TABLE,
    (
        Expectation("gdelt_has_61_columns", "field_count = 61"),
        Expectation("gdelt_event_id_is_numeric", "GLOBALEVENTID RLIKE '^[0-9]+$'"),
        Expectation("gdelt_dateadded_is_timestamp", "event_time IS NOT NULL"),
        Expectation("gdelt_source_url_is_http", "SOURCEURL RLIKE '^https?://'"),
    ),
)

SILVER_COLUMNS = (
    "event_id",
    "event_time",
    "sql_date",
    "event_code",
    "event_root_code",
    "event_description",
    "quad_class",
    "goldstein_scale",
    "num_mentions",
    "avg_tone",
    "actor1_name",
    "actor2_name",
    "place",
    "country_code",
    "source_url",
    "event_text",
    "source_file",
    "ingested_at",
)


def _blank_to_null(name: str) -> Column:
    return sf.nullif(sf.trim(sf.col(name)), sf.lit(""))


def _lookup_map(lookup: Mapping[str, str]) -> Column:
    # The lookup is small (~300 codes): a literal map avoids a join and keeps the stream stateless.
    if not lookup:
        return sf.create_map().cast("map<string,string>")
    return sf.create_map(*chain.from_iterable((sf.lit(k), sf.lit(v)) for k, v in sorted(lookup.items())))


def typed_gdelt(bronze: DataFrame, cameo_lookup: Mapping[str, str]) -> DataFrame:
    """Bronze GDELT rows + typed columns (`event_time` from DATEADDED, `event_description` from the CAMEO lookup).

    `cameo_lookup` is `pipelines.cameo.merged_lookup(...)`: exact codes first, then the root code's description.
    Unparseable values become NULL (try_* functions), for the expectations to catch, never an exception.
    """
    lookup = _lookup_map(cameo_lookup)
    return bronze.select(
        "*",
        sf.trim(sf.col("GLOBALEVENTID")).alias("event_id"),
        sf.expr("try_to_timestamp(DATEADDED, 'yyyyMMddHHmmss')").alias("event_time"),
        sf.expr("try_to_date(SQLDATE, 'yyyyMMdd')").alias("sql_date"),
        _blank_to_null("EventCode").alias("event_code"),
        _blank_to_null("EventRootCode").alias("event_root_code"),
        sf.coalesce(
            sf.try_element_at(lookup, sf.trim(sf.col("EventCode"))),
            sf.try_element_at(lookup, sf.trim(sf.col("EventRootCode"))),
            sf.try_element_at(lookup, sf.substring(sf.trim(sf.col("EventCode")), 1, 2)),
        ).alias("event_description"),
        sf.expr("try_cast(QuadClass AS INT)").alias("quad_class"),
        sf.expr("try_cast(GoldsteinScale AS DOUBLE)").alias("goldstein_scale"),
        sf.expr("try_cast(NumMentions AS INT)").alias("num_mentions"),
        sf.expr("try_cast(AvgTone AS DOUBLE)").alias("avg_tone"),
        _blank_to_null("Actor1Name").alias("actor1_name"),
        _blank_to_null("Actor2Name").alias("actor2_name"),
        _blank_to_null("ActionGeo_FullName").alias("place"),
        _blank_to_null("ActionGeo_CountryCode").alias("country_code"),
        _blank_to_null("SOURCEURL").alias("source_url"),
    )


def dedupe(df: DataFrame, key: str, time_column: str, *, watermark_hours: int, streaming: bool) -> DataFrame:
    """One row per `key`. In a stream: within the watermark on `time_column` (bounded state); in a batch: plain.

    `streaming` is passed in rather than read from `df.isStreaming`: asking would analyze the plan, which pipeline
    query functions must not do.
    """
    if not streaming:
        return df.dropDuplicates([key])
    return df.withWatermark(time_column, f"{watermark_hours} hours").dropDuplicatesWithinWatermark([key])


def silver_gdelt(valid: DataFrame, *, watermark_hours: int, streaming: bool = True) -> DataFrame:
    """Rows that passed the expectations -> deduplicated silver events with their `event_text`.

    The watermark (event time minus `watermark_hours`) bounds the dedupe state in a stream; the same GLOBALEVENTID
    arriving again within it (GDELT re-publishes updated rows) is dropped. In a batch it is a plain dedupe.
    """
    deduped = dedupe(valid, "event_id", "event_time", watermark_hours=watermark_hours, streaming=streaming)
    with_text = deduped.withColumn(
        "event_text",
        text_udfs.event_text(
            sf.col("actor1_name"),
            sf.col("actor2_name"),
            sf.col("event_description"),
            sf.col("place"),
            sf.col("source_url"),
            sf.date_format("sql_date", "yyyyMMdd"),
        ),
    )
    return with_text.select(*SILVER_COLUMNS)
