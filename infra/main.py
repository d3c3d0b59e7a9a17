"""CDK app entry point (`cdktf.json` runs `python -m infra.main`): every stack of every environment from one config."""

from __future__ import annotations

from pathlib import Path

from infra.cdk import App
from infra.config import DEFAULT_CONFIG_PATH, ENVIRONMENT_NAMES, load_environments
from infra.stacks import PlatformStack, ServingStack
from infra.toolchain import target_versions


def new_app(outdir: str | None = None) -> App:
    """An empty app that validates features against cdktf.json's Terraform range, like the CLI's."""
    # The CLI passes cdktf.json's targetVersions as context; in-process synth (tests, `lakehouse stacks`) reads the
    # same file, so both validate features against the same Terraform range.
    context = {"targetVersions": target_versions()}
    return App(outdir=outdir, context=context) if outdir else App(context=context)


def build_app(outdir: str | None = None, config_path: Path = DEFAULT_CONFIG_PATH) -> App:
    """The app: per environment a platform and a serving stack (infra/phases.py); `.synth()` writes cdktf.out."""
    envs = load_environments(config_path)
    app = new_app(outdir)
    for name in ENVIRONMENT_NAMES:
        # Each stack carries its own synth guards (infra.guards.SynthGuards), so a violation stops synth.
        PlatformStack(app, envs[name])
        ServingStack(app, envs[name])
    return app


def main() -> None:
    build_app().synth()


if __name__ == "__main__":
    main()
