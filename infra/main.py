"""CDKTF app entry point (`cdktf.json` runs `python -m infra.main`): both environments from one config."""

from __future__ import annotations

from pathlib import Path

from cdktf import App

from infra.config import DEFAULT_CONFIG_PATH, ENVIRONMENT_NAMES, load_environments
from infra.stacks import LakehouseStack


def build_app(outdir: str | None = None, config_path: Path = DEFAULT_CONFIG_PATH) -> App:
    """The app with one `LakehouseStack` per environment, guarded; call `.synth()` to write cdktf.out."""
    envs = load_environments(config_path)
    app = App(outdir=outdir) if outdir else App()
    for name in ENVIRONMENT_NAMES:
        # Each stack carries its own synth guards (infra.guards.SynthGuards), so a violation stops synth.
        LakehouseStack(app, envs[name])
    return app


def main() -> None:
    build_app().synth()


if __name__ == "__main__":
    main()
