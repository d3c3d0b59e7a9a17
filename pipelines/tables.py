"""Every table the pipeline and its correlation sink write, by `schema.table` name: the one place they are spelled.

Transforms, pipeline definitions, the correlation sink, the local runner, the report, the stacks (grants, views,
deploy checks) and the tests read these names; nothing re-types them. Importable without pyspark.

Two kinds of table, created at different times (which matters for deploy order, see infra/phases.py):
- pipeline datasets (`PIPELINE_DATASETS`): declared with `@dp.table` / `@dp.materialized_view` in
  pipelines/definitions/; Lakeflow creates them on the pipeline's first update;
- sink tables (`SINK_TABLES`): written by the correlation sink inside its `foreach_batch_sink` function
  (pipelines/transforms/correlation_sink.py), which creates them on its first micro-batch of that update.
"""

from __future__ import annotations

from typing import Final

GDELT_BRONZE: Final = "bronze.gdelt_events"
WIKIMEDIA_BRONZE: Final = "bronze.wikimedia_events"
GDELT_SILVER: Final = "silver.gdelt_events"
WIKIMEDIA_SILVER: Final = "silver.wikimedia_edits"
GDELT_QUARANTINE: Final = "ops.gdelt_events_quarantine"
WIKIMEDIA_QUARANTINE: Final = "ops.wikimedia_edits_quarantine"
EXPECTATION_COUNTS: Final = "ops.expectation_counts"
CAMEO_LOOKUP: Final = "ops.cameo_lookup"

TEXT_VECTORS: Final = "silver.text_vectors"
CORRELATIONS: Final = "gold.correlations"
TRENDING_STORIES: Final = "gold.trending_stories"
STORY_WINDOW_FEATURES: Final = "gold.story_window_features"
LATE_ROWS: Final = "ops.late_rows"
CORRELATION_UPDATES: Final = "ops.correlation_updates"
# Written by Lakeflow itself: the pipeline's `event_log` setting (infra/stacks/pipeline.py) names this table.
PIPELINE_EVENT_LOG: Final = "ops.pipeline_event_log"

PIPELINE_DATASETS: Final = (
    GDELT_BRONZE,
    WIKIMEDIA_BRONZE,
    GDELT_SILVER,
    WIKIMEDIA_SILVER,
    GDELT_QUARANTINE,
    WIKIMEDIA_QUARANTINE,
    EXPECTATION_COUNTS,
    CAMEO_LOOKUP,
)
SINK_TABLES: Final = (
    TEXT_VECTORS,
    CORRELATIONS,
    TRENDING_STORIES,
    STORY_WINDOW_FEATURES,
    LATE_ROWS,
    CORRELATION_UPDATES,
)
ALL_TABLES: Final = (*PIPELINE_DATASETS, *SINK_TABLES)


def split(table: str) -> tuple[str, str]:
    """`schema.table` -> (schema, table)."""
    schema, _, name = table.partition(".")
    return schema, name
