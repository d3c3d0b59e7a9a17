"""The secure views' SQL, exactly as the stacks deploy it, run on local Spark for each persona.

`is_account_group_member` is Databricks-only; a Python UDF of the same name emulates the reader's groups.
The source table lives in a scratch schema of the shared session (the SQL is rendered with that source) and has
the gold contract's columns, `pipelines.transforms.gold.CORRELATION_COLUMNS`, in the contract's order.

What each persona may read comes from the permission matrix (Unity Catalog's inheritance: a privilege on the catalog
or the schema holds for the views in it); what a reader then sees comes from the views' stated intent
(sql/views/*.sql headers): the analyst view shows named editors as a stable pseudonym and hides rows whose editor
is an IP address, unless the reader is in the compliance group, who sees every row unmasked; the compliance view
shows every row unmasked to the compliance group and nothing to anyone else. Expected rows are built from the
source rows with those rules, never from the SQL.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import pytest

from infra.config import load_environment
from infra.permissions import (
    ALL_PRIVILEGES,
    ANALYST_VIEW,
    CATALOG,
    COMPLIANCE_VIEW,
    SECURE_VIEWS,
    SELECT,
    USE_CATALOG,
    USE_SCHEMA,
    PermissionMatrix,
    Persona,
    Securable,
    schema,
    table,
)
from infra.views import quote_name, quote_string, render_view
from pipelines.transforms.gold import CORRELATION_COLUMNS, CORRELATIONS_TABLE

pytestmark = pytest.mark.spark

SCRATCH_SCHEMA = "lh_infra_views_gold"
ENV = load_environment("staging")
MATRIX = PermissionMatrix.default()
VIEW_NAMES = tuple(name for _, name in SECURE_VIEWS)
T0 = datetime(2026, 1, 1, 12, 0, 0)

# Spark types of the gold columns, as the gold transform produces them. Keyed by name so the contract (not this
# dict) decides which columns exist and in what order; a contract column missing here fails the first test.
COLUMN_TYPES = {
    "window_start": "TIMESTAMP",
    "window_end": "TIMESTAMP",
    "event_id": "STRING",
    "event_time": "TIMESTAMP",
    "event_code": "STRING",
    "event_description": "STRING",
    "event_text": "STRING",
    "source_url": "STRING",
    "edit_id": "STRING",
    "edit_time": "TIMESTAMP",
    "wiki": "STRING",
    "edit_title": "STRING",
    "edit_comment": "STRING",
    "editor": "STRING",
    "editor_is_anonymous": "BOOLEAN",
    "score": "DOUBLE",
    "rank": "INT",
    "provisional": "BOOLEAN",
}
# (edit_id, editor, editor_is_anonymous): named users (one editing twice), an IPv4 and an IPv6 editor.
EDITS = (
    ("e1", "Alice", False),
    ("e2", "192.0.2.7", True),
    ("e3", "2001:db8::1", True),
    ("e4", "Bob", False),
    ("e5", "Alice", False),
)


def _source_rows() -> list[dict[str, Any]]:
    """One gold row per edit; every column differs between rows, so a column swapped or dropped by a view shows."""
    rows = []
    for i, (edit_id, editor, anonymous) in enumerate(EDITS):
        rows.append(
            {
                "window_start": T0,
                "window_end": T0 + timedelta(hours=4),
                "event_id": f"ev{i}",
                "event_time": T0 + timedelta(minutes=i),
                "event_code": f"0{i}0",
                "event_description": f"description {i}",
                "event_text": f"event text {i}",
                "source_url": f"https://example.org/{i}",
                "edit_id": edit_id,
                "edit_time": T0 + timedelta(minutes=10 + i),
                "wiki": f"wiki{i}",
                "edit_title": f"title of {edit_id}",
                "edit_comment": f"comment on {edit_id}",
                "editor": editor,
                "editor_is_anonymous": anonymous,
                "score": 0.9 - i / 10,
                "rank": i + 1,
                "provisional": i % 2 == 0,
            }
        )
    return rows


def _pseudonym(editor: str) -> str:
    """The analyst view's stated masking: `editor-` + the first 16 hex digits of sha256(editor)."""
    return "editor-" + hashlib.sha256(editor.encode()).hexdigest()[:16]


def _expected(view: str, *, in_compliance_group: bool) -> list[dict[str, Any]]:
    """What the view is meant to show a reader, from the source rows and the rules in the module docstring."""
    rows = _source_rows()
    if in_compliance_group:
        return rows
    if view == COMPLIANCE_VIEW[1]:
        return []
    return [{**r, "editor": _pseudonym(r["editor"])} for r in rows if not r["editor_is_anonymous"]]


def _effective(persona: Persona, securable: Securable) -> frozenset[str]:
    """Privileges a persona holds on a securable, inherited from the catalog and schema above it."""
    chain = [CATALOG]
    if securable.schema is not None:
        chain.append(schema(securable.schema))
    if securable.name is not None:
        chain.append(securable)
    held: set[str] = set()
    for s in chain:
        held |= MATRIX.privileges(persona, s)
    return frozenset({SELECT, USE_CATALOG, USE_SCHEMA} if ALL_PRIVILEGES in held else held)


