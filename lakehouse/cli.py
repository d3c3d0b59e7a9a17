"""The `lakehouse` command. Thin: each subcommand lives in its own module and is imported only when used,
so `lakehouse audit-grants` never pays for importing Spark or torch.

Exit codes for every command: 0 clean, 2 findings (drift, failed checks), 1 error.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from lakehouse.errors import LakehouseError

# name -> ("module:attribute" of a click command or group, one-line help shown without importing it).
COMMANDS: dict[str, tuple[str, str]] = {
    "stacks": ("lakehouse.commands.stacks:stacks", "Summarize and policy-check the synthesized stacks."),
    "ingest": ("lakehouse.commands.ingest:ingest", "Land GDELT exports or Wikimedia recent changes."),
    "run-local": ("lakehouse.commands.run_local:run_local", "Run the pipeline locally on sample or live data."),
    "evaluate": ("lakehouse.commands.evaluate:evaluate", "Score labeled event x edit pairs (precision/recall/F1)."),
    "bench": ("lakehouse.commands.bench:bench", "Benchmarks (throughput, memory)."),
    "audit-grants": ("lakehouse.commands.audit:audit_grants", "Compare live Unity Catalog grants with the matrix."),
    "drift": ("lakehouse.commands.drift:drift", "Classify plan changes and grant drift into one report."),
    "deploy": ("lakehouse.commands.deploy:deploy", "Deploy an environment: platform, first pipeline update, serving."),
    "preflight": ("lakehouse.commands.deploy:preflight", "Check the one-time workspace bootstrap before deploying."),
    "pipeline": ("lakehouse.commands.deploy:pipeline", "Start a pipeline update and wait for it."),
    "genie": ("lakehouse.commands.genie:genie", "Create or update the Genie space over the analyst view."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use (click's documented lazy-loading pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        target = entry[0]
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help must not import every command (Spark, torch, the SDK): use the static one-liners.
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LakehouseError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(1)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Operate the lakehouse platform: audit grants, report drift, ingest, run the pipeline locally."""


if __name__ == "__main__":
    main()
