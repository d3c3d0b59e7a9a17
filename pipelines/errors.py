"""The project's root error. Every expected failure (bad config, bad input, an unreachable workspace, a missing model
package) is a `LakehouseError` with an actionable message: what, where, how to fix. The `lakehouse` command prints
it without a traceback and exits 1.

It lives here, in the bundle the pipeline and the jobs ship with, because `pipelines` is the lowest layer: `infra`
and `lakehouse` build on it, never the other way round (the bundle has no `lakehouse` package on Databricks).
"""

from __future__ import annotations


class LakehouseError(Exception):
    """Root of the errors the `lakehouse` command reports without a traceback."""
