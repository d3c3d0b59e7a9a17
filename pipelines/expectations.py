"""Data-quality expectations with the same drop/fail semantics on Databricks and on open-source Spark.

A rule is a name and a SQL boolean over one row. A row passes a rule only when the condition is TRUE (NULL
counts as a violation, so a missing field never slips through silently).

- `expect_all_or_drop(suite)` / `expect_all_or_fail(suite)`: decorators for a `@dp.table` / `@dp.temporary_view`
  function. On Databricks they are `dp.expect_all_or_drop` / `dp.expect_all_or_fail` (the rows' fate and the
  per-rule metrics land in the pipeline event log); where `pyspark.pipelines` has no expectations (open source
  Spark 4.x) the decorated function's result is filtered (drop) or made to raise on the first violating row
  (fail), so both runtimes keep exactly the same rows.
- `dropping_view(spark, name, suite, query)`: the rows of `query()` that pass every rule, for a streaming table
  that must drop violations *before* a further step (silver drops before it deduplicates). On Databricks it
  registers a temporary view `name` decorated with the native `dp.expect_all_or_drop`, so the per-rule counts
  reach the event log, and returns a reader of that view; elsewhere it returns `query()` filtered
  (`drop_violations`): open-source Spark has no expectations and analyzes a dedupe over a view eagerly.
- `quarantine(df, suite)`: every violating row once per rule it breaks, with the rule's name in `rule`. The
  pipeline publishes these as `ops.<table>_quarantine` tables computed from the same source as the clean table,
  so nothing disappears unexplained; `expectation_counts` turns them into `ops.expectation_counts`.

The SQL builders are pure; the DataFrame functions import pyspark only when called.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

from pipelines.errors import LakehouseError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

RULE_COLUMN: Final = "rule"
_RULE_NAME: Final = re.compile(r"^[a-z][a-z0-9_]{0,99}$")

F = TypeVar("F", bound=Callable[..., Any])


class ExpectationError(LakehouseError, ValueError):
    """An expectation is malformed (bad name, empty condition, duplicate rule)."""


@dataclass(frozen=True)
class Expectation:
    """One named rule: `condition` is a Spark SQL boolean expression over the row."""

    name: str
    condition: str

    def __post_init__(self) -> None:
        if not _RULE_NAME.fullmatch(self.name):
            raise ExpectationError(
                f"expectation name {self.name!r} must be lower_snake_case (it becomes a value of `rule`)"
            )
        if not self.condition.strip():
            raise ExpectationError(f"expectation {self.name!r} has an empty condition")

    @property
    def passes_sql(self) -> str:
        """TRUE when the row satisfies the rule; NULL results count as violations."""
        return f"coalesce(({self.condition}), false)"


@dataclass(frozen=True)
class ExpectationSuite:
    """The rules guarding one table (`table` is the clean table's qualified name, e.g. `silver.gdelt_events`)."""

    table: str
    rules: tuple[Expectation, ...]

    def __post_init__(self) -> None:
        if not self.rules:
            raise ExpectationError(f"expectation suite for {self.table} has no rules")
        names = [r.name for r in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ExpectationError(f"expectation suite for {self.table} repeats rule names: {duplicates}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rules)

    def as_dict(self) -> dict[str, str]:
        """name -> null-safe condition, the shape `dp.expect_all_*` takes."""
        return {r.name: r.passes_sql for r in self.rules}

    def passes_all_sql(self) -> str:
        return " AND ".join(r.passes_sql for r in self.rules)

    def failed_rules_sql(self) -> str:
        """An ARRAY<STRING> of the names of the rules the row violates (empty when it passes all)."""
        items = ", ".join(f"IF({r.passes_sql}, NULL, '{r.name}')" for r in self.rules)
        return f"filter(array({items}), r -> r IS NOT NULL)"


# --------------------------------------------------------------------------------------------- DataFrames


def drop_violations(df: DataFrame, suite: ExpectationSuite) -> DataFrame:
    """Keep the rows that pass every rule (the local `expect_all_or_drop`)."""
    from pyspark.sql import functions as sf

    return df.where(sf.expr(suite.passes_all_sql()))


def fail_on_violation(df: DataFrame, suite: ExpectationSuite) -> DataFrame:
    """Raise on the first row that violates a rule, naming the rules and the row (the local `expect_all_or_fail`).

    The check is a filter, not a projected column, so the optimizer cannot prune it away.
    """
    from pyspark.sql import functions as sf

    message = sf.concat(
        sf.lit(f"expectation failed on {suite.table}: "),
        sf.array_join(sf.expr(suite.failed_rules_sql()), ", "),
        sf.lit(" violated by row "),
        # struct(*), not df.columns: reading the schema would analyze the plan, which pipeline functions forbid.
        sf.expr("to_json(struct(*))"),
    )
    return df.where(sf.when(sf.expr(suite.passes_all_sql()), sf.lit(True)).otherwise(sf.raise_error(message)))


def quarantine(df: DataFrame, suite: ExpectationSuite) -> DataFrame:
    """The violating rows, one output row per (row, violated rule), with the rule's name in `rule`."""
    from pyspark.sql import functions as sf

    return df.select("*", sf.explode(sf.expr(suite.failed_rules_sql())).alias(RULE_COLUMN))


def expectation_counts(quarantined: Mapping[str, DataFrame], suites: Iterable[ExpectationSuite]) -> DataFrame:
    """`table_name, rule, failed_rows` for every rule of every suite (0 when no row broke it).

    `quarantined` maps a suite's table name to its quarantine DataFrame (with the `rule` column).
    """
    from pyspark.sql import functions as sf

    suites = list(suites)
    missing = [s.table for s in suites if s.table not in quarantined]
    if missing:
        raise ExpectationError(f"no quarantine DataFrame for {missing}")
    first = next(iter(quarantined.values()))
    spark = first.sparkSession
    from pyspark.sql import types as T

    # A StructType, not a DDL string: parsing DDL needs an analyzer call, which pipeline query functions forbid.
    rules_schema = T.StructType(
        [T.StructField("table_name", T.StringType()), T.StructField(RULE_COLUMN, T.StringType())]
    )
    all_rules = spark.createDataFrame([(s.table, name) for s in suites for name in s.names], rules_schema)
    counted = None
    for suite in suites:
        per_rule = (
            quarantined[suite.table].groupBy(RULE_COLUMN).count().select(sf.lit(suite.table).alias("table_name"), "*")
        )
        counted = per_rule if counted is None else counted.unionByName(per_rule)
    assert counted is not None
    return all_rules.join(counted, ["table_name", RULE_COLUMN], "left").select(
        "table_name", RULE_COLUMN, sf.coalesce(sf.col("count"), sf.lit(0)).cast("bigint").alias("failed_rows")
    )


# --------------------------------------------------------------------------------------------- decorators


def _native(name: str) -> Callable[[dict[str, str]], Callable[[F], F]] | None:
    try:
        from pyspark import pipelines as dp
    except ImportError:  # pragma: no cover - pyspark without the pipelines extra
        return None
    native = getattr(dp, name, None)
    return native if callable(native) else None


def expect_all_or_drop(suite: ExpectationSuite) -> Callable[[F], F]:
    """Drop rows violating any rule: Databricks' `dp.expect_all_or_drop` where it exists, a filter elsewhere."""
    native = _native("expect_all_or_drop")
    if native is not None:
        return native(suite.as_dict())

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> DataFrame:
            return drop_violations(fn(*args, **kwargs), suite)

        return wrapper  # type: ignore[return-value]

    return decorate


def dropping_view(
    spark: Any, name: str, suite: ExpectationSuite, query: Callable[[], DataFrame]
) -> Callable[[], DataFrame]:
    """A reader of `query()`'s rows that pass every rule (see the module docstring for the two runtimes)."""
    native = _native("expect_all_or_drop")
    if native is None:
        return lambda: drop_violations(query(), suite)
    from pyspark import pipelines as dp

    def view() -> DataFrame:
        return query()

    view.__name__ = name
    dp.temporary_view(name=name, comment=f"Rows that pass the expectations of {suite.table}.")(
        native(suite.as_dict())(view)
    )
    return lambda: spark.readStream.table(name)


def expect_all_or_fail(suite: ExpectationSuite) -> Callable[[F], F]:
    """Fail the update on any violating row: Databricks' `dp.expect_all_or_fail` where it exists, else a check."""
    native = _native("expect_all_or_fail")
    if native is not None:
        return native(suite.as_dict())

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> DataFrame:
            return fail_on_violation(fn(*args, **kwargs), suite)

        return wrapper  # type: ignore[return-value]

    return decorate
