"""Small helpers every construct shares: readable resource ids, ACL entries, tags, and each stack's Terraform block.

Nothing here names a catalog, a principal or a size: those come from `EnvironmentConfig`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import jsii

from infra.cdk import (
    LocalBackend,
    Node,
    S3Backend,
    TerraformElement,
    TerraformStack,
    TerraformVariable,
    Token,
    databricks,
)
from infra.config import EnvironmentConfig, resolve_backend
from infra.config import LocalBackend as LocalBackendConfig
from infra.permissions import is_service_principal
from infra.toolchain import required_version


def logical_id(*parts: str) -> str:
    """A Terraform-safe, readable resource name: `schema`, `gold` -> `schema_gold`."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", "_".join(parts)).strip("_").lower()


def access_control(principal: str, level: str) -> databricks.permissions.PermissionsAccessControl:
    if is_service_principal(principal):
        return databricks.permissions.PermissionsAccessControl(service_principal_name=principal, permission_level=level)
    return databricks.permissions.PermissionsAccessControl(group_name=principal, permission_level=level)


def sorted_tags(env: EnvironmentConfig) -> dict[str, str]:
    """The environment's cost tags in a stable order (every taggable resource carries them)."""
    return dict(sorted(env.tags.items()))


def workspace_api_path(workspace_path: str) -> str:
    """Workspace objects are addressed without the `/Workspace` prefix that runtime paths (root_path) carry."""
    return workspace_path.removeprefix("/Workspace")


def terraform_settings(
    stack: TerraformStack, env: EnvironmentConfig, stack_name: str, environ: Mapping[str, str] | None = None
) -> databricks.provider.DatabricksProvider:
    """The stack's state backend, Terraform version, variables and the workspace provider; returns the provider.

    State: remote and locked for every stack (`[state]` in infra/environments.toml), one object per stack; local
    files only on a laptop that asks for them, never on CI (`infra.config.resolve_backend`).
    """
    # A Terraform older than the range cdktf.json declares fails at init with a clear message instead of
    # misreading the backend (S3's use_lockfile needs >= 1.10).
    stack.add_override("terraform.required_version", required_version())
    backend = resolve_backend(env.state, os.environ if environ is None else environ)
    if isinstance(backend, LocalBackendConfig):
        # Relative to the synthesized stack folder: no developer's home directory in the JSON.
        LocalBackend(stack, path=f"terraform.{stack_name}.tfstate")
    else:
        S3Backend(
            stack,
            bucket=backend.bucket,
            key=backend.key(env.name, stack_name),
            region=backend.region,
            encrypt=backend.encrypt,
            dynamodb_table=backend.dynamodb_table,
            # Terraform >= 1.10 native S3 locking (hashicorp/terraform#35661).
            use_lockfile=backend.use_lockfile or None,
        )
    # The workspace URL is a variable so CI can point a plan at another workspace without re-synthesizing.
    host = TerraformVariable(
        stack,
        "databricks_host",
        type="string",
        default=env.workspace_host,
        description="Databricks workspace URL (override with TF_VAR_databricks_host).",
    )
    # Optional and sensitive: null means the provider's own auth chain (DATABRICKS_TOKEN, a profile, OIDC).
    # Secrets are never read at synth time, so no token can reach cdk.tf.json.
    token = TerraformVariable(
        stack,
        "databricks_token",
        type="string",
        sensitive=True,
        nullable=True,
        default=Token.null_value(),
        description="Personal access token; leave unset to use the provider's environment or profile auth.",
    )
    return databricks.provider.DatabricksProvider(stack, "databricks", host=host.string_value, token=token.string_value)


class ReadableStack(TerraformStack):
    """A stack whose resources and data sources are named by their construct id (`databricks_job.job_gdelt_loader`)
    instead of the path-and-hash names nested constructs get, so plans, snapshots and the drift report stay
    readable. cdktn asks the stack for every element's name (`allocateLogicalId`, its documented extension point).
    Construct ids are therefore unique per resource type within a stack; Terraform would reject duplicates anyway.
    """

    @jsii.member(jsii_name="allocateLogicalId")
    def _allocate_logical_id(self, tf_element: Node | TerraformElement) -> str:
        # jsii hands over the element or its construct node; both lead to the construct id.
        node = tf_element if isinstance(tf_element, Node) else tf_element.node
        return str(node.id)
