"""The platform's infrastructure rules as pure functions of a resource's Terraform config (plain dicts).

One implementation, two enforcers: `infra.guards.SynthGuards` (a cdktf Aspect) fails `synth` on the guard rules,
and the checkov checks in `policies/` run the same functions over the synthesized JSON. No cdktf import here, so
checkov loads these rules without starting jsii.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

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


def blocks(value: Any) -> list[Mapping[str, Any]]:
    """A nested block as a list (Terraform JSON allows one object or a list of them)."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def grant_violations(config: Mapping[str, Any]) -> list[str]:
    """ALL_PRIVILEGES or MANAGE for a group every user belongs to."""
    out = []
    for grant in blocks(config.get("grant")):
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
    for autoscale in blocks(cluster.get("autoscale")):
        max_workers = _as_int(autoscale.get("max_workers"))
        if max_workers is not None and max_workers > MAX_WORKERS:
            out.append(
                f"{what} autoscales to {max_workers} workers: set autoscale max_workers to at most {MAX_WORKERS}"
            )
    num_workers = _as_int(cluster.get("num_workers"))
    if num_workers is not None and num_workers > MAX_WORKERS:
        out.append(f"{what} has {num_workers} fixed workers: use at most {MAX_WORKERS} (prefer autoscale)")
    return out


def cluster_autotermination_violations(config: Mapping[str, Any]) -> list[str]:
    """An all-purpose cluster must auto-terminate, or an idle cluster bills all night."""
    minutes = _as_int(config.get("autotermination_minutes"))
    if config.get("autotermination_minutes") is None or minutes == 0:
        return ["cluster has no auto-termination: set autotermination_minutes (e.g. 30) so idle clusters stop"]
    return []


def cluster_size_violations(config: Mapping[str, Any]) -> list[str]:
    return _size_violations("cluster", config)


def cluster_violations(config: Mapping[str, Any]) -> list[str]:
    return cluster_autotermination_violations(config) + cluster_size_violations(config)


def _policy_rule(definition: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    rule = definition.get(key)
    return rule if isinstance(rule, Mapping) else None


def _policy_definition(config: Mapping[str, Any]) -> tuple[Mapping[str, Any] | None, list[str]]:
    raw = config.get("definition")
    if not isinstance(raw, str):
        return None, []  # a token or a policy family: nothing literal to judge
    try:
        definition = json.loads(raw)
    except json.JSONDecodeError:
        return None, ["cluster policy definition is not valid JSON: fix the definition"]
    if not isinstance(definition, Mapping):
        return None, ["cluster policy definition must be a JSON object"]
    return definition, []


def policy_autotermination_violations(config: Mapping[str, Any]) -> list[str]:
    """A cluster policy must force auto-termination, unless it only admits job/pipeline clusters."""
    definition, errors = _policy_definition(config)
    if definition is None:
        return errors
    cluster_type = _policy_rule(definition, "cluster_type") or {}
    if cluster_type.get("type") == "fixed" and cluster_type.get("value") in _RUN_SCOPED_CLUSTER_TYPES:
        return []
    auto = _policy_rule(definition, "autotermination_minutes")
    forced = auto is not None and (
        (auto.get("type") == "fixed" and (_as_int(auto.get("value")) or 0) > 0)
        or (auto.get("type") == "range" and (_as_int(auto.get("minValue")) or 0) > 0)
    )
    if forced:
        return []
    return [
        "cluster policy does not force auto-termination: add"
        ' "autotermination_minutes": {"type": "fixed", "value": <minutes>} (or a range with minValue >= 1),'
        ' or fix "cluster_type" to "job"'
    ]


def policy_size_violations(config: Mapping[str, Any]) -> list[str]:
    """A cluster policy must cap autoscale.max_workers at MAX_WORKERS (or fix num_workers at most that)."""
    definition, errors = _policy_definition(config)
    if definition is None:
        return errors
    fixed_workers = _policy_rule(definition, "num_workers")
    if fixed_workers is not None and fixed_workers.get("type") == "fixed":
        count = _as_int(fixed_workers.get("value"))
        if count is not None and count <= MAX_WORKERS:
            return []
    max_rule = _policy_rule(definition, "autoscale.max_workers")
    bound = None
    if max_rule is not None:
        bound = _as_int(max_rule.get("maxValue") if max_rule.get("type") == "range" else max_rule.get("value"))
    if bound is None or bound > MAX_WORKERS:
        return [
            f'cluster policy does not cap autoscale: add "autoscale.max_workers": {{"type": "range", "maxValue":'
            f" {MAX_WORKERS}}}"
        ]
    return []


def cluster_policy_violations(config: Mapping[str, Any]) -> list[str]:
    errors = policy_autotermination_violations(config)
    return errors + [e for e in policy_size_violations(config) if e not in errors]


def pipeline_violations(config: Mapping[str, Any]) -> list[str]:
    out = []
    for cluster in blocks(config.get("cluster")):
        out += _size_violations(f"pipeline cluster '{cluster.get('label', 'default')}'", cluster)
    return out


def job_violations(config: Mapping[str, Any]) -> list[str]:
    out = []
    for job_cluster in blocks(config.get("job_cluster")):
        for cluster in blocks(job_cluster.get("new_cluster")):
            out += _size_violations(f"job cluster '{job_cluster.get('job_cluster_key', '?')}'", cluster)
    for task in blocks(config.get("task")):
        for cluster in blocks(task.get("new_cluster")):
            out += _size_violations(f"task '{task.get('task_key', '?')}' cluster", cluster)
    return out


# Per resource type: the rules on compute size (checkov CKV_LH_2 runs exactly these).
SIZE_RULES = {
    "databricks_cluster": cluster_size_violations,
    "databricks_cluster_policy": policy_size_violations,
    "databricks_pipeline": pipeline_violations,
    "databricks_job": job_violations,
}
AUTOTERMINATION_RULES = {
    "databricks_cluster": cluster_autotermination_violations,
    "databricks_cluster_policy": policy_autotermination_violations,
}


def _pipeline_rules(config: Mapping[str, Any]) -> list[str]:
    return pipeline_violations(config) + classic_compute_policy_violations("databricks_pipeline", config)


def _job_rules(config: Mapping[str, Any]) -> list[str]:
    return job_violations(config) + classic_compute_policy_violations("databricks_job", config)


RULES: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "databricks_grants": grant_violations,
    "databricks_cluster": cluster_violations,
    "databricks_cluster_policy": cluster_policy_violations,
    "databricks_pipeline": _pipeline_rules,
    "databricks_job": _job_rules,
}


