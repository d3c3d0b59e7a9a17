"""Authoritative workspace ACLs (`databricks_permissions`) rendered from `infra.permissions.WORKSPACE_ACLS`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from infra.cdk import Construct, databricks
from infra.config import EnvironmentConfig
from infra.permissions import WORKSPACE_ACLS, WorkspaceObject
from infra.stacks.common import access_control, logical_id


class WorkspaceAcls(Construct):
    """One `databricks_permissions` per object: `objects[kind]` lists (name, target arguments) of that kind.

    `databricks_permissions` is authoritative for an object's ACL: every entry not in WORKSPACE_ACLS is removed,
    so who may run, see or edit each object is exactly what the table says (plus the implicit owner).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        env: EnvironmentConfig,
        objects: Mapping[WorkspaceObject, Sequence[tuple[str, Mapping[str, Any]]]],
    ) -> None:
        super().__init__(scope, construct_id)
        self.resources: dict[str, databricks.permissions.Permissions] = {}
        for kind, named_targets in objects.items():
            by_principal = {env.principal(persona): level for persona, level in WORKSPACE_ACLS[kind].items()}
            for name, target in named_targets:
                self.resources[name] = databricks.permissions.Permissions(
                    self,
                    logical_id("permissions", name),
                    access_control=[access_control(p, level) for p, level in sorted(by_principal.items())],
                    **dict(target),
                )
