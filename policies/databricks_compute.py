"""CKV_LH_1: clusters and policies auto-terminate. CKV_LH_2: all compute stays within 8 workers."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from infra.guard_rules import AUTOTERMINATION_RULES, SIZE_RULES, unwrap_checkov_conf


class ClustersAutoterminate(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Databricks all-purpose clusters and cluster policies force auto-termination",
            id="CKV_LH_1",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=sorted(AUTOTERMINATION_RULES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        violations = AUTOTERMINATION_RULES[self.entity_type](unwrap_checkov_conf(conf))
        self.details = violations
        return CheckResult.FAILED if violations else CheckResult.PASSED


class ComputeWithinBounds(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Databricks clusters, policies, pipelines and job clusters autoscale to at most 8 workers",
            id="CKV_LH_2",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=sorted(SIZE_RULES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        violations = SIZE_RULES[self.entity_type](unwrap_checkov_conf(conf))
        self.details = violations
        return CheckResult.FAILED if violations else CheckResult.PASSED


clusters_autoterminate = ClustersAutoterminate()
compute_within_bounds = ComputeWithinBounds()
