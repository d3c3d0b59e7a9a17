"""CDKTF app entry point (`cdktf.json` runs `python -m infra.main`): both environments from one config."""

from __future__ import annotations

from pathlib import Path

from cdktf import App, Aspects

from infra.config import DEFAULT_CONFIG_PATH, ENVIRONMENT_NAMES, load_environments
from infra.guards import SynthGuards
from infra.stacks import LakehouseStack


def build_app(outdir: str | None = None, config_path: Path = DEFAULT_CONFIG_PATH) -> App:
    """The app with one `LakehouseStack` per environment, guarded; call `.synth()` to write cdktf.out."""
    envs = load_environments(config_path)
    # skip_validation=False: the guards' error annotations must stop synth.
    app = App(outdir=outdir) if outdir else App()
    for name in ENVIRONMENT_NAMES:
        stack = LakehouseStack(app, envs[name])
        # Guards run on every resource of the stack before any JSON is written.
        Aspects.of(stack).add(SynthGuards())
    return app


def main() -> None:
    build_app().synth()


if __name__ == "__main__":
    main()
