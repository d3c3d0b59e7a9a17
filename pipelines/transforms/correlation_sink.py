"""The correlation sink: each micro-batch of new silver rows embeds only new texts and recomputes only open windows.

Input: `silver_rows(spark)`, one stream of (feed, row_id, row_time) over both silver tables. Each micro-batch goes
to `process_batch`, which (in this order, so a batch that runs again after a failure writes nothing twice):

1. reads the sink's state (ops.correlation_updates' last row) and skips a batch it has already committed; batch 0
   (a new stream: first run or full refresh) starts from empty sink tables, as the Databricks docs ask of a
   ForEachBatch sink ("you are responsible for managing the downstream data reset");
2. plans the update (`pipelines.window_plan.plan_update`): windows that received rows and are not final are
   recomputed, windows the watermark closes are published final, rows for final windows are refused and listed in
   ops.late_rows (never silently dropped, never changing a final window);
3. embeds every text of the recomputed windows that has no stored vector (`pipelines.engine_rows` builds exactly
   the engine's `embedding_texts`), on the Spark workers, each of which loads the model once; the vectors are
   appended to silver.text_vectors (one row per text, kept for `lakehouse.text_vector_retention_hours`);
4. scores the recomputed windows from the stored vectors (`gold.score_windows`), checks the gold expectations,
   and replaces exactly those windows (plus the ones it finalizes) in gold.correlations and gold.trending_stories;
5. appends its own row to ops.correlation_updates: the new state and what the update did (the commit marker).

On Databricks the definitions register `process_batch` as a `dp.foreach_batch_sink` fed by one append flow; open
source `spark-pipelines` has no ForEachBatch sink, so `lakehouse run-local` runs the same stream and function with
`writeStream.foreachBatch` on the same local engine (`start_stream`) and waits for it after each pipeline update.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from pyspark.sql import functions as sf
from pyspark.sql import types as T

from pipelines import sources, tables
from pipelines.correlate import TextEmbedder
from pipelines.engine_rows import EDIT_FIELDS, EVENT_FIELDS
from pipelines.expectations import fail_on_violation
from pipelines.settings import PipelineSettings
from pipelines.transforms import features, gold
from pipelines.transforms import gdelt as gdelt_transforms
from pipelines.transforms import wikimedia as wikimedia_transforms
from pipelines.transforms.table_store import TableSpec, TableStore, sql_literal
from pipelines.transforms.text_udfs import VectorizedUdf, vectorized_udf
from pipelines.window_plan import FEEDS, SinkState, UpdatePlan, plan_update

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

SINK_NAME = "correlations_sink"
VECTORS_TABLE = tables.TEXT_VECTORS
LATE_ROWS_TABLE = tables.LATE_ROWS
UPDATES_TABLE = tables.CORRELATION_UPDATES

VECTORS = TableSpec(
    VECTORS_TABLE,
    T.StructType(
        [
            T.StructField("text", T.StringType()),
            T.StructField("vector", T.ArrayType(T.FloatType())),
            T.StructField("embedded_at", T.TimestampType()),
            T.StructField("embedded_day", T.DateType()),
        ]
    ),
    "embedded_day",
)
CORRELATIONS = TableSpec(gold.CORRELATIONS_TABLE, gold.CORRELATION_SCHEMA, "window_start")
# gold as a feature table (per story and window); its primary key is declared on the Delta table.
FEATURES = TableSpec(
    features.FEATURE_TABLE,
    features.struct_type(),
    "window_start",
    delta_constraints=features.primary_key_constraint(),
    delta_not_null=features.PRIMARY_KEY,
)
TRENDING = TableSpec(gold.TRENDING_TABLE, gold.TRENDING_SCHEMA, "window_start")
LATE_ROWS = TableSpec(
    LATE_ROWS_TABLE,
    T.StructType(
        [
            T.StructField("batch_id", T.LongType()),
            T.StructField("feed", T.StringType()),
            T.StructField("row_id", T.StringType()),
            T.StructField("row_time", T.TimestampType()),
            T.StructField("window_start", T.TimestampType()),
            T.StructField("watermark", T.TimestampType()),
            T.StructField("recorded_at", T.TimestampType()),
        ]
    ),
    "batch_id",
)
_UPDATE_COUNTS = (
    "input_rows",
    "late_rows",
    "texts_embedded",
    "windows_open",
    "windows_recomputed",
    "windows_finalized",
)
UPDATES = TableSpec(
    UPDATES_TABLE,
    T.StructType(
        [
            T.StructField("batch_id", T.LongType()),
            T.StructField("processed_at", T.TimestampType()),  # when the micro-batch began
            *[T.StructField(name, T.LongType()) for name in _UPDATE_COUNTS],
            T.StructField("recomputed", T.ArrayType(T.TimestampType())),
            T.StructField("finalized", T.ArrayType(T.TimestampType())),
            T.StructField("open_windows", T.ArrayType(T.TimestampType())),
            T.StructField("watermark", T.TimestampType()),
            *[T.StructField(f"newest_{feed}", T.TimestampType()) for feed in FEEDS],
            T.StructField("step_seconds", T.MapType(T.StringType(), T.DoubleType())),
            T.StructField("seconds", T.DoubleType()),
        ]
    ),
    "batch_id",
)
# Every table the sink writes; the vectors survive a reset (a text's vector does not depend on the stream).
SINK_TABLES = (VECTORS, CORRELATIONS, TRENDING, FEATURES, LATE_ROWS, UPDATES)
_RESET_ON_NEW_STREAM = (CORRELATIONS, TRENDING, FEATURES, LATE_ROWS, UPDATES)

_EPOCH = datetime(1970, 1, 1)
# Texts a worker's embedder keeps: the sink embeds only texts that have no stored vector, so a cache would only
# hold memory; this bounds it to about one Arrow batch of texts.
_WORKER_CACHE_TEXTS = 20_000

EmbedderFactory = Callable[[], TextEmbedder]


# ------------------------------------------------------------------------------------------------ the input stream


def silver_rows(spark: SparkSession) -> DataFrame:
    """The sink's input: one (feed, row_id, row_time) per new silver event or edit, over both silver tables."""
    events = spark.readStream.table(gdelt_transforms.SILVER_TABLE).select(
        sf.lit(FEEDS[0]).alias("feed"), sf.col("event_id").alias("row_id"), sf.col("event_time").alias("row_time")
    )
    edits = spark.readStream.table(wikimedia_transforms.SILVER_TABLE).select(
        sf.lit(FEEDS[1]).alias("feed"), sf.col("edit_id").alias("row_id"), sf.col("edit_time").alias("row_time")
    )
    return events.union(edits)


