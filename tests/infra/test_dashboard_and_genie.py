"""The Lakeview dashboard file and the Genie space file: valid in the platform's format, rendered per environment,
and reading only what each audience may read.

Lakeview `serialized_dashboard` (the format the Lakeview editor exports as `.lvdash.json`; Databricks' own examples
in databricks/bundle-examples, e.g. knowledge_base/dashboard_nyc_taxi): `datasets` (`name`, `displayName`,
`queryLines`) and `pages` (`name`, `displayName`, `layout` of `{widget, position}`); a chart widget has `queries`
whose `query.datasetName` names a dataset and whose `fields` the `spec.encodings` refer to by `fieldName`; positions
are on a 6-column grid.
Genie `serialized_space` (Genie API reference, GET /api/2.0/genie/spaces/{id} example): `version` 2,
`config.sample_questions` and `instructions.*` items with 32-character hex ids, `data_sources.tables` by
`identifier`.
"""

from __future__ import annotations

import copy
import json

import pytest
import sqlglot
from sqlglot import exp

from infra.config import load_environment
from infra.observability import (
    ANALYST_PAGES,
    DASHBOARD_FILE,
    GENIE_FILE,
    HEALTH_PAGES,
    HEALTH_VIEWS,
    ObservabilityError,
    dashboard_problems,
    dashboard_serialized,
    dashboard_spec,
    dataset_sql,
    genie_problems,
    genie_space,
    load_dashboard,
)
from infra.permissions import ANALYST_VIEW

ENV = load_environment("staging")
CATALOG = ENV.catalog


def _tables(sql: str) -> set[str]:
    parsed = sqlglot.parse_one(sql, read="databricks")
    ctes = {c.alias for c in parsed.find_all(exp.CTE)}
    return {
        ".".join(p for p in (t.catalog, t.db, t.name) if p) for t in parsed.find_all(exp.Table) if t.name not in ctes
    }


@pytest.fixture(scope="module")
def rendered() -> dict:
    return json.loads(dashboard_serialized(CATALOG))


def test_the_repo_file_is_readable_and_valid() -> None:
    text = DASHBOARD_FILE.read_text(encoding="utf-8")
    assert text.count("\n") > 100, "keep the dashboard file indented so reviews can read its diff"
    assert dashboard_problems(load_dashboard()) == []


def test_rendering_fills_every_placeholder_with_the_environment_catalog(rendered: dict) -> None:
    text = json.dumps(rendered)
    assert "${" not in text
    assert f"`{CATALOG}`.`gold`.`correlations_analyst`" in text
    assert f"`{CATALOG}`.`ops`.`pipeline_health_daily`" in text
    # Stable bytes for stable plans: the same input renders the same string.
    assert dashboard_serialized(CATALOG) == dashboard_serialized(CATALOG)


def test_every_dataset_is_databricks_sql_over_known_objects(rendered: dict) -> None:
    allowed = {f"{CATALOG}.{ANALYST_VIEW[0]}.{ANALYST_VIEW[1]}"} | {f"{CATALOG}.ops.{n}" for n, _ in HEALTH_VIEWS}
    for dataset in rendered["datasets"]:
        tables = _tables(dataset_sql(dataset))
        assert tables and tables <= allowed, (dataset["name"], tables - allowed)


def test_analyst_pages_read_only_the_analyst_secure_view(rendered: dict) -> None:
    by_name = {d["name"]: d for d in rendered["datasets"]}
    analyst_view = f"{CATALOG}.{ANALYST_VIEW[0]}.{ANALYST_VIEW[1]}"
    pages = {p["name"]: p for p in rendered["pages"]}
    assert set(pages) == {*ANALYST_PAGES, *HEALTH_PAGES}
    for page in ANALYST_PAGES:
        for item in pages[page]["layout"]:
            for query in item["widget"].get("queries", []):
                assert _tables(dataset_sql(by_name[query["query"]["datasetName"]])) == {analyst_view}, page


