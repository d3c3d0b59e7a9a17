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
    assert tomllib.loads(SHIPPED)["schema_version"] == 2


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
        ("use_lockfile = true", "use_lockfile = false", "state", "set use_lockfile = true"),
        # the bundle folder under /Workspace/Shared, where every user can edit the code the pipeline runs
        (
            'workspace_root = "/Workspace/Users/3c5d7e9f-1a2b-4c3d-8e4f-5a6b7c8d9e0f/lakehouse/staging"',
            'workspace_root = "/Workspace/Shared/lakehouse/staging"',
            "environments.staging.workspace_root",
            "every workspace user can edit files",
        ),
        # managed storage that is not a cloud storage URL
        (
            'storage_root = "s3://lakehouse-staging-managed/catalog"',
            'storage_root = "/dbfs/catalog"',
            "environments.staging.storage_root",
            "use s3://bucket/path",
        ),
        # a pipeline trigger that does not exist
        ('trigger = "scheduled"', 'trigger = "hourly"', "environments.staging.pipeline.trigger", "Input should be"),
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
    with pytest.raises(ConfigError, match=r"\[schema_version\] is 3; this code reads version 2"):
        load_environments(_write(tmp_path, SHIPPED.replace("schema_version = 2", "schema_version = 3")))
    # An older file names what changed and how to migrate it.
    with pytest.raises(ConfigError, match=r"is 1; this code reads version 2. To migrate: version 2 moved state"):
        load_environments(_write(tmp_path, SHIPPED.replace("schema_version = 2", "schema_version = 1")))


def test_state_is_configured_once_and_never_per_environment(tmp_path):
    no_state = re.sub(r"\[state\]\n(?:[a-z_]+ = .*\n)+", "", SHIPPED)
    with pytest.raises(ConfigError, match=r"no \[state\] table: add one"):
        load_environments(_write(tmp_path, no_state))
    per_env = SHIPPED.replace(
        "[environments.staging.principals]",
        '[environments.staging.backend]\ntype = "local"\n\n[environments.staging.principals]',
    )
    with pytest.raises(ConfigError, match=r"\[environments.staging.backend\] is not read: state is configured once"):
        load_environments(_write(tmp_path, per_env))


def test_local_state_only_on_a_laptop_never_on_ci():
    from infra.config import LocalBackend, S3Backend, resolve_backend

    state = load_environment("staging").state
    assert isinstance(resolve_backend(state, {}), S3Backend)
    assert isinstance(resolve_backend(state, {"LAKEHOUSE_STATE": "local"}), LocalBackend)
    # GitHub Actions sets CI=true: a runner's local state is gone after the job, so synth refuses it.
    with pytest.raises(ConfigError, match=r"local Terraform state is refused on CI"):
        resolve_backend(state, {"LAKEHOUSE_STATE": "local", "CI": "true"})


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


def test_engine_settings_are_checked_once_by_the_pipeline_settings(tmp_path):
    """The engine's ranges live in pipelines.settings (the pipeline reads the same class back from its conf); the
    config applies them, so a value the pipeline would refuse is a config error naming the file, the key and the
    fix, before any resource, instead of a failed pipeline update."""
    from infra.main import build_app

    path = _edit(tmp_path, 'trigger = "scheduled"', 'trigger = "scheduled"\ntext_vector_retention_hours = 2')
    with pytest.raises(
        ConfigError, match=r"(?s)environments\.staging\.pipeline.*text_vector_retention_hours=2 .* at least 5"
    ):
        build_app(str(tmp_path / "out"), config_path=path)
    assert not (tmp_path / "out").exists()
    for old, new, message in (
        ('trigger = "scheduled"', 'trigger = "scheduled"\nwindow_hours = 30', "window_hours=30 is out of range"),
        ('trigger = "scheduled"', 'trigger = "scheduled"\nsimilarity_threshold = 1.5', "is not a cosine"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_environments(_edit(tmp_path, old, new))
