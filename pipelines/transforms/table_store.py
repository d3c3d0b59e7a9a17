"""The tables the correlation sink writes outside the pipeline's own datasets: Delta on Databricks, parquet locally.

A foreachBatch sink writes tables the pipeline does not manage (docs.databricks.com/aws/en/ldp/for-each-batch:
"The pipeline does not track what data is written from a ForEachBatch sink"), so the sink creates them and
replaces rows itself. Every table has a **replace key** (window_start for gold, batch_id for the ops tables,
embedded_day for the vectors): the sink only ever replaces all rows of some key values at once, which is
idempotent, so a micro-batch that runs again after a failure writes nothing twice.

- Delta (Databricks): `replaceWhere "<key> IN (...)"` is one atomic overwrite of exactly those rows, and removes
  them when the new rows are empty (docs.databricks.com/aws/en/delta/selective-overwrite).
- Parquet (open-source Spark has no Delta): the table is partitioned by its key; replacing drops those partitions
  and appends the new rows. Not atomic, which a local run can live with; a partition no write touches keeps its
  files, so tests can check that final windows were not rewritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pyspark.sql import types as T

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class TableSpec:
    """A sink table: its `schema.table` name, columns (in order) and the column rows are replaced by."""

    name: str
    schema: T.StructType
    replace_key: str
    # Extra DDL after the columns for the Delta table only (e.g. a PRIMARY KEY constraint Unity Catalog honours;
    # the local parquet tables take no constraints). Key columns it names must be NOT NULL in `delta_columns`.
    delta_constraints: str = ""
    delta_not_null: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.replace_key not in self.schema.fieldNames():
            raise ValueError(f"{self.name}: replace key {self.replace_key!r} is not a column")

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema.fieldNames())

    @property
    def key_type(self) -> T.DataType:
        return self.schema[self.replace_key].dataType

    def ddl_columns(self, *, delta: bool = False) -> str:
        columns = ", ".join(
            f"`{f.name}` {f.dataType.simpleString()}{' NOT NULL' if delta and f.name in self.delta_not_null else ''}"
            for f in self.schema.fields
        )
        return f"{columns}, {self.delta_constraints}" if delta and self.delta_constraints else columns


def sql_literal(value: Any, data_type: T.DataType) -> str:
    """A value as a Spark SQL literal of `data_type` (timestamps are naive UTC, as the sessions run in UTC)."""
    if isinstance(data_type, T.TimestampType):
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime for a TIMESTAMP key, got {value!r}")
        return f"TIMESTAMP'{value.strftime('%Y-%m-%d %H:%M:%S')}'"
    if isinstance(data_type, T.DateType):
        if not isinstance(value, date):
            raise TypeError(f"expected a date for a DATE key, got {value!r}")
        return f"DATE'{value.isoformat()}'"
    if isinstance(data_type, T.IntegerType | T.LongType):
        return str(int(value))
    raise TypeError(f"unsupported replace-key type {data_type.simpleString()}")


class TableStore:
    """Creates, reads and replaces the sink's tables; `delta=False` is the local parquet layout."""

    def __init__(self, spark: SparkSession, *, delta: bool, catalog: str = "") -> None:
        self.spark = spark
        self.delta = delta
        self.catalog = catalog

    def qualified(self, spec: TableSpec) -> str:
        return f"{self.catalog}.{spec.name}" if self.catalog else spec.name

    def ensure(self, spec: TableSpec) -> None:
        name = self.qualified(spec)
        if self.delta:
            self.spark.sql(f"CREATE TABLE IF NOT EXISTS {name} ({spec.ddl_columns(delta=True)}) USING delta")
        else:
            self.spark.sql(
                f"CREATE TABLE IF NOT EXISTS {name} ({spec.ddl_columns()}) USING parquet "
                f"PARTITIONED BY (`{spec.replace_key}`)"
            )

    def read(self, spec: TableSpec) -> DataFrame:
        return self.spark.read.table(self.qualified(spec)).select(*spec.columns)

    def _in(self, spec: TableSpec, keys: Sequence[Any]) -> str:
        literals = ", ".join(sql_literal(k, spec.key_type) for k in keys)
        return f"`{spec.replace_key}` IN ({literals})"

    def replace(self, spec: TableSpec, rows: DataFrame, keys: Iterable[Any]) -> None:
        """Replace every row whose key is in `keys` by `rows` (which hold only those keys; may be empty)."""
        keys = sorted(set(keys))
        if not keys:
            return
        rows = rows.select(*spec.columns)
        if self.delta:
            (
                rows.write.format("delta")
                .mode("overwrite")
                .option("replaceWhere", self._in(spec, keys))
                .saveAsTable(self.qualified(spec))
            )
            return
        self._drop_partitions(spec, keys)
        self._insert(spec, rows)

    def append(self, spec: TableSpec, rows: DataFrame) -> None:
        rows = rows.select(*spec.columns)
        if self.delta:
            rows.write.format("delta").mode("append").saveAsTable(self.qualified(spec))
        else:
            self._insert(spec, rows)

    def delete_before(self, spec: TableSpec, cutoff: Any) -> None:
        """Drop every row whose key is before `cutoff` (retention)."""
        if self.delta:
            self.spark.sql(
                f"DELETE FROM {self.qualified(spec)} WHERE `{spec.replace_key}` < {sql_literal(cutoff, spec.key_type)}"
            )
            return
        old = [k for k in self.partition_keys(spec) if k < cutoff]
        self._drop_partitions(spec, old)

    def truncate(self, spec: TableSpec) -> None:
        if self.delta:
            self.spark.sql(f"DELETE FROM {self.qualified(spec)}")
        else:
            self._drop_partitions(spec, self.partition_keys(spec))

    def partition_keys(self, spec: TableSpec) -> list[Any]:
        """The key values that hold rows (parquet layout: one partition each)."""
        if self.delta:
            return [r[0] for r in self.read(spec).select(spec.replace_key).distinct().collect()]
        out: list[Any] = []
        for row in self.spark.sql(f"SHOW PARTITIONS {self.qualified(spec)}").collect():
            raw = str(row[0]).split("=", 1)[1]
            out.append(_parse_partition_value(raw, spec.key_type))
        return out

    def _drop_partitions(self, spec: TableSpec, keys: Sequence[Any]) -> None:
        if not keys:
            return
        parts = ", ".join(f"PARTITION (`{spec.replace_key}` = {sql_literal(k, spec.key_type)})" for k in keys)
        self.spark.sql(f"ALTER TABLE {self.qualified(spec)} DROP IF EXISTS {parts}")

    def _insert(self, spec: TableSpec, rows: DataFrame) -> None:
        # A partitioned parquet table lists its partition column last, and insertInto matches by position.
        ordered = [c for c in spec.columns if c != spec.replace_key] + [spec.replace_key]
        rows.select(*ordered).write.insertInto(self.qualified(spec))


def _parse_partition_value(raw: str, data_type: T.DataType) -> Any:
    from urllib.parse import unquote

    text = unquote(raw)
    if isinstance(data_type, T.TimestampType):
        return datetime.fromisoformat(text)
    if isinstance(data_type, T.DateType):
        return date.fromisoformat(text)
    return int(text)
