"""The root error, re-exported where the CLI's modules look for it (defined in `pipelines.errors`, the lowest layer)."""

from __future__ import annotations

from pipelines.errors import LakehouseError

__all__ = ["LakehouseError"]
