"""Rules a real Databricks workspace and Terraform enforce, checked over the synthesized stacks and the workflows.

Each rule is a pure function of plain values (the synthesized JSON of an environment's stacks, the permission data,
workflow YAML) that returns violations as text, and cites the documentation or provider behaviour it encodes. They
fail on configurations a workspace would reject or silently break, not on a changed byte; snapshots only show change.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.guard_rules import blocks
from infra.permissions import (
    BROWSE,
    CREATE_MATERIALIZED_VIEW,
    CREATE_SCHEMA,
    CREATE_TABLE,
    CREATE_VOLUME,
    MANAGE,
    MODIFY,
    READ_VOLUME,
    SELECT,
    USE_CATALOG,
    USE_SCHEMA,
    WRITE_PRIVILEGES,
    WRITE_VOLUME,
)
from infra.phases import DeployStep
from infra.repo import REPO_ROOT
from pipelines import tables

DEFINITIONS_DIR = REPO_ROOT / "pipelines" / "definitions"
_QUOTED_NAME = re.compile(r"`([^`]+)`\.`([^`]+)`\.`([^`]+)`")
_REFERENCE = re.compile(r"^\$\{([\w.]+)\}$")

# Terraform backend arguments and the first Terraform release that understands them.
# use_lockfile: S3 native state locking, Terraform 1.10 (hashicorp/terraform#35661; S3 backend docs).
BACKEND_ARGUMENT_MIN_TERRAFORM: dict[tuple[str, str], tuple[int, ...]] = {("s3", "use_lockfile"): (1, 10, 0)}

# Workspace ACL levels that only read (the auditor may hold these and nothing else). Pipelines/jobs: CAN_VIEW;
# warehouses: CAN_MONITOR/CAN_VIEW; clusters: CAN_ATTACH_TO (the lowest level); folders and files: CAN_READ;
# cluster policies have a single level, CAN_USE ("Manage compute policies").
READ_ONLY_ACL_LEVELS = frozenset({"CAN_VIEW", "CAN_MONITOR", "CAN_ATTACH_TO", "CAN_READ", "CAN_USE"})
# Levels that let a principal start a pipeline update (Lakeflow pipeline ACLs).
PIPELINE_RUN_LEVELS = frozenset({"CAN_RUN", "CAN_MANAGE", "IS_OWNER"})
# Levels that let a principal read the files of a folder (workspace object ACLs).
FOLDER_READ_LEVELS = frozenset({"CAN_READ", "CAN_RUN", "CAN_EDIT", "CAN_MANAGE"})


# ------------------------------------------------------------------------------------------------ helpers


def resources(stack: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return dict((stack.get("resource") or {}).get(resource_type) or {})


def exists_on_first_apply(config: Mapping[str, Any], variables: Mapping[str, Any]) -> bool:
    """Whether a resource is created by an apply with every variable at its default (an empty workspace, no -var).

    `count` may be a number or a conditional over a boolean variable (`${var.x ? 1 : 0}`), the gate cdktf renders.
    """
    count = config.get("count")
    if count is None:
        return True
    if isinstance(count, (int, float)):
        return count > 0
    match = re.fullmatch(r"\$\{var\.(\w+) \? (\d+) : (\d+)\}", str(count))
    if not match:
        return True  # an expression we cannot evaluate: assume it exists (the rule stays strict)
    default = (variables.get(match.group(1)) or {}).get("default")
    return int(match.group(2) if default else match.group(3)) > 0


def pipeline_dataset_names(definitions_dir: Path = DEFINITIONS_DIR) -> list[str]:
    """The `name=` of every dataset the pipeline definitions declare (`@dp.table`, `@dp.materialized_view`,
    `@dp.streaming_table`), as written: a contract name (`tables.X`) resolves to its value; anything else is kept
    as its source text, so a rule can say which name is not the contract's."""
    out: list[str] = []
    for path in sorted(definitions_dir.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in (
                "table",
                "materialized_view",
                "streaming_table",
            ):
                for keyword in node.keywords:
                    if keyword.arg != "name":
                        continue
                    value = keyword.value
                    if (
                        isinstance(value, ast.Attribute)
                        and isinstance(value.value, ast.Name)
                        and value.value.id == "tables"
                        and isinstance(getattr(tables, value.attr, None), str)
                    ):
                        out.append(str(getattr(tables, value.attr)))
                    else:
                        out.append(ast.unparse(value))
    return out


def pipeline_published_tables() -> frozenset[tuple[str, str]]:
    """(schema, table) of every table the pipeline's first update creates: its datasets (Lakeflow creates them) and
    the correlation sink's tables (the sink creates them in its first micro-batch). Before that update none exists.
    That the definitions declare exactly the contract's datasets is a rule of its own (`pipeline_dataset_names`)."""
    return frozenset(tables.split(t) for t in (*tables.PIPELINE_DATASETS, *tables.SINK_TABLES))


def tables_read_by(sql: str, catalog: str) -> set[tuple[str, str]]:
    """(schema, table) of every `catalog`.`schema`.`table` the SQL names (our SQL always quotes full names)."""
    return {(s, t) for c, s, t in _QUOTED_NAME.findall(sql) if c == catalog}


# ------------------------------------------------------------------------------------------------ state


def backend_violations(stack_name: str, stack: Mapping[str, Any], terraform_version: str) -> list[str]:
    """State must be remote (a CI runner's local files vanish after the job: the next deploy plans to create
    everything again and fails on "already exists"), and the Terraform that CI installs must understand every
    backend argument used."""
    out = []
    backend = (stack.get("terraform") or {}).get("backend") or {}
    if not backend or "local" in backend:
        out.append(f"{stack_name}: state is not remote ({sorted(backend) or 'no backend'}): configure [state]")
    installed = tuple(int(p) for p in terraform_version.split("."))
    for kind, arguments in backend.items():
        for argument in arguments or {}:
            needed = BACKEND_ARGUMENT_MIN_TERRAFORM.get((kind, argument))
            if needed and installed < needed:
                out.append(
                    f"{stack_name}: backend {kind}.{argument} needs Terraform >= {'.'.join(map(str, needed))}, "
                    f"CI installs {terraform_version}"
                )
    return out


# ------------------------------------------------------------------------------------------------ apply order


@dataclass(frozen=True)
class EnvironmentStacks:
    """One environment's synthesized stacks, in deploy order, with the deploy steps between them."""

    catalog: str
    stacks: Mapping[str, Mapping[str, Any]]
    steps: Sequence[DeployStep]

    def each(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        yield from self.stacks.items()

    def resources(self, resource_type: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for stack_name, stack in self.stacks.items():
            for name, config in resources(stack, resource_type).items():
                yield stack_name, name, config


def _readers(env: EnvironmentStacks) -> Iterator[tuple[str, str, Mapping[str, Any], str]]:
    """(stack, address, config, SQL) of every resource whose creation or schedule runs SQL over tables."""
    for stack_name, name, config in env.resources("databricks_sql_table"):
        if config.get("table_type") == "VIEW":
            yield stack_name, f"databricks_sql_table.{name}", config, str(config.get("view_definition", ""))
    for resource_type, field in (("databricks_alert_v2", "query_text"), ("databricks_query", "query_text")):
        for stack_name, name, config in env.resources(resource_type):
            yield stack_name, f"{resource_type}.{name}", config, str(config.get(field, ""))


def apply_order_violations(env: EnvironmentStacks, pipeline_tables: frozenset[tuple[str, str]]) -> list[str]:
    """No view or alert may be created before the pipeline tables it selects from exist on an empty workspace.

    Unity Catalog analyzes a view's query at CREATE VIEW (TABLE_OR_VIEW_NOT_FOUND otherwise), and pipeline tables
    exist only after the pipeline's first update. So such readers must live in a stack deployed after the step that
    runs that update, and exist on first apply only there (count gates are evaluated at their defaults).
    """
    order = [s.stack if s.kind == "stack" else "<pipeline first update>" for s in env.steps]
    if "<pipeline first update>" not in order:
        return ["the deploy steps never run the pipeline's first update"]
    update_at = order.index("<pipeline first update>")
    # A view over a view over a pipeline table depends on the pipeline just the same: close the set over views.
    dependent = set(pipeline_tables)
    views = {
        (str(c["schema_name"]).split(".")[-1], str(c["name"])): str(c.get("view_definition", ""))
        for _s, _n, c in env.resources("databricks_sql_table")
        if c.get("table_type") == "VIEW"
    }
    grew = True
    while grew:
        grew = False
        for key, sql in views.items():
            if key not in dependent and tables_read_by(sql, env.catalog) & dependent:
                dependent.add(key)
                grew = True
    out = []
    for stack_name, address, config, sql in _readers(env):
        reads = tables_read_by(sql, env.catalog) & dependent
        if not reads:
            continue
        variables = env.stacks[stack_name].get("variable") or {}
        position = order.index(stack_name) if stack_name in order else -1
        if position < update_at and exists_on_first_apply(config, variables):
            out.append(
                f"{stack_name}: {address} selects from {sorted(reads)}, which the pipeline creates only on its first"
                " update; move it to a stack deployed after that update (infra/phases.py)"
            )
    return out


# ------------------------------------------------------------------------------------------------ identities


@dataclass(frozen=True)
class Held:
    """What a principal holds on the environment's Unity Catalog securables and workspace objects after apply."""

    grants: Mapping[str, frozenset[str]]  # securable key ("catalog", "schema:gold", ...) -> privileges
    owns: frozenset[str]  # securable keys it owns
    acls: Mapping[str, str]  # address of the object's permissions target -> level

    def has(self, key: str, *privileges: str) -> bool:
        return key in self.owns or set(privileges) <= self.grants.get(key, frozenset())


def _schema_name(value: Any) -> str:
    """A schema name from a literal or a `${databricks_schema.schema_<name>.name}` reference."""
    match = re.search(r"databricks_schema\.schema_(\w+)\.", str(value))
    return match.group(1) if match else str(value).split(".")[-1]


def _securable_key(config: Mapping[str, Any], catalog: str) -> str | None:
    if "catalog" in config:
        return "catalog"
    if "schema" in config:
        return f"schema:{_schema_name(config['schema'])}"
    if "volume" in config:
        match = re.search(r"databricks_volume\.volume_(\w+?)_(\w+)\.id", str(config["volume"]))
        return f"volume:{match.group(1)}.{match.group(2)}" if match else "volume:" + str(config["volume"])
    if "table" in config:
        return "table:" + str(config["table"]).removeprefix(f"{catalog}.")
    return None


def uc_state(env: EnvironmentStacks) -> tuple[dict[str, dict[str, frozenset[str]]], dict[str, str]]:
    """(securable key -> principal -> privileges, securable key -> owner) after the authoritative grants apply."""
    grants: dict[str, dict[str, frozenset[str]]] = {}
    for _stack, name, config in env.resources("databricks_grants"):
        key = _securable_key(config, env.catalog)
        if key is None:
            raise ValueError(f"databricks_grants.{name}: cannot tell which securable it targets")
        if key in grants:
            raise ValueError(f"two databricks_grants target {key}: they would overwrite each other")
        grants[key] = {g["principal"]: frozenset(g.get("privileges", [])) for g in blocks(config.get("grant"))}
    owners: dict[str, str] = {}
    for _stack, _name, config in env.resources("databricks_catalog"):
        owners["catalog"] = str(config.get("owner", ""))
    for _stack, _name, config in env.resources("databricks_schema"):
        owners[f"schema:{config['name']}"] = str(config.get("owner", ""))
    for _stack, _name, config in env.resources("databricks_volume"):
        owners[f"volume:{_schema_name(config['schema_name'])}.{config['name']}"] = str(config.get("owner", ""))
    for _stack, _name, config in env.resources("databricks_sql_table"):
        owners[f"table:{_schema_name(config['schema_name'])}.{config['name']}"] = str(config.get("owner", ""))
    return grants, owners


def acl_state(env: EnvironmentStacks) -> dict[str, dict[str, str]]:
    """Permissions target (`${databricks_job.x.id}`, `${databricks_directory.y.path}`) -> principal -> level."""
    out: dict[str, dict[str, str]] = {}
    for _stack, _name, config in env.resources("databricks_permissions"):
        target = next(str(v) for k, v in config.items() if k.endswith(("_id", "_path")) and k != "//")
        entries = {}
        for ac in blocks(config.get("access_control")):
            principal = ac.get("service_principal_name") or ac.get("group_name") or ac.get("user_name")
            entries[str(principal)] = str(ac.get("permission_level"))
        out[target] = entries
    return out


def held_by(env: EnvironmentStacks, principal: str) -> Held:
    grants, owners = uc_state(env)
    acls = acl_state(env)
    return Held(
        grants={key: by_principal.get(principal, frozenset()) for key, by_principal in grants.items()},
        owns=frozenset(key for key, owner in owners.items() if owner == principal),
        acls={target: entries[principal] for target, entries in acls.items() if principal in entries},
    )


def deployer_violations(env: EnvironmentStacks, deployer: str) -> list[str]:
    """The deploying identity keeps, after every authoritative grant is applied, what its next apply needs.

    - Managing grants needs ownership or MANAGE on the securable; the provider's grants doc: an identity applying
      grants with MANAGE must declare its own MANAGE or the resource removes it.
    - Creating children needs USE on the parents and CREATE on the container (UC privileges: CREATE SCHEMA on the
      catalog; CREATE VOLUME / CREATE TABLE on the schema); a view's owner needs SELECT on what it reads.
    - The provider sets a catalog's owner inside its create call, so an owner other than the deployer would strand
      it before any grant exists: the deployer owns the catalog.
    """
    held = held_by(env, deployer)
    grants, owners = uc_state(env)
    out = []
    if owners.get("catalog") != deployer:
        out.append(f"the catalog's owner is {owners.get('catalog')!r}, not the deployer: the apply strands itself")
    for key in grants:
        if not held.has(key, MANAGE):
            out.append(f"{key}: the deployer neither owns it nor holds MANAGE, so it cannot apply its grants")
    for _stack, name, _config in env.resources("databricks_schema"):
        if not held.has("catalog", USE_CATALOG, CREATE_SCHEMA):
            out.append(f"databricks_schema.{name}: the deployer lacks USE_CATALOG + CREATE_SCHEMA on the catalog")
    for _stack, name, config in env.resources("databricks_volume"):
        schema_key = f"schema:{_schema_name(config['schema_name'])}"
        if not held.has(schema_key, USE_SCHEMA, CREATE_VOLUME):
            out.append(f"databricks_volume.{name}: the deployer lacks USE_SCHEMA + CREATE_VOLUME on {schema_key}")
    for _stack, name, config in env.resources("databricks_sql_table"):
        schema_key = f"schema:{_schema_name(config['schema_name'])}"
        if not held.has(schema_key, USE_SCHEMA, CREATE_TABLE):
            out.append(f"databricks_sql_table.{name}: the deployer lacks USE_SCHEMA + CREATE_TABLE on {schema_key}")
        for read_schema, _table in tables_read_by(str(config.get("view_definition", "")), env.catalog):
            if not held.has(f"schema:{read_schema}", USE_SCHEMA, SELECT):
                out.append(f"databricks_sql_table.{name}: its owner (the deployer) cannot SELECT from {read_schema}")
    return out


def runner_violations(
    env: EnvironmentStacks,
    pipeline_principal: str,
    pipeline_tables: frozenset[tuple[str, str]],
) -> list[str]:
    """Every principal that runs something (the pipeline's and jobs' run-as, the alerts' run-as) holds what it uses.

    Lakeflow: the run-as identity needs USE CATALOG, USE SCHEMA, CREATE TABLE / CREATE MATERIALIZED VIEW and
    MODIFY + SELECT on the target schemas, READ VOLUME on what Auto Loader reads, and read access to the source files.
    Jobs: the run-as identity reads the script's folder, writes the landing volume; a pipeline task needs CAN_RUN on
    the pipeline. Alerts run their query as their run-as identity (SELECT on every table read).
    """
    held = held_by(env, pipeline_principal)
    out = []
    if not held.has("catalog", USE_CATALOG):
        out.append("the pipeline principal lacks USE_CATALOG on the catalog")
    for schema in sorted({s for s, _ in pipeline_tables}):
        needed = (USE_SCHEMA, CREATE_TABLE, CREATE_MATERIALIZED_VIEW, MODIFY, SELECT)
        if not held.has(f"schema:{schema}", *needed):
            out.append(f"the pipeline principal lacks {needed} on schema {schema} it publishes to")
    if not held.has("volume:bronze.landing", READ_VOLUME, WRITE_VOLUME):
        out.append("the pipeline principal (pipeline and ingestion jobs) lacks READ/WRITE_VOLUME on the landing volume")
    folder_targets = [t for t in acl_state(env) if "databricks_directory" in t]
    if not folder_targets:
        out.append("the code folder has no databricks_permissions: its ACL is whatever the workspace inherited")
    for target in folder_targets:
        if held.acls.get(target) not in FOLDER_READ_LEVELS:
            out.append(f"the pipeline principal cannot read the code folder {target}")
    for _stack, name, config in env.resources("databricks_job"):
        for task in blocks(config.get("task")):
            for pipeline_task in blocks(task.get("pipeline_task")):
                pipeline_ref = str(pipeline_task.get("pipeline_id"))
                runner = next(
                    (str(b.get("service_principal_name")) for b in blocks(config.get("run_as"))), "(the job owner)"
                )
                levels = acl_state(env).get(pipeline_ref, {})
                if levels.get(runner) not in PIPELINE_RUN_LEVELS:
                    out.append(f"databricks_job.{name}: its run-as {runner} cannot start {pipeline_ref} (CAN_RUN)")
    for _stack, name, config in env.resources("databricks_alert_v2"):
        runner = next((str(b.get("service_principal_name")) for b in blocks(config.get("run_as"))), "")
        if not runner:
            out.append(f"databricks_alert_v2.{name}: no run_as, so it runs as whoever deployed it")
            continue
        runner_held = held_by(env, runner)
        for schema, table in sorted(tables_read_by(str(config.get("query_text", "")), env.catalog)):
            if not runner_held.has(f"schema:{schema}", USE_SCHEMA, SELECT):
                out.append(f"databricks_alert_v2.{name}: run-as {runner} cannot SELECT {schema}.{table}")
    return out


def auditor_violations(env: EnvironmentStacks, auditor: str) -> list[str]:
    """The auditor (PR plans, drift, audits) can read everything a plan refreshes and change nothing.

    No write privilege in Unity Catalog and no ACL above read; BROWSE on the catalog (metadata of every child) and a
    read level on every permissioned workspace object, or `terraform plan` cannot refresh it.
    """
    held = held_by(env, auditor)
    out = []
    for key, privileges in held.grants.items():
        if privileges & WRITE_PRIVILEGES:
            out.append(f"{key}: the auditor holds {sorted(privileges & WRITE_PRIVILEGES)}, a write privilege")
    if not held.has("catalog", USE_CATALOG, BROWSE) or "catalog" in held.owns:
        out.append("the auditor needs USE_CATALOG and BROWSE on the catalog (and must not own it)")
    for target, entries in acl_state(env).items():
        level = entries.get(auditor)
        if level is None:
            out.append(f"{target}: the auditor has no ACL entry, so a plan cannot read it")
        elif level not in READ_ONLY_ACL_LEVELS:
            out.append(f"{target}: the auditor holds {level}, more than read")
    return out


# ------------------------------------------------------------------------------------------------ workflows


def workflow_jobs(workflow: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    return (workflow.get("jobs") or {}).items()


def runs_pull_request_code(workflow: Mapping[str, Any], job: Mapping[str, Any]) -> bool:
    """A job triggered by a pull request that checks out the PR's own ref (the default) runs untrusted code."""
    triggers = workflow.get("on") or {}
    if "pull_request" not in triggers and "pull_request_target" not in triggers:
        return False
    for step in job.get("steps") or []:
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            ref = str((step.get("with") or {}).get("ref", ""))
            if "base" not in ref:
                return True
    return False


# ------------------------------------------------------------------------------------------------ untrusted stacks

# The only provider a stack may use: a PR could otherwise add one (hashicorp/external, local-exec...) that runs
# arbitrary programs during `terraform plan`, with the plan job's credentials.
ALLOWED_PROVIDERS = frozenset({"databricks"})


def untrusted_stack_violations(stack: Mapping[str, Any]) -> list[str]:
    """What a pull request's synthesized stack must not contain before a job with credentials runs `terraform init`
    and `plan` on it: other providers (their code runs at plan time), provisioners, `external` data sources
    (Terraform runs the program while planning), or a different backend (a plan must read only our state)."""
    out = []
    terraform = stack.get("terraform") or {}
    providers = set((terraform.get("required_providers") or {}).keys()) | set((stack.get("provider") or {}).keys())
    for extra in sorted(providers - ALLOWED_PROVIDERS):
        out.append(f"provider {extra!r} is not allowed in a planned stack (only {sorted(ALLOWED_PROVIDERS)})")
    for kind in ("resource", "data"):
        for resource_type, by_name in (stack.get(kind) or {}).items():
            if not resource_type.startswith("databricks_"):
                out.append(f"{kind} type {resource_type!r} is not a Databricks {kind}")
            for name, config in (by_name or {}).items():
                if isinstance(config, Mapping) and "provisioner" in config:
                    out.append(f"{resource_type}.{name} has a provisioner (it would run a program)")
    backend = terraform.get("backend") or {}
    if set(backend) - {"s3"}:
        out.append(f"backend {sorted(backend)} is not the configured S3 state")
    return out
