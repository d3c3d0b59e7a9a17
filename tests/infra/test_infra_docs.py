"""docs/infra.md carries the permission matrix exactly as the code renders it, and documents every policy check."""

from __future__ import annotations

import re
from pathlib import Path

from infra.permissions import PermissionMatrix
from policies import defined_checks

DOC = Path(__file__).resolve().parents[2] / "docs" / "infra.md"


def test_doc_matrix_table_equals_the_code():
    text = DOC.read_text(encoding="utf-8")
    start, end = "<!-- permission-matrix:start -->\n", "<!-- permission-matrix:end -->"
    assert start in text and end in text
    table = text.split(start, 1)[1].split(end, 1)[0]
    assert table.strip() == PermissionMatrix.default().as_markdown().strip()


def test_doc_lists_exactly_the_policy_checks_policies_defines():
    """The checks come from policies/ itself (as checkov loads them): a new check without a row in the policy table,
    or a row for a check that no longer exists, fails."""
    documented = re.findall(r"^\| (CKV2?_[A-Z]+_\d+) \|", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert len(documented) == len(set(documented)), f"a check is documented twice: {sorted(documented)}"
    assert set(documented) == set(defined_checks())


def test_doc_workspace_acl_table_equals_the_code():
    from infra.permissions import workspace_acls_markdown

    text = DOC.read_text(encoding="utf-8")
    start, end = "<!-- workspace-acls:start -->\n", "<!-- workspace-acls:end -->"
    assert start in text and end in text
    assert text.split(start, 1)[1].split(end, 1)[0].strip() == workspace_acls_markdown().strip()
