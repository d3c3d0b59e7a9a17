"""Silver Wikimedia edits: parsed recentchange events, validated, filtered (main namespace, configured wikis,
no bots by default), deduplicated on `meta.id`, with the edit text and whether the editor was logged out.

Steps: `typed_wikimedia` -> expectations (`WIKIMEDIA_EXPECTATIONS`) -> `silver_wikimedia`.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import DataFrame
from pyspark.sql import functions as sf

from pipelines import tables
from pipelines.expectations import Expectation, ExpectationSuite
from pipelines.transforms import text_udfs
from pipelines.transforms.gdelt import dedupe
from pipelines.wikimedia import RECENTCHANGE_SCHEMA, silver_filter_sql

SILVER_TABLE = tables.WIKIMEDIA_SILVER
_CORRUPT = "_corrupt_record"

WIKIMEDIA_EXPECTATIONS = ExpectationSuite(
    SILVER_TABLE,
    (
        Expectation("wikimedia_is_json_object", f"raw IS NOT NULL AND event.{_CORRUPT} IS NULL"),
        Expectation("wikimedia_has_meta_id", "length(trim(edit_id)) > 0"),
        Expectation("wikimedia_meta_dt_is_timestamp", "edit_time IS NOT NULL"),
        Expectation("wikimedia_has_title", "length(trim(title)) > 0"),
    ),
)

SILVER_COLUMNS = (
    "edit_id",
    "edit_time",
    "wiki",
    "type",
    "namespace",
    "title",
    "comment",
    "editor",
    "editor_is_anonymous",
    "bot",
    "rev_id",
    "server_name",
    "edit_text",
    "source_file",
    "ingested_at",
)


def typed_wikimedia(bronze: DataFrame) -> DataFrame:
    """Bronze rows (`raw` JSON) + the parsed event and its typed fields (NULL where absent or malformed)."""
    parsed = sf.from_json(
        sf.col("raw"),
        f"{RECENTCHANGE_SCHEMA}, {_CORRUPT} STRING",
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT},
    )
    return bronze.withColumn("event", parsed).select(
        "*",
        sf.col("event.meta.id").alias("edit_id"),
        sf.expr("try_cast(event.meta.dt AS TIMESTAMP)").alias("edit_time"),
        sf.col("event.wiki").alias("wiki"),
        sf.col("event.type").alias("type"),
        sf.col("event.namespace").alias("namespace"),
        sf.col("event.title").alias("title"),
        sf.coalesce(sf.col("event.comment"), sf.lit("")).alias("comment"),
        sf.col("event.user").alias("editor"),
        sf.coalesce(sf.col("event.bot"), sf.lit(False)).alias("bot"),
        sf.col("event.revision.new").alias("rev_id"),
        sf.col("event.server_name").alias("server_name"),
    )


def silver_wikimedia(
    valid: DataFrame, *, wikis: Iterable[str], include_bots: bool, watermark_hours: int, streaming: bool = True
) -> DataFrame:
    """Valid events -> kept, deduplicated edits with `edit_text` and `editor_is_anonymous`."""
    kept = valid.where(sf.expr(silver_filter_sql(wikis=wikis, include_bots=include_bots)))
    deduped = dedupe(kept, "edit_id", "edit_time", watermark_hours=watermark_hours, streaming=streaming)
    return deduped.select(
        *[c for c in SILVER_COLUMNS if c not in ("edit_text", "editor_is_anonymous")],
        text_udfs.edit_text(sf.col("title"), sf.col("comment")).alias("edit_text"),
        text_udfs.ip_address(sf.col("editor")).alias("editor_is_anonymous"),
    ).select(*SILVER_COLUMNS)
