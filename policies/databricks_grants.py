"""CKV_LH_5 no ALL_PRIVILEGES or MANAGE for groups every user belongs to (`account users`, `users`)."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from infra.guard_rules import grant_violations, unwrap_checkov_conf


class NoBroadAllPrivileges(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Unity Catalog grants give no ALL_PRIVILEGES or MANAGE to account users / users",
            id="CKV_LH_5",
            categories=[CheckCategories.IAM],
            supported_resources=["databricks_grants"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        violations = grant_violations(unwrap_checkov_conf(conf))
        self.details = violations
        return CheckResult.FAILED if violations else CheckResult.PASSED


no_broad_all_privileges = NoBroadAllPrivileges()
