"""Options several commands share, declared once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from infra.config import DEFAULT_CONFIG_PATH

F = TypeVar("F", bound=Callable[..., Any])


def workspace_auth_options(func: F) -> F:
    """--host/--profile/--timeout for commands that talk to the workspace (databricks-sdk unified auth), plus the
    hidden --config that tests use to point at another environments file."""
    for option in reversed(
        (
            click.option(
                "--host", default=None, help="Workspace URL (default: DATABRICKS_HOST, the profile's, or the config's)."
            ),
            click.option("--profile", default=None, help="A profile in ~/.databrickscfg (default: unified auth)."),
            click.option(
                "--timeout",
                "timeout_seconds",
                type=click.IntRange(1, 600),
                default=60,
                show_default=True,
                help="Give up on an unreachable workspace after this many seconds of retries.",
            ),
            click.option(
                "--config",
                "config_path",
                type=click.Path(path_type=Path, dir_okay=False),
                default=DEFAULT_CONFIG_PATH,
                hidden=True,
            ),
        )
    ):
        func = option(func)
    return func
