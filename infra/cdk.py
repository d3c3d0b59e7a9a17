"""The one module that names the CDK for Terraform packages: everything else imports them from here.

We build on CDK Terrain (`cdktn`, PyPI `cdktn` + `cdktn-provider-databricks`), the maintained fork of HashiCorp's
archived cdktf. Its Python API is cdktf's with the module names changed, so the rest of the code names neither
spelling: a future rename (or a move back) is a change to this file and `requirements.txt` only.

- `core`: the CDK itself (App, TerraformStack, backends, Fn, Token, Aspects...), re-exported by name below.
- `databricks`: the prebuilt Databricks provider bindings; each resource is a submodule (`databricks.catalog`).
- `PROVIDER_SOURCE` / `PROVIDER_VERSION`: the Terraform provider the bindings were generated from (read from the
  bindings' own package metadata), which synth writes into `required_providers`.
"""

from __future__ import annotations

import json
import tarfile
from functools import cache
from importlib import resources

import cdktn as core
import cdktn_provider_databricks as databricks

# The provider modules the stacks use, imported by name so type checkers see `databricks.<module>.<Class>` (the
# package itself loads submodules lazily).
import cdktn_provider_databricks.alert_v2
import cdktn_provider_databricks.catalog
import cdktn_provider_databricks.cluster
import cdktn_provider_databricks.cluster_policy
import cdktn_provider_databricks.dashboard
import cdktn_provider_databricks.data_databricks_sql_warehouse
import cdktn_provider_databricks.directory
import cdktn_provider_databricks.grants
import cdktn_provider_databricks.job
import cdktn_provider_databricks.notification_destination
import cdktn_provider_databricks.permissions
import cdktn_provider_databricks.pipeline
import cdktn_provider_databricks.provider
import cdktn_provider_databricks.schema
import cdktn_provider_databricks.sql_endpoint
import cdktn_provider_databricks.sql_table
import cdktn_provider_databricks.volume
import cdktn_provider_databricks.workspace_file
from cdktn import (
    Annotations,
    App,
    Aspects,
    Fn,
    IAspect,
    LocalBackend,
    S3Backend,
    TerraformAsset,
    TerraformDataSource,
    TerraformElement,
    TerraformOutput,
    TerraformResource,
    TerraformResourceLifecycle,
    TerraformStack,
    TerraformVariable,
    Testing,
    Token,
)
from constructs import Construct, IConstruct, Node

__all__ = [
    "PROVIDER_PACKAGE",
    "Annotations",
    "App",
    "Aspects",
    "Construct",
    "Fn",
    "IAspect",
    "IConstruct",
    "LocalBackend",
    "Node",
    "S3Backend",
    "TerraformAsset",
    "TerraformDataSource",
    "TerraformElement",
    "TerraformOutput",
    "TerraformResource",
    "TerraformResourceLifecycle",
    "TerraformStack",
    "TerraformVariable",
    "Testing",
    "Token",
    "core",
    "databricks",
    "provider_pin",
]

PROVIDER_PACKAGE = databricks.__name__


@cache
def provider_pin() -> tuple[str, str]:
    """(registry source, version) of the Terraform provider the bindings were generated for.

    Read from the jsii assembly the bindings ship (`package.json` -> `cdktn.provider`), not typed here: the
    version in `required_providers` must be the one the generated classes describe.
    """
    jsii_dir = resources.files(f"{PROVIDER_PACKAGE}._jsii")
    (tarball,) = [entry for entry in jsii_dir.iterdir() if entry.name.endswith(".jsii.tgz")]
    with resources.as_file(tarball) as path, tarfile.open(path) as archive:
        member = archive.extractfile("package/package.json")
        if member is None:  # pragma: no cover - every jsii tarball has one
            raise RuntimeError(f"{path}: no package/package.json in the provider bindings")
        manifest = json.load(member)
    provider = manifest["cdktn"]["provider"]
    return str(provider["name"]), str(provider["version"])
