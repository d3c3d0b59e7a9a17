"""The permission matrix: persona x securable x privileges, the single source of truth for grants.

Plain data and pure functions only (no cdktf import), so the stacks render it into `databricks_grants`,
the grant audit uses it as the expected state, and the README table is generated from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from pipelines.errors import LakehouseError


class Persona(StrEnum):
    """Who gets access. Environments map each persona to a concrete principal (group or service principal)."""

    PLATFORM_ADMINS = "platform_admins"
    DATA_SCIENTISTS = "data_scientists"
    ANALYSTS = "analysts"
    COMPLIANCE = "compliance"
    PIPELINE = "pipeline"
    # The identity CI deploys with (`lakehouse deploy`, deploy.yml): creates and owns the Unity Catalog objects.
    DEPLOYER = "deployer"
    # The read-only identity of PR plans, drift checks and grant audits: reads metadata, never data or grants.
    AUDITOR = "auditor"


class SecurableType(StrEnum):
    CATALOG = "catalog"
    SCHEMA = "schema"
    VOLUME = "volume"
    TABLE = "table"  # views are tables in Unity Catalog's grant model


SCHEMAS: tuple[str, ...] = ("bronze", "silver", "gold", "ops")
LANDING_VOLUME = ("bronze", "landing")  # (schema, volume): raw files from the ingestion jobs
# Secure views deployed from sql/views/; analysts read gold only through the analyst view.
ANALYST_VIEW = ("gold", "correlations_analyst")
COMPLIANCE_VIEW = ("gold", "correlations_compliance")
SECURE_VIEWS: tuple[tuple[str, str], ...] = (ANALYST_VIEW, COMPLIANCE_VIEW)
# Schemas the serving stack creates views in (secure views in gold; pipeline health views in ops).
VIEW_SCHEMAS: tuple[str, ...] = ("gold", "ops")

# Privilege names exactly as Unity Catalog spells them.
USE_CATALOG = "USE_CATALOG"
USE_SCHEMA = "USE_SCHEMA"
SELECT = "SELECT"
MODIFY = "MODIFY"
READ_VOLUME = "READ_VOLUME"
WRITE_VOLUME = "WRITE_VOLUME"
CREATE_TABLE = "CREATE_TABLE"
CREATE_MATERIALIZED_VIEW = "CREATE_MATERIALIZED_VIEW"
CREATE_SCHEMA = "CREATE_SCHEMA"
CREATE_VOLUME = "CREATE_VOLUME"
BROWSE = "BROWSE"
ALL_PRIVILEGES = "ALL_PRIVILEGES"
MANAGE = "MANAGE"
# Privileges that change data or access: the auditor persona may hold none of them (PR plans run as it).
WRITE_PRIVILEGES: frozenset[str] = frozenset(
    {MODIFY, WRITE_VOLUME, CREATE_TABLE, CREATE_MATERIALIZED_VIEW, CREATE_SCHEMA, CREATE_VOLUME, ALL_PRIVILEGES, MANAGE}
)

_APPLICATION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_service_principal(principal: str) -> bool:
    """Service principals are named by application id (a UUID); every other principal here is a group."""
    return bool(_APPLICATION_ID.match(principal))


# Groups every workspace user belongs to: never grant these broad privileges.
BROAD_PRINCIPALS: frozenset[str] = frozenset({"account users", "users"})


@dataclass(frozen=True, order=True)
class Securable:
    """A Unity Catalog object, named relative to the environment's catalog."""

    type: SecurableType
    schema: str | None = None
    name: str | None = None

    def full_name(self, catalog: str) -> str:
        parts = [catalog] + [p for p in (self.schema, self.name) if p is not None]
        return ".".join(parts)

    def key(self) -> str:
        """A stable, catalog-independent identifier (`catalog`, `schema:gold`, `table:gold.x`)."""
        if self.type is SecurableType.CATALOG:
            return "catalog"
        if self.type is SecurableType.SCHEMA:
            return f"schema:{self.schema}"
        return f"{self.type.value}:{self.schema}.{self.name}"


CATALOG = Securable(SecurableType.CATALOG)


def schema(name: str) -> Securable:
    return Securable(SecurableType.SCHEMA, schema=name)


