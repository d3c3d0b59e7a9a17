"""SQL alerts: the queries under `sql/alerts/` rendered for one environment, and what each one fires on.

Pure (no cdktn): the serving stack deploys them as `databricks_alert_v2` (scheduled by the alert itself, so no
wrapper job), and the tests run the same SQL on local Spark over tables shaped like the pipeline's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template

from infra.config import EnvironmentConfig
from infra.repo import SQL_DIR
from infra.views import ViewTemplateError, quote_name, strip_sql_header
from pipelines import tables as contract

ALERTS_DIR = SQL_DIR / "alerts"
# The tables the alert queries read, by placeholder: the pipeline's contract names (pipelines/tables.py).
ALERT_SOURCES: Mapping[str, tuple[str, str]] = {
    "gdelt_quarantine": contract.split(contract.GDELT_QUARANTINE),
    "wikimedia_quarantine": contract.split(contract.WIKIMEDIA_QUARANTINE),
    "gdelt_silver": contract.split(contract.GDELT_SILVER),
    "wikimedia_silver": contract.split(contract.WIKIMEDIA_SILVER),
    "event_log": contract.split(contract.PIPELINE_EVENT_LOG),
}


@dataclass(frozen=True)
class AlertSpec:
    name: str
    column: str  # the query's result column the alert evaluates
    threshold: float  # fires when column > threshold
    sql: str
    reads: tuple[tuple[str, str], ...]  # (schema, table) the query selects from

    @property
    def display_name(self) -> str:
        return self.name.replace("_", " ")


def _render(name: str, values: dict[str, str], alerts_dir: Path) -> str:
    path = alerts_dir / f"{name}.sql"
    try:
        template = Template(strip_sql_header(path.read_text(encoding="utf-8")))
        return template.substitute(values)
    except FileNotFoundError as exc:
        raise ViewTemplateError(f"{path}: alert query not found; add sql/alerts/{name}.sql") from exc
    except (KeyError, ValueError) as exc:
        raise ViewTemplateError(f"{path}: unknown or malformed placeholder {exc}: use only {sorted(values)}") from exc


def alert_specs(
    env: EnvironmentConfig,
    alerts_dir: Path = ALERTS_DIR,
    catalog: str | None = None,
    sources: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[AlertSpec, ...]:
    """Every alert of one environment. `catalog` and `sources` (placeholder -> (schema, table)) override the
    environment's catalog and the contract's tables: the tests run the same SQL over scratch tables on local Spark."""
    cat = catalog or env.catalog
    read = {**ALERT_SOURCES, **(sources or {})}
    tables = {
        key: read[key] for key in ("gdelt_quarantine", "wikimedia_quarantine", "gdelt_silver", "wikimedia_silver")
    }
    quarantine_values = {key: quote_name(cat, *t) for key, t in tables.items()}
    quarantine_values["lookback_hours"] = str(int(env.alerts.lookback_hours))
    return (
        AlertSpec(
            name="quarantine_ratio",
            column="quarantine_ratio",
            threshold=env.alerts.quarantine_ratio_max,
            sql=_render("quarantine_ratio", quarantine_values, alerts_dir),
            reads=tuple(tables.values()),
        ),
        AlertSpec(
            name="pipeline_errors",
            column="errors",
            threshold=0.0,
            sql=_render("pipeline_errors", {"event_log": quote_name(cat, *read["event_log"])}, alerts_dir),
            reads=(read["event_log"],),
        ),
    )
