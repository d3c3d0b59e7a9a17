"""Gold: the correlated (event, edit) pairs of a window, scored from stored vectors, and the stories they form.

The correlation sink (`pipelines.transforms.correlation_sink`) decides which windows to recompute and calls
`score_windows` for them: each window's silver events and edits, together with the stored vector of every text
the engine embeds for them, go to one pandas function call per window (`groupBy().applyInPandas`), which rebuilds
the engine's `Event`/`Edit` objects (`pipelines.engine_rows`) and runs `correlate_window` with `StoredVectors`.
No model runs here: a text without a stored vector is an error (`MissingVectorError`), never a silent zero.

`trending_stories` ranks, per window, the stories (the news story a URL names) by correlated events and edits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as sf
from pyspark.sql import types as T

from pipelines import tables
from pipelines.expectations import Expectation, ExpectationSuite
from pipelines.transforms import text_udfs

CORRELATIONS_TABLE = tables.CORRELATIONS
TRENDING_TABLE = tables.TRENDING_STORIES
# The gold contract: one row per (window, event, edit) pair; `provisional` is true while the window is still open
# (its correlations can change in a later update) and false once the window is final.
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
    "provisional",
)
_COLUMN_TYPES: Mapping[str, T.DataType] = {
    "window_start": T.TimestampType(),
    "window_end": T.TimestampType(),
    "event_time": T.TimestampType(),
    "edit_time": T.TimestampType(),
    "editor_is_anonymous": T.BooleanType(),
    "score": T.DoubleType(),
    "rank": T.IntegerType(),
    "provisional": T.BooleanType(),
}
# A StructType, not a DDL string: parsing DDL needs an analyzer round trip, which pipeline query functions forbid.
CORRELATION_SCHEMA = T.StructType(
    [T.StructField(name, _COLUMN_TYPES.get(name, T.StringType())) for name in CORRELATION_COLUMNS]
)
TRENDING_COLUMNS = (
    "window_start",
    "window_end",
    "story",
    "n_events",
    "n_edits",
    "top_score",
    "sample_event_text",
    "sample_edit_title",
    "provisional",
)
TRENDING_SCHEMA = T.StructType(
    [
        T.StructField("window_start", T.TimestampType()),
        T.StructField("window_end", T.TimestampType()),
        T.StructField("story", T.StringType()),
        T.StructField("n_events", T.LongType()),
        T.StructField("n_edits", T.LongType()),
        T.StructField("top_score", T.DoubleType()),
        T.StructField("sample_event_text", T.StringType()),
        T.StructField("sample_edit_title", T.StringType()),
        T.StructField("provisional", T.BooleanType()),
    ]
)

# A failing gold row means a bug in the engine, not bad input: the sink stops the update instead of publishing it.
GOLD_EXPECTATIONS = ExpectationSuite(
    CORRELATIONS_TABLE,
    (
        Expectation("correlation_score_is_cosine", "score BETWEEN -1.0001 AND 1.0001"),
        Expectation("correlation_rank_is_positive", "rank >= 1"),
        Expectation("correlation_pair_in_window", "event_time >= window_start AND event_time < window_end"),
        Expectation("correlation_edit_in_window", "edit_time >= window_start AND edit_time < window_end"),
    ),
)

# Silver columns a window's rows carry into `score_windows` (the engine's inputs plus the gold columns).
EVENT_COLUMNS = (
    "event_id",
    "event_time",
    "event_code",
    "event_description",
    "actor1_name",
    "actor2_name",
    "place",
    "source_url",
    "sql_date",
)
EDIT_COLUMNS = ("edit_id", "edit_time", "wiki", "title", "comment", "editor", "editor_is_anonymous")
KIND = "kind"  # "event", "edit" or "vector": which part of a window a row of the scoring frame is
_SCORING_TYPES: Mapping[str, T.DataType] = {
    "event_time": T.TimestampType(),
    "sql_date": T.DateType(),
    "edit_time": T.TimestampType(),
    "editor_is_anonymous": T.BooleanType(),
}
SCORING_SCHEMA = T.StructType(
    [
        T.StructField("window_start", T.TimestampType()),
        T.StructField("window_end", T.TimestampType()),
        T.StructField(KIND, T.StringType()),
        *[T.StructField(c, _SCORING_TYPES.get(c, T.StringType())) for c in (*EVENT_COLUMNS, *EDIT_COLUMNS)],
        T.StructField("text", T.StringType()),
        T.StructField("vector", T.ArrayType(T.FloatType())),
    ]
)


def windowed(df: DataFrame, time_column: str, window_hours: int) -> DataFrame:
    """`df` with the `window_start`/`window_end` of its tumbling window (epoch-aligned, like the engine's)."""
    window = sf.window(time_column, f"{window_hours} hours")
    return df.withColumn("window_start", window.start).withColumn("window_end", window.end)


def _as_scoring_rows(df: DataFrame, kind: str) -> DataFrame:
    present = set(df.columns)
    return df.select(
        *[
            (sf.col(f.name) if f.name in present else sf.lit(None)).cast(f.dataType).alias(f.name)
            for f in SCORING_SCHEMA.fields
            if f.name != KIND
        ],
        sf.lit(kind).alias(KIND),
    ).select(*SCORING_SCHEMA.fieldNames())


def scoring_frame(events: DataFrame, edits: DataFrame, window_vectors: DataFrame) -> DataFrame:
    """One frame per window for `score_windows`: its events, its edits and (text, vector) for each of their texts.

    `events`/`edits` are windowed silver rows; `window_vectors` is `window_start, window_end, text, vector`.
    """
    return (
        _as_scoring_rows(events, "event")
        .unionByName(_as_scoring_rows(edits, "edit"))
        .unionByName(_as_scoring_rows(window_vectors, "vector"))
    )


def _score_window(frame: pd.DataFrame, *, threshold: float, top_k: int, final_windows: frozenset[int]) -> pd.DataFrame:
    """All rows of one window -> its gold rows (CORRELATION_COLUMNS). Runs in a Spark Python worker."""
    import numpy as np

    from pipelines.correlate import StoredVectors, correlate_window
    from pipelines.embedding import EMBEDDING_DIM
    from pipelines.engine_rows import edit_from_row, event_from_row

    kinds = frame[KIND]
    event_rows = frame[kinds == "event"]
    edit_rows = frame[kinds == "edit"]
    if event_rows.empty or edit_rows.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in CORRELATION_COLUMNS})
    vector_rows = frame[kinds == "vector"]
    stored = {
        str(text): np.asarray(vector, dtype=np.float32)
        for text, vector in zip(vector_rows["text"], vector_rows["vector"], strict=True)
    }
    events = [event_from_row(r) for r in event_rows.itertuples(index=False)]
    edits = [edit_from_row(r) for r in edit_rows.itertuples(index=False)]
    dim = len(next(iter(stored.values()))) if stored else EMBEDDING_DIM  # the model's, or a test embedder's
    matches = correlate_window(events, edits, StoredVectors(stored, dim), threshold=threshold, top_k=top_k)
    by_event = {e.event_id: (e, r) for e, r in zip(events, event_rows.itertuples(index=False), strict=True)}
    by_edit = {e.edit_id: r for e, r in zip(edits, edit_rows.itertuples(index=False), strict=True)}
    start = frame["window_start"].iloc[0]
    end = frame["window_end"].iloc[0]
    provisional = int(pd.Timestamp(start).value // 1000) not in final_windows
    out: list[dict[str, Any]] = []
    for m in matches:
        event, event_row = by_event[m.event_id]
        edit_row = by_edit[m.edit_id]
        out.append(
            {
                "window_start": start,
                "window_end": end,
                "event_id": m.event_id,
                "event_time": event_row.event_time,
                "event_code": event_row.event_code,
                "event_description": event_row.event_description,
                "event_text": event.text,
                "source_url": event_row.source_url,
                "edit_id": m.edit_id,
                "edit_time": edit_row.edit_time,
                "wiki": edit_row.wiki,
                "edit_title": edit_row.title,
                "edit_comment": edit_row.comment,
                "editor": edit_row.editor,
                "editor_is_anonymous": edit_row.editor_is_anonymous,
                "score": float(m.score),
                "rank": int(m.rank),
                "provisional": provisional,
            }
        )
    return pd.DataFrame(out, columns=list(CORRELATION_COLUMNS))


def score_windows(
    frame: DataFrame, *, threshold: float, top_k: int, final_window_micros: Iterable[int] = ()
) -> DataFrame:
    """The gold rows of every window in `frame` (a `scoring_frame`), one engine call per window.

    `final_window_micros`: the windows (start, epoch microseconds) that are final after this update; the others
    are published provisional.
    """
    final = frozenset(final_window_micros)

    def score(group: pd.DataFrame) -> pd.DataFrame:
        return _score_window(group, threshold=threshold, top_k=top_k, final_windows=final)

    return frame.groupBy("window_start").applyInPandas(score, CORRELATION_SCHEMA)


def story_column(source_url: Column, event_text: Column) -> Column:
    """The story a row belongs to: the news story its URL names, else its event text."""
    return sf.coalesce(sf.nullif(text_udfs.story(source_url), sf.lit("")), event_text)


def trending_stories(correlated: DataFrame) -> DataFrame:
    """Per window, each story (the URL's story words, else the event text) with its correlated events and edits."""
    return (
        correlated.withColumn("story", story_column(sf.col("source_url"), sf.col("event_text")))
        .groupBy("window_start", "window_end", "story", "provisional")
        .agg(
            sf.count_distinct("event_id").alias("n_events"),
            sf.count_distinct("edit_id").alias("n_edits"),
            sf.max("score").alias("top_score"),
            sf.max_by("event_text", "score").alias("sample_event_text"),
            sf.max_by("edit_title", "score").alias("sample_edit_title"),
        )
        .select(*TRENDING_COLUMNS)
    )
