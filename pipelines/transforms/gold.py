"""Gold: per tumbling window, the (event, edit) pairs whose embeddings are similar, and the stories they form.

`correlations` gathers each window's silver events and edits (`window_hours`, aligned like Spark's `window()`)
and runs the engine's `correlate_window` once per window in a Python UDF: each worker process loads the
embedding model once (`pipelines.embedding.shared_embedder`) and embeds each distinct text once. The UDF returns
only (event_id, edit_id, score, rank); the other columns are joined back from silver.

Why a UDF over collected windows and not `cogroup().applyInPandas()` or `mapInPandas`: under Spark Connect those
APIs analyze the plan eagerly (grouped maps on the server, mapInPandas for its column list), and pipeline query
functions must not trigger analysis (the tables they read do not exist yet when the graph is registered).
`trending_stories` ranks the stories (the news story a URL names) by how many events and edits correlate.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as sf
from pyspark.sql import types as T

from pipelines.correlate import Edit, Event, TextEmbedder, correlate_window
from pipelines.expectations import Expectation, ExpectationSuite
from pipelines.transforms import text_udfs

CORRELATIONS_TABLE = "gold.correlations"
CORRELATION_COLUMNS = (
    "window_start",
    "window_end",
    "event_id",
    "event_time",
    "event_code",
    "event_description",
    "event_text",
    "source_url",
    "edit_id",
    "edit_time",
    "wiki",
    "edit_title",
    "edit_comment",
    "editor",
    "editor_is_anonymous",
    "score",
    "rank",
)

# A failing gold row means a bug in the engine, not bad input: stop the update instead of publishing it.
GOLD_EXPECTATIONS = ExpectationSuite(
    CORRELATIONS_TABLE,
    (
        Expectation("correlation_score_is_cosine", "score BETWEEN -1.0001 AND 1.0001"),
        Expectation("correlation_rank_is_positive", "rank >= 1"),
        Expectation("correlation_pair_in_window", "event_time >= window_start AND event_time < window_end"),
        Expectation("correlation_edit_in_window", "edit_time >= window_start AND edit_time < window_end"),
    ),
)

# A StructType, not a DDL string: parsing DDL needs an analyzer round trip, which pipeline query functions forbid.
MATCHES_TYPE = T.ArrayType(
    T.StructType(
        [
            T.StructField("event_id", T.StringType()),
            T.StructField("edit_id", T.StringType()),
            T.StructField("score", T.DoubleType()),
            T.StructField("rank", T.IntegerType()),
        ]
    )
)
_EVENT_FIELDS = (
    "event_id",
    "event_time",
    "event_text",
    "source_url",
    "actor1_name",
    "actor2_name",
    "place",
    "sql_date",
)
_EDIT_FIELDS = ("edit_id", "edit_time", "title", "comment")

EmbedderFactory = Callable[[], TextEmbedder]


def _default_embedder() -> TextEmbedder:
    from pipelines.embedding import shared_embedder

    return shared_embedder()


def _get(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def match_window(
    event_rows: Sequence[Any], edit_rows: Sequence[Any], embedder: TextEmbedder, *, threshold: float, top_k: int
) -> list[dict[str, Any]]:
    """One window's events and edits (Rows or mappings with the silver columns) -> its matches as plain dicts."""
    if not event_rows or not edit_rows:
        return []
    events = [
        Event(
            event_id=_str(_get(r, "event_id")),
            time=_utc(_get(r, "event_time")),
            text=_str(_get(r, "event_text")),
            source_url=_str(_get(r, "source_url")),
            actors=tuple(a for a in (_str(_get(r, "actor1_name")), _str(_get(r, "actor2_name"))) if a),
            place=_str(_get(r, "place")),
            year=str(_get(r, "sql_date").year) if _get(r, "sql_date") is not None else "",
        )
        for r in event_rows
    ]
    edits = [
        Edit(
            edit_id=_str(_get(r, "edit_id")),
            time=_utc(_get(r, "edit_time")),
            title=_str(_get(r, "title")),
            comment=_str(_get(r, "comment")),
        )
        for r in edit_rows
    ]
    matches = correlate_window(events, edits, embedder, threshold=threshold, top_k=top_k)
    return [{"event_id": m.event_id, "edit_id": m.edit_id, "score": float(m.score), "rank": m.rank} for m in matches]


STATS_ENV = "LAKEHOUSE_GOLD_STATS"