def _can_select(persona: Persona, view: Securable) -> bool:
    """Unity Catalog: USE CATALOG on the catalog, USE SCHEMA on the schema and SELECT on the view (or inherited)."""
    return (
        USE_CATALOG in _effective(persona, CATALOG)
        and USE_SCHEMA in _effective(persona, schema(view.schema or ""))
        and SELECT in _effective(persona, view)
    )


@pytest.fixture(scope="module")
def correlations(spark):
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {SCRATCH_SCHEMA}")
    ddl = ", ".join(f"{column} {COLUMN_TYPES[column]}" for column in CORRELATION_COLUMNS)
    rows = [tuple(r[c] for c in CORRELATION_COLUMNS) for r in _source_rows()]
    spark.createDataFrame(rows, ddl).write.mode("overwrite").saveAsTable(f"{SCRATCH_SCHEMA}.correlations")
    yield
    spark.sql(f"DROP DATABASE IF EXISTS {SCRATCH_SCHEMA} CASCADE")


def _view(spark, view: str, member_of: set[str]):
    from pyspark.sql.types import BooleanType

    groups = frozenset(member_of)
    spark.udf.register("is_account_group_member", lambda group: group in groups, BooleanType())
    source = (SCRATCH_SCHEMA, CORRELATIONS_TABLE.split(".")[1])
    sql = render_view(view, catalog="spark_catalog", principals=ENV.principals, source_table=source)
    spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW {view} AS {sql}")
    return spark.sql(f"SELECT * FROM {view} ORDER BY edit_id")


def _read(spark, view: str, member_of: set[str]) -> list[dict[str, Any]]:
    return [row.asDict() for row in _view(spark, view, member_of).collect()]


def test_the_test_table_has_every_gold_contract_column():
    assert set(COLUMN_TYPES) == set(CORRELATION_COLUMNS), "type every contract column in COLUMN_TYPES"


@pytest.mark.parametrize("view", VIEW_NAMES)
def test_each_view_exposes_exactly_the_gold_contract_columns_in_order(spark, correlations, view):
    compliance = {ENV.principals[Persona.COMPLIANCE]}
    assert tuple(_view(spark, view, compliance).columns) == CORRELATION_COLUMNS
    assert tuple(_view(spark, view, set()).columns) == CORRELATION_COLUMNS


def test_the_matrix_routes_analysts_through_the_masking_view_only():
    """The matrix's stated intent: analysts read gold only through the analyst view; compliance reads both views."""
    analyst_view, compliance_view = table(*ANALYST_VIEW), table(*COMPLIANCE_VIEW)
    gold_table = table(*CORRELATIONS_TABLE.split("."))
    assert _can_select(Persona.ANALYSTS, analyst_view)
    assert not _can_select(Persona.ANALYSTS, compliance_view)
    assert not _can_select(Persona.ANALYSTS, gold_table)
    assert _can_select(Persona.COMPLIANCE, analyst_view) and _can_select(Persona.COMPLIANCE, compliance_view)


@pytest.mark.parametrize("persona", list(Persona), ids=str)
def test_each_persona_sees_what_the_matrix_and_the_views_intend(spark, correlations, persona):
    principal = ENV.principals.get(persona)
    if principal is None:
        pytest.skip(f"{ENV.name} maps no principal to {persona}: it holds no grant")
    in_compliance_group = principal == ENV.principals[Persona.COMPLIANCE]
    readable = [name for schema_name, name in SECURE_VIEWS if _can_select(persona, table(schema_name, name))]
    for view in readable:
        assert _read(spark, view, {principal}) == _expected(view, in_compliance_group=in_compliance_group), view
    # Defence in depth (sql/views/correlations_compliance.sql): even a reader granted SELECT by mistake sees no row
    # of the compliance view unless in the compliance group.
    assert bool(_read(spark, COMPLIANCE_VIEW[1], {principal})) is in_compliance_group


def test_a_reader_in_no_group_sees_only_named_editors_masked(spark, correlations):
    assert _read(spark, ANALYST_VIEW[1], set()) == _expected(ANALYST_VIEW[1], in_compliance_group=False)
    flat = " ".join(str(v) for r in _read(spark, ANALYST_VIEW[1], set()) for v in r.values())
    for identity in ("192.0.2.7", "2001:db8::1", "Alice", "Bob"):
        assert identity not in flat
    assert _read(spark, COMPLIANCE_VIEW[1], set()) == []


def test_identifiers_and_literals_are_escaped():
    assert quote_name("cat", "we`ird", "t") == "`cat`.`we``ird`.`t`"
    assert quote_string("o'brien\\x") == "'o\\'brien\\\\x'"
    principals = {**ENV.principals, Persona.COMPLIANCE: "audit'ors"}
    sql = render_view("correlations_analyst", catalog="c", principals=principals)
    assert "is_account_group_member('audit\\'ors')" in sql
