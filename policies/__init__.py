"""Custom checkov checks for `databricks_*` resources (checkov ships none).

Run: `checkov --framework terraform_json --skip-download --external-checks-dir policies -d cdktf.out/stacks/<stack>`.
The rule logic lives in `infra.guard_rules` (shared with the synth-time guards); these modules adapt it to
checkov's check classes. Each check has a failing fixture under `tests/infra/fixtures/`.
"""
