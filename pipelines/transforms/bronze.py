"""Bronze: landed files as they arrived, one row per line, with where and when each row was ingested.

GDELT lines are split into the 61 codebook columns as strings (a short line leaves the missing columns NULL and
`field_count` says how many fields it had, so silver's expectations can quarantine it with the reason).
Wikimedia lines are kept as the raw JSON text.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as sf

from pipelines import tables
from pipelines.gdelt import EXPORT_COLUMNS

GDELT_TABLE = tables.GDELT_BRONZE
WIKIMEDIA_TABLE = tables.WIKIMEDIA_BRONZE
RAW_LINE = "raw_line"
SOURCE_FILE = "source_file"
INGESTED_AT = "ingested_at"


def _gdelt_fields(raw_line: Column) -> Column:
    # limit -1 keeps trailing empty fields: an export row ends with SOURCEURL, but many middle fields are empty.
    return sf.split(sf.regexp_replace(raw_line, r"\r$", ""), "\t", -1)


def gdelt_bronze(lines: DataFrame) -> DataFrame:
    """`raw_line, source_file` -> the 61 GDELT columns (STRING) + `raw_line, field_count, source_file, ingested_at`."""
    fields = _gdelt_fields(sf.col(RAW_LINE))
    return lines.select(
        *[sf.try_element_at(fields, sf.lit(i + 1)).alias(name) for i, name in enumerate(EXPORT_COLUMNS)],
        sf.col(RAW_LINE),
        sf.size(fields).alias("field_count"),
        sf.col(SOURCE_FILE),
        sf.current_timestamp().alias(INGESTED_AT),
    )


def wikimedia_bronze(lines: DataFrame) -> DataFrame:
    """`raw_line, source_file` -> `raw` (the recentchange event's JSON text), `source_file`, `ingested_at`."""
    return lines.select(
        sf.col(RAW_LINE).alias("raw"),
        sf.col(SOURCE_FILE),
        sf.current_timestamp().alias(INGESTED_AT),
    )