# ------------------------------------------------------------------------------------------------ time helpers


def micros_to_datetime(value: int | None) -> datetime | None:
    """Epoch microseconds (what `unix_micros` returns) -> naive UTC datetime, independent of any time zone."""
    return None if value is None else _EPOCH + timedelta(microseconds=int(value))


def datetime_to_micros(value: datetime) -> int:
    naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return (naive - _EPOCH) // timedelta(microseconds=1)


def _timestamp(value: datetime | None) -> Any:
    """A timestamp literal column built from epoch microseconds (no time-zone conversion on either runtime)."""
    if value is None:
        return sf.lit(None).cast("timestamp")
    return sf.timestamp_micros(sf.lit(datetime_to_micros(value)))


def _timestamps(values: Sequence[datetime]) -> Any:
    return sf.array(*[_timestamp(v) for v in values]) if values else sf.array().cast("array<timestamp>")


# ------------------------------------------------------------------------------------------------ state


def load_state(store: TableStore) -> SinkState:
    """The sink's state after its last committed micro-batch (empty before the first)."""
    last = (
        store.read(UPDATES)
        .orderBy(sf.desc("batch_id"))
        .limit(1)
        .select(
            "batch_id",
            sf.unix_micros("watermark").alias("watermark"),
            sf.transform("open_windows", sf.unix_micros).alias("open_windows"),
            *[sf.unix_micros(f"newest_{feed}").alias(feed) for feed in FEEDS],
        )
        .collect()
    )
    if not last:
        return SinkState()
    row = last[0]
    newest = {feed: t for feed in FEEDS if (t := micros_to_datetime(row[feed])) is not None}
    opened = frozenset(t for t in (micros_to_datetime(v) for v in row["open_windows"] or []) if t is not None)
    return SinkState(int(row["batch_id"]), micros_to_datetime(row["watermark"]), newest, opened)


@dataclass(frozen=True)
class BatchSummary:
    """What a micro-batch holds, per feed and window (collected to the driver: a few rows)."""

    touched: frozenset[datetime]
    newest: dict[str, datetime]
    rows: int


