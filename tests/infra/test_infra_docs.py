"""docs/infra.md carries the permission matrix exactly as the code renders it."""

from __future__ import annotations

from pathlib import Path

from infra.permissions import PermissionMatrix

DOC = Path(__file__).resolve().parents[2] / "docs" / "infra.md"


def test_doc_matrix_table_equals_the_code():
    text = DOC.read_text(encoding="utf-8")
    start, end = "<!-- permission-matrix:start -->\n", "<!-- permission-matrix:end -->"
    assert start in text and end in text
    table = text.split(start, 1)[1].split(end, 1)[0]
    assert table.strip() == PermissionMatrix.default().as_markdown().strip()


def test_doc_lists_every_policy_check():
    text = DOC.read_text(encoding="utf-8")
    for check_id in (
        "CKV_LH_1",
        "CKV_LH_2",
        "CKV_LH_3",
        "CKV_LH_4",
        "CKV_LH_5",
        "CKV_LH_6",
        "CKV_LH_7",
        "CKV_LH_8",
        "CKV2_LH_1",
    ):
        assert f"| {check_id} |" in text


def test_doc_workspace_acl_table_equals_the_code():
    from infra.permissions import workspace_acls_markdown

    text = DOC.read_text(encoding="utf-8")
    start, end = "<!-- workspace-acls:start -->\n", "<!-- workspace-acls:end -->"
    assert start in text and end in text
    assert text.split(start, 1)[1].split(end, 1)[0].strip() == workspace_acls_markdown().strip()
