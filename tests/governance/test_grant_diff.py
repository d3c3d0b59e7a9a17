"""The pure grant diff: expected (matrix) vs live grant sets -> missing / unexpected / changed findings."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.permissions import Grant, PermissionMatrix, Persona, SecurableType
from lakehouse.governance.grants import (
    FindingKind,
    LiveSecurable,
    SecurableRef,
    diff_grants,
    diff_securable,
    expected_by_securable,
    render_audit,
)

PRINCIPALS = {
    Persona.PLATFORM_ADMINS: "lakehouse-platform-admins",
    Persona.DATA_SCIENTISTS: "data-scientists",
    Persona.ANALYSTS: "analysts",
    Persona.COMPLIANCE: "compliance-auditors",
    Persona.PIPELINE: "6f1c2b9e-3a4d-4e5f-8a7b-0c1d2e3f4a5b",
    Persona.DEPLOYER: "3c5d7e9f-1a2b-4c3d-8e4f-5a6b7c8d9e0f",
    Persona.AUDITOR: "8b9c0d1e-2f3a-4b5c-9d6e-7f8a9b0c1d2e",
}
CATALOG = "lakehouse_test"
SILVER = SecurableRef(SecurableType.SCHEMA, f"{CATALOG}.silver")
UNMANAGED = SecurableRef(SecurableType.TABLE, f"{CATALOG}.gold.correlations")


def _expected() -> frozenset[Grant]:
    return PermissionMatrix.default().expected_grants(CATALOG, PRINCIPALS)


def _live_as_expected(extra_tables: tuple[SecurableRef, ...] = (UNMANAGED,)) -> dict[SecurableRef, LiveSecurable]:
    live = {
        ref: LiveSecurable(ref, exists=True, assignments=dict(by_principal))
        for ref, by_principal in expected_by_securable(_expected()).items()
    }
    for ref in extra_tables:
        live[ref] = LiveSecurable(ref, exists=True, assignments={}, origin="managed listed live")
    return live


def _audit(live: dict[SecurableRef, LiveSecurable]):  # type: ignore[no-untyped-def]
    return diff_grants(_expected(), live.values(), environment="test", catalog=CATALOG, host="http://example")


def _with(live: dict[SecurableRef, LiveSecurable], ref: SecurableRef, assignments: dict[str, frozenset[str]]) -> None:
    live[ref] = LiveSecurable(ref, exists=True, assignments=assignments, origin=live[ref].origin)


def test_live_equal_to_the_matrix_is_clean() -> None:
    audit = _audit(_live_as_expected())
    assert audit.clean
    assert audit.findings == ()
    assert audit.securables_checked == len(expected_by_securable(_expected())) + 1
    assert "No grant drift" in render_audit(audit, "markdown")


def test_missing_unexpected_and_changed_are_told_apart() -> None:
    live = _live_as_expected()
    silver = dict(live[SILVER].assignments)
    del silver["data-scientists"]  # missing
    silver["compliance-auditors"] = frozenset({"USE_SCHEMA", "SELECT"})  # MODIFY revoked: changed
    silver["analysts"] = frozenset({"SELECT"})  # unexpected principal
    _with(live, SILVER, silver)
    audit = _audit(live)
    by_principal = {f.principal: f for f in audit.findings}
    assert set(by_principal) == {"data-scientists", "compliance-auditors", "analysts"}
    assert by_principal["data-scientists"].kind is FindingKind.MISSING
    assert by_principal["data-scientists"].missing_privileges == {"USE_SCHEMA", "SELECT"}
    assert by_principal["compliance-auditors"].kind is FindingKind.CHANGED
    assert by_principal["compliance-auditors"].missing_privileges == {"MODIFY"}
    assert by_principal["compliance-auditors"].unexpected_privileges == frozenset()
    assert by_principal["analysts"].kind is FindingKind.UNEXPECTED
    assert all(f.securable == SILVER and not f.hint for f in audit.findings)
    assert audit.counts() == {"missing": 1, "unexpected": 1, "changed": 1}


def test_an_extra_privilege_next_to_the_expected_ones_is_changed() -> None:
    live = _live_as_expected()
    silver = dict(live[SILVER].assignments)
    silver["data-scientists"] = silver["data-scientists"] | {"MODIFY"}
    _with(live, SILVER, silver)
    (finding,) = _audit(live).findings
    assert finding.kind is FindingKind.CHANGED
    assert finding.unexpected_privileges == {"MODIFY"}
    assert finding.describe() == "unexpected MODIFY"


def test_case_only_principal_difference_is_drift_with_a_hint_on_both_sides() -> None:
    live = _live_as_expected()
    silver = dict(live[SILVER].assignments)
    silver["Data-Scientists"] = silver.pop("data-scientists")
    _with(live, SILVER, silver)
    findings = _audit(live).findings
    assert {(f.principal, f.kind) for f in findings} == {
        ("data-scientists", FindingKind.MISSING),
        ("Data-Scientists", FindingKind.UNEXPECTED),
    }
    for f in findings:
        assert "only the case differs" in f.hint
    assert "'Data-Scientists'" in next(f.hint for f in findings if f.kind is FindingKind.MISSING)


def test_no_case_hint_when_the_names_really_differ() -> None:
    findings = diff_securable(
        SILVER, {"data-scientists": frozenset({"SELECT"})}, {"data-scientist": frozenset({"SELECT"})}
    )
    assert len(findings) == 2
    assert all(f.hint == "" for f in findings)


def test_any_direct_grant_on_an_unmanaged_table_is_unexpected() -> None:
    live = _live_as_expected()
    _with(live, UNMANAGED, {"analysts": frozenset({"SELECT"})})
    (finding,) = _audit(live).findings
    assert finding.securable == UNMANAGED
    assert finding.kind is FindingKind.UNEXPECTED
    assert finding.expected == frozenset()


def test_a_securable_that_does_not_exist_reports_every_expected_grant_missing() -> None:
    live = _live_as_expected()
    view = SecurableRef(SecurableType.TABLE, f"{CATALOG}.gold.correlations_analyst")
    live[view] = LiveSecurable(view, exists=False)
    audit = _audit(live)
    assert audit.missing_securables == (view,)
    (finding,) = audit.findings
    assert finding.kind is FindingKind.MISSING
    assert finding.principal == "analysts"
    assert "does not exist" in finding.hint


def test_an_expected_securable_that_was_never_read_is_a_caller_error() -> None:
    live = _live_as_expected()
    del live[SILVER]
    with pytest.raises(ValueError, match=r"not read from the workspace: schema lakehouse_test\.silver"):
        _audit(live)


def test_reading_a_securable_twice_is_a_caller_error() -> None:
    live = list(_live_as_expected().values())
    with pytest.raises(ValueError, match="read twice"):
        diff_grants(_expected(), [*live, live[0]], environment="t", catalog=CATALOG, host="h")


def test_renderings_carry_every_finding() -> None:
    live = _live_as_expected()
    _with(live, UNMANAGED, {"analysts": frozenset({"SELECT"})})
    audit = _audit(live)
    as_json = json.loads(render_audit(audit, "json"))
    assert as_json["clean"] is False
    assert as_json["counts"] == {"missing": 0, "unexpected": 1, "changed": 0}
    assert as_json["findings"][0]["securable"] == "lakehouse_test.gold.correlations"
    assert as_json["findings"][0]["unexpected_privileges"] == ["SELECT"]
    assert "| `table lakehouse_test.gold.correlations` | `analysts` | unexpected |" in render_audit(audit, "markdown")
    assert "drift: 1 finding(s)" in render_audit(audit, "table")
    with pytest.raises(ValueError, match="unknown format"):
        render_audit(audit, "yaml")


_privileges = st.frozensets(st.sampled_from(["SELECT", "MODIFY", "USE_SCHEMA", "CREATE_TABLE"]), min_size=1)
_principals = st.sampled_from(["a", "A", "b", "c-d", "C-D"])


@given(
    expected=st.dictionaries(_principals, _privileges, max_size=4),
    live=st.dictionaries(_principals, _privileges, max_size=4),
)
def test_applying_the_findings_to_live_yields_expected(
    expected: dict[str, frozenset[str]], live: dict[str, frozenset[str]]
) -> None:
    findings = diff_securable(SILVER, expected, live)
    repaired = dict(live)
    for f in findings:
        assert f.actual == live.get(f.principal, frozenset())
        held = (repaired.get(f.principal, frozenset()) - f.unexpected_privileges) | f.missing_privileges
        if held:
            repaired[f.principal] = held
        else:
            repaired.pop(f.principal, None)
    assert repaired == expected
    assert (not findings) == (expected == live)


def test_the_pure_modules_import_neither_the_sdk_nor_http() -> None:
    code = (
        "import sys, lakehouse.governance.grants, lakehouse.governance.plan, lakehouse.governance.drift\n"
        "print(','.join(m for m in ('databricks.sdk', 'requests', 'pyspark') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
