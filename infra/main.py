"""CDK app entry point (`cdktf.json` runs `python -m infra.main`): every stack of every environment from one config."""

from __future__ import annotations

from pathlib import Path

from infra.cdk import App
from infra.config import DEFAULT_CONFIG_PATH, ENVIRONMENT_NAMES, load_environments
from infra.stacks import LakehouseStack
from infra.toolchain import target_versions


def build_app(outdir: str | None = None, config_path: Path = DEFAULT_CONFIG_PATH) -> App:
    """The app with one `LakehouseStack` per environment, guarded; call `.synth()` to write cdktf.out."""
    envs = load_environments(config_path)
    # The CLI passes cdktf.json's targetVersions as context; in-process synth (tests, `lakehouse stacks`) reads the
    # same file, so both validate features against the same Terraform range.
    context = {"targetVersions": target_versions()}
    app = App(outdir=outdir, context=context) if outdir else App(context=context)
    for name in ENVIRONMENT_NAMES:
        # Each stack carries its own synth guards (infra.guards.SynthGuards), so a violation stops synth.
        LakehouseStack(app, envs[name])
    return app


def main() -> None:
    build_app().synth()


if __name__ == "__main__":
    main()
