"""CKV_LH_6 the databricks provider holds no literal credential; CKV_LH_7 no databricks_* resource holds one."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.provider.base_check import BaseProviderCheck
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from infra.guard_rules import hardcoded_secret_violations, unwrap_checkov_conf


class ProviderHasNoLiteralToken(BaseProviderCheck):
    def __init__(self) -> None:
        super().__init__(
            name="The databricks provider takes credentials from a sensitive variable or its env, not a literal",
            id="CKV_LH_6",
            categories=[CheckCategories.SECRETS],
            supported_provider=["databricks"],
        )

    def scan_provider_conf(self, conf: dict[str, Any]) -> CheckResult:
        violations = hardcoded_secret_violations(unwrap_checkov_conf(conf))
        self.details = violations
        return CheckResult.FAILED if violations else CheckResult.PASSED


class ResourceHasNoLiteralToken(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="No databricks_* resource contains a literal token or secret",
            id="CKV_LH_7",
            categories=[CheckCategories.SECRETS],
            supported_resources=["databricks_*"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        violations = hardcoded_secret_violations(unwrap_checkov_conf(conf))
        self.details = violations
        return CheckResult.FAILED if violations else CheckResult.PASSED


provider_has_no_literal_token = ProviderHasNoLiteralToken()
resource_has_no_literal_token = ResourceHasNoLiteralToken()