def resource_violations(resource_type: str, config: Mapping[str, Any]) -> list[str]:
    """Every guard message for one resource (empty when it complies)."""
    rule = RULES.get(resource_type)
    return rule(config) if rule else []


def resource_configs(synthesized: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    for resource_type, by_name in (synthesized.get("resource") or {}).items():
        for name, config in (by_name or {}).items():
            yield resource_type, name, config


def stack_violations(synthesized: Mapping[str, Any]) -> list[str]:
    """Every guard message for a synthesized stack (cdk.tf.json as a dict), prefixed by the resource address, plus
    the rules across resources (`compute_runner_violations`)."""
    return [
        f"{resource_type}.{name}: {message}"
        for resource_type, name, config in resource_configs(synthesized)
        for message in resource_violations(resource_type, config)
    ] + compute_runner_violations(synthesized)


# -- rules across resources: who runs compute, and under which policy ------------------------------------------------


def _classic_clusters(resource_type: str, config: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(label, cluster) of every classic cluster a job or pipeline defines (serverless ones define none)."""
    if resource_type == "databricks_pipeline":
        if config.get("serverless") is True:
            return []
        return [(f"cluster '{c.get('label', 'default')}'", c) for c in blocks(config.get("cluster"))]
    if resource_type == "databricks_job":
        out = [
            (f"job cluster '{jc.get('job_cluster_key', '?')}'", cluster)
            for jc in blocks(config.get("job_cluster"))
            for cluster in blocks(jc.get("new_cluster"))
        ]
        out += [
            (f"task '{t.get('task_key', '?')}' cluster", cluster)
            for t in blocks(config.get("task"))
            for cluster in blocks(t.get("new_cluster"))
        ]
        return out
    return []


def classic_compute_policy_violations(resource_type: str, config: Mapping[str, Any]) -> list[str]:
    """Classic job and pipeline clusters must name a cluster policy (the size cap, tags and single-node settings)."""
    return [
        f"{label} names no cluster policy: set policy_id to a policy of infra/stacks/compute.py"
        for label, cluster in _classic_clusters(resource_type, config)
        if not cluster.get("policy_id")
    ]


def _run_as(config: Mapping[str, Any]) -> str | None:
    for block in blocks(config.get("run_as")):
        principal = block.get("service_principal_name") or block.get("user_name")
        if principal:
            return str(principal)
    return None


def _policy_users(synthesized: Mapping[str, Any]) -> dict[str, set[str]]:
    """Policy reference (`${databricks_cluster_policy.x.id}`) -> principals with CAN_USE in its permissions."""
    out: dict[str, set[str]] = {}
    for _name, config in (synthesized.get("resource") or {}).get("databricks_permissions", {}).items():
        policy = config.get("cluster_policy_id")
        if not policy:
            continue
        for entry in blocks(config.get("access_control")):
            if entry.get("permission_level") == "CAN_USE":
                who = entry.get("service_principal_name") or entry.get("group_name") or entry.get("user_name")
                out.setdefault(str(policy), set()).add(str(who))
    return out


def compute_runner_violations(synthesized: Mapping[str, Any]) -> list[str]:
    """Every classic cluster a job or pipeline starts names a policy its run-as principal may use.

    Databricks creates compute from a policy only for a principal with CAN_USE on it ("Manage compute policies"),
    and a job or pipeline creates its clusters as its run-as identity: without the ACL the run fails at cluster
    creation unless that principal happens to be an admin.
    """
    users = _policy_users(synthesized)
    out = []
    for resource_type, name, config in resource_configs(synthesized):
        runner = _run_as(config)
        for label, cluster in _classic_clusters(resource_type, config):
            policy = cluster.get("policy_id")
            if not policy:
                continue  # classic_compute_policy_violations reports it
            if runner is None or runner not in users.get(str(policy), set()):
                out.append(
                    f"{resource_type}.{name}: {label} uses policy {policy}, but its run-as principal {runner!r} has no"
                    " CAN_USE on it: add the persona to WORKSPACE_ACLS for that policy in infra/permissions.py"
                )
    return out


# -- rules checkov enforces on top of the synth guards -----------------------------------------------------------


def pipeline_compute_violations(config: Mapping[str, Any]) -> list[str]:
    """Classic pipeline clusters must use enhanced autoscaling (it scales streaming by backlog); serverless is fine."""
    if config.get("serverless") is True:
        return []
    clusters = blocks(config.get("cluster"))
    if not clusters:
        return ["pipeline is neither serverless nor given a cluster: set serverless = true or an ENHANCED autoscale"]
    out = []
    for cluster in clusters:
        label = cluster.get("label", "default")
        modes = [a.get("mode") for a in blocks(cluster.get("autoscale"))]
        if modes != ["ENHANCED"]:
            out.append(
                f"pipeline cluster '{label}' does not use autoscale mode ENHANCED: set autoscale.mode = ENHANCED"
            )
    return out


def pipeline_event_log_violations(config: Mapping[str, Any]) -> list[str]:
    """Pipelines keep their event log as a Unity Catalog table so alerts and audits can query it."""
    logs = blocks(config.get("event_log"))
    if not logs or not all(log.get("name") for log in logs):
        return ["pipeline has no event_log: add event_log { catalog, schema = ops, name = pipeline_event_log }"]
    return []


# Provider and resource arguments that carry credentials: they must come from a variable or the environment.
SECRET_ARGUMENTS = frozenset(
    {
        "token",
        "password",
        "client_secret",
        "azure_client_secret",
        "google_credentials",
        "personal_access_token",
        "string_value",  # databricks_secret
        "actions_id_token_request_token",
    }
)
# Databricks personal access tokens (dapi...) and OAuth secrets (dose...), wherever they appear.
_TOKEN_PATTERN = re.compile(r"\b(dapi|dose)[0-9a-f]{32}(-\d+)?\b")


def _is_reference(value: str) -> bool:
    """`${var.x}` / `${data.y.z}`: resolved by Terraform at plan time, never a literal secret."""
    return value.startswith("${") and value.endswith("}")


def hardcoded_secret_violations(config: Any, path: str = "") -> list[str]:
    """Literal credentials anywhere in a provider or resource config (keys named like secrets, or token shapes)."""
    out: list[str] = []
    if isinstance(config, Mapping):
        for key, value in config.items():
            where = f"{path}.{key}" if path else str(key)
            if key in SECRET_ARGUMENTS and isinstance(value, str) and value and not _is_reference(value):
                out.append(
                    f"{where} is a literal credential: use var.databricks_token (sensitive) or the provider's env auth"
                )
            else:
                out += hardcoded_secret_violations(value, where)
    elif isinstance(config, list):
        for index, value in enumerate(config):
            out += hardcoded_secret_violations(value, f"{path}[{index}]")
    elif isinstance(config, str) and _TOKEN_PATTERN.search(config):
        out.append(f"{path or 'value'} contains a Databricks token: remove it and use var.databricks_token or env auth")
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return unwrap_checkov_conf(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def unwrap_checkov_conf(conf: Mapping[str, Any]) -> dict[str, Any]:
    """checkov's HCL-shaped conf back to plain Terraform JSON.

    checkov wraps every attribute value in a one-element list (`[30]`, `[["A", "B"]]`), gives nested blocks as a
    list of objects, and adds `__startline__`-style markers; unwrap exactly one level so lists stay lists.
    """
    out: dict[str, Any] = {}
    for key, value in conf.items():
        if str(key).startswith("__") or key == "//":
            continue
        if isinstance(value, list) and len(value) == 1 and not isinstance(value[0], Mapping):
            out[key] = _plain(value[0])
        else:
            out[key] = _plain(value)
    return out
