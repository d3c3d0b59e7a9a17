"""What people look at, as plain data the stacks render: the pipeline-health views in `ops`, the Lakeview dashboard,
the feature table's description, and the Genie space's definition.

Pure (no cdktf, no Spark, no SDK), like `infra.views`: the same rendered SQL runs in the tests on local Spark, the
same dashboard JSON is validated in the tests, and the `lakehouse genie sync` command reads the same Genie file.

Meant for these provider resources (the stack wires them; see docs/observability.md):

- `health_views(catalog)` -> one `databricks_sql_table` per `ViewSpec` (`table_type = "VIEW"`, `view_definition`,
  `warehouse_id`, `owner`, gated by `pipeline_outputs_ready` like the secure views, created in `depends_on` order).
- `dashboard_spec(...)` -> `databricks_dashboard` (`display_name`, `parent_path`, `warehouse_id`,
  `serialized_dashboard`, `embed_credentials = false`), plus `databricks_permissions` with `dashboard_id` from
  `WORKSPACE_ACLS[WorkspaceObject.DASHBOARD]`.
- `genie_space(...)` -> no resource in the pinned provider: `lakehouse genie sync` creates or updates it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any, Final

from infra.permissions import ANALYST_VIEW
from infra.repo import REPO_ROOT
from infra.views import quote_name, strip_sql_header
from pipelines import tables
from pipelines.errors import LakehouseError

HEALTH_SQL_DIR = REPO_ROOT / "sql" / "health"
DASHBOARD_FILE = REPO_ROOT / "dashboards" / "lakehouse.lvdash.json"
GENIE_FILE = REPO_ROOT / "genie" / "correlations.genie.json"

HEALTH_SCHEMA: Final = "ops"
# The pipeline's event log as the stack publishes it (`databricks_pipeline.event_log`): a Unity Catalog table.
EVENT_LOG: Final = tables.split(tables.PIPELINE_EVENT_LOG)

# Tables the health SQL reads besides its own views: placeholder -> (schema, table).
HEALTH_SOURCES: Final[Mapping[str, tuple[str, str]]] = {
    "event_log": EVENT_LOG,
    "silver_gdelt_events": tables.split(tables.GDELT_SILVER),
    "silver_wikimedia_edits": tables.split(tables.WIKIMEDIA_SILVER),
    "gdelt_quarantine": tables.split(tables.GDELT_QUARANTINE),
    "wikimedia_quarantine": tables.split(tables.WIKIMEDIA_QUARANTINE),
    "correlation_updates": tables.split(tables.CORRELATION_UPDATES),
}

# Each health view (sql/health/<name>.sql) and the health views it reads, in creation order.
HEALTH_VIEWS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("pipeline_events", ()),
    ("pipeline_updates", ("pipeline_events",)),
    ("pipeline_table_rows", ("pipeline_events",)),
    ("pipeline_expectation_failures", ("pipeline_events", "pipeline_updates")),
    ("pipeline_landing_latency", ("pipeline_updates",)),
    (
        "pipeline_health_daily",
        ("pipeline_updates", "pipeline_expectation_failures", "pipeline_landing_latency"),
    ),
)


# string.Template's pattern with only the braced form left: the other alternatives can never match.
_BRACED_ONLY: Final = r"""
\$(?:
  (?P<escaped>(?!x)x) |
  \{(?P<braced>[_a-z][_a-z0-9]*)\} |
  (?P<named>(?!x)x) |
  (?P<invalid>(?!x)x)
)
"""


class BracedTemplate(Template):
    """`${name}` placeholders only: a bare `$` stays as it is (JSON paths such as `'$.flow_progress'` in SQL)."""

    # Template compiles a str pattern when the subclass is created; typeshed types the attribute as compiled.
    pattern = _BRACED_ONLY  # type: ignore[assignment]


class ObservabilityError(LakehouseError):
    """A health view, the dashboard file or the Genie file is missing or malformed; the message says what to fix."""


@dataclass(frozen=True)
class ViewSpec:
    """One view for `databricks_sql_table` (table_type VIEW): the SELECT text, and the views it must follow."""

    schema: str
    name: str
    definition: str
    comment: str
    depends_on: tuple[str, ...] = ()

    def full_name(self, catalog: str) -> str:
        return f"{catalog}.{self.schema}.{self.name}"


def _header(sql: str) -> str:
    """The first sentence of the file's header comment: the view's table comment."""
    lines: list[str] = []
    for line in sql.splitlines():
        if not line.lstrip().startswith("--"):
            break
        lines.append(line.lstrip()[2:].strip())
    text = " ".join(lines)
    summary = text.split(": ", 1)[-1]
    sentence = summary.split(". ", 1)[0].rstrip(".")
    return sentence[:1].upper() + sentence[1:] + "."


def health_placeholders(
    catalog: str, sources: Mapping[str, tuple[str, str]] | None = None, views_schema: str = HEALTH_SCHEMA
) -> dict[str, str]:
    """Placeholder -> quoted full name, for the source tables and the health views themselves.

    `sources` and `views_schema` exist for tests that run the SQL in scratch schemas of a shared Spark session.
    """
    values = {key: quote_name(catalog, *table) for key, table in {**HEALTH_SOURCES, **(sources or {})}.items()}
    values.update({name: quote_name(catalog, views_schema, name) for name, _ in HEALTH_VIEWS})
    return values


def _read_health_sql(name: str, sql_dir: Path) -> str:
    path = sql_dir / f"{name}.sql"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ObservabilityError(f"{path}: health view not found; add sql/health/{name}.sql") from exc


def render_health_view(
    name: str,
    *,
    catalog: str,
    sources: Mapping[str, tuple[str, str]] | None = None,
    views_schema: str = HEALTH_SCHEMA,
    sql_dir: Path = HEALTH_SQL_DIR,
) -> str:
    """The view's SELECT text for one catalog."""
    values = health_placeholders(catalog, sources, views_schema)
    try:
        return BracedTemplate(strip_sql_header(_read_health_sql(name, sql_dir))).substitute(values)
    except (KeyError, ValueError) as exc:
        known = ", ".join("${" + key + "}" for key in sorted(values))
        raise ObservabilityError(
            f"{sql_dir / name}.sql: unknown or malformed placeholder {exc}: use only {known}"
        ) from exc


