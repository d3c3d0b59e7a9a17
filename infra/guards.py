"""Synth-time guards: the rules no stack may break, checked on every resource before any JSON is written.

`SynthGuards` is a cdktf Aspect: each violation becomes an error annotation on the offending construct, and cdktf
then refuses to synthesize, printing the construct path and the fix. The rules themselves are pure functions in
`infra.guard_rules` (shared with the checkov checks in `policies/`).
"""

from __future__ import annotations

import jsii

from infra.cdk import Annotations, IAspect, IConstruct, TerraformResource, TerraformStack
from infra.guard_rules import compute_runner_violations, resource_configs, resource_violations, stack_violations

__all__ = ["SynthGuards", "resource_violations", "stack_violations"]


@jsii.implements(IAspect)
class SynthGuards:
    """cdktf Aspect: turns every guard violation into an error annotation, which makes `synth` fail."""

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, TerraformStack):
            # Rules across resources (a job's run-as principal and the ACL of the policy its cluster names).
            for message in compute_runner_violations(node.to_terraform()):
                Annotations.of(node).add_error(message)
            return
        if not isinstance(node, TerraformResource):
            return
        for resource_type, _name, config in resource_configs(node.to_terraform()):
            for message in resource_violations(resource_type, config):
                Annotations.of(node).add_error(f"{resource_type}: {message}")
