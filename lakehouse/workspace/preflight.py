"""`lakehouse preflight`: what a workspace admin must have set up once before the first deploy, checked up front.

Each check reads the workspace as the identity about to deploy (databricks-sdk unified auth) and, when it fails,
says what is missing and how to fix it, so a deploy never fails half-way on a permission it could not have. The
one-time bootstrap itself is in docs/deploy.md ("Before the first deploy").

Pure core: `evaluate(...)` turns plain observations into findings; `observe(...)` is the SDK edge.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from databricks.sdk.errors import NotFound

from infra.config import EnvironmentConfig
from infra.permissions import Persona, is_service_principal

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

# Workspace admins are members of the built-in `admins` group (SCIM). Only they may create cluster policies
# ("Create and manage compute policies") and notification destinations (databricks_notification_destination doc).
ADMINS_GROUP = "admins"
CREATE_CATALOG = "CREATE_CATALOG"


@dataclass(frozen=True)
class Observation:
    """What preflight saw in the workspace (plain values; `observe` fills it, tests build it directly)."""

    identity: str  # userName, or the application id of a service principal
    groups: frozenset[str]
    metastore_id: str | None
    metastore_storage_root: str | None
    metastore_owner: str | None
    metastore_privileges: frozenset[str]  # effective privileges of the identity on the metastore
    catalog_exists: bool
    catalog_owner: str | None
    missing_groups: frozenset[str]
    missing_service_principals: frozenset[str]
    external_location_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass
class PreflightReport:
    environment: str
    identity: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    @property
    def exit_code(self) -> int:
        return 2 if self.failed else 0

    def render(self) -> str:
        lines = [f"preflight: environment={self.environment} identity={self.identity}"]
        for f in self.findings:
            lines.append(f"  [{'ok' if f.ok else 'FAIL'}] {f.check}: {f.detail}")
            if not f.ok and f.fix:
                lines.append(f"         fix: {f.fix}")
        lines.append("preflight: " + (f"{len(self.failed)} problem(s)" if self.failed else "ready to deploy"))
        return "\n".join(lines) + "\n"


def _covered(url: str, locations: Iterable[str]) -> bool:
    return any(url == loc.rstrip("/") or url.startswith(loc.rstrip("/") + "/") for loc in locations)


def evaluate(env: EnvironmentConfig, seen: Observation) -> PreflightReport:
    """Every preflight finding for deploying `env` as the identity in `seen`."""
    deployer = env.principal(Persona.DEPLOYER)
    report = PreflightReport(env.name, seen.identity)
    add = report.findings.append

    is_deployer = seen.identity == deployer
    add(
        Finding(
            "deploying identity",
            is_deployer,
            f"{seen.identity} {'is' if is_deployer else 'is not'} the deployer persona ({deployer})",
            "deploy as the deployer service principal (DATABRICKS_CLIENT_ID in CI), or set principals.deployer in"
            " infra/environments.toml to this identity: it owns every object, and the grants keep only its rights",
        )
    )
    admin = ADMINS_GROUP in seen.groups
    add(
        Finding(
            "workspace admin",
            admin,
            "member of the workspace `admins` group" if admin else "not a workspace admin",
            "a workspace admin adds the deployer to the `admins` group (Settings > Identity and access): creating"
            " cluster policies and notification destinations requires it",
        )
    )
    if seen.metastore_id is None:
        add(
            Finding(
                "metastore",
                False,
                "no Unity Catalog metastore is assigned to this workspace",
                "an account admin assigns a metastore to the workspace (account console > Catalog)",
            )
        )
        return report
    if seen.catalog_exists:
        owner_ok = seen.catalog_owner in (deployer, None) or seen.catalog_owner in seen.groups
        add(
            Finding(
                f"catalog {env.catalog}",
                owner_ok,
                f"exists, owned by {seen.catalog_owner}",
                f"the catalog's owner (or a metastore admin) runs `ALTER CATALOG {env.catalog} OWNER TO"
                f" `{deployer}``: Terraform manages it as its owner",
            )
        )
    else:
        can_create = CREATE_CATALOG in seen.metastore_privileges or seen.metastore_owner in (
            {seen.identity} | seen.groups
        )
        add(
            Finding(
                "CREATE CATALOG on the metastore",
                can_create,
                "granted" if can_create else f"missing, and catalog {env.catalog} does not exist yet",
                f"a metastore admin runs `GRANT CREATE CATALOG ON METASTORE TO `{deployer}``",
            )
        )
    if env.storage_root is None:
        add(
            Finding(
                "managed storage",
                seen.metastore_storage_root is not None,
                "the metastore has a storage root"
                if seen.metastore_storage_root
                else "neither the metastore nor the environment has managed storage: CREATE CATALOG would fail",
                "set storage_root for this environment in infra/environments.toml (a path under an external location"
                " the deployer may use); metastores of workspaces enabled for Unity Catalog automatically have none",
            )
        )
    else:
        covered = _covered(env.storage_root, seen.external_location_urls)
        add(
            Finding(
                "managed storage",
                covered,
                f"storage_root {env.storage_root} is {'inside' if covered else 'outside'} every external location"
                " visible to the deployer"
                if not covered
                else f"storage_root {env.storage_root} is inside an external location",
                "a metastore admin creates an external location covering it and grants the deployer"
                " CREATE MANAGED STORAGE on it",
            )
        )
    for kind, missing in (("group", seen.missing_groups), ("service principal", seen.missing_service_principals)):
        add(
            Finding(
                f"{kind}s of the permission matrix",
                not missing,
                "all exist in the workspace" if not missing else f"missing: {', '.join(sorted(missing))}",
                f"an admin adds each {kind} to the workspace (grants to unknown principals fail at apply)",
            )
        )
    return report


def observe(client: WorkspaceClient, env: EnvironmentConfig) -> Observation:
    """Read what `evaluate` needs, as the identity the client authenticates as."""
    me = client.current_user.me()
    identity = str(me.user_name or "")
    groups = frozenset(str(g.display) for g in (me.groups or []) if g.display)
    try:
        assignment = client.metastores.current()
    except NotFound:
        assignment = None
    metastore_id = assignment.metastore_id if assignment else None
    storage_root = owner = None
    privileges: frozenset[str] = frozenset()
    if metastore_id:
        metastore = client.metastores.get(metastore_id)
        storage_root, owner = metastore.storage_root, metastore.owner
        effective = client.grants.get_effective("metastore", metastore_id, principal=identity)
        privileges = frozenset(
            str(p.privilege.value if hasattr(p.privilege, "value") else p.privilege)
            for assignment_ in effective.privilege_assignments or []
            for p in assignment_.privileges or []
            if p.privilege is not None
        )
    try:
        catalog = client.catalogs.get(env.catalog)
        catalog_exists, catalog_owner = True, catalog.owner
    except NotFound:
        catalog_exists, catalog_owner = False, None
    principals = set(env.principals.values())
    sps = {p for p in principals if is_service_principal(p)}
    groups_wanted = principals - sps
    missing_groups = frozenset(g for g in groups_wanted if not list(client.groups.list(filter=f'displayName eq "{g}"')))
    missing_sps = frozenset(
        sp for sp in sps if not list(client.service_principals.list(filter=f'applicationId eq "{sp}"'))
    )
    locations = tuple(str(loc.url) for loc in client.external_locations.list() if loc.url)
    return Observation(
        identity=identity,
        groups=groups,
        metastore_id=metastore_id,
        metastore_storage_root=storage_root,
        metastore_owner=owner,
        metastore_privileges=privileges,
        catalog_exists=catalog_exists,
        catalog_owner=catalog_owner,
        missing_groups=missing_groups,
        missing_service_principals=missing_sps,
        external_location_urls=locations,
    )
