"""The table contract (pipelines/tables.py) is what the code declares: the pipeline definitions declare exactly its
datasets, by its names; the correlation sink writes exactly its sink tables. Deploy order (infra/phases.py) and the
grant matrix rely on the contract, so a table added outside it would be created without being waited for."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from infra.platform_rules import pipeline_dataset_names
from pipelines import tables
from pipelines.transforms import correlation_sink


def test_definitions_declare_each_contract_dataset_once_by_its_contract_name() -> None:
    declared = Counter(pipeline_dataset_names())
    assert declared == Counter(tables.PIPELINE_DATASETS)


def test_a_dataset_named_outside_the_contract_is_reported_as_written(tmp_path: Path) -> None:
    (tmp_path / "extra.py").write_text(
        "from pyspark import pipelines as dp\n"
        "from pipelines import tables\n"
        '@dp.table(name="ops.scratch")\ndef a(): ...\n'
        "@dp.materialized_view(name=tables.CORRELATIONS)\ndef b(): ...\n"
        "@dp.table(name=gdelt.SILVER_TABLE)\ndef c(): ...\n"
    )
    # A literal stays a literal (quoted): even a literal equal to a contract name is not the contract's name.
    assert pipeline_dataset_names(tmp_path) == ["'ops.scratch'", tables.CORRELATIONS, "gdelt.SILVER_TABLE"]


def test_the_sink_writes_exactly_the_contract_sink_tables() -> None:
    assert tuple(spec.name for spec in correlation_sink.SINK_TABLES) == tables.SINK_TABLES


def test_every_name_is_schema_dot_table_in_a_managed_schema() -> None:
    from infra.permissions import SCHEMAS

    for name in (*tables.ALL_TABLES, tables.PIPELINE_EVENT_LOG):
        schema, table = tables.split(name)
        assert schema in SCHEMAS and table and "." not in table, name
