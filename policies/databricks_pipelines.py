"""CKV_LH_3 pipelines use ENHANCED autoscaling or serverless; CKV_LH_4 pipelines keep an event log table."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from infra.guard_rules import pipeline_compute_violations, pipeline_event_log_violations, unwrap_checkov_conf


class PipelineEnhancedAutoscaleOrServerless(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Databricks pipelines use ENHANCED autoscaling or serverless compute",
            id="CKV_LH_3",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["databricks_pipeline"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        violations = pipeline_compute_violations(unwrap_checkov_conf(conf))
        self.details = violations
        return CheckResult.FAILED if violations else CheckResult.PASSED


class PipelineKeepsEventLog(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Databricks pipelines publish their event log to a Unity Catalog table",
            id="CKV_LH_4",
            categories=[CheckCategories.LOGGING],
            supported_resources=["databricks_pipeline"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        violations = pipeline_event_log_violations(unwrap_checkov_conf(conf))
        self.details = violations
        return CheckResult.FAILED if violations else CheckResult.PASSED


pipeline_enhanced_autoscale_or_serverless = PipelineEnhancedAutoscaleOrServerless()
pipeline_keeps_event_log = PipelineKeepsEventLog()
