"""CKV_LH_1: clusters and policies auto-terminate. CKV_LH_2: all compute stays within 8 workers. CKV_LH_8: classic
job and pipeline clusters name a cluster policy."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from infra.guard_rules import (
    AUTOTERMINATION_RULES,
    SIZE_RULES,
    classic_compute_policy_violations,
    unwrap_checkov_conf,
)


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


class ClassicComputeHasPolicy(BaseResourceCheck):
    """A job or pipeline cluster without a policy escapes the worker cap, the tags and the single-node settings, and
    its run-as principal may not create it at all (compute is created from a policy the creator may use)."""

    def __init__(self) -> None:
        super().__init__(
            name="Databricks job and pipeline clusters name a cluster policy",
            id="CKV_LH_8",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["databricks_job", "databricks_pipeline"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        violations = classic_compute_policy_violations(self.entity_type, unwrap_checkov_conf(conf))
        self.details = violations
        return CheckResult.FAILED if violations else CheckResult.PASSED


clusters_autoterminate = ClustersAutoterminate()
classic_compute_has_policy = ClassicComputeHasPolicy()
compute_within_bounds = ComputeWithinBounds()