def _match_recording_stats(
    event_rows: Sequence[Any], edit_rows: Sequence[Any], embedder: TextEmbedder, *, threshold: float, top_k: int
) -> list[dict[str, Any]]:
    """`match_window`, plus one JSON line of timing per window appended to $LAKEHOUSE_GOLD_STATS when it is set
    (how `lakehouse bench pipeline` sees the embedding stage from inside the Spark workers)."""
    stats_path = os.environ.get(STATS_ENV)
    if not stats_path:
        return match_window(event_rows, edit_rows, embedder, threshold=threshold, top_k=top_k)
    load_seconds = 0.0
    if getattr(embedder, "encoded_texts", 1) == 0:
        # The worker's first window loads the model: time that apart from the window's own embedding.
        started = time.perf_counter()
        embedder.embed(["model warm-up"])
        load_seconds = time.perf_counter() - started
    encoded_before = getattr(embedder, "encoded_texts", 0)
    started = time.perf_counter()
    matches = match_window(event_rows, edit_rows, embedder, threshold=threshold, top_k=top_k)
    record = {
        "pid": os.getpid(),
        "events": len(event_rows),
        "edits": len(edit_rows),
        "encoded_texts": getattr(embedder, "encoded_texts", 0) - encoded_before,
        "seconds": time.perf_counter() - started + load_seconds,
        "load_seconds": load_seconds,
        "matches": len(matches),
    }
    with open(stats_path, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")
    return matches


def _windowed(df: DataFrame, time_column: str, window_hours: int) -> DataFrame:
    window = sf.window(time_column, f"{window_hours} hours")
    return df.withColumn("window_start", window.start).withColumn("window_end", window.end)


def correlations(
    events: DataFrame,
    edits: DataFrame,
    *,
    window_hours: int,
    threshold: float,
    top_k: int,
    embedder_factory: EmbedderFactory = _default_embedder,
    partitions: int = 2,
) -> DataFrame:
    """Silver events x silver edits -> gold correlations (CORRELATION_COLUMNS), one engine call per window.

    `partitions`: how many tasks share the windows (the cluster's cores; `sources.parallelism(spark)`).
    """
    keys = ["window_start", "window_end"]
    windowed_events = _windowed(events, "event_time", window_hours)
    windowed_edits = _windowed(edits, "edit_time", window_hours)
    per_window = (
        windowed_events.groupBy(*keys)
        .agg(sf.collect_list(sf.struct(*_EVENT_FIELDS)).alias("events"))
        .join(windowed_edits.groupBy(*keys).agg(sf.collect_list(sf.struct(*_EDIT_FIELDS)).alias("edits")), keys)
    )

    # A lambda, not an annotated def: Spark reads a UDF's type hints to guess a pandas UDF type and warns.
    match_udf = sf.udf(
        lambda event_rows, edit_rows: _match_recording_stats(
            event_rows, edit_rows, embedder_factory(), threshold=threshold, top_k=top_k
        ),
        MATCHES_TYPE,
    )
    # Range-partition the windows into an explicit number of partitions so they spread over the workers: without
    # the number, adaptive execution coalesces the few (small) window rows into one task, and one Python worker
    # then embeds every window while the other cores idle.
    matches = (
        per_window.repartitionByRange(partitions, "window_start")
        .select(*keys, sf.explode(match_udf("events", "edits")).alias("m"))
        .select(*keys, "m.*")
    )
    event_columns = windowed_events.select(
        "event_id", "event_time", "event_code", "event_description", "event_text", "source_url", *keys
    )
    edit_columns = windowed_edits.select(
        "edit_id",
        "edit_time",
        "wiki",
        sf.col("title").alias("edit_title"),
        sf.col("comment").alias("edit_comment"),
        "editor",
        "editor_is_anonymous",
        *keys,
    )
    return (
        matches.join(event_columns, ["event_id", *keys])
        .join(edit_columns, ["edit_id", *keys])
        .select(*CORRELATION_COLUMNS)
    )


def trending_stories(correlated: DataFrame) -> DataFrame:
    """Per window, each story (the URL's story words, else the event text) with its correlated events and edits."""
    story = sf.coalesce(sf.nullif(text_udfs.story(sf.col("source_url")), sf.lit("")), sf.col("event_text"))
    return (
        correlated.withColumn("story", story)
        .groupBy("window_start", "window_end", "story")
        .agg(
            sf.count_distinct("event_id").alias("n_events"),
            sf.count_distinct("edit_id").alias("n_edits"),
            sf.max("score").alias("top_score"),
            sf.max_by("event_text", "score").alias("sample_event_text"),
            sf.max_by("edit_title", "score").alias("sample_edit_title"),
        )
    )