def test_the_pages_the_issue_asks_for_have_charts(rendered: dict) -> None:
    kinds = {
        p["name"]: {i["widget"].get("spec", {}).get("widgetType") for i in p["layout"]} - {None}
        for p in rendered["pages"]
    }
    assert "bar" in kinds["correlations"] and "bar" in kinds["scores"] and "table" in kinds["trending"]
    assert {"bar", "line", "table"} <= kinds["pipeline_health"] and "line" in kinds["ingestion"]


def _first_chart(doc: dict, page: str) -> dict:
    page_doc = next(p for p in doc["pages"] if p["name"] == page)
    return next(i for i in page_doc["layout"] if "queries" in i["widget"])


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: _first_chart(d, "correlations")["widget"]["queries"][0]["query"].update(datasetName="nope"),
         "dataset nope does not exist"),
        (lambda d: d["datasets"][0].update(queryLines=["SELECT * FROM ${pipeline_updates}"]),
         "analysts may read only"),
        (lambda d: _first_chart(d, "scores")["position"].update(x=4, width=4), "off the 6-column grid"),
        (lambda d: _first_chart(d, "scores")["widget"]["spec"]["encodings"]["x"].update(fieldName="bogus"),
         "encoding field bogus is not a query field"),
        (lambda d: _first_chart(d, "scores")["widget"]["spec"].update(version=1), "spec version 1"),
        (lambda d: d["datasets"][0].update(queryLines=["SELECT * FROM ${gold_correlations}"]),
         "unknown placeholders ['gold_correlations']"),
        (lambda d: d["pages"].pop(), "expected exactly"),
    ],
)  # fmt: skip
def test_the_validator_rejects_what_lakeview_or_the_matrix_would(mutate, problem: str) -> None:
    doc = copy.deepcopy(load_dashboard())
    mutate(doc)
    assert any(problem in p for p in dashboard_problems(doc)), dashboard_problems(doc)


def test_a_broken_file_stops_rendering_with_the_file_and_the_fix(tmp_path) -> None:
    doc = load_dashboard()
    doc["datasets"][0]["queryLines"] = ["SELECT * FROM ${pipeline_updates}"]
    bad = tmp_path / "bad.lvdash.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ObservabilityError, match=r"bad\.lvdash\.json: .*analysts may read only"):
        dashboard_serialized(CATALOG, bad)


def test_dashboard_spec_uses_viewer_credentials() -> None:
    spec = dashboard_spec("staging", CATALOG, "/Shared/lakehouse/staging")
    assert spec.embed_credentials is False
    assert spec.parent_path == "/Shared/lakehouse/staging" and "(staging)" in spec.display_name


# -- Genie ----------------------------------------------------------------------------------------------------------


def test_the_genie_file_is_valid_and_reads_only_the_analyst_view() -> None:
    space = genie_space("staging", CATALOG, "/Shared/lakehouse/staging")
    assert space.tables == (f"{CATALOG}.gold.correlations_analyst",)
    assert space.title == "Lakehouse correlations (staging)"
    assert len(space.space["config"]["sample_questions"]) >= 3
    assert space.space["instructions"]["text_instructions"][0]["content"]
    for example in space.space["instructions"]["example_question_sqls"]:
        assert _tables("".join(example["sql"])) == {f"{CATALOG}.gold.correlations_analyst"}
    assert "${" not in space.serialized_space
    assert json.loads(space.serialized_space) == space.space


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda s: s.update(version=1), "version must be 2"),
        (lambda s: s["config"]["sample_questions"][0].update(id="not-hex"), "not 32 lowercase hex"),
        (lambda s: s["config"]["sample_questions"].reverse(), "must be unique and sorted"),
        (lambda s: s["data_sources"]["tables"].append({"identifier": "${gold_correlations}"}), "may read only"),
        (lambda s: s["instructions"]["example_question_sqls"][0].update(sql=["SELECT * FROM x.gold.correlations"]),
         "not only"),
        (lambda s: s["config"]["sample_questions"][0].update(question="one string"), "must be a list of strings"),
    ],
)  # fmt: skip
def test_the_genie_validator_rejects_what_the_api_or_the_matrix_would(mutate, problem: str) -> None:
    space = copy.deepcopy(json.loads(GENIE_FILE.read_text())["serialized_space"])
    assert genie_problems(space) == []
    mutate(space)
    assert any(problem in p for p in genie_problems(space)), genie_problems(space)