def volume(schema_name: str, name: str) -> Securable:
    return Securable(SecurableType.VOLUME, schema=schema_name, name=name)


def table(schema_name: str, name: str) -> Securable:
    return Securable(SecurableType.TABLE, schema=schema_name, name=name)


@dataclass(frozen=True, order=True)
class PersonaGrant:
    """One row of the matrix: a persona holds these privileges on a securable."""

    persona: Persona
    securable: Securable
    privileges: frozenset[str]


@dataclass(frozen=True, order=True)
class Grant:
    """A concrete grant: principal x securable (full name) x one privilege. Drift is a set difference of these."""

    principal: str
    securable_type: SecurableType
    full_name: str
    privilege: str


_ALL_SCHEMAS = tuple(schema(s) for s in SCHEMAS)
_WRITE_TABLES = frozenset({USE_SCHEMA, CREATE_TABLE, CREATE_MATERIALIZED_VIEW, SELECT, MODIFY})


def _rows() -> tuple[PersonaGrant, ...]:
    rows: list[PersonaGrant] = []

    def add(persona: Persona, securable: Securable, *privileges: str) -> None:
        rows.append(PersonaGrant(persona, securable, frozenset(privileges)))

    # Admins manage everything through grants; the deployer owns the objects (see Persona.DEPLOYER below).
    add(Persona.PLATFORM_ADMINS, CATALOG, ALL_PRIVILEGES, MANAGE)
    # The deployer creates and owns the catalog, schemas, volume and views. Owning them is what keeps an apply
    # working: the provider sets a catalog's owner inside its create call, so an owner other than the deployer would
    # strand it before the grants below exist. MANAGE is declared anyway because `databricks_grants` is
    # authoritative and the provider's grants doc warns that an identity applying grants with MANAGE must list its
    # own MANAGE or lose it; the USE/CREATE privileges are what creating the children needs (UC privileges doc).
    add(Persona.DEPLOYER, CATALOG, USE_CATALOG, CREATE_SCHEMA, MANAGE)
    for securable in _ALL_SCHEMAS:
        add(Persona.DEPLOYER, securable, USE_SCHEMA, MANAGE)
    add(Persona.DEPLOYER, schema(LANDING_VOLUME[0]), CREATE_VOLUME)
    add(Persona.DEPLOYER, volume(*LANDING_VOLUME), MANAGE)
    # Views run with their owner's rights: the deployer owns them, so it reads what they select from.
    for schema_name in VIEW_SCHEMAS:
        add(Persona.DEPLOYER, schema(schema_name), CREATE_TABLE, SELECT)
    # The auditor reads metadata only: BROWSE (catalog-wide, inherited) lists schemas, tables and their grants'
    # existence without reading data; USE_CATALOG/USE_SCHEMA are needed to address children through the API.
    add(Persona.AUDITOR, CATALOG, USE_CATALOG, BROWSE)
    for securable in _ALL_SCHEMAS:
        add(Persona.AUDITOR, securable, USE_SCHEMA)
    # Data scientists explore the cleaned layers.
    add(Persona.DATA_SCIENTISTS, CATALOG, USE_CATALOG)
    for s in ("silver", "gold"):
        add(Persona.DATA_SCIENTISTS, schema(s), USE_SCHEMA, SELECT)
    # Analysts see gold only through the masking view: USE on gold, SELECT on the view, nothing on tables.
    add(Persona.ANALYSTS, CATALOG, USE_CATALOG)
    add(Persona.ANALYSTS, schema("gold"), USE_SCHEMA)
    add(Persona.ANALYSTS, table(*ANALYST_VIEW), SELECT)
    # Compliance reads and corrects everything (right-to-erasure requests), including the unmasked view.
    add(Persona.COMPLIANCE, CATALOG, USE_CATALOG, SELECT, MODIFY)
    for securable in _ALL_SCHEMAS:
        add(Persona.COMPLIANCE, securable, USE_SCHEMA, SELECT, MODIFY)
    add(Persona.COMPLIANCE, table(*COMPLIANCE_VIEW), SELECT)
    # The pipeline's service principal reads the landing volume and writes every layer.
    add(Persona.PIPELINE, CATALOG, USE_CATALOG)
    add(Persona.PIPELINE, volume(*LANDING_VOLUME), READ_VOLUME, WRITE_VOLUME)
    for securable in _ALL_SCHEMAS:
        add(Persona.PIPELINE, securable, *_WRITE_TABLES)
    return tuple(rows)