def health_views(catalog: str, *, sql_dir: Path = HEALTH_SQL_DIR) -> tuple[ViewSpec, ...]:
    """Every health view for one catalog, in creation order (a view comes after the views it reads)."""
    return tuple(
        ViewSpec(
            schema=HEALTH_SCHEMA,
            name=name,
            definition=render_health_view(name, catalog=catalog, sql_dir=sql_dir),
            comment=f"{_header(_read_health_sql(name, sql_dir))} From sql/health/{name}.sql; managed by cdktn.",
            depends_on=depends_on,
        )
        for name, depends_on in HEALTH_VIEWS
    )


# -- Lakeview dashboard ---------------------------------------------------------------------------------------------

# Pages analysts may open: their datasets read the analyst secure view and nothing else (infra.permissions).
ANALYST_PAGES: Final = ("correlations", "trending", "scores")
# Pages for the platform engineer on call: the health views in `ops`.
HEALTH_PAGES: Final = ("pipeline_health", "ingestion")
# Lakeview lays widgets out on a 6-column grid (x + width <= 6).
GRID_COLUMNS: Final = 6
# Chart spec versions as the Lakeview editor writes them (databricks/bundle-examples dashboards): bar, line and
# scatter 3, counter 2, table 1.
WIDGET_VERSIONS: Final[Mapping[str, int]] = {"bar": 3, "line": 3, "scatter": 3, "counter": 2, "table": 1}
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def dashboard_placeholders(catalog: str) -> dict[str, str]:
    """Placeholder -> quoted full name of everything a dashboard dataset may read."""
    values = {name: quote_name(catalog, HEALTH_SCHEMA, name) for name, _ in HEALTH_VIEWS}
    values[ANALYST_VIEW[1]] = quote_name(catalog, *ANALYST_VIEW)
    return values


