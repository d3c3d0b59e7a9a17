"""Gold as features: per story and window, what a model could learn from (events, edits, scores, editors, wikis,
countries), keyed so Unity Catalog's feature engineering recognizes the table.

Reads gold's contract (`gold.CORRELATION_COLUMNS`) and silver's `event_id, country_code` (gold carries no
country). The story is gold.trending_stories' story: the words a news URL names, else the event text; the same
rows give the same `n_events`, `n_edits` and `top_score` as gold.trending_stories (tested).

Primary key `(story_id, window_start TIMESERIES)`: `story_id` is the first 16 hex characters of sha256(story), a
short stable key to look features up by; `window_start` is the time-series key (point-in-time lookups). Unity
Catalog feature engineering uses any table with a primary key constraint as a feature table. The correlation sink
writes it next to gold.correlations for exactly the windows it recomputes (so it is as incremental as gold), and
creates the Delta table with the constraint on Databricks; the local parquet table has none (`schema_ddl` says
which DDL each gets).

Importable without pyspark (the stack and docs read the constants); the DataFrame function imports it when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from pipelines import tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

FEATURE_TABLE: Final = tables.STORY_WINDOW_FEATURES
PRIMARY_KEY: Final = ("story_id", "window_start")
TIMESERIES_KEY: Final = "window_start"
CONSTRAINT_NAME: Final = "story_window_features_pk"
# The silver event columns the features read beyond gold's contract (gold carries no country).
SILVER_EVENT_COLUMNS: Final = ("event_id", "country_code")
# Column name -> (type, comment).
FEATURE_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    ("story_id", "STRING", "first 16 hex of sha256(story)"),
    ("window_start", "TIMESTAMP", "window start (UTC)"),
    ("window_end", "TIMESTAMP", "window end (UTC), exclusive"),
    ("story", "STRING", "the story the news URL names, else the event text"),
    ("n_events", "BIGINT", "distinct correlated GDELT events"),
    ("n_edits", "BIGINT", "distinct correlated Wikipedia edits"),
    ("n_pairs", "BIGINT", "correlated event x edit pairs"),
    ("top_score", "DOUBLE", "best pair score"),
    ("mean_score", "DOUBLE", "mean pair score"),
    ("n_editors", "BIGINT", "distinct editors of the correlated edits"),
    ("n_anonymous_edits", "BIGINT", "correlated edits by logged-out (IP) editors"),
    ("n_wikis", "BIGINT", "distinct wikis edited"),
    ("n_countries", "BIGINT", "distinct GDELT action countries of the events"),
    ("countries", "ARRAY<STRING>", "sorted GDELT action country codes"),
)


def schema_ddl(*, primary_key: bool) -> str:
    """The table's column list as DDL; with `primary_key` (Databricks only) the key columns are NOT NULL (Unity
    Catalog requires it of key columns) and the PRIMARY KEY constraint follows. Without it every column stays
    nullable: open-source pipelines require the declared schema to match the query's inferred one exactly, and
    Spark infers grouping keys as nullable."""
    columns = ", ".join(
        f"{name} {kind}{' NOT NULL' if primary_key and name in PRIMARY_KEY else ''} COMMENT '{comment}'"
        for name, kind, comment in FEATURE_COLUMNS
    )
    return f"{columns}, {primary_key_constraint()}" if primary_key else columns


def primary_key_constraint() -> str:
    """The constraint clause (Databricks): TIMESERIES marks the time key for point-in-time lookups."""
    keys = ", ".join(f"{c} TIMESERIES" if c == TIMESERIES_KEY else c for c in PRIMARY_KEY)
    return f"CONSTRAINT {CONSTRAINT_NAME} PRIMARY KEY ({keys})"


def struct_type() -> StructType:
    """FEATURE_COLUMNS as a StructType (built, not parsed: parsing DDL needs an analyzer round trip under Connect)."""
    from pyspark.sql import types as T

    kinds: dict[str, T.DataType] = {
        "STRING": T.StringType(),
        "TIMESTAMP": T.TimestampType(),
        "BIGINT": T.LongType(),
        "DOUBLE": T.DoubleType(),
        "ARRAY<STRING>": T.ArrayType(T.StringType()),
    }
    return T.StructType([T.StructField(name, kinds[kind]) for name, kind, _ in FEATURE_COLUMNS])


def story_window_features(correlations: DataFrame, events: DataFrame) -> DataFrame:
    """gold.correlations (contract columns) + silver events (`event_id`, `country_code`) -> one row per story and
    window with the FEATURE_COLUMNS, in that order."""
    from pyspark.sql import functions as sf

    from pipelines.transforms import text_udfs

    # gold.trending_stories' story: the URL's story words, else the event text.
    story = sf.coalesce(sf.nullif(text_udfs.story(sf.col("source_url")), sf.lit("")), sf.col("event_text"))
    countries = events.select(*SILVER_EVENT_COLUMNS).dropDuplicates(["event_id"])
    rows = correlations.withColumn("story", story).join(countries, "event_id", "left")
    edit_editor = sf.when(sf.col("editor").isNotNull(), sf.col("editor"))
    anonymous_edit = sf.when(sf.col("editor_is_anonymous"), sf.col("edit_id"))
    features = rows.groupBy("window_start", "window_end", "story").agg(
        sf.count_distinct("event_id").alias("n_events"),
        sf.count_distinct("edit_id").alias("n_edits"),
        sf.count(sf.lit(1)).alias("n_pairs"),
        sf.max("score").alias("top_score"),
        sf.avg("score").alias("mean_score"),
        sf.count_distinct(edit_editor).alias("n_editors"),
        sf.count_distinct(anonymous_edit).alias("n_anonymous_edits"),
        sf.count_distinct("wiki").alias("n_wikis"),
        sf.count_distinct("country_code").alias("n_countries"),
        sf.array_sort(sf.collect_set("country_code")).alias("countries"),
    )
    return features.select(
        sf.substring(sf.sha2(sf.col("story"), 256), 1, 16).alias("story_id"),
        *[name for name, _, _ in FEATURE_COLUMNS[1:]],
    )
