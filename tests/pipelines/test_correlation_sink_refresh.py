"""A new stream (first run or full refresh) starts the sink's tables over; stored vectors are reused.

Platform rule (docs.databricks.com/aws/en/ldp/developer/ldp-python-ref-foreach-batch-sink): "A batch_id of 0
represents the start of a stream, or the beginning of a full refresh. The foreach_batch_sink code should properly
handle a full refresh for downstream data sources." A full refresh replays all of silver as batch 0 of a new
checkpoint, so the sink must drop what it published before instead of refusing the replayed rows as late.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from spark_fakes import WordEmbedder
from test_correlation_sink import BATCHES, SETTINGS, _gold, _land, _process, _reset_schemas

from pipelines.correlate import correlate
from pipelines.engine_rows import edit_from_row, event_from_row
from pipelines.transforms.correlation_sink import LATE_ROWS, UPDATES, VECTORS
from pipelines.transforms.table_store import TableStore

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark


def test_batch_zero_of_a_new_stream_resets_the_sink_tables(spark: SparkSession) -> None:
    _reset_schemas(spark)
    for batch_id, (events, edits) in enumerate(BATCHES[:2]):
        _process(spark, _land(spark, events, edits), batch_id)
    store = TableStore(spark, delta=False)
    assert store.read(LATE_ROWS).count() == 1 and store.read(UPDATES).count() == 2
    embedded_before = store.read(VECTORS).count()

    # Full refresh: the new checkpoint's batch 0 holds every silver row, the late one included.
    all_events = [e for events, _ in BATCHES[:2] for e in events]
    all_edits = [e for _, edits in BATCHES[:2] for e in edits]
    rows = [("gdelt", e["event_id"], e["event_time"]) for e in all_events]
    rows += [("wikimedia", e["edit_id"], e["edit_time"]) for e in all_edits]
    report = _process(spark, spark.createDataFrame(rows, "feed STRING, row_id STRING, row_time TIMESTAMP"), 0)

    assert not report.skipped and report.late_rows == 0
    assert store.read(LATE_ROWS).count() == 0 and store.read(UPDATES).count() == 1
    # Only the refused row's text (its title: edits embed their title) is new; every other vector is reused.
    assert report.texts_embedded == 1
    assert store.read(VECTORS).count() == embedded_before + 1
    expected = correlate(
        [event_from_row(e) for e in all_events],
        [edit_from_row(e) for e in all_edits],
        WordEmbedder(),
        window_hours=SETTINGS.window_hours,
        threshold=SETTINGS.similarity_threshold,
        top_k=SETTINGS.top_k,
    )
    want = {(start.replace(tzinfo=None), m.event_id, m.edit_id) for start, ms in expected.items() for m in ms}
    assert set(_gold(spark)) == want
