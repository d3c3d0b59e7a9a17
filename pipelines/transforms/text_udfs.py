"""pandas UDFs around the engine's pure text builders (`pipelines.text`), so Spark and `lakehouse evaluate` build
exactly the same texts. UDFs are created on call, under whichever session (classic or Connect) is active."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as sf
from pyspark.sql import types as T
from pyspark.sql.pandas.functions import pandas_udf

from pipelines.text import EventFields, build_edit_text, build_event_text, story_text
from pipelines.wikimedia import is_ip_address


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _event_fields(row: pd.Series) -> EventFields:
    return EventFields(
        actor1_name=_text(row["actor1_name"]),
        actor2_name=_text(row["actor2_name"]),
        action=_text(row["event_description"]),
        place=_text(row["place"]),
        source_url=_text(row["source_url"]),
        sql_date=_text(row["sql_date"]),
    )


VectorizedUdf = Callable[..., Column]


def vectorized_udf(fn: Callable[..., pd.Series], return_type: T.DataType) -> VectorizedUdf:
    """A pandas UDF of `fn` (typed: pyspark's decorator is untyped, so the call site says what it returns)."""
    return cast(VectorizedUdf, pandas_udf(fn, return_type))  # type: ignore[call-overload]


def _map_rows(fn: Callable[[pd.Series], str]) -> Callable[[pd.DataFrame], pd.Series]:
    def apply(frame: pd.DataFrame) -> pd.Series:
        return frame.apply(fn, axis=1).astype("string") if len(frame) else pd.Series([], dtype="string")

    return apply


def event_text(
    actor1_name: Column,
    actor2_name: Column,
    event_description: Column,
    place: Column,
    source_url: Column,
    sql_date: Column,
) -> Column:
    """`build_event_text` of the event's fields."""
    apply = _map_rows(lambda row: build_event_text(_event_fields(row)))

    def udf(frame: pd.DataFrame) -> pd.Series:
        return apply(frame)

    return vectorized_udf(udf, T.StringType())(
        sf.struct(
            actor1_name.alias("actor1_name"),
            actor2_name.alias("actor2_name"),
            event_description.alias("event_description"),
            place.alias("place"),
            source_url.alias("source_url"),
            sql_date.alias("sql_date"),
        )
    )


def story(source_url: Column) -> Column:
    """The story a news URL names (`story_text`), "" when it names none."""

    def udf(urls: pd.Series) -> pd.Series:
        return urls.map(lambda url: story_text(EventFields(source_url=_text(url)))).astype("string")

    return vectorized_udf(udf, T.StringType())(source_url)


def edit_text(title: Column, comment: Column) -> Column:
    """`build_edit_text(title, comment)`."""

    def udf(titles: pd.Series, comments: pd.Series) -> pd.Series:
        return pd.Series(
            [build_edit_text(_text(t), _text(c)) for t, c in zip(titles, comments, strict=True)], dtype="string"
        )

    return vectorized_udf(udf, T.StringType())(title, comment)


def ip_address(user: Column) -> Column:
    """`is_ip_address(user)`: true for logged-out editors."""

    def udf(users: pd.Series) -> pd.Series:
        return users.map(lambda u: is_ip_address(None if u is None or pd.isna(u) else str(u))).astype(bool)

    return vectorized_udf(udf, T.BooleanType())(user)