def summarize_batch(batch: DataFrame, window_hours: int) -> BatchSummary:
    rows = (
        gold.windowed(batch, "row_time", window_hours)
        .groupBy("feed", "window_start")
        .agg(sf.count(sf.lit(1)).alias("n"), sf.max(sf.unix_micros("row_time")).alias("newest"))
        .select("feed", sf.unix_micros("window_start").alias("window_start"), "n", "newest")
        .collect()
    )
    touched: set[datetime] = set()
    newest: dict[str, datetime] = {}
    count = 0
    for r in rows:
        start = micros_to_datetime(r["window_start"])
        moment = micros_to_datetime(r["newest"])
        assert start is not None and moment is not None
        touched.add(start)
        count += int(r["n"])
        feed = str(r["feed"])
        if feed not in newest or moment > newest[feed]:
            newest[feed] = moment
    return BatchSummary(frozenset(touched), newest, count)


# ------------------------------------------------------------------------------------------------ embedding


def _texts_udf(builder: Callable[[Any], tuple[str, ...]], columns: Sequence[str]) -> Column:
    """A pandas UDF: the silver row's columns -> the texts the engine embeds for it (built by `builder`)."""

    def udf(frame: pd.DataFrame) -> pd.Series:
        return pd.Series([list(builder(row)) for row in frame.itertuples(index=False)], dtype=object)

    return vectorized_udf(udf, T.ArrayType(T.StringType()))(sf.struct(*[sf.col(c) for c in columns]))


def window_texts(events: DataFrame, edits: DataFrame) -> DataFrame:
    """`window_start, window_end, text`: every distinct text the engine embeds for a window's rows."""
    from pipelines.engine_rows import edit_texts, event_texts

    keys = ("window_start", "window_end")
    event_side = events.select(*keys, sf.explode(_texts_udf(event_texts, EVENT_FIELDS)).alias("text"))
    edit_side = edits.select(*keys, sf.explode(_texts_udf(edit_texts, EDIT_FIELDS)).alias("text"))
    return event_side.union(edit_side).distinct()


_worker_embedder: TextEmbedder | None = None


def model_embedder() -> TextEmbedder:
    """The Python worker's embedder: the model loads on the worker's first texts and stays for its lifetime."""
    global _worker_embedder
    if _worker_embedder is None:
        from pipelines.embedding import Embedder

        _worker_embedder = Embedder(max_cached_texts=_WORKER_CACHE_TEXTS)
    return _worker_embedder


def _embed_udf(embedder_factory: EmbedderFactory) -> VectorizedUdf:
    def embed(texts: pd.Series) -> pd.Series:
        vectors = embedder_factory().embed([str(t) for t in texts])
        return pd.Series(list(vectors), dtype=object)

    return vectorized_udf(embed, T.ArrayType(T.FloatType()))


def embed_missing(
    store: TableStore,
    texts: DataFrame,
    *,
    embedded_at: datetime,
    partitions: int,
    embedder_factory: EmbedderFactory,
) -> int:
    """Embed the texts in `texts` (column `text`) that have no stored vector; append them; return how many."""
    missing = texts.select("text").distinct().join(store.read(VECTORS).select("text"), "text", "left_anti")
    missing = missing.localCheckpoint(eager=True)  # counted, then embedded: the anti-join runs once
    count = missing.count()
    if count:
        embed = _embed_udf(embedder_factory)
        vectors = missing.repartition(partitions).select(
            "text",
            embed(sf.col("text")).alias("vector"),
            _timestamp(embedded_at).alias("embedded_at"),
            sf.lit(embedded_at.date()).alias("embedded_day"),
        )
        store.append(VECTORS, vectors)
    return int(count)


# ------------------------------------------------------------------------------------------------ the batch


def _window_filter(column: str, windows: Sequence[datetime]) -> Any:
    literals = ", ".join(sql_literal(w, T.TimestampType()) for w in windows)
    return sf.expr(f"`{column}` IN ({literals})")


