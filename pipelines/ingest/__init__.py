"""Ingestion jobs: land GDELT export slices and Wikimedia recent changes as raw files for the pipeline.

Runs on Databricks as a plain Python script (`pipelines/ingest/cli.py`), so it depends only on requests, click and
urllib3 (the jobs install exactly these: infra/runtime_deps.py derives them from the imports), never on `lakehouse`
or `infra`.
"""

from __future__ import annotations

from pipelines.errors import LakehouseError


class IngestError(LakehouseError):
    """An expected ingestion failure (bad feed, bad archive, bad arguments): the message says what and how to fix."""