def _read_json(path: Path, what: str, fix: str) -> Any:
    """A repo JSON file (dashboard, Genie space): a missing or malformed one is an ObservabilityError with its fix."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ObservabilityError(f"{path}: {what} file not found") from exc
    except json.JSONDecodeError as exc:
        raise ObservabilityError(f"{path}: not JSON ({exc}){fix}") from exc


def load_dashboard(path: Path = DASHBOARD_FILE) -> dict[str, Any]:
    doc = _read_json(path, "dashboard", "; export it again from the Lakeview editor")
    if not isinstance(doc, dict):
        raise ObservabilityError(f"{path}: a dashboard is a JSON object with `datasets` and `pages`")
    return doc


def dataset_sql(dataset: Mapping[str, Any]) -> str:
    """A dataset's query text: `queryLines` joined (the editor's export format), or the older single `query`."""
    lines = dataset.get("queryLines")
    if isinstance(lines, list):
        return "".join(str(line) for line in lines)
    return str(dataset.get("query", ""))


def _widgets(doc: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for page in doc.get("pages", []):
        for item in page.get("layout", []):
            yield str(page.get("name")), item.get("widget", {}), item.get("position", {})


def dashboard_problems(doc: Mapping[str, Any]) -> list[str]:
    """What is wrong with a dashboard template (empty when it is valid), checked against the Lakeview format:
    named datasets with query lines, pages with a layout of widgets, each widget's query naming an existing dataset
    and its encodings naming the query's fields, positions on the 6-column grid; plus our rule that analyst pages
    read only the analyst view's placeholder."""
    problems: list[str] = []
    datasets = {str(d.get("name")): d for d in doc.get("datasets", [])}
    if len(datasets) != len(doc.get("datasets", [])):
        problems.append("dataset names repeat")
    for name, dataset in datasets.items():
        if not dataset_sql(dataset).strip() or not dataset.get("displayName"):
            problems.append(f"dataset {name}: needs a displayName and queryLines")
        unknown = set(_PLACEHOLDER.findall(dataset_sql(dataset))) - set(dashboard_placeholders("c"))
        if unknown:
            problems.append(f"dataset {name}: unknown placeholders {sorted(unknown)}")
    pages = [str(p.get("name")) for p in doc.get("pages", [])]
    if sorted(pages) != sorted((*ANALYST_PAGES, *HEALTH_PAGES)):
        problems.append(f"pages {pages}: expected exactly {[*ANALYST_PAGES, *HEALTH_PAGES]}")
    widget_names: list[str] = []
    for page, widget, position in _widgets(doc):
        name = str(widget.get("name"))
        widget_names.append(name)
        x, width = int(position.get("x", -1)), int(position.get("width", 0))
        if x < 0 or width < 1 or x + width > GRID_COLUMNS or int(position.get("height", 0)) < 1:
            problems.append(f"widget {name}: position {position} is off the {GRID_COLUMNS}-column grid")
        if "textbox_spec" in widget:
            continue
        spec = widget.get("spec", {})
        kind = spec.get("widgetType")
        if WIDGET_VERSIONS.get(str(kind)) != spec.get("version"):
            problems.append(f"widget {name}: {kind} spec version {spec.get('version')} is not {WIDGET_VERSIONS}")
        fields: set[str] = set()
        for q in widget.get("queries", []):
            dataset_name = q.get("query", {}).get("datasetName")
            if dataset_name not in datasets:
                problems.append(f"widget {name}: dataset {dataset_name} does not exist")
                continue
            fields |= {str(f.get("name")) for f in q["query"].get("fields", [])}
            if page in ANALYST_PAGES:
                used = set(_PLACEHOLDER.findall(dataset_sql(datasets[dataset_name])))
                if used != {ANALYST_VIEW[1]}:
                    problems.append(
                        f"widget {name} on analyst page {page}: dataset {dataset_name} reads {sorted(used)}, "
                        f"analysts may read only ${{{ANALYST_VIEW[1]}}}"
                    )
        encodings = spec.get("encodings", {})
        named = [e for e in encodings.values() if isinstance(e, dict)] + list(encodings.get("columns", []))
        for encoding in named:
            if "fieldName" in encoding and encoding["fieldName"] not in fields:
                problems.append(f"widget {name}: encoding field {encoding['fieldName']} is not a query field")
    if len(set(widget_names)) != len(widget_names):
        problems.append("widget names repeat")
    return problems


def dashboard_serialized(catalog: str, path: Path = DASHBOARD_FILE) -> str:
    """The Lakeview `serialized_dashboard` for one catalog: the repo's file with every `${name}` placeholder in the
    dataset queries replaced by the quoted full name, as compact JSON with sorted keys (stable plans)."""
    doc = load_dashboard(path)
    problems = dashboard_problems(doc)
    if problems:
        raise ObservabilityError(f"{path}: " + "; ".join(problems))
    values = dashboard_placeholders(catalog)
    for dataset in doc["datasets"]:
        lines = dataset.get("queryLines")
        if isinstance(lines, list):
            dataset["queryLines"] = [BracedTemplate(str(line)).substitute(values) for line in lines]
        else:
            dataset["query"] = BracedTemplate(str(dataset.get("query", ""))).substitute(values)
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class DashboardSpec:
    """Arguments of `databricks_dashboard` (the stack adds `warehouse_id` from its SQL warehouse)."""

    display_name: str
    parent_path: str
    serialized_dashboard: str
    # False: every tile runs with the viewer's own Unity Catalog grants, so the analyst view masks per reader
    # (embedded credentials would evaluate `is_account_group_member` for the publisher instead).
    embed_credentials: bool = False


