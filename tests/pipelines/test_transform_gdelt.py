"""Bronze and silver GDELT transforms on a local session, with rows in the real 61-column export format."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lakehouse.local.sample import gdelt_row
from lakehouse.local.sample_stories import NOISE_ACTORS, STORIES
from pipelines import expectations, sources
from pipelines.cameo import merged_lookup
from pipelines.gdelt import EXPORT_COLUMNS
from pipelines.text import EventFields, build_event_text
from pipelines.transforms import bronze, gdelt

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark

ADDED = datetime(2026, 11, 26, 9, 15, tzinfo=UTC)
STORY = STORIES[0]


def _row(event_id: int, code: str = "0233", **changes: str) -> list[str]:
    actor1, actor2, _ = STORY.actors[0]
    row = gdelt_row(event_id, ADDED, STORY.urls[0], actor1, actor2, code, STORY.place, random.Random(event_id))
    for column, value in changes.items():
        row[EXPORT_COLUMNS.index(column)] = value
    return row


def _lines(spark: SparkSession, rows: list[list[str]]) -> DataFrame:
    return spark.createDataFrame(
        [("\t".join(r), f"file:/landing/gdelt/{i}.export.CSV") for i, r in enumerate(rows)],
        "raw_line STRING, source_file STRING",
    )


def _typed(spark: SparkSession, rows: list[list[str]]) -> DataFrame:
    lookup = merged_lookup({"0233": "Appeal for humanitarian aid"})
    return gdelt.typed_gdelt(bronze.gdelt_bronze(_lines(spark, rows)), lookup)


def test_bronze_splits_61_string_columns_and_keeps_metadata(spark: SparkSession) -> None:
    out = bronze.gdelt_bronze(_lines(spark, [_row(1), _row(2)[:60]]))
    assert out.columns[:61] == list(EXPORT_COLUMNS)
    assert {f.dataType.simpleString() for f in out.schema.fields[:61]} == {"string"}
    first, short = out.orderBy("source_file").collect()
    assert first.GLOBALEVENTID == "1" and first.SOURCEURL == STORY.urls[0] and first.field_count == 61
    assert first.source_file.endswith("0.export.CSV") and first.ingested_at is not None
    assert short.field_count == 60 and short.SOURCEURL is None  # a short line leaves missing columns NULL


def test_bronze_keeps_trailing_empty_fields(spark: SparkSession) -> None:
    row = _row(3, SOURCEURL="")
    assert bronze.gdelt_bronze(_lines(spark, [row])).first().field_count == 61  # type: ignore[union-attr]


def test_typed_columns_and_cameo_fallback(spark: SparkSession) -> None:
    typed = _typed(spark, [_row(1, code="0233"), _row(2, code="0234")]).orderBy("event_id").collect()
    assert typed[0].event_time == datetime(2026, 11, 26, 9, 15)
    assert typed[0].event_description == "Appeal for humanitarian aid"  # exact code from the lookup file
    assert typed[1].event_description == "Appeal"  # unknown code: its root code's description
    assert typed[0].place == STORY.place.full_name


@pytest.mark.parametrize(
    ("row_change", "rules"),
    [
        ({"truncate": "1"}, {"gdelt_has_61_columns", "gdelt_source_url_is_http"}),
        ({"GLOBALEVENTID": "12O4"}, {"gdelt_event_id_is_numeric"}),
        ({"DATEADDED": "20261126 9:15"}, {"gdelt_dateadded_is_timestamp"}),
        ({"SOURCEURL": ""}, {"gdelt_source_url_is_http"}),
    ],
)
def test_each_rule_quarantines_its_violation(spark: SparkSession, row_change: dict[str, str], rules: set[str]) -> None:
    changes = {k: v for k, v in row_change.items() if k != "truncate"}
    bad = _row(9, **changes)
    if "truncate" in row_change:
        bad = bad[:60]  # the last column (SOURCEURL) is missing
    typed = _typed(spark, [_row(1), bad])
    quarantined = expectations.quarantine(typed, gdelt.GDELT_EXPECTATIONS).collect()
    assert {r.rule for r in quarantined} == rules
    assert all(r.raw_line == "\t".join(bad) for r in quarantined)  # the offending row is kept as it arrived
    assert [r.event_id for r in expectations.drop_violations(typed, gdelt.GDELT_EXPECTATIONS).collect()] == ["1"]


def test_silver_dedupes_on_globaleventid_and_builds_event_text(spark: SparkSession) -> None:
    typed = _typed(spark, [_row(1), _row(1), _row(2, code="0234"), _row(1)])
    valid = expectations.drop_violations(typed, gdelt.GDELT_EXPECTATIONS)
    silver = gdelt.silver_gdelt(valid, watermark_hours=4, streaming=False).orderBy("event_id").collect()
    assert [r.event_id for r in silver] == ["1", "2"]
    actor1, actor2, _ = STORY.actors[0]
    expected = build_event_text(
        EventFields(
            actor1.name,
            actor2.name if actor2 else "",
            "Appeal for humanitarian aid",
            STORY.place.full_name,
            STORY.urls[0],
            silver[0].sql_date.strftime("%Y%m%d"),
        )
    )
    assert silver[0].event_text == expected
    assert "hokkaido earthquake" in silver[0].event_text


def test_silver_columns(spark: SparkSession) -> None:
    typed = _typed(spark, [_row(1)])
    assert tuple(gdelt.silver_gdelt(typed, watermark_hours=4, streaming=False).columns) == gdelt.SILVER_COLUMNS


def test_noise_actor_rows_have_no_actor2(spark: SparkSession) -> None:
    row = gdelt_row(5, ADDED, "https://example.org/a-b-c", NOISE_ACTORS[0], None, "010", STORY.place, random.Random(1))
    typed = _typed(spark, [row]).first()
    assert typed is not None and typed.actor2_name is None and typed.actor1_name == "COMPANY"


def test_streaming_silver_dedupes_across_files_within_the_watermark(spark: SparkSession, tmp_path: Path) -> None:
    """The streaming path the pipeline runs: file source -> bronze -> typed -> drop -> watermark dedupe."""
    landing = tmp_path / "gdelt"
    landing.mkdir()
    (landing / "20261126091500.export.CSV").write_text("\t".join(_row(1)) + "\n" + "\t".join(_row(2)) + "\n")
    (landing / "20261126094500.export.CSV").write_text("\t".join(_row(1)) + "\n" + "\t".join(_row(3))[:40] + "\n")
    (landing / ".20261126100000.export.CSV.tmp").write_text("\t".join(_row(4)) + "\n")  # in flight: ignored
    lines = sources.read_landed_lines(spark, str(landing), file_glob=sources.GDELT_FILE_GLOB)
    typed = gdelt.typed_gdelt(bronze.gdelt_bronze(lines), merged_lookup())
    silver = gdelt.silver_gdelt(expectations.drop_violations(typed, gdelt.GDELT_EXPECTATIONS), watermark_hours=4)
    query = (
        silver.writeStream.format("memory")
        .queryName("silver_gdelt_stream_test")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination(120)
    rows = spark.table("silver_gdelt_stream_test").collect()
    assert sorted(r.event_id for r in rows) == ["1", "2"]  # 1 deduplicated, 3 malformed, 4 not landed yet
    assert all(r.source_file.endswith(".export.CSV") for r in rows)
