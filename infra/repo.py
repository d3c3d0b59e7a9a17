"""Where the repository is, and its folders other modules read: the one place that computes it."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = REPO_ROOT / "sql"
POLICIES_DIR = REPO_ROOT / "policies"
