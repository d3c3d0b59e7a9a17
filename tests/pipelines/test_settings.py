"""Pipeline settings: the new streaming settings round-trip through the configuration map and are validated."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from pipelines.settings import CONF_PREFIX, PipelineSettings, PipelineSettingsError


def test_streaming_settings_round_trip_through_the_configuration_map() -> None:
    settings = PipelineSettings(lateness_minutes=30, text_vector_retention_hours=72, catalog="lakehouse_staging")
    conf = settings.to_configuration()
    assert conf[f"{CONF_PREFIX}lateness_minutes"] == "30"
    assert conf[f"{CONF_PREFIX}text_vector_retention_hours"] == "72"
    assert PipelineSettings.from_configuration(conf) == settings
    assert settings.lateness == timedelta(minutes=30) and settings.text_vector_retention == timedelta(hours=72)
    assert settings.qualified("gold.correlations") == "lakehouse_staging.gold.correlations"
    assert PipelineSettings().qualified("gold.correlations") == "gold.correlations"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lateness_minutes": -1}, "lateness_minutes=-1 is out of range"),
        ({"text_vector_retention_hours": 4}, "shorter than a window plus its lateness (5 h)"),
        ({"catalog": "main; DROP"}, "is not a catalog name"),
    ],
)
def test_bad_streaming_settings_say_what_to_set(changes: dict[str, object], message: str) -> None:
    with pytest.raises(PipelineSettingsError, match=re.escape(message)):
        PipelineSettings(**changes)  # type: ignore[arg-type]
