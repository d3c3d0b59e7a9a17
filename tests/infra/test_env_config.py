"""Config errors name the file, the key and the fix; the shipped config loads."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from infra.config import DEFAULT_CONFIG_PATH, ConfigError, load_environment, load_environments

SHIPPED = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "environments.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _edit(tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    assert old in SHIPPED, old
    return _write(tmp_path, SHIPPED.replace(old, new, count))


def test_shipped_config_loads_both_environments():
    envs = load_environments()
    assert sorted(envs) == ["production", "staging"]
    assert envs["staging"].catalog != envs["production"].catalog
    assert tomllib.loads(SHIPPED)["schema_version"] == 1


@pytest.mark.parametrize(
    ("old", "new", "key", "fix"),
    [
        # unknown key in an environment table
        (
            'catalog = "lakehouse_staging"',
            'catalog = "lakehouse_staging"\ncatalgo = "typo"',
            "environments.staging.catalgo",
            "unknown key: remove it",
        ),
        # unknown key in a nested table
        (
            "autotermination_minutes = 30",
            "autotermination_minutes = 30\nauto_terminate = true",
            "environments.staging.cluster.auto_terminate",
            "unknown key",
        ),
        # invalid identifier
        (
            'catalog = "lakehouse_staging"',
            'catalog = "Lakehouse-Staging"',
            "environments.staging.catalog",
            "use lower-case letters, digits and _",
        ),
        # min > max
        (
            "min_workers = 1\nmax_workers = 8\nautotermination_minutes = 30",
            "min_workers = 6\nmax_workers = 2\nautotermination_minutes = 30",
            "environments.staging.cluster",
            "lower min_workers or raise max_workers",
        ),
        # more than 8 workers
        (
            "min_workers = 1\nmax_workers = 8\nautotermination_minutes = 30",
            "min_workers = 1\nmax_workers = 12\nautotermination_minutes = 30",
            "environments.staging.cluster.max_workers",
            "less than or equal to 8",
        ),
        # unknown persona
        (
            'analysts = "analysts"',
            'analysts = "analysts"\nauditors = "x"',
            "environments.staging.principals",
            "unknown persona auditors: use one of",
        ),
        # remote state without locking
        ("use_lockfile = true", "use_lockfile = false", "environments.production.backend", "set use_lockfile = true"),
        # absolute local state path
        (
            'path = "terraform.staging.tfstate"',
            'path = "/home/me/terraform.tfstate"',
            "environments.staging.backend",
            "must be a relative path",
        ),
        # bad quartz cron
        (
            'gdelt_cron = "0 0/15 * * * ?"',
            'gdelt_cron = "*/15 * * * *"',
            "environments.staging.ingestion.gdelt_cron",
            "use 6 or 7 fields",
        ),
    ],
)
def test_config_errors_name_file_key_and_fix(tmp_path, old, new, key, fix):
    path = _edit(tmp_path, old, new)
    with pytest.raises(ConfigError) as excinfo:
        load_environments(path)
    message = str(excinfo.value)
    assert str(path) in message
    assert f"[{key}" in message
    assert fix in message


def test_missing_environment_and_wrong_version(tmp_path):
    staging_only = SHIPPED.split("[environments.production]")[0]
    with pytest.raises(
        ConfigError, match=re.escape("environments must be exactly staging, production; missing: production")
    ):
        load_environments(_write(tmp_path, staging_only))
    with pytest.raises(ConfigError, match=r"\[schema_version\] is 2; this code reads version 1"):
        load_environments(_write(tmp_path, SHIPPED.replace("schema_version = 1", "schema_version = 2")))


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_environments(_write(tmp_path, SHIPPED + "\n[[[broken"))
    with pytest.raises(ConfigError, match="environment config not found"):
        load_environments(tmp_path / "absent.toml")


def test_unknown_environment_name():
    with pytest.raises(ConfigError, match="unknown environment 'prod': use one of production, staging"):
        load_environment("prod")


def test_config_error_stops_synth_before_any_resource(tmp_path):
    from infra.main import build_app

    path = _edit(tmp_path, 'catalog = "lakehouse_staging"', 'catalog = "9lives"')
    with pytest.raises(ConfigError, match=r"\[environments.staging.catalog\]"):
        build_app(str(tmp_path / "out"), config_path=path)
    assert not (tmp_path / "out").exists()
