"""Secure views: the SQL under `sql/views/` rendered for one environment.

Pure (no cdktf, no Spark): the stacks deploy the rendered text as `databricks_sql_table` views and the tests run
the very same text on local Spark. Every identifier and literal goes through one escaping helper each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template

from infra.permissions import SECURE_VIEWS, Persona
from infra.repo import SQL_DIR
from pipelines.errors import LakehouseError

VIEWS_DIR = SQL_DIR / "views"
# The table both views read (contract: gold.correlations, published by the pipeline).
SOURCE_TABLE = ("gold", "correlations")


class ViewTemplateError(LakehouseError):
    """A view template is missing or refers to a placeholder this module does not fill."""


def quote_identifier(name: str) -> str:
    """One SQL identifier in backticks, embedded backticks doubled (Databricks and Spark SQL quoting)."""
    return "`" + name.replace("`", "``") + "`"


def quote_name(*parts: str) -> str:
    """A dotted name (catalog.schema.table) with every part quoted."""
    return ".".join(quote_identifier(p) for p in parts)


def quote_string(value: str) -> str:
    """A SQL string literal; Spark SQL escapes with backslashes inside single quotes."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class SecureView:
    schema: str
    name: str
    # The SELECT statement only: `databricks_sql_table` wraps it in CREATE VIEW ... AS.
    definition: str

    def full_name(self, catalog: str) -> str:
        return f"{catalog}.{self.schema}.{self.name}"


def strip_sql_header(sql: str) -> str:
    """Drop the leading `--` comment block (documentation for readers, not part of the view's text)."""
    lines = sql.splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines).strip() + "\n"


def render_view(
    name: str,
    *,
    catalog: str,
    principals: Mapping[Persona, str],
    views_dir: Path = VIEWS_DIR,
    source_table: tuple[str, str] = SOURCE_TABLE,
) -> str:
    """The view's SELECT text for one catalog; group names come from the environment's principals.

    `source_table` (schema, table) exists for tests that run the SQL in a scratch schema of a shared Spark session.
    """
    path = views_dir / f"{name}.sql"
    try:
        template = Template(strip_sql_header(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise ViewTemplateError(f"{path}: view template not found; add sql/views/{name}.sql") from exc
    values = {
        "correlations": quote_name(catalog, *source_table),
        "compliance_group": quote_string(principals[Persona.COMPLIANCE]),
        "analyst_group": quote_string(principals[Persona.ANALYSTS]),
    }
    try:
        return template.substitute(values)
    except (KeyError, ValueError) as exc:
        known = ", ".join("${" + key + "}" for key in sorted(values))
        raise ViewTemplateError(f"{path}: unknown or malformed placeholder {exc}: use only {known}") from exc


def secure_views(
    catalog: str, principals: Mapping[Persona, str], views_dir: Path = VIEWS_DIR
) -> tuple[SecureView, ...]:
    """Every secure view named in the permission matrix, rendered for one environment."""
    return tuple(
        SecureView(schema, name, render_view(name, catalog=catalog, principals=principals, views_dir=views_dir))
        for schema, name in SECURE_VIEWS
    )
