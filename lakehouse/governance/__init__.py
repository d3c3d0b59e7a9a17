"""Governance: who holds which grants (audit), what a plan changes (plan, drift), what the stacks would create and
whether they pass our policies (stack_checks)."""
