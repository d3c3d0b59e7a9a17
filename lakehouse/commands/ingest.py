"""`lakehouse ingest`: the same click group the Databricks ingestion jobs run (`pipelines/ingest/cli.py`)."""

from __future__ import annotations

from pipelines.ingest.cli import ingest

__all__ = ["ingest"]
