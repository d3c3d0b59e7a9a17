"""The project's root error: every expected failure (bad config, bad input, unreachable workspace) is one of
these, carries an actionable message, and maps to CLI exit code 1."""

from __future__ import annotations


class LakehouseError(Exception):
    """Root of the errors the `lakehouse` command reports without a traceback."""