def window_rows(
    spark: SparkSession, settings: PipelineSettings, windows: Sequence[datetime]
) -> tuple[DataFrame, DataFrame]:
    """Every silver event and edit of `windows`, with their window bounds (read as silver is now)."""
    low = min(windows)
    high = max(windows) + timedelta(hours=settings.window_hours)
    for table in (gdelt_transforms.SILVER_TABLE, wikimedia_transforms.SILVER_TABLE):
        # A long-running session caches a table's file listing; the pipeline appended to silver since (on Delta the
        # read gets the latest snapshot anyway, and the refresh is a no-op).
        spark.catalog.refreshTable(settings.qualified(table))
    time_range = "`{0}` >= {1} AND `{0}` < {2}"
    lo, hi = sql_literal(low, T.TimestampType()), sql_literal(high, T.TimestampType())
    events = spark.read.table(settings.qualified(gdelt_transforms.SILVER_TABLE)).where(
        sf.expr(time_range.format("event_time", lo, hi))
    )
    edits = spark.read.table(settings.qualified(wikimedia_transforms.SILVER_TABLE)).where(
        sf.expr(time_range.format("edit_time", lo, hi))
    )
    events = gold.windowed(events, "event_time", settings.window_hours).where(_window_filter("window_start", windows))
    edits = gold.windowed(edits, "edit_time", settings.window_hours).where(_window_filter("window_start", windows))
    keys = ("window_start", "window_end")
    # Scoring reads gold.EVENT_COLUMNS; the feature table also reads the event's country.
    event_columns = dict.fromkeys([*gold.EVENT_COLUMNS, *features.SILVER_EVENT_COLUMNS])
    return events.select(*keys, *event_columns), edits.select(*keys, *gold.EDIT_COLUMNS)


def _late_rows(batch: DataFrame, plan: UpdatePlan, batch_id: int, recorded_at: datetime, hours: int) -> DataFrame:
    return (
        gold.windowed(batch, "row_time", hours)
        .where(_window_filter("window_start", plan.refused))
        .select(
            sf.lit(batch_id).cast("bigint").alias("batch_id"),
            "feed",
            "row_id",
            "row_time",
            "window_start",
            _timestamp(plan.watermark).alias("watermark"),
            _timestamp(recorded_at).alias("recorded_at"),
        )
    )


@dataclass(frozen=True)
class UpdateReport:
    """What `process_batch` did (also written to ops.correlation_updates)."""

    batch_id: int
    skipped: bool
    input_rows: int = 0
    late_rows: int = 0
    texts_embedded: int = 0
    windows_open: int = 0
    windows_recomputed: int = 0
    windows_finalized: int = 0