def dashboard_spec(environment: str, catalog: str, parent_path: str, path: Path = DASHBOARD_FILE) -> DashboardSpec:
    """The dashboard of one environment. `parent_path` is a workspace folder without the `/Workspace` prefix."""
    return DashboardSpec(
        display_name=f"Lakehouse correlations and pipeline health ({environment})",
        parent_path=parent_path,
        serialized_dashboard=dashboard_serialized(catalog, path),
    )


# -- Genie space ----------------------------------------------------------------------------------------------------

_HEX_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class GenieSpaceSpec:
    """What `POST /api/2.0/genie/spaces` and `PATCH .../{space_id}` take (plus the warehouse, found at sync)."""

    title: str
    description: str
    parent_path: str
    # The `serialized_space` document (version 2): tables, instructions, sample questions.
    space: dict[str, Any] = field(default_factory=dict)

    @property
    def serialized_space(self) -> str:
        return json.dumps(self.space, sort_keys=True, separators=(",", ":"))

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(str(t["identifier"]) for t in self.space.get("data_sources", {}).get("tables", []))


def genie_problems(space: Mapping[str, Any]) -> list[str]:
    """What is wrong with a `serialized_space` (empty when valid), per the Genie API reference example (version 2;
    32-character lowercase hex ids; tables sorted by identifier, id-keyed lists sorted by id) and our rule that the
    space reads only analyst-safe views."""
    problems: list[str] = []
    if space.get("version") != 2:
        problems.append("serialized_space version must be 2")
    identified: list[tuple[str, list[Any]]] = [
        ("config.sample_questions", space.get("config", {}).get("sample_questions", [])),
        ("instructions.text_instructions", space.get("instructions", {}).get("text_instructions", [])),
        ("instructions.example_question_sqls", space.get("instructions", {}).get("example_question_sqls", [])),
    ]
    for where, items in identified:
        ids = [str(item.get("id", "")) for item in items]
        bad = [i for i in ids if not _HEX_ID.match(i)]
        if bad:
            problems.append(f"{where}: ids {bad} are not 32 lowercase hex characters")
        if ids != sorted(ids) or len(set(ids)) != len(ids):
            problems.append(f"{where}: ids must be unique and sorted")
        for item in items:
            for key in ("question", "content", "sql"):
                if key in item and not (isinstance(item[key], list) and all(isinstance(s, str) for s in item[key])):
                    problems.append(f"{where} {item.get('id')}: {key} must be a list of strings")
    if not identified[0][1]:
        problems.append("config.sample_questions: give analysts a few questions to start from")
    tables = [str(t.get("identifier", "")) for t in space.get("data_sources", {}).get("tables", [])]
    if tables != sorted(tables):
        problems.append("data_sources.tables must be sorted by identifier")
    allowed = "${" + ANALYST_VIEW[1] + "}"
    if tables != [allowed]:
        problems.append(f"data_sources.tables {tables}: the space may read only {allowed}, the analyst view")
    for example in identified[2][1]:
        used = set(_PLACEHOLDER.findall("".join(example.get("sql", []))))
        if used != {ANALYST_VIEW[1]}:
            problems.append(f"example {example.get('id')}: reads {sorted(used)}, not only {allowed}")
    return problems


def genie_space(environment: str, catalog: str, parent_path: str, path: Path = GENIE_FILE) -> GenieSpaceSpec:
    """The Genie space of one environment from the repo's file, with the analyst view's full name filled in."""
    doc = _read_json(path, "Genie space", "")
    space = doc.get("serialized_space", {})
    problems = genie_problems(space)
    if problems:
        raise ObservabilityError(f"{path}: " + "; ".join(problems))
    # Identifiers in a Genie space are plain dotted names (not SQL-quoted); example SQL gets the quoted name.
    rendered: dict[str, Any] = json.loads(json.dumps(space))
    for table in rendered["data_sources"]["tables"]:
        table["identifier"] = f"{catalog}.{ANALYST_VIEW[0]}.{ANALYST_VIEW[1]}"
    values = {ANALYST_VIEW[1]: quote_name(catalog, *ANALYST_VIEW)}
    for example in rendered.get("instructions", {}).get("example_question_sqls", []):
        example["sql"] = [BracedTemplate(line).substitute(values) for line in example["sql"]]
    return GenieSpaceSpec(
        title=f"{doc['title']} ({environment})",
        description=str(doc.get("description", "")),
        parent_path=parent_path,
        space=rendered,
    )
