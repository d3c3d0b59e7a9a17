"""Which catalog or schema each `databricks_grants` resource targets, decided from the synthesized JSON.

Pure: the `resource` section of one `cdk.tf.json` in, one verdict per `databricks_catalog` / `databricks_schema`
out. No checkov or cdktf import, so it is unit-tested on plain dicts and reused by the checkov check CKV2_LH_1
(`policies/securables_have_grants.py`).

A grants resource targets exactly one securable, named by one attribute (`catalog`, `schema`, `table`, ...).
A catalog counts as granted only when some grants resource's `catalog` attribute names it, and a schema only when
some `schema` attribute names it; mentioning the catalog inside a schema grant (`"${databricks_catalog.c.name}.raw"`)
grants the schema, never the catalog. The attribute names its securable either by reference
(`${databricks_catalog.c.name}` / `.id`, `${databricks_schema.s.id}`) or by value: a literal, or a template whose
references all resolve here, equal to the catalog's name or the schema's `catalog.schema` id (the provider's
`databricks_schema` id). Names compare case-insensitively because Unity Catalog stores every object name in lower
case (Databricks SQL reference, "Names").

Only `databricks_grants` counts: it is the authoritative resource the permission matrix renders into (one per
securable); the single-principal `databricks_grant` leaves every other principal's access unmanaged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CATALOG_TYPE = "databricks_catalog"
SCHEMA_TYPE = "databricks_schema"
GRANTS_TYPE = "databricks_grants"

# `${databricks_catalog.<name>.<attribute>}` as cdktf renders a reference (Terraform JSON syntax, "Expression
# Mapping"): an interpolation that is exactly one resource attribute.
_REFERENCE = re.compile(r"\$\{\s*(databricks_catalog|databricks_schema)\.([A-Za-z_][A-Za-z0-9_-]*)\.([a-z_]+)\s*\}")


@dataclass(frozen=True)
class Securable:
    """A catalog or schema declared in the stack, with the value Terraform will give its name/id, when known."""

    address: str  # `databricks_catalog.<name>` / `databricks_schema.<name>`
    kind: str  # "catalog" or "schema"
    # The catalog's name or the schema's `catalog.schema` id, None when it depends on something unresolvable here
    # (a variable, a data source): such a securable can still be granted by reference.
    value: str | None


def _resolve(text: str, values: Mapping[tuple[str, str, str], str | None]) -> str | None:
    """The string Terraform will compute for `text`, or None when any interpolation cannot be resolved here."""
    missing = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing
        value = values.get((match.group(1), match.group(2), match.group(3)))
        if value is None:
            missing = True
            return ""
        return value

    resolved = _REFERENCE.sub(substitute, text)
    if missing or "${" in resolved:
        return None
    return resolved


def _direct_reference(text: str) -> tuple[str, str, str] | None:
    """(type, name, attribute) when `text` is exactly one reference, e.g. `${databricks_schema.gold.id}`."""
    match = _REFERENCE.fullmatch(text.strip())
    return (match.group(1), match.group(2), match.group(3)) if match else None


def _literal_count_is_zero(config: Mapping[str, Any]) -> bool:
    """`count = 0` removes the resource; an unresolvable count (a variable) is judged as present."""
    count = config.get("count")
    return count == 0 or (isinstance(count, str) and count.strip() == "0")


def _securables_and_values(
    resources: Mapping[str, Mapping[str, Any]],
) -> tuple[tuple[Securable, ...], dict[tuple[str, str, str], str | None]]:
    """Every catalog and schema, and what each `${type.name.attribute}` of them resolves to."""
    values: dict[tuple[str, str, str], str | None] = {}
    out: list[Securable] = []
    for name, config in sorted((resources.get(CATALOG_TYPE) or {}).items()):
        raw = config.get("name") if isinstance(config, Mapping) else None
        value = _resolve(raw, {}) if isinstance(raw, str) else None
        # The provider sets a catalog's id to its name.
        values[(CATALOG_TYPE, name, "name")] = values[(CATALOG_TYPE, name, "id")] = value
        out.append(Securable(f"{CATALOG_TYPE}.{name}", "catalog", value))
    # Schemas after catalogs: a schema's catalog_name usually references its catalog.
    for name, config in sorted((resources.get(SCHEMA_TYPE) or {}).items()):
        cfg: Mapping[str, Any] = config if isinstance(config, Mapping) else {}
        catalog_raw, name_raw = cfg.get("catalog_name"), cfg.get("name")
        catalog = _resolve(catalog_raw, values) if isinstance(catalog_raw, str) else None
        short = _resolve(name_raw, values) if isinstance(name_raw, str) else None
        value = f"{catalog}.{short}" if catalog and short else None
        # The provider sets a schema's id to `catalog.schema`; its name is the short name.
        values[(SCHEMA_TYPE, name, "id")] = value
        values[(SCHEMA_TYPE, name, "name")] = short
        out.append(Securable(f"{SCHEMA_TYPE}.{name}", "schema", value))
    return tuple(out), values


def declared_securables(resources: Mapping[str, Mapping[str, Any]]) -> tuple[Securable, ...]:
    """Every catalog and schema in one stack's `resource` section, with its name/id resolved where possible."""
    return _securables_and_values(resources)[0]


def granted_addresses(resources: Mapping[str, Mapping[str, Any]]) -> frozenset[str]:
    """Addresses of the catalogs and schemas that some `databricks_grants` resource targets."""
    securables, values = _securables_and_values(resources)
    by_kind_value: dict[tuple[str, str], set[str]] = {}
    for s in securables:
        if s.value is not None:
            by_kind_value.setdefault((s.kind, s.value.casefold()), set()).add(s.address)
    # A schema's id reference names the schema; its name reference is only the short name, never a grants target.
    direct_attributes = {"catalog": (CATALOG_TYPE, {"name", "id"}), "schema": (SCHEMA_TYPE, {"id"})}
    granted: set[str] = set()
    for config in (resources.get(GRANTS_TYPE) or {}).values():
        if not isinstance(config, Mapping) or _literal_count_is_zero(config):
            continue
        for kind, (resource_type, attributes) in direct_attributes.items():
            target = config.get(kind)
            if not isinstance(target, str):
                continue
            reference = _direct_reference(target)
            if reference is not None and reference[0] == resource_type and reference[2] in attributes:
                granted.add(f"{resource_type}.{reference[1]}")
                continue
            resolved = _resolve(target, values)
            if resolved is not None:
                granted |= by_kind_value.get((kind, resolved.casefold()), set())
    return frozenset(granted)


def ungranted_securables(resources: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """address -> what is wrong and how to fix it, for every catalog and schema no grants resource targets."""
    granted = granted_addresses(resources)
    out: dict[str, str] = {}
    for s in declared_securables(resources):
        if s.address in granted:
            continue
        shown = f"{s.kind} '{s.value}'" if s.value else s.kind
        attribute = "name" if s.kind == "catalog" else "id"
        out[s.address] = (
            f"{shown} ({s.address}) is the target of no databricks_grants resource (a grant on another securable"
            f" that mentions it does not count): add databricks_grants with {s.kind} ="
            f" ${{{s.address}.{attribute}}}, rendered from infra/permissions.py"
        )
    return out