class _Steps:
    """Wall-clock seconds per step of one micro-batch (recorded in ops.correlation_updates.step_seconds)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._mark = time.monotonic()

    def done(self, step: str) -> None:
        now = time.monotonic()
        self.seconds[step] = round(self.seconds.get(step, 0.0) + now - self._mark, 3)
        self._mark = now


def process_batch(
    batch: DataFrame,
    batch_id: int,
    *,
    settings: PipelineSettings,
    embedder_factory: EmbedderFactory = model_embedder,
    delta: bool | None = None,
    partitions: int | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC).replace(tzinfo=None),
) -> UpdateReport:
    """One micro-batch of `silver_rows` (see the module docstring for the steps and their order)."""
    started = time.monotonic()
    # The batch's start: with `seconds` (the whole batch, recorded last) it gives when gold was published, which the
    # landing-latency health view reads; taken after the state and plan steps it overstated that by their duration.
    processed_at = now()
    steps = _Steps()
    spark = batch.sparkSession
    store = TableStore(spark, delta=sources.on_databricks() if delta is None else delta, catalog=settings.catalog)
    for spec in SINK_TABLES:
        store.ensure(spec)
    state = load_state(store)
    if batch_id == 0 and state.last_batch_id is not None:
        for spec in _RESET_ON_NEW_STREAM:
            store.truncate(spec)
        state = SinkState()
    elif state.last_batch_id is not None and batch_id <= state.last_batch_id:
        return UpdateReport(batch_id, skipped=True)  # committed before a restart: writing it again would duplicate
    steps.done("state")

    hours = settings.window_hours
    summary = summarize_batch(batch, hours)
    plan = plan_update(state, summary.touched, summary.newest, window_hours=hours, lateness=settings.lateness)
    if summary.rows == 0:
        # Nothing arrived (the stream can fire on an empty commit): no window changes, nothing to record.
        return UpdateReport(batch_id, skipped=True)
    steps.done("plan")
    late = 0
    if plan.refused:
        late_rows = _late_rows(batch, plan, batch_id, processed_at, hours).localCheckpoint(eager=True)
        late = late_rows.count()
        store.replace(LATE_ROWS, late_rows, [batch_id])
        steps.done("late_rows")

    # Retention: a text embedded longer ago than this is embedded again when it next appears.
    store.delete_before(VECTORS, retention_day(processed_at, settings))
    steps.done("retention")
    embedded = 0
    published: DataFrame | None = None
    width = partitions or sources.parallelism(spark)
    if plan.recompute:
        events, edits = window_rows(spark, settings, plan.recompute)
        texts = window_texts(events, edits).localCheckpoint(eager=True)
        steps.done("texts")
        embedded = embed_missing(
            store, texts, embedded_at=processed_at, partitions=width, embedder_factory=embedder_factory
        )
        steps.done("embed")
        window_vectors = texts.join(store.read(VECTORS).select("text", "vector"), "text")
        final = [datetime_to_micros(w) for w in plan.recompute if not plan.is_provisional(w)]
        published = gold.score_windows(
            gold.scoring_frame(events, edits, window_vectors),
            threshold=settings.similarity_threshold,
            top_k=settings.top_k,
            final_window_micros=final,
        )
    if plan.finalize:
        # Closed without new rows: the published rows stand, only their flag changes.
        closing = (
            store.read(CORRELATIONS)
            .where(_window_filter("window_start", plan.finalize))
            .withColumn("provisional", sf.lit(False))
        )
        published = closing if published is None else published.unionByName(closing)
    if published is not None:
        # Materialized before the old rows of these windows are replaced (the parquet layout drops them first).
        rows = fail_on_violation(published, gold.GOLD_EXPECTATIONS).localCheckpoint(eager=True)
        steps.done("score")
        windows = [*plan.recompute, *plan.finalize]
        store.replace(CORRELATIONS, rows, windows)
        store.replace(TRENDING, gold.trending_stories(rows), windows)
        if plan.recompute:
            # Features change only where pairs changed (a window that just closed keeps its features).
            changed = rows.where(_window_filter("window_start", plan.recompute))
            store.replace(FEATURES, features.story_window_features(changed, events), plan.recompute)
        steps.done("publish")

    report = UpdateReport(
        batch_id,
        skipped=False,
        input_rows=summary.rows,
        late_rows=late,
        texts_embedded=embedded,
        windows_open=plan.windows_open,
        windows_recomputed=len(plan.recompute),
        windows_finalized=len(plan.finalize),
    )
    _record_update(store, report, plan, processed_at, steps.seconds, time.monotonic() - started)
    return report


def _record_update(
    store: TableStore,
    report: UpdateReport,
    plan: UpdatePlan,
    processed_at: datetime,
    step_seconds: Mapping[str, float],
    seconds: float,
) -> None:
    """Write the update's row last: once it is there, the batch counts as committed (see `process_batch`)."""
    steps = [item for name, value in step_seconds.items() for item in (sf.lit(name), sf.lit(value))]
    row = store.spark.range(1).select(
        sf.lit(report.batch_id).cast("bigint").alias("batch_id"),
        _timestamp(processed_at).alias("processed_at"),
        *[sf.lit(getattr(report, name)).cast("bigint").alias(name) for name in _UPDATE_COUNTS],
        _timestamps(plan.recompute).alias("recomputed"),
        _timestamps(plan.finalize).alias("finalized"),
        _timestamps(sorted(plan.open_after)).alias("open_windows"),
        _timestamp(plan.watermark).alias("watermark"),
        *[_timestamp(plan.newest.get(feed)).alias(f"newest_{feed}") for feed in FEEDS],
        sf.create_map(*steps).cast("map<string,double>").alias("step_seconds"),
        sf.lit(round(seconds, 3)).alias("seconds"),
    )
    store.replace(UPDATES, row, [report.batch_id])


# ------------------------------------------------------------------------------------------------ local runner


def start_stream(
    spark: SparkSession,
    settings: PipelineSettings,
    checkpoint: str,
    *,
    processing_time: str = "5 seconds",
    embedder_factory: EmbedderFactory = model_embedder,
) -> StreamingQuery:
    """Start the sink as a long-running streaming query (the local stand-in for the pipeline's ForEachBatch sink:
    the same stream and function, its own checkpoint). The caller waits for it with `processAllAvailable()`.

    Kept running between pipeline updates, as a continuous pipeline on Databricks keeps its sink running: under
    Spark Connect each query runs in its own cloned session, whose Python workers (each holding the embedding
    model) live as long as the query, so a query per update would load the model again in every update.
    """

    def handler(batch: DataFrame, batch_id: int) -> None:
        process_batch(batch, batch_id, settings=settings, embedder_factory=embedder_factory)

    return (
        silver_rows(spark)
        .writeStream.foreachBatch(handler)
        .option("checkpointLocation", checkpoint)
        .queryName(SINK_NAME)
        .trigger(processingTime=processing_time)
        .start()
    )


def retention_day(processed_at: datetime, settings: PipelineSettings) -> date:
    """The oldest `embedded_day` kept: whole days only, so a vector is kept at least the retention."""
    return (processed_at - settings.text_vector_retention).date()
