"""Reading a run's tables back from their parquet files with pyarrow (no second JVM), partition keys included."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lakehouse.local.paths import SINK_TABLE_SPECS, TABLES, LocalRunError, RunPaths

# ------------------------------------------------------------------------------------------------ read back


def _data_files(folder: Path) -> list[Path]:
    return [
        p
        for p in folder.rglob("*.parquet")
        if not any(part.startswith(("_", ".")) for part in p.relative_to(folder).parts)
    ]


def read_table(paths: RunPaths, qualified: str, *, missing_ok: bool = False) -> Any:
    """A published table as a pandas DataFrame, read from its parquet files (no second JVM needed).

    Tables the correlation sink writes are partitioned by their replace key (`window_start=.../part-*.parquet`):
    the key is read back from the folder names, typed as in the table, and put in the table's column order.
    """
    import pandas as pd
    import pyarrow.dataset as ds

    folder = paths.table_dir(qualified)
    files = _data_files(folder) if folder.exists() else []
    spec = SINK_TABLE_SPECS.get(qualified)
    if not files:
        if missing_ok and spec is not None:
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in spec.columns})
        raise LocalRunError(f"table {qualified} has no data files under {folder}: did the pipeline publish it?")
    if spec is None:
        return ds.dataset([str(f) for f in files], format="parquet").to_table().to_pandas()
    frames = []
    for file in files:
        frame = ds.dataset(str(file), format="parquet").to_table().to_pandas()
        raw = unquote(file.parent.name.split("=", 1)[1])
        frame[spec.replace_key] = _partition_value(raw, spec.key_type)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[list(spec.columns)]


def _partition_value(raw: str, key_type: Any) -> Any:
    import pandas as pd
    from pyspark.sql import types as T

    if isinstance(key_type, T.TimestampType):
        return pd.Timestamp(raw)
    if isinstance(key_type, T.DateType):
        return pd.Timestamp(raw).date()
    return int(raw)


def row_counts(paths: RunPaths) -> dict[str, int]:
    import pyarrow.parquet as pq

    counts: dict[str, int] = {}
    for table in TABLES:
        folder = paths.table_dir(table)
        if not folder.exists():
            if table in SINK_TABLE_SPECS:
                counts[table] = 0  # created by the sink's first micro-batch with rows
                continue
            raise LocalRunError(f"table {table} was not published (no folder {folder})")
        counts[table] = sum(pq.ParquetFile(f).metadata.num_rows for f in _data_files(folder))
    return counts


def iso_utc(value: Any) -> str:
    """A timestamp as naive UTC ISO text (tables hold UTC; the session time zone is UTC)."""
    import pandas as pd

    stamp = pd.Timestamp(value)
    return str(stamp.tz_convert(None).isoformat() if stamp.tzinfo else stamp.isoformat())
