"""Fixtures for the infra tests: one in-process synth of both stacks per session, and `--snapshot-update`.

Importing the provider package costs ~2.5 s and a synth ~3 s, so every test reads the same synthesized output.
The session synth runs with Databricks credentials in the environment, so the no-secret tests are meaningful.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from stack_synth import SENTINEL_SECRETS, Synth, synthesize


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--snapshot-update",
        action="store_true",
        default=False,
        help="Rewrite tests/infra/snapshots/<stack>.json from the current synth instead of comparing.",
    )


@pytest.fixture(scope="session")
def snapshot_update(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--snapshot-update"))


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    """Both stacks synthesized once, in-process, with credentials present in the environment."""
    saved = {key: os.environ.get(key) for key in SENTINEL_SECRETS}
    os.environ.update(SENTINEL_SECRETS)
    try:
        result = synthesize(tmp_path_factory.mktemp("cdktf") / "cdktf.out")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    yield result
