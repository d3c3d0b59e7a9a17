"""Unity Catalog objects of one environment: the catalog, its layer schemas and the landing volume."""

from __future__ import annotations

from infra.cdk import Construct, TerraformResourceLifecycle, databricks
from infra.config import EnvironmentConfig
from infra.permissions import LANDING_VOLUME, SCHEMAS, Persona
from infra.stacks.common import logical_id, sorted_tags


class UnityCatalog(Construct):
    """The catalog, the schemas `SCHEMAS` and the managed landing volume; all owned by the deployer.

    Handles: `catalog`, `schemas[name]`, `landing`, `landing_root` (the volume's /Volumes path).

    Why the deployer owns them: the provider sets a catalog's owner inside its create call (resource_catalog.go
    updates `owner` right after CreateCatalog), so an owner other than the deployer would leave it without any right
    on the catalog before the grants that give it one are applied, and the schema, volume and grant creates that
    follow would fail. Platform admins manage everything through grants (ALL_PRIVILEGES, MANAGE) instead.
    """

    def __init__(self, scope: Construct, construct_id: str, env: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        owner = env.principal(Persona.DEPLOYER)
        # Production data must never disappear because of a refactor: Terraform refuses any plan that destroys it.
        protected = TerraformResourceLifecycle(prevent_destroy=True) if env.name == "production" else None
        # One catalog per environment isolates staging data from production. storage_root: managed storage where
        # the metastore has none (auto-enabled workspaces); None leaves the metastore's root in charge.
        self.catalog = databricks.catalog.Catalog(
            self,
            "catalog",
            name=env.catalog,
            owner=owner,
            storage_root=env.storage_root,
            comment=f"Lakehouse GDELT x Wikimedia correlations ({env.name}); managed by Terraform (cdktn).",
            properties=sorted_tags(env),
            lifecycle=protected,
        )
        # Medallion layers plus ops (quarantine, expectation counts, the pipeline's event log, health views).
        self.schemas = {
            name: databricks.schema.Schema(
                self,
                logical_id("schema", name),
                catalog_name=self.catalog.name,
                name=name,
                owner=owner,
                comment=f"{name} layer of the lakehouse ({env.name}).",
                lifecycle=protected,
            )
            for name in SCHEMAS
        }
        schema_name, volume_name = LANDING_VOLUME
        # Managed volume where the ingestion jobs land raw files and the pipeline's Auto Loader reads them.
        self.landing = databricks.volume.Volume(
            self,
            logical_id("volume", schema_name, volume_name),
            catalog_name=self.catalog.name,
            schema_name=self.schemas[schema_name].name,
            name=volume_name,
            volume_type="MANAGED",
            owner=owner,
            comment="Raw GDELT exports, Wikimedia recent-change batches and the CAMEO lookup.",
            lifecycle=protected,
        )
        self.landing_root = f"/Volumes/{env.catalog}/{schema_name}/{volume_name}"
