"""The expectation shim: null-safe rules, drop and fail semantics, and a quarantine row per violated rule."""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING

import pytest

from pipelines import expectations
from pipelines.expectations import Expectation, ExpectationError, ExpectationSuite
from pipelines.transforms.gdelt import GDELT_EXPECTATIONS
from pipelines.transforms.wikimedia import WIKIMEDIA_EXPECTATIONS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SUITE = ExpectationSuite(
    "silver.things",
    (
        Expectation("id_is_positive", "id > 0"),
        Expectation("name_present", "length(name) > 0"),
    ),
)


def test_rule_names_must_be_snake_case() -> None:
    with pytest.raises(ExpectationError, match="lower_snake_case"):
        Expectation("Id Positive", "id > 0")


def test_suite_rejects_duplicate_rule_names() -> None:
    with pytest.raises(ExpectationError, match="repeats rule names"):
        ExpectationSuite("t", (Expectation("a", "x > 0"), Expectation("a", "y > 0")))


def test_conditions_are_null_safe() -> None:
    assert SUITE.as_dict()["id_is_positive"] == "coalesce((id > 0), false)"


def test_pipeline_suites_have_distinct_rule_names() -> None:
    names = GDELT_EXPECTATIONS.names + WIKIMEDIA_EXPECTATIONS.names
    assert len(set(names)) == len(names)


def _rows(spark: SparkSession):  # type: ignore[no-untyped-def]
    return spark.createDataFrame(
        [(1, "ok"), (-1, "negative"), (2, ""), (-3, None), (None, "null id")], "id INT, name STRING"
    )


@pytest.mark.spark
def test_drop_keeps_only_rows_passing_every_rule(spark: SparkSession) -> None:
    kept = expectations.drop_violations(_rows(spark), SUITE)
    assert [(r.id, r.name) for r in kept.collect()] == [(1, "ok")]


@pytest.mark.spark
def test_quarantine_names_each_violated_rule(spark: SparkSession) -> None:
    quarantined = expectations.quarantine(_rows(spark), SUITE)
    got = sorted((r.id if r.id is not None else 0, r.rule) for r in quarantined.collect())
    assert got == [
        (-3, "id_is_positive"),
        (-3, "name_present"),  # violates both rules: one quarantine row per rule
        (-1, "id_is_positive"),
        (0, "id_is_positive"),  # NULL id: a NULL condition is a violation
        (2, "name_present"),
    ]


@pytest.mark.spark
def test_fail_raises_naming_the_rule_and_row(spark: SparkSession) -> None:
    with pytest.raises(Exception, match=r"expectation failed on silver.things: id_is_positive.*negative"):
        expectations.fail_on_violation(_rows(spark).where("id = -1"), SUITE).collect()
    assert expectations.fail_on_violation(_rows(spark).where("id = 1"), SUITE).count() == 1


@pytest.mark.spark
def test_decorators_apply_the_same_semantics_locally(spark: SparkSession) -> None:
    @expectations.expect_all_or_drop(SUITE)
    def dropped():  # type: ignore[no-untyped-def]
        return _rows(spark)

    @expectations.expect_all_or_fail(SUITE)
    def failing():  # type: ignore[no-untyped-def]
        return _rows(spark)

    assert dropped().count() == 1
    with pytest.raises(Exception, match="expectation failed"):
        failing().collect()


@pytest.mark.spark
def test_counts_include_rules_nobody_broke(spark: SparkSession) -> None:
    other = ExpectationSuite("silver.others", (Expectation("always_true", "true"),))
    quarantined = {
        "silver.things": expectations.quarantine(_rows(spark), SUITE),
        "silver.others": expectations.quarantine(_rows(spark), other),
    }
    counts = expectations.expectation_counts(quarantined, [SUITE, other])
    got = {(r.table_name, r.rule): r.failed_rows for r in counts.collect()}
    assert got == {
        ("silver.things", "id_is_positive"): 3,
        ("silver.things", "name_present"): 2,
        ("silver.others", "always_true"): 0,
    }


def test_counts_need_every_suites_quarantine() -> None:
    with pytest.raises(ExpectationError, match="no quarantine DataFrame"):
        expectations.expectation_counts({}, [SUITE])


def test_dropping_view_is_a_filter_where_pipelines_have_no_expectations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(expectations, "_native", lambda _name: None)
    dropped: list[object] = []
    monkeypatch.setattr(expectations, "drop_violations", lambda df, suite: dropped.append((df, suite)) or "kept")
    reader = expectations.dropping_view(object(), "things_valid", SUITE, lambda: "typed rows")
    assert reader() == "kept" and dropped == [("typed rows", SUITE)]


def test_dropping_view_declares_the_native_expectations_on_a_temporary_view(monkeypatch: pytest.MonkeyPatch) -> None:
    # Platform rule (docs.databricks.com/aws/en/ldp/developer/ldp-python-ref-expectations): expectation decorators
    # declare constraints on "materialized views, streaming tables, or temporary views" and come after the
    # @dp.temporary_view() decorator; with expect_all_or_drop "the count of dropped records is logged alongside
    # other dataset metrics" (the event log), which a plain filter never reports.
    # A stand-in for Databricks' `pyspark.pipelines` (only its temporary_view is used): the runtime test venv's
    # pyspark 4.0 has no pipelines module at all, and here the real one must not register anything.
    import pyspark

    dp = types.ModuleType("pyspark.pipelines")
    monkeypatch.setitem(sys.modules, "pyspark.pipelines", dp)
    monkeypatch.setattr(pyspark, "pipelines", dp, raising=False)
    calls: dict[str, object] = {}

    def native(name: str) -> object:
        def expect_all_or_drop(rules: dict[str, str]) -> object:
            calls["rules"] = rules
            return lambda fn: calls.setdefault("checked", fn)

        return expect_all_or_drop if name == "expect_all_or_drop" else None

    def temporary_view(*, name: str, comment: str) -> object:
        return lambda fn: calls.setdefault("view", (name, fn))

    class Spark:
        class readStream:
            @staticmethod
            def table(name: str) -> str:
                return f"stream of {name}"

    monkeypatch.setattr(expectations, "_native", native)
    dp.temporary_view = temporary_view  # type: ignore[attr-defined]
    reader = expectations.dropping_view(Spark(), "things_valid", SUITE, lambda: "typed rows")
    assert calls["rules"] == SUITE.as_dict()
    view_name, view = calls["view"]  # type: ignore[misc]
    assert view_name == "things_valid" and view is calls["checked"] and view() == "typed rows"
    assert reader() == "stream of things_valid"  # the streaming table reads the checked view
