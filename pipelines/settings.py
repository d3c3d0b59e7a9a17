"""Pipeline configuration: the keys of the pipeline's configuration map and their defaults.

The stacks write these keys into the Lakeflow pipeline's `configuration`; the pipeline code reads them back
from the Spark conf. This module is the single place that names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import timedelta

from pipelines.errors import LakehouseError

CONF_PREFIX = "lakehouse."

# Calibrated on ../shared/bench/pairs_dev.jsonl by `lakehouse evaluate --baseline` (docs/correlation.md): dev F1 is
# at its maximum for any threshold in (0.035, 0.043], with and without the country veto; 0.04 sits inside that gap.
# Nested cross-validation re-calibrates it on every training split and lands in 0.035-0.043 (`--nested`). The score
# is a hubness-corrected cosine (pipelines.correlate: cosine minus a quarter of the event's best cosine and 3/8 of
# the edit's typical best cosines in the window, minus 1 for a title about another country), so a matching pair
# lands a little above 0.
DEFAULT_SIMILARITY_THRESHOLD = 0.04
DEFAULT_WINDOW_HOURS = 4
DEFAULT_TOP_K = 5
# How late a row may arrive and still change its window: a window is final once the newest row of every feed is
# this far past the window's end. GDELT publishes a slice ~15 minutes after its DATEADDED and the listener lands
# every minute, so an hour covers a stalled job that catches up, without keeping windows open for long.
DEFAULT_LATENESS_MINUTES = 60
# How long a stored text vector is reused before the text is embedded again: a text embedded less than this long
# ago is never embedded again. Two days hold every text of the open windows with room to spare; each day of
# enwiki + GDELT text costs ~150 MB of vectors (1.5 KiB each), so the retention bounds the table.
DEFAULT_TEXT_VECTOR_RETENTION_HOURS = 48
DEFAULT_WIKIS = "enwiki"


class PipelineSettingsError(LakehouseError, ValueError):
    """A pipeline configuration value is missing or out of range."""


@dataclass(frozen=True)
class PipelineSettings:
    """What the pipeline needs from its configuration map (`lakehouse.<field>` keys)."""

    window_hours: int = DEFAULT_WINDOW_HOURS
    similarity_threshold: float = DEFAULT_SIMILARITY_THRESHOLD
    top_k: int = DEFAULT_TOP_K
    # Where the ingestion jobs land raw files (a Unity Catalog volume path on Databricks, a folder locally).
    gdelt_landing_path: str = "/Volumes/lakehouse/bronze/landing/gdelt"
    wikimedia_landing_path: str = "/Volumes/lakehouse/bronze/landing/wikimedia"
    # GDELT's CAMEO lookup (code TAB description), fetched with the exports into the landing volume.
    cameo_lookup_path: str = "/Volumes/lakehouse/bronze/landing/reference/CAMEO.eventcodes.txt"
    # Comma-separated wiki database names the silver layer keeps (e.g. "enwiki").
    wikis: str = DEFAULT_WIKIS
    include_bots: bool = False
    lateness_minutes: int = DEFAULT_LATENESS_MINUTES
    text_vector_retention_hours: int = DEFAULT_TEXT_VECTOR_RETENTION_HOURS
    # The Unity Catalog catalog of the tables the correlation sink writes (its foreachBatch session may not have the
    # pipeline's catalog as its current one); "" means the session's current catalog (local runs).
    catalog: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.window_hours <= 24:
            raise PipelineSettingsError(
                f"{CONF_PREFIX}window_hours={self.window_hours} is out of range: set it to 1..24 hours."
            )
        if not -1.0 <= self.similarity_threshold <= 1.0:
            raise PipelineSettingsError(
                f"{CONF_PREFIX}similarity_threshold={self.similarity_threshold} is not a cosine: set it to -1..1."
            )
        if self.top_k < 1:
            raise PipelineSettingsError(f"{CONF_PREFIX}top_k={self.top_k} must be at least 1.")
        if not 0 <= self.lateness_minutes <= 24 * 60:
            raise PipelineSettingsError(
                f"{CONF_PREFIX}lateness_minutes={self.lateness_minutes} is out of range: set it to 0..1440 minutes."
            )
        # A text must outlive the windows that use it, or an open window would embed its texts again every update.
        floor_hours = self.window_hours + -(-self.lateness_minutes // 60)
        if self.text_vector_retention_hours < floor_hours:
            raise PipelineSettingsError(
                f"{CONF_PREFIX}text_vector_retention_hours={self.text_vector_retention_hours} is shorter than a window "
                f"plus its lateness ({floor_hours} h): set it to at least {floor_hours}."
            )
        if self.catalog and not self.catalog.replace("_", "").isalnum():
            raise PipelineSettingsError(
                f"{CONF_PREFIX}catalog={self.catalog!r} is not a catalog name: use letters, digits and '_'."
            )

    @property
    def lateness(self) -> timedelta:
        return timedelta(minutes=self.lateness_minutes)

    @property
    def text_vector_retention(self) -> timedelta:
        return timedelta(hours=self.text_vector_retention_hours)

    def qualified(self, table: str) -> str:
        """`schema.table` prefixed with the configured catalog (unchanged when no catalog is set)."""
        return f"{self.catalog}.{table}" if self.catalog else table

    def to_configuration(self) -> dict[str, str]:
        """The pipeline configuration map (all values are strings, as the Pipelines API requires)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[CONF_PREFIX + f.name] = str(value).lower() if isinstance(value, bool) else str(value)
        return out

    @classmethod
    def from_configuration(cls, conf: Mapping[str, str]) -> PipelineSettings:
        """Read settings back from a configuration map / Spark conf; absent keys keep their defaults."""
        kwargs: dict[str, object] = {}
        for f in fields(cls):
            raw = conf.get(CONF_PREFIX + f.name)
            if raw is None:
                continue
            try:
                if f.type in ("int", int):
                    kwargs[f.name] = int(raw)
                elif f.type in ("float", float):
                    kwargs[f.name] = float(raw)
                elif f.type in ("bool", bool):
                    if raw.strip().lower() not in ("true", "false"):
                        raise ValueError(raw)
                    kwargs[f.name] = raw.strip().lower() == "true"
                else:
                    kwargs[f.name] = raw
            except ValueError as exc:
                raise PipelineSettingsError(
                    f"{CONF_PREFIX}{f.name}={raw!r} is not a valid {f.type}: fix the pipeline configuration."
                ) from exc
        return cls(**kwargs)  # type: ignore[arg-type]
