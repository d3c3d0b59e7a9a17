"""The order a deploy applies things in, as data: `lakehouse deploy`, the deploy workflow and the tests read it.

Unity Catalog validates a view's query when the view is created, and the tables the views and alerts read exist
only after the pipeline's first update. So an environment is two stacks and one pipeline update between them:

1. `<env>` (platform): catalog, schemas, volume, grants, compute, code folder and files, pipeline, jobs, ACLs.
2. the pipeline's first update, only when its published tables do not exist yet (an empty workspace);
3. `<env>-serving`: secure views and their grants, health views, the dashboard, SQL alerts (what reads pipeline
   tables);
4. the Genie space over the analyst view (the pinned provider has no resource for it: `lakehouse genie sync`).

Every later deploy runs the same three steps; step 2 is then skipped because the tables exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from infra.config import ENVIRONMENT_NAMES
from pipelines import tables

SERVING_SUFFIX = "-serving"
# Tables the pipeline publishes that serving objects read: their existence is what step 2 checks. The gold and
# ops.correlation_updates tables come from the correlation sink's first micro-batch, the event log from the
# pipeline's `event_log` setting, the rest are pipeline datasets (pipelines/tables.py says which is which).
PIPELINE_OUTPUTS_SERVING_READS: tuple[tuple[str, str], ...] = tuple(
    tables.split(t)
    for t in (
        tables.CORRELATIONS,
        tables.CORRELATION_UPDATES,
        tables.GDELT_QUARANTINE,
        tables.WIKIMEDIA_QUARANTINE,
        tables.GDELT_SILVER,
        tables.WIKIMEDIA_SILVER,
        tables.PIPELINE_EVENT_LOG,
    )
)


def pipeline_name(environment: str) -> str:
    """The pipeline's name: `lakehouse deploy`, `lakehouse pipeline update` and the stack agree on it."""
    return f"lakehouse-correlations-{environment}"


@dataclass(frozen=True)
class StackNames:
    platform: str
    serving: str

    def all(self) -> tuple[str, str]:
        return (self.platform, self.serving)


def stack_names(environment: str) -> StackNames:
    return StackNames(platform=environment, serving=f"{environment}{SERVING_SUFFIX}")


def all_stack_names() -> tuple[str, ...]:
    """Every stack the app synthesizes, platform before serving, environment by environment."""
    return tuple(name for env in ENVIRONMENT_NAMES for name in stack_names(env).all())


@dataclass(frozen=True)
class DeployStep:
    kind: Literal["stack", "pipeline_first_update", "genie_space"]
    stack: str | None = None

    def describe(self) -> str:
        if self.kind == "stack":
            return f"deploy stack {self.stack}"
        if self.kind == "genie_space":
            return "create or update the Genie space (lakehouse genie sync)"
        return "run the pipeline's first update (only when its tables do not exist yet)"


def deploy_steps(environment: str) -> tuple[DeployStep, ...]:
    names = stack_names(environment)
    return (
        DeployStep("stack", names.platform),
        DeployStep("pipeline_first_update"),
        DeployStep("stack", names.serving),
        DeployStep("genie_space"),
    )
