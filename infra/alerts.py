"""SQL alerts: the queries under `sql/alerts/` rendered for one environment, and what each one fires on.

Pure (no cdktn): the serving stack deploys them as `databricks_alert_v2` (scheduled by the alert itself, so no
wrapper job), and the tests run the same SQL on local Spark over tables shaped like the pipeline's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template

from infra.config import EnvironmentConfig
from infra.repo import SQL_DIR
from infra.views import ViewTemplateError, quote_name, strip_sql_header

ALERTS_DIR = SQL_DIR / "alerts"
# Tables the alert queries read (the pipeline's contract names).
GDELT_QUARANTINE = ("ops", "gdelt_events_quarantine")
WIKIMEDIA_QUARANTINE = ("ops", "wikimedia_edits_quarantine")
GDELT_SILVER = ("silver", "gdelt_events")
WIKIMEDIA_SILVER = ("silver", "wikimedia_edits")
EVENT_LOG = ("ops", "pipeline_event_log")


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
    env: EnvironmentConfig, alerts_dir: Path = ALERTS_DIR, catalog: str | None = None
) -> tuple[AlertSpec, ...]:
    """Every alert of one environment. `catalog` overrides the environment's (tests run the SQL in a scratch one)."""
    cat = catalog or env.catalog
    tables = {
        "gdelt_quarantine": GDELT_QUARANTINE,
        "wikimedia_quarantine": WIKIMEDIA_QUARANTINE,
        "gdelt_silver": GDELT_SILVER,
        "wikimedia_silver": WIKIMEDIA_SILVER,
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
            sql=_render("pipeline_errors", {"event_log": quote_name(cat, *EVENT_LOG)}, alerts_dir),
            reads=(EVENT_LOG,),
        ),
    )
