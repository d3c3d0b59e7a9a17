"""Authoritative Unity Catalog grants rendered from the permission matrix, for the securables a stack owns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.cdk import Construct, databricks
from infra.config import EnvironmentConfig
from infra.permissions import PermissionMatrix, Securable
from infra.stacks.common import logical_id


class UnityGrants(Construct):
    """One `databricks_grants` per securable in `targets` (securable -> the grants resource's target arguments).

    Every securable of the matrix must be granted by exactly one stack: the platform stack passes the catalog,
    schemas and volume, the serving stack the views. `databricks_grants` is authoritative (provider doc: it
    "will OVERWRITE any existing grants"), so a securable's whole grant list lives in one resource.
    Handle: `resources[securable]`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        env: EnvironmentConfig,
        matrix: PermissionMatrix,
        targets: Mapping[Securable, Mapping[str, Any]],
    ) -> None:
        super().__init__(scope, construct_id)
        self.resources: dict[Securable, databricks.grants.Grants] = {}
        for securable, by_principal in matrix.grants_by_securable(env.principals).items():
            if securable not in targets:
                continue
            # Authoritative grants for one securable from infra/permissions.py: anything else is revoked.
            self.resources[securable] = databricks.grants.Grants(
                self,
                logical_id("grants", securable.key()),
                grant=[
                    databricks.grants.GrantsGrant(principal=p, privileges=sorted(privs))
                    for p, privs in sorted(by_principal.items())
                ],
                **dict(targets[securable]),
            )
