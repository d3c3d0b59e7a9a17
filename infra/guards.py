"""Synth-time guards: rules no stack may break, checked on every resource before any JSON is written.

The rules are pure functions of a resource's Terraform config (plain dicts), so the checkov policies in
`policies/` and these guards can be compared rule for rule. `SynthGuards` is the cdktf Aspect that applies them:
each violation becomes an error annotation on the offending construct, and cdktf then refuses to synthesize
(the message names the resource and the fix).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import jsii
from cdktf import Annotations, IAspect, TerraformResource
from constructs import IConstruct

from infra.permissions import ALL_PRIVILEGES, BROAD_PRINCIPALS, MANAGE

MAX_WORKERS = 8
BROAD_PRIVILEGES = frozenset({ALL_PRIVILEGES, MANAGE})
# Policies that only apply to job or pipeline clusters need no auto-termination: those clusters end with their run.
_RUN_SCOPED_CLUSTER_TYPES = frozenset({"job", "dlt"})


def _as_int(value: Any) -> int | None:
    """A literal number, or None for an unresolved token (which a guard cannot judge)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _blocks(value: Any) -> list[Mapping[str, Any]]:
    """A nested block as a list (Terraform JSON allows one object or a list of them)."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def grant_violations(config: Mapping[str, Any]) -> list[str]:
    """ALL_PRIVILEGES or MANAGE for a group every user belongs to."""
    out = []
    for grant in _blocks(config.get("grant")):
        principal = str(grant.get("principal", ""))
        broad = BROAD_PRIVILEGES & {str(p) for p in grant.get("privileges", [])}
        if principal.strip().lower() in BROAD_PRINCIPALS and broad:
            out.append(
                f"grants {', '.join(sorted(broad))} to '{principal}', a group every user belongs to: grant specific"
                " privileges to a narrower group in infra/permissions.py"
            )
    return out


def _size_violations(what: str, cluster: Mapping[str, Any]) -> list[str]:
    out = []
    for autoscale in _blocks(cluster.get("autoscale")):
        max_workers = _as_int(autoscale.get("max_workers"))
        if max_workers is not None and max_workers > MAX_WORKERS:
            out.append(
                f"{what} autoscales to {max_workers} workers: set autoscale max_workers to at most {MAX_WORKERS}"
            )
    num_workers = _as_int(cluster.get("num_workers"))
    if num_workers is not None and num_workers > MAX_WORKERS:
        out.append(f"{what} has {num_workers} fixed workers: use at most {MAX_WORKERS} (prefer autoscale)")
    return out


def cluster_violations(config: Mapping[str, Any]) -> list[str]:
    """An all-purpose cluster must auto-terminate and stay within the worker bound."""
    out = _size_violations("cluster", config)
    minutes = _as_int(config.get("autotermination_minutes"))
    if config.get("autotermination_minutes") is None or minutes == 0:
        out.append("cluster has no auto-termination: set autotermination_minutes (e.g. 30) so idle clusters stop")
    return out


def _policy_rule(definition: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    rule = definition.get(key)
    return rule if isinstance(rule, Mapping) else None


def policy_definition_violations(definition: Mapping[str, Any]) -> list[str]:
    """A cluster policy must force auto-termination (unless run-scoped) and cap autoscale at MAX_WORKERS."""
    out = []
    cluster_type = _policy_rule(definition, "cluster_type") or {}
    run_scoped = cluster_type.get("type") == "fixed" and cluster_type.get("value") in _RUN_SCOPED_CLUSTER_TYPES
    auto = _policy_rule(definition, "autotermination_minutes")
    if not run_scoped:
        forced = auto is not None and (
            (auto.get("type") == "fixed" and (_as_int(auto.get("value")) or 0) > 0)
            or (auto.get("type") == "range" and (_as_int(auto.get("minValue")) or 0) > 0)
        )
        if not forced:
            out.append(
                "cluster policy does not force auto-termination: add"
                ' "autotermination_minutes": {"type": "fixed", "value": <minutes>} (or a range with minValue >= 1),'
                ' or fix "cluster_type" to "job"'
            )
    max_rule = _policy_rule(definition, "autoscale.max_workers")
    bound = None
    if max_rule is not None:
        bound = _as_int(max_rule.get("maxValue") if max_rule.get("type") == "range" else max_rule.get("value"))
    if bound is None or bound > MAX_WORKERS:
        out.append(
            f'cluster policy does not cap autoscale: add "autoscale.max_workers": {{"type": "range", "maxValue":'
            f" {MAX_WORKERS}}}"
        )
    return out


def cluster_policy_violations(config: Mapping[str, Any]) -> list[str]:
    raw = config.get("definition")
    if not isinstance(raw, str):
        return []  # a token or a policy family: nothing literal to judge
    try:
        definition = json.loads(raw)
    except json.JSONDecodeError:
        return ["cluster policy definition is not valid JSON: fix the definition"]
    if not isinstance(definition, Mapping):
        return ["cluster policy definition must be a JSON object"]
    return policy_definition_violations(definition)


def pipeline_violations(config: Mapping[str, Any]) -> list[str]:
    out = []
    for cluster in _blocks(config.get("cluster")):
        out += _size_violations(f"pipeline cluster '{cluster.get('label', 'default')}'", cluster)
    return out


def job_violations(config: Mapping[str, Any]) -> list[str]:
    out = []
    for job_cluster in _blocks(config.get("job_cluster")):
        for cluster in _blocks(job_cluster.get("new_cluster")):
            out += _size_violations(f"job cluster '{job_cluster.get('job_cluster_key', '?')}'", cluster)
    for task in _blocks(config.get("task")):
        for cluster in _blocks(task.get("new_cluster")):
            out += _size_violations(f"task '{task.get('task_key', '?')}' cluster", cluster)
    return out


RULES = {
    "databricks_grants": grant_violations,
    "databricks_cluster": cluster_violations,
    "databricks_cluster_policy": cluster_policy_violations,
    "databricks_pipeline": pipeline_violations,
    "databricks_job": job_violations,
}


def resource_violations(resource_type: str, config: Mapping[str, Any]) -> list[str]:
    """Every guard message for one resource (empty when it complies)."""
    rule = RULES.get(resource_type)
    return rule(config) if rule else []


def _resource_configs(synthesized: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    for resource_type, by_name in (synthesized.get("resource") or {}).items():
        for name, config in (by_name or {}).items():
            yield resource_type, name, config


def stack_violations(synthesized: Mapping[str, Any]) -> list[str]:
    """Every guard message for a synthesized stack (cdk.tf.json as a dict), prefixed by the resource address."""
    return [
        f"{resource_type}.{name}: {message}"
        for resource_type, name, config in _resource_configs(synthesized)
        for message in resource_violations(resource_type, config)
    ]


@jsii.implements(IAspect)
class SynthGuards:
    """cdktf Aspect: turns every guard violation into an error annotation, which makes `synth` fail."""

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, TerraformResource):
            return
        for resource_type, _name, config in _resource_configs(node.to_terraform()):
            for message in resource_violations(resource_type, config):
                Annotations.of(node).add_error(f"{resource_type}: {message}")
