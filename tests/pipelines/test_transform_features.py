"""The feature table on a local session: one row per story and window, consistent with gold.trending_stories, and a
primary key Unity Catalog accepts (declared only where the runtime accepts constraints)."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest
import sqlglot
from sqlglot import exp

from pipelines.transforms import features, gold

pytestmark = pytest.mark.spark

W0, W1 = datetime(2026, 1, 1, 12), datetime(2026, 1, 1, 16)
URL = "https://news.example.org/2026/01/01/storm-hits-coast.html"


def _pair(event_id, edit_id, score, *, url=URL, text="Storm hits coast. Police", editor="editor-a", anon=False,
          wiki="enwiki", window=W0):  # fmt: skip
    # In gold's column order (gold.CORRELATION_COLUMNS); the frame takes gold's own schema, so a new contract
    # column that this tuple lacks fails here rather than being silently ignored.
    return (window, W1, event_id, window, "010", "Make statement", text, url, edit_id, window, wiki, "Storm",
            "c", editor, anon, score, 1, False)  # fmt: skip


@pytest.fixture(scope="module")
def frames(spark):
    pairs = [
        _pair("e1", "w1", 0.30),
        _pair("e1", "w2", 0.10, editor="192.0.2.1", anon=True),
        _pair("e2", "w1", 0.20, editor="editor-a", wiki="enwiki"),
        _pair("e3", "w3", 0.05, url="https://x.example/", text="Mayor speaks. Mayor", editor="b", wiki="dewiki"),
    ]
    correlations = spark.createDataFrame(pairs, gold.CORRELATION_SCHEMA)
    events = spark.createDataFrame(
        [("e1", "US"), ("e2", "FR"), ("e2", "FR"), ("e3", None)], "event_id STRING, country_code STRING"
    )
    return correlations, events


def test_one_row_per_story_and_window_with_the_documented_columns(frames) -> None:
    correlations, events = frames
    out = features.story_window_features(correlations, events)
    assert out.columns == [name for name, _, _ in features.FEATURE_COLUMNS]
    rows = {r.story: r.asDict() for r in out.collect()}
    storm = rows["storm hits coast"]
    assert (storm["n_events"], storm["n_edits"], storm["n_pairs"]) == (2, 2, 3)
    assert storm["top_score"] == 0.30 and storm["mean_score"] == pytest.approx(0.20)
    # Counted, never named: two distinct editor values (a pseudonym and an IP), one anonymous edit.
    assert (storm["n_editors"], storm["n_anonymous_edits"], storm["n_wikis"]) == (2, 1, 1)
    assert (storm["n_countries"], storm["countries"]) == (2, ["FR", "US"])
    assert storm["story_id"] == hashlib.sha256(b"storm hits coast").hexdigest()[:16]
    # No story words in the URL: the event text is the story (gold.trending_stories' rule); no country known.
    mayor = rows["Mayor speaks. Mayor"]
    assert (mayor["n_countries"], mayor["countries"]) == (0, [])


def test_counts_agree_with_gold_trending_stories(frames) -> None:
    correlations, events = frames
    trending = {
        (r.window_start, r.story): (r.n_events, r.n_edits, r.top_score)
        for r in gold.trending_stories(correlations).collect()
    }
    feats = {
        (r.window_start, r.story): (r.n_events, r.n_edits, r.top_score)
        for r in features.story_window_features(correlations, events).collect()
    }
    assert feats == trending


def test_the_primary_key_is_unique(frames) -> None:
    correlations, events = frames
    out = features.story_window_features(correlations, events)
    assert out.count() == out.select(*features.PRIMARY_KEY).distinct().count()
    assert out.where(" OR ".join(f"{c} IS NULL" for c in features.PRIMARY_KEY)).count() == 0


def test_databricks_ddl_declares_the_primary_key_on_not_null_columns() -> None:
    # Databricks SQL CONSTRAINT clause: `CONSTRAINT name PRIMARY KEY (col, ...)`; key columns must be NOT NULL.
    create = sqlglot.parse_one(f"CREATE TABLE t ({features.schema_ddl(primary_key=True)})", read="databricks")
    (pk,) = [c for c in create.find_all(exp.Constraint) if c.find(exp.PrimaryKey)]
    assert pk.this.name == features.CONSTRAINT_NAME
    keys = pk.find(exp.PrimaryKey).expressions
    assert [k.this.name if isinstance(k, exp.TimeseriesKey) else k.name for k in keys] == list(features.PRIMARY_KEY)
    # The time key is declared TIMESERIES (CONSTRAINT clause: `key_column [ TIMESERIES ]`).
    assert [k.this.name for k in keys if isinstance(k, exp.TimeseriesKey)] == [features.TIMESERIES_KEY]
    not_null = {c.name for c in create.find_all(exp.ColumnDef) if c.find(exp.NotNullColumnConstraint)}
    assert not_null == set(features.PRIMARY_KEY)


def test_open_source_spark_rejects_the_constraint_so_locally_only_the_columns_are_declared(spark, frames) -> None:
    from pyspark.errors import ParseException
    from pyspark.sql.types import StructType

    local = StructType.fromDDL(features.schema_ddl(primary_key=False))
    assert local.fieldNames() == [name for name, _, _ in features.FEATURE_COLUMNS]
    # Declared and inferred schemas must agree locally (else USER_SPECIFIED_AND_INFERRED_SCHEMA_NOT_COMPATIBLE);
    # the declaration is all-nullable, which accepts any inferred nullability.
    correlations, events = frames
    inferred = features.story_window_features(correlations, events).schema
    assert [(f.name, f.dataType.simpleString()) for f in local] == [
        (f.name, f.dataType.simpleString()) for f in inferred
    ]
    assert all(f.nullable for f in local)
    with pytest.raises(ParseException, match="PRIMARY"):
        StructType.fromDDL(features.schema_ddl(primary_key=True))
