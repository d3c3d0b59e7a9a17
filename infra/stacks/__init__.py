"""The CDKTF stacks: one class, instantiated once per environment (`staging`, `production`)."""

from infra.stacks.lakehouse import LakehouseStack

__all__ = ["LakehouseStack"]
