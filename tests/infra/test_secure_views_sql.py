"""The secure views' SQL, exactly as the stacks deploy it, run on local Spark for each persona.

`is_account_group_member` is Databricks-only; a Python UDF of the same name emulates the reader's groups.
The table lives in a scratch schema of the shared session (the SQL is rendered with that source), matching the
gold.correlations contract column for column.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest

from infra.config import load_environment
from infra.permissions import Persona
from infra.views import quote_name, quote_string, render_view

pytestmark = pytest.mark.spark

SCHEMA = "lh_infra_views_gold"
ENV = load_environment("staging")
GROUPS = {persona: ENV.principals[persona] for persona in Persona}
T0 = datetime(2026, 1, 1, 12, 0, 0)
T1 = datetime(2026, 1, 1, 16, 0, 0)

CONTRACT_COLUMNS = (
    "window_start TIMESTAMP, window_end TIMESTAMP, event_id STRING, event_time TIMESTAMP, event_code STRING, "
    "event_description STRING, event_text STRING, source_url STRING, edit_id STRING, edit_time TIMESTAMP, "
    "wiki STRING, edit_title STRING, edit_comment STRING, editor STRING, editor_is_anonymous BOOLEAN, "
    "score DOUBLE, rank INT"
)
# (edit_id, editor, editor_is_anonymous)
EDITS = (
    ("e1", "Alice", False),
    ("e2", "192.0.2.7", True),
    ("e3", "2001:db8::1", True),
    ("e4", "Bob", False),
    ("e5", "Alice", False),
)
IPS = ("192.0.2.7", "2001:db8::1")


def _pseudonym(editor: str) -> str:
    return "editor-" + hashlib.sha256(editor.encode()).hexdigest()[:16]


@pytest.fixture(scope="module")
def correlations(spark):
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {SCHEMA}")
    rows = [
        (
            T0,
            T1,
            f"ev{i}",
            T0,
            "010",
            "Make statement",
            "text",
            "https://example.org/a",
            edit_id,
            T0,
            "enwiki",
            "Title",
            f"comment on {edit_id}",
            editor,
            anonymous,
            0.9 - i / 10,
            1,
        )
        for i, (edit_id, editor, anonymous) in enumerate(EDITS)
    ]
    df = spark.createDataFrame(rows, CONTRACT_COLUMNS)
    df.write.mode("overwrite").saveAsTable(f"{SCHEMA}.correlations")
    yield
    spark.sql(f"DROP DATABASE IF EXISTS {SCHEMA} CASCADE")


def _read_view(spark, view: str, member_of: set[str]) -> list[dict]:
    from pyspark.sql.types import BooleanType

    groups = frozenset(member_of)
    spark.udf.register("is_account_group_member", lambda group: group in groups, BooleanType())
    sql = render_view(view, catalog="spark_catalog", principals=ENV.principals, source_table=(SCHEMA, "correlations"))
    spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW {view} AS {sql}")
    return [row.asDict() for row in spark.sql(f"SELECT * FROM {view} ORDER BY edit_id").collect()]


def test_analyst_view_pseudonymizes_users_and_hides_ip_editors(spark, correlations):
    rows = _read_view(spark, "correlations_analyst", {GROUPS[Persona.ANALYSTS]})
    assert [r["edit_id"] for r in rows] == ["e1", "e4", "e5"]
    assert [r["editor"] for r in rows] == [_pseudonym("Alice"), _pseudonym("Bob"), _pseudonym("Alice")]
    assert not any(r["editor_is_anonymous"] for r in rows)
    # Neither an IP address nor a user name appears anywhere in what analysts read.
    flat = " ".join(str(v) for r in rows for v in r.values())
    for identity in (*IPS, "Alice", "Bob"):
        assert identity not in flat


def test_analyst_view_has_every_contract_column(spark, correlations):
    rows = _read_view(spark, "correlations_analyst", {GROUPS[Persona.ANALYSTS]})
    expected = [c.split()[0] for c in CONTRACT_COLUMNS.split(", ")]
    assert list(rows[0]) == expected


def test_compliance_sees_everything_unmasked_through_either_view(spark, correlations):
    compliance = {GROUPS[Persona.COMPLIANCE]}
    for view in ("correlations_analyst", "correlations_compliance"):
        rows = _read_view(spark, view, compliance)
        assert [(r["edit_id"], r["editor"]) for r in rows] == [(e, ed) for e, ed, _ in EDITS], view


def test_compliance_view_is_empty_for_everyone_else(spark, correlations):
    for persona in (Persona.ANALYSTS, Persona.DATA_SCIENTISTS, Persona.PLATFORM_ADMINS, Persona.PIPELINE):
        assert _read_view(spark, "correlations_compliance", {GROUPS[persona]}) == [], persona


def test_reader_in_no_group_gets_only_masked_named_rows(spark, correlations):
    rows = _read_view(spark, "correlations_analyst", set())
    assert {r["editor"] for r in rows} == {_pseudonym("Alice"), _pseudonym("Bob")}


def test_identifiers_and_literals_are_escaped():
    assert quote_name("cat", "we`ird", "t") == "`cat`.`we``ird`.`t`"
    assert quote_string("o'brien\\x") == "'o\\'brien\\\\x'"
    principals = {**ENV.principals, Persona.COMPLIANCE: "audit'ors"}
    sql = render_view("correlations_analyst", catalog="c", principals=principals)
    assert "is_account_group_member('audit\\'ors')" in sql
