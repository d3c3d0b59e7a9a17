"""sources: the CAMEO lookup's status (missing / unreadable are reported, malformed stops), the runtime switches."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipelines import sources
from pipelines.cameo import ROOT_CODES, CameoLookupError
from pipelines.transforms import ops

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def test_a_landed_lookup_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "CAMEO.eventcodes.txt"
    path.write_text("CAMEOEVENTCODE\tEVENTDESCRIPTION\n042\tMake a visit\n", encoding="utf-8")
    lookup = sources.cameo_lookup(str(path))
    assert (lookup.status, lookup.file_codes, lookup.problem) == ("loaded", 1, None)
    assert lookup.codes["042"] == "Make a visit" and lookup.codes["04"] == ROOT_CODES["04"]


def test_a_missing_lookup_is_a_warning_with_the_fix_not_a_silent_fallback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "reference" / "CAMEO.eventcodes.txt"
    with caplog.at_level(logging.WARNING, logger="pipelines.sources"):
        lookup = sources.cameo_lookup(str(path))
    assert lookup.status == "missing" and lookup.file_codes == 0 and lookup.codes == dict(ROOT_CODES)
    assert lookup.problem is not None and str(path) in lookup.problem and "lakehouse ingest cameo" in lookup.problem
    assert [r.getMessage() for r in caplog.records] == [lookup.problem]


def test_an_unreadable_lookup_is_reported_too(tmp_path: Path) -> None:
    path = tmp_path / "CAMEO.eventcodes.txt"
    path.mkdir()  # exists, but cannot be read as a file
    lookup = sources.cameo_lookup(str(path))
    assert lookup.status == "unreadable" and lookup.problem is not None and "cannot be read" in lookup.problem


def test_a_malformed_lookup_stops_the_update(tmp_path: Path) -> None:
    path = tmp_path / "CAMEO.eventcodes.txt"
    path.write_text("040 Consult\n", encoding="utf-8")
    with pytest.raises(CameoLookupError, match=r"CAMEO.eventcodes.txt:1"):
        sources.cameo_lookup(str(path))


def test_open_source_pyspark_has_no_foreach_batch_sink_and_silver_reads_files_locally() -> None:
    # Locally the sink runs next to spark-pipelines and silver reads the landed files; on Databricks neither.
    assert sources.has_foreach_batch_sink() is False
    assert sources.silver_reads_bronze() is False


@pytest.mark.spark
def test_the_ops_row_says_what_is_wrong(spark: SparkSession, tmp_path: Path) -> None:
    lookup = sources.cameo_lookup(str(tmp_path / "absent.txt"))
    (row,) = ops.cameo_lookup_status(spark, lookup).collect()
    assert (row.status, row.file_codes, row.codes_in_use) == ("missing", 0, len(ROOT_CODES))
    assert row.problem == lookup.problem and row.checked_at is not None
