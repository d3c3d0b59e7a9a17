"""Grant drift as a set difference: expected grants (the permission matrix) vs live grants -> findings.

Pure: plain values in, plain values out; no SDK, no HTTP. `lakehouse.governance.audit` reads the live side from the
workspace; this module decides what differs and renders it.

Principals are compared exactly. Unity Catalog resolves a principal name when a grant is made, but the grant
then lives under the name as the identity system spells it, and `databricks_grants` compares names
case-sensitively (terraform-provider-databricks #3705, fixed by #3708: "group names are case sensitive").
So `Analysts` vs `analysts` is drift; we report it as such and add a hint that only the case differs, which
is almost always a typo in `infra/environments.toml` or a hand-made grant. Grants on one securable must come
from one authoritative `databricks_grants` resource (two resources fight each other: issue #2216), so any
privilege the matrix does not name is drift, never "someone else's grant".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from infra.permissions import Grant, SecurableType


class FindingKind(StrEnum):
    MISSING = "missing"  # the principal should hold privileges here and holds none
    UNEXPECTED = "unexpected"  # the principal holds privileges here and should hold none
    CHANGED = "changed"  # the principal holds some privileges here, but not exactly the expected ones


@dataclass(frozen=True, order=True)
class SecurableRef:
    """A securable as the grants API names it: type + full name (`catalog.schema.table`)."""

    type: SecurableType
    full_name: str

    def __str__(self) -> str:
        return f"{self.type.value} {self.full_name}"


@dataclass(frozen=True)
class LiveSecurable:
    """What the workspace says about one securable: whether it exists, and its direct grants.

    `assignments` maps principal -> privileges exactly as the grants API returned them (no inherited grants).
    """

    ref: SecurableRef
    exists: bool
    assignments: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Why this securable was audited (e.g. "pipeline-created table"): shown in reports.
    origin: str = "permission matrix"


@dataclass(frozen=True, order=True)
class Finding:
    securable: SecurableRef
    principal: str
    kind: FindingKind
    expected: frozenset[str]
    actual: frozenset[str]
    hint: str = ""

    @property
    def missing_privileges(self) -> frozenset[str]:
        return self.expected - self.actual

    @property
    def unexpected_privileges(self) -> frozenset[str]:
        return self.actual - self.expected

    def describe(self) -> str:
        """One line a reviewer can act on."""
        parts = []
        if self.missing_privileges:
            parts.append("missing " + ", ".join(sorted(self.missing_privileges)))
        if self.unexpected_privileges:
            parts.append("unexpected " + ", ".join(sorted(self.unexpected_privileges)))
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "securable_type": self.securable.type.value,
            "securable": self.securable.full_name,
            "principal": self.principal,
            "kind": self.kind.value,
            "expected": sorted(self.expected),
            "actual": sorted(self.actual),
            "missing_privileges": sorted(self.missing_privileges),
            "unexpected_privileges": sorted(self.unexpected_privileges),
            "hint": self.hint,
        }


@dataclass(frozen=True)
class GrantAudit:
    """The result of one audit: what was checked and every difference found."""

    environment: str
    catalog: str
    host: str
    securables_checked: int
    findings: tuple[Finding, ...]
    missing_securables: tuple[SecurableRef, ...] = ()

    @property
    def clean(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        out = {kind.value: 0 for kind in FindingKind}
        for f in self.findings:
            out[f.kind.value] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "catalog": self.catalog,
            "host": self.host,
            "clean": self.clean,
            "securables_checked": self.securables_checked,
            "counts": self.counts(),
            "missing_securables": [str(s) for s in self.missing_securables],
            "findings": [f.to_dict() for f in self.findings],
        }


def expected_by_securable(expected: Iterable[Grant]) -> dict[SecurableRef, dict[str, frozenset[str]]]:
    """Group flat grants into securable -> principal -> privileges."""
    grouped: dict[SecurableRef, dict[str, set[str]]] = {}
    for g in expected:
        ref = SecurableRef(g.securable_type, g.full_name)
        grouped.setdefault(ref, {}).setdefault(g.principal, set()).add(g.privilege)
    return {ref: {p: frozenset(v) for p, v in by_p.items()} for ref, by_p in grouped.items()}


def _case_hint(principal: str, other: str, *, expected_side: bool) -> str:
    if expected_side:
        return (
            f"only the case differs from live principal '{other}': Unity Catalog compares principals exactly;"
            " fix the principal's spelling in infra/environments.toml or re-grant to the exact name"
        )
    return (
        f"only the case differs from expected principal '{other}': Unity Catalog compares principals exactly;"
        " revoke this grant and let the stack re-apply the matrix"
    )


def diff_securable(
    ref: SecurableRef, expected: Mapping[str, frozenset[str]], live: Mapping[str, frozenset[str]]
) -> list[Finding]:
    """Findings for one securable. `databricks_grants` is authoritative, so every extra privilege is drift."""
    findings: list[Finding] = []
    for principal in sorted(set(expected) | set(live)):
        want = expected.get(principal, frozenset())
        have = live.get(principal, frozenset())
        if want == have:
            continue
        if not have:
            kind = FindingKind.MISSING
        elif not want:
            kind = FindingKind.UNEXPECTED
        else:
            kind = FindingKind.CHANGED
        findings.append(Finding(ref, principal, kind, want, have))
    # A principal that is missing on one side and present, spelt in another case, on the other side.
    missing = {f.principal.casefold(): f for f in findings if f.kind is FindingKind.MISSING}
    unexpected = {f.principal.casefold(): f for f in findings if f.kind is FindingKind.UNEXPECTED}
    out: list[Finding] = []
    for f in findings:
        key = f.principal.casefold()
        if f.kind is FindingKind.MISSING and key in unexpected:
            f = replace(f, hint=_case_hint(f.principal, unexpected[key].principal, expected_side=True))
        elif f.kind is FindingKind.UNEXPECTED and key in missing:
            f = replace(f, hint=_case_hint(f.principal, missing[key].principal, expected_side=False))
        out.append(f)
    return out


def diff_grants(
    expected: Iterable[Grant],
    live: Iterable[LiveSecurable],
    *,
    environment: str,
    catalog: str,
    host: str,
) -> GrantAudit:
    """Compare expected grants with what the workspace holds.

    Every securable in `live` is audited: securables with no expected grants (pipeline-created tables) must
    hold no direct grants. An expected securable absent from `live` is a caller bug (it was never read), not
    drift, so it raises instead of silently passing.
    """
    want = expected_by_securable(expected)
    live_by_ref: dict[SecurableRef, LiveSecurable] = {}
    for item in live:
        if item.ref in live_by_ref:
            raise ValueError(f"{item.ref} was read twice: pass each securable once")
        live_by_ref[item.ref] = item
    unread = sorted(set(want) - set(live_by_ref))
    if unread:
        raise ValueError("expected securables were not read from the workspace: " + ", ".join(map(str, unread)))
    findings: list[Finding] = []
    missing_securables: list[SecurableRef] = []
    for ref in sorted(live_by_ref):
        item = live_by_ref[ref]
        expected_here = want.get(ref, {})
        if not item.exists:
            missing_securables.append(ref)
            hint = f"{ref} does not exist: deploy the stack (cdktf deploy) or check the name"
            findings.extend(
                Finding(ref, principal, FindingKind.MISSING, privileges, frozenset(), hint)
                for principal, privileges in sorted(expected_here.items())
            )
            continue
        findings.extend(diff_securable(ref, expected_here, item.assignments))
    return GrantAudit(
        environment=environment,
        catalog=catalog,
        host=host,
        securables_checked=len(live_by_ref),
        findings=tuple(sorted(findings, key=lambda f: (f.securable, f.principal, f.kind.value))),
        missing_securables=tuple(missing_securables),
    )


# ---------------------------------------------------------------------------------------------- rendering


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_audit_markdown(audit: GrantAudit, *, heading_level: int = 2) -> str:
    h = "#" * heading_level
    lines = [f"{h} Grant audit: `{audit.environment}` (catalog `{audit.catalog}`)", ""]
    c = audit.counts()
    if audit.clean:
        lines.append(f"No grant drift: {audit.securables_checked} securables match the permission matrix.")
        return "\n".join(lines) + "\n"
    lines.append(
        f"**{len(audit.findings)} finding(s)** on {audit.securables_checked} securables checked: "
        f"{c['missing']} missing, {c['unexpected']} unexpected, {c['changed']} changed."
    )
    lines += ["", "| securable | principal | kind | details | hint |", "|---|---|---|---|---|"]
    for f in audit.findings:
        lines.append(
            f"| `{_md_cell(str(f.securable))}` | `{_md_cell(f.principal)}` | {f.kind.value} | "
            f"{_md_cell(f.describe())} | {_md_cell(f.hint)} |"
        )
    return "\n".join(lines) + "\n"


def render_audit_table(audit: GrantAudit) -> str:
    """Plain-text table for a terminal (fixed-width columns, no colour codes, so logs stay readable)."""
    header = f"grant audit: environment={audit.environment} catalog={audit.catalog} host={audit.host}"
    if audit.clean:
        return f"{header}\nclean: {audit.securables_checked} securables match the permission matrix\n"
    rows = [("SECURABLE", "PRINCIPAL", "KIND", "DETAILS")]
    rows += [(str(f.securable), f.principal, f.kind.value, f.describe()) for f in audit.findings]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [header]
    for r in rows:
        lines.append("  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3])
    hints = [(f.securable, f.principal, f.hint) for f in audit.findings if f.hint]
    for securable, principal, hint in hints:
        lines.append(f"hint: {securable} / {principal}: {hint}")
    c = audit.counts()
    lines.append(
        f"drift: {len(audit.findings)} finding(s) on {audit.securables_checked} securables "
        f"({c['missing']} missing, {c['unexpected']} unexpected, {c['changed']} changed)"
    )
    return "\n".join(lines) + "\n"


def render_audit(audit: GrantAudit, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(audit.to_dict(), indent=2, sort_keys=True) + "\n"
    if fmt == "markdown":
        return render_audit_markdown(audit)
    if fmt == "table":
        return render_audit_table(audit)
    raise ValueError(f"unknown format {fmt!r}: use table, json or markdown")
