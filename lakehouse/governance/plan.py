"""Classify a Terraform plan (`terraform show -json`) into real changes and known provider noise, and guard
against destroying or replacing what holds data or runs the pipeline.

Pure: takes the parsed JSON (Terraform's documented "JSON Output Format", `format_version` 1.x), returns plain
values. Every noise rule names the provider issue it comes from; a change is noise only when *every*
differing attribute is explained by a rule, so an unknown or unexplained difference is always real.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from infra.permissions import SecurableType
from lakehouse.errors import LakehouseError

PROVIDER_ISSUES = "https://github.com/databricks/terraform-provider-databricks"


class PlanFormatError(LakehouseError):
    """The file is not a `terraform show -json` plan this code understands."""


class Action(StrEnum):
    NO_OP = "no-op"
    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"
    FORGET = "forget"


class Category(StrEnum):
    NO_OP = "no-op"
    NOISE = "noise"  # every difference is known provider noise: nothing would really change
    CHANGE = "change"  # a real difference between the code and the workspace


_ACTIONS: dict[tuple[str, ...], Action] = {
    ("no-op",): Action.NO_OP,
    ("create",): Action.CREATE,
    ("read",): Action.READ,
    ("update",): Action.UPDATE,
    ("delete",): Action.DELETE,
    ("delete", "create"): Action.REPLACE,
    ("create", "delete"): Action.REPLACE,
    ("forget",): Action.FORGET,
}

# What the destroy guard protects: Unity Catalog securables (data and its grants go with them), the pipeline
# (its tables and checkpoints) and jobs (run history, schedules). Destroying or replacing one needs a human.
GUARDED_TYPES: Mapping[str, str] = {
    "databricks_metastore": "Unity Catalog metastore",
    "databricks_catalog": "Unity Catalog catalog",
    "databricks_schema": "Unity Catalog schema",
    "databricks_volume": "Unity Catalog volume",
    "databricks_sql_table": "Unity Catalog table or view",
    "databricks_table": "Unity Catalog table",
    "databricks_registered_model": "Unity Catalog model",
    "databricks_external_location": "Unity Catalog external location",
    "databricks_storage_credential": "Unity Catalog storage credential",
    "databricks_pipeline": "Lakeflow pipeline",
    "databricks_job": "job",
}


# ------------------------------------------------------------------------------------------ noise rules


Json = Any


def _drop(*keys: str) -> Callable[[Mapping[str, Json]], dict[str, Json]]:
    def normalize(values: Mapping[str, Json]) -> dict[str, Json]:
        return {k: v for k, v in values.items() if k not in keys}

    return normalize


def _privilege(name: str) -> str:
    return name.strip().upper().replace(" ", "_")


def _grants_normalize(values: Mapping[str, Json]) -> dict[str, Json]:
    """Privileges are a set spelt either way ("ALL PRIVILEGES" == "ALL_PRIVILEGES"); principals stay exact."""
    out = dict(values)
    grants = values.get("grant")
    if isinstance(grants, list):
        out["grant"] = sorted(
            (
                {**g, "privileges": sorted({_privilege(p) for p in g.get("privileges") or []})}
                for g in grants
                if isinstance(g, dict)
            ),
            key=lambda g: str(g.get("principal")),
        )
    return out


_COLUMN_TYPE_ALIASES = {
    "integer": "int",
    "long": "bigint",
    "real": "float",
    "short": "smallint",
    "byte": "tinyint",
    "decimal": "decimal(10,0)",
    "dec": "decimal(10,0)",
    "numeric": "decimal(10,0)",
}


def _column_type(value: Json) -> Json:
    if not isinstance(value, str):
        return value
    spelled = value.strip().lower().replace(" ", "")
    return _COLUMN_TYPE_ALIASES.get(spelled, spelled)


def _sql_table_normalize(values: Mapping[str, Json]) -> dict[str, Json]:
    out = dict(values)
    columns = values.get("column")
    if isinstance(columns, list):
        out["column"] = [{**c, "type": _column_type(c.get("type"))} if isinstance(c, dict) else c for c in columns]
    return out


def _lower_keys(*keys: str) -> Callable[[Mapping[str, Json]], dict[str, Json]]:
    def normalize(values: Mapping[str, Json]) -> dict[str, Json]:
        return {k: (v.lower() if k in keys and isinstance(v, str) else v) for k, v in values.items()}

    return normalize


_SECURITY_MODE_ALIASES = {
    "DATA_SECURITY_MODE_DEDICATED": "SINGLE_USER",
    "DATA_SECURITY_MODE_STANDARD": "USER_ISOLATION",
}


def _security_mode_walk(value: Json) -> Json:
    if isinstance(value, dict):
        return {
            k: (_SECURITY_MODE_ALIASES.get(v, v) if k == "data_security_mode" else _security_mode_walk(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_security_mode_walk(v) for v in value]
    return value


def _security_mode_normalize(values: Mapping[str, Json]) -> dict[str, Json]:
    walked = _security_mode_walk(dict(values))
    assert isinstance(walked, dict)
    return walked


@dataclass(frozen=True)
class NoiseRule:
    """A difference the provider reports although nothing would change in the workspace."""

    id: str
    resource_types: frozenset[str]
    summary: str
    source: str  # the provider issue (or fixing PR) that documents the noise
    normalize: Callable[[Mapping[str, Json]], dict[str, Json]]


NOISE_RULES: tuple[NoiseRule, ...] = (
    NoiseRule(
        id="sql-endpoint-num-clusters",
        resource_types=frozenset({"databricks_sql_endpoint"}),
        summary="`num_clusters` reflects how many clusters a warehouse runs right now (0 when stopped), not config",
        source=f"{PROVIDER_ISSUES}/issues/1204",
        normalize=_drop("num_clusters"),
    ),
    NoiseRule(
        id="grants-privilege-spelling-order",
        resource_types=frozenset({"databricks_grants"}),
        summary="privileges are a set and the API accepts `ALL PRIVILEGES` for `ALL_PRIVILEGES`; principals still"
        " compare exactly (a case-only principal change is real drift, #3705)",
        source=f"{PROVIDER_ISSUES}/pull/3657",
        normalize=_grants_normalize,
    ),
    NoiseRule(
        id="sql-table-column-type-spelling",
        resource_types=frozenset({"databricks_sql_table"}),
        summary="column types come back lower-case and canonical (`INTEGER` -> `int`, `long` -> `bigint`)",
        source=f"{PROVIDER_ISSUES}/issues/3490",
        normalize=_sql_table_normalize,
    ),
    NoiseRule(
        id="pipeline-catalog-schema-case",
        resource_types=frozenset({"databricks_pipeline"}),
        summary="`catalog` / `schema` / `target` that differ from the configuration only by case",
        source=f"{PROVIDER_ISSUES}/issues/5785",
        normalize=_lower_keys("catalog", "schema", "target"),
    ),
    NoiseRule(
        id="data-security-mode-alias",
        resource_types=frozenset({"databricks_cluster", "databricks_job"}),
        summary="`DATA_SECURITY_MODE_DEDICATED` / `_STANDARD` are read back as `SINGLE_USER` / `USER_ISOLATION`",
        source=f"{PROVIDER_ISSUES}/issues/4909",
        normalize=_security_mode_normalize,
    ),
)


# ------------------------------------------------------------------------------------------ classification


@dataclass(frozen=True)
class ClassifiedChange:
    address: str
    resource_type: str
    action: Action
    category: Category
    changed_attributes: tuple[str, ...] = ()
    noise_rules: tuple[str, ...] = ()
    guarded: bool = False  # a destroy or replace of a guarded type: the destroy guard fires
    replace_paths: tuple[str, ...] = ()
    reason: str = ""
    details: tuple[str, ...] = ()  # e.g. per-principal grant differences, for the reviewer

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "type": self.resource_type,
            "action": self.action.value,
            "category": self.category.value,
            "changed_attributes": list(self.changed_attributes),
            "noise_rules": list(self.noise_rules),
            "guarded": self.guarded,
            "replace_paths": list(self.replace_paths),
            "reason": self.reason,
            "details": list(self.details),
        }


@dataclass(frozen=True)
class PlanReport:
    terraform_version: str
    changes: tuple[ClassifiedChange, ...]  # resource_changes, minus no-ops and data-source reads
    outside_changes: tuple[ClassifiedChange, ...] = ()  # resource_drift: what changed outside Terraform

    @property
    def real(self) -> tuple[ClassifiedChange, ...]:
        return tuple(c for c in self.changes if c.category is Category.CHANGE)

    @property
    def noise(self) -> tuple[ClassifiedChange, ...]:
        return tuple(c for c in self.changes if c.category is Category.NOISE)

    @property
    def guard_violations(self) -> tuple[ClassifiedChange, ...]:
        return tuple(c for c in self.changes if c.guarded)

    @property
    def clean(self) -> bool:
        return not self.real

    def counts(self) -> dict[str, int]:
        out = {a.value: 0 for a in Action if a not in (Action.NO_OP, Action.READ)}
        for c in self.real:
            out[c.action.value] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "terraform_version": self.terraform_version,
            "clean": self.clean,
            "counts": self.counts(),
            "noise": len(self.noise),
            "guard_violations": [c.address for c in self.guard_violations],
            "changes": [c.to_dict() for c in self.changes],
            "outside_changes": [c.to_dict() for c in self.outside_changes],
        }


def action_of(actions: Sequence[str], address: str = "?") -> Action:
    try:
        return _ACTIONS[tuple(actions)]
    except KeyError as exc:
        raise PlanFormatError(f"{address}: unknown plan actions {list(actions)!r}") from exc


def _has_unknown(marker: Json) -> bool:
    if marker is True:
        return True
    if isinstance(marker, dict):
        return any(_has_unknown(v) for v in marker.values())
    if isinstance(marker, list):
        return any(_has_unknown(v) for v in marker)
    return False


def _differing(before: Mapping[str, Json], after: Mapping[str, Json], unknown: Mapping[str, Json]) -> set[str]:
    keys = set(before) | set(after)
    return {k for k in keys if before.get(k) != after.get(k) or _has_unknown(unknown.get(k))}


def _rules_for(resource_type: str) -> tuple[NoiseRule, ...]:
    return tuple(r for r in NOISE_RULES if resource_type in r.resource_types)


def classify_update(
    resource_type: str, before: Mapping[str, Json], after: Mapping[str, Json], after_unknown: Mapping[str, Json]
) -> tuple[Category, tuple[str, ...], tuple[str, ...]]:
    """(category, attributes that really differ, noise rules that explained the rest) for an in-place update."""
    raw = _differing(before, after, after_unknown)
    remaining = set(raw)
    used: list[str] = []
    b, a = dict(before), dict(after)
    for rule in _rules_for(resource_type):
        nb, na = rule.normalize(b), rule.normalize(a)
        now = _differing(nb, na, after_unknown)
        if now < remaining:
            used.append(rule.id)
        remaining, b, a = now, nb, na
    if not raw:
        # Terraform plans an update but no attribute value differs (e.g. only sensitive values changed).
        return Category.CHANGE, (), ()
    if remaining:
        return Category.CHANGE, tuple(sorted(remaining)), tuple(used)
    return Category.NOISE, tuple(sorted(raw)), tuple(used)


def _grant_map(values: Mapping[str, Json]) -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for g in values.get("grant") or []:
        if isinstance(g, dict):
            out.setdefault(str(g.get("principal")), set()).update(_privilege(p) for p in g.get("privileges") or [])
    return {p: frozenset(v) for p, v in out.items()}


def grant_details(before: Mapping[str, Json], after: Mapping[str, Json]) -> tuple[str, ...]:
    """Per-principal differences of a `databricks_grants` update: `before` is the workspace, `after` the code."""
    from lakehouse.governance.grants import SecurableRef, diff_securable

    ref = SecurableRef(SecurableType.CATALOG, "-")  # only the per-principal comparison is used
    findings = diff_securable(ref, _grant_map(after), _grant_map(before))
    return tuple(
        f"{f.principal}: {f.kind.value} ({f.describe()})" + (f"; {f.hint}" if f.hint else "") for f in findings
    )


def _path(path: Sequence[Json]) -> str:
    return ".".join(str(p) for p in path)


def _object(value: Json) -> dict[str, Json]:
    """`before`/`after` are null for creates and deletes; treat that as an object with no attributes."""
    return value if isinstance(value, dict) else {}


def classify_resource_change(rc: Mapping[str, Json]) -> ClassifiedChange:
    address = str(rc.get("address", "?"))
    resource_type = str(rc.get("type", "?"))
    change = rc.get("change")
    if not isinstance(change, dict) or "actions" not in change:
        raise PlanFormatError(f"{address}: resource change without change.actions")
    action = action_of(change["actions"], address)
    if action in (Action.NO_OP, Action.READ):
        return ClassifiedChange(address, resource_type, action, Category.NO_OP)
    before = _object(change.get("before"))
    after = _object(change.get("after"))
    unknown = _object(change.get("after_unknown"))
    reason = str(rc.get("action_reason", ""))
    replace_paths = tuple(_path(p) for p in change.get("replace_paths") or [] if isinstance(p, list))
    guarded = action in (Action.DELETE, Action.REPLACE) and resource_type in GUARDED_TYPES
    if action is Action.UPDATE:
        category, attrs, rules = classify_update(resource_type, before, after, unknown)
        details: tuple[str, ...] = ()
        if resource_type == "databricks_grants" and category is Category.CHANGE:
            details = grant_details(before, after)
        return ClassifiedChange(address, resource_type, action, category, attrs, rules, reason=reason, details=details)
    # A replacement's computed attributes (id, url, state) are unknown until apply: show what the code changes.
    attrs = tuple(sorted(k for k in after if before.get(k) != after[k])) if action is Action.REPLACE else ()
    return ClassifiedChange(
        address,
        resource_type,
        action,
        Category.CHANGE,
        changed_attributes=attrs,
        guarded=guarded,
        replace_paths=replace_paths,
        reason=reason,
    )


def classify_plan(plan: Mapping[str, Json]) -> PlanReport:
    """Classify every resource change of a parsed `terraform show -json` plan."""
    if not isinstance(plan, Mapping):
        raise PlanFormatError("the plan JSON must be an object (the output of `terraform show -json PLANFILE`)")
    version = plan.get("format_version")
    if not isinstance(version, str) or not version.startswith("1."):
        raise PlanFormatError(
            f"unsupported plan format_version {version!r}: expected 1.x from `terraform show -json PLANFILE`"
            " (state files and `terraform plan` text output are not plans)"
        )
    if plan.get("errored") is True:
        raise PlanFormatError("the plan errored and is incomplete: fix the `terraform plan` errors first")
    changes = plan.get("resource_changes") or []
    drift = plan.get("resource_drift") or []
    if not isinstance(changes, list) or not isinstance(drift, list):
        raise PlanFormatError("resource_changes and resource_drift must be lists")
    classified = [classify_resource_change(rc) for rc in changes if isinstance(rc, dict)]
    outside = [classify_resource_change(rc) for rc in drift if isinstance(rc, dict)]
    return PlanReport(
        terraform_version=str(plan.get("terraform_version", "?")),
        changes=tuple(c for c in classified if c.category is not Category.NO_OP),
        outside_changes=tuple(c for c in outside if c.category is not Category.NO_OP),
    )


def load_plan(text: str, source: str = "plan JSON") -> PlanReport:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFormatError(
            f"{source} is not JSON ({exc.msg} at line {exc.lineno}): produce it with"
            " `terraform plan -out plan.tfplan && terraform show -json plan.tfplan > plan.json`"
        ) from exc
    try:
        return classify_plan(parsed)
    except PlanFormatError as exc:
        raise PlanFormatError(f"{source}: {exc}") from exc


def noise_rules_markdown(rules: Iterable[NoiseRule] = NOISE_RULES) -> str:
    """The documented noise rules as a markdown table (docs/governance.md embeds it; a test keeps it current)."""
    lines = ["| rule | resources | what is ignored | source |", "|---|---|---|---|"]
    for r in rules:
        types = ", ".join(f"`{t}`" for t in sorted(r.resource_types))
        lines.append(f"| `{r.id}` | {types} | {r.summary} | {r.source} |")
    return "\n".join(lines) + "\n"