class PermissionMatrixError(LakehouseError, ValueError):
    """The matrix refers to a persona with no principal, or grants something forbidden."""


@dataclass(frozen=True)
class PermissionMatrix:
    rows: tuple[PersonaGrant, ...]

    @classmethod
    def default(cls) -> PermissionMatrix:
        return cls(_rows())

    def securables(self) -> tuple[Securable, ...]:
        """Every securable with at least one grant, in a stable order."""
        return tuple(sorted({r.securable for r in self.rows}))

    def for_persona(self, persona: Persona) -> tuple[PersonaGrant, ...]:
        return tuple(r for r in self.rows if r.persona is persona)

    def privileges(self, persona: Persona, securable: Securable) -> frozenset[str]:
        out: set[str] = set()
        for r in self.rows:
            if r.persona is persona and r.securable == securable:
                out |= r.privileges
        return frozenset(out)

    def grants_by_securable(self, principals: Mapping[Persona, str]) -> dict[Securable, dict[str, frozenset[str]]]:
        """securable -> principal -> privileges, resolved for one environment (what `databricks_grants` needs)."""
        out: dict[Securable, dict[str, set[str]]] = {}
        for r in self.rows:
            try:
                principal = principals[r.persona]
            except KeyError as exc:
                raise PermissionMatrixError(
                    f"persona '{r.persona.value}' has no principal: add it under [environments.<env>.principals]"
                ) from exc
            out.setdefault(r.securable, {}).setdefault(principal, set()).update(r.privileges)
        return {s: {p: frozenset(v) for p, v in sorted(m.items())} for s, m in sorted(out.items())}

    def expected_grants(self, catalog: str, principals: Mapping[Persona, str]) -> frozenset[Grant]:
        """The flat set of grants an environment should hold (the grant audit's expected state)."""
        return frozenset(
            Grant(principal, securable.type, securable.full_name(catalog), privilege)
            for securable, by_principal in self.grants_by_securable(principals).items()
            for principal, privileges in by_principal.items()
            for privilege in privileges
        )

    def as_markdown(self) -> str:
        """The matrix as a README table: one row per persona, one column per securable."""
        securables = self.securables()
        header = "| persona | " + " | ".join(f"`{s.key()}`" for s in securables) + " |"
        sep = "|---" * (len(securables) + 1) + "|"
        lines = [header, sep]
        for persona in Persona:
            cells = [", ".join(sorted(self.privileges(persona, s))) or "-" for s in securables]
            lines.append(f"| {persona.value} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


# -- workspace object ACLs (not Unity Catalog): who may use the compute and see the jobs the stacks create ---------


class WorkspaceObject(StrEnum):
    """Workspace objects the stacks create and permission (`databricks_permissions`)."""

    SQL_WAREHOUSE = "sql_warehouse"
    SHARED_CLUSTER = "shared_cluster"
    INTERACTIVE_POLICY = "interactive_cluster_policy"
    JOB_POLICY = "job_cluster_policy"
    PIPELINE_POLICY = "pipeline_cluster_policy"
    PIPELINE = "pipeline"
    JOBS = "jobs"
    CODE_FOLDER = "code_folder"
    DASHBOARD = "dashboard"
    GENIE_SPACE = "genie_space"


# Permission levels exactly as the Permissions API spells them. The deployer creates (and so owns) every object;
# owners are implicit and never listed here. Every object lists the auditor at its lowest read level, so PR plans
# and drift checks can refresh it; `databricks_permissions` is authoritative, so anything not listed is revoked.
WORKSPACE_ACLS: dict[WorkspaceObject, dict[Persona, str]] = {
    # Everyone who reads tables or views needs a warehouse; the pipeline principal runs the alert queries.
    WorkspaceObject.SQL_WAREHOUSE: {
        Persona.PLATFORM_ADMINS: "CAN_MANAGE",
        Persona.DATA_SCIENTISTS: "CAN_USE",
        Persona.ANALYSTS: "CAN_USE",
        Persona.COMPLIANCE: "CAN_USE",
        Persona.PIPELINE: "CAN_USE",
        Persona.AUDITOR: "CAN_MONITOR",
    },
    # Data scientists explore on the shared cluster; compliance may attach for investigations.
    WorkspaceObject.SHARED_CLUSTER: {
        Persona.PLATFORM_ADMINS: "CAN_MANAGE",
        Persona.DATA_SCIENTISTS: "CAN_RESTART",
        Persona.COMPLIANCE: "CAN_ATTACH_TO",
        Persona.AUDITOR: "CAN_ATTACH_TO",
    },
    # Cluster policies have one level, CAN_USE: who may create compute under them (and read them). The run-as
    # principal needs it on every policy its job and pipeline clusters name, or those clusters fail to start
    # (Databricks "Manage compute policies": users create compute only from policies they have CAN_USE on).
    WorkspaceObject.INTERACTIVE_POLICY: {Persona.DATA_SCIENTISTS: "CAN_USE", Persona.AUDITOR: "CAN_USE"},
    WorkspaceObject.JOB_POLICY: {Persona.PIPELINE: "CAN_USE", Persona.AUDITOR: "CAN_USE"},
    WorkspaceObject.PIPELINE_POLICY: {Persona.PIPELINE: "CAN_USE", Persona.AUDITOR: "CAN_USE"},
    # The refresh job runs as the pipeline principal and starts updates: CAN_RUN ("Lakeflow pipeline ACLs").
    WorkspaceObject.PIPELINE: {
        Persona.PLATFORM_ADMINS: "CAN_MANAGE",
        Persona.DATA_SCIENTISTS: "CAN_VIEW",
        Persona.COMPLIANCE: "CAN_VIEW",
        Persona.PIPELINE: "CAN_RUN",
        Persona.AUDITOR: "CAN_VIEW",
    },
    WorkspaceObject.JOBS: {
        Persona.PLATFORM_ADMINS: "CAN_MANAGE",
        Persona.DATA_SCIENTISTS: "CAN_VIEW",
        Persona.AUDITOR: "CAN_VIEW",
    },
    # The code the pipeline and jobs run as their privileged principal: admins manage it, the pipeline principal
    # and the auditor read it, nobody else (a folder under /Workspace/Shared would let every user edit it).
    WorkspaceObject.CODE_FOLDER: {
        Persona.PLATFORM_ADMINS: "CAN_MANAGE",
        Persona.PIPELINE: "CAN_READ",
        Persona.AUDITOR: "CAN_READ",
    },
    # The Lakeview dashboard (`databricks_permissions.dashboard_id`): tiles run with each viewer's own grants
    # (embed_credentials = false), so CAN_RUN shows analysts only what the analyst view lets them read.
    WorkspaceObject.DASHBOARD: {
        Persona.PLATFORM_ADMINS: "CAN_MANAGE",
        Persona.DATA_SCIENTISTS: "CAN_RUN",
        Persona.ANALYSTS: "CAN_RUN",
        Persona.COMPLIANCE: "CAN_RUN",
        Persona.AUDITOR: "CAN_READ",
    },
    # The Genie space over the analyst view (Permissions API object type `genie`, set by `lakehouse genie sync`).
    WorkspaceObject.GENIE_SPACE: {
        Persona.PLATFORM_ADMINS: "CAN_MANAGE",
        Persona.DATA_SCIENTISTS: "CAN_RUN",
        Persona.ANALYSTS: "CAN_RUN",
        Persona.COMPLIANCE: "CAN_RUN",
    },
}


def workspace_acls_markdown() -> str:
    """The workspace ACLs as a docs table: one row per persona, one column per object."""
    objects = list(WorkspaceObject)
    lines = [
        "| persona | " + " | ".join(f"`{o.value}`" for o in objects) + " |",
        "|---" * (len(objects) + 1) + "|",
    ]
    for persona in Persona:
        cells = [WORKSPACE_ACLS[o].get(persona, "-") for o in objects]
        lines.append(f"| {persona.value} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def broad_all_privileges(grants: Iterable[tuple[str, Iterable[str]]]) -> list[str]:
    """Principals in `grants` (principal, privileges) that are broad groups holding ALL_PRIVILEGES."""
    return sorted(
        principal
        for principal, privileges in grants
        if principal.strip().lower() in BROAD_PRINCIPALS and ALL_PRIVILEGES in set(privileges)
    )
