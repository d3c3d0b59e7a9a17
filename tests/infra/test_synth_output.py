"""The synthesized JSON: no secrets, no absolute paths, identical bytes on every run, and the real cdktf CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from stack_synth import SENTINEL_SECRETS, synthesize

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_no_secret_in_json_even_with_credentials_in_the_environment(synth):
    for stack, raw in synth.raw.items():
        text = raw.decode()
        for value in SENTINEL_SECRETS.values():
            assert value not in text, stack
        assert "dapi" not in text and "dose" not in text, stack


def test_no_absolute_path_of_the_synthesizing_machine(synth):
    for stack, raw in synth.raw.items():
        text = raw.decode()
        for path in (str(REPO_ROOT), str(synth.out_dir), os.path.expanduser("~"), "/tmp/"):
            assert path not in text, (stack, path)


def test_synth_is_deterministic(synth, tmp_path):
    again = synthesize(tmp_path / "cdktf.out")
    assert again.raw == synth.raw


def test_real_cdktn_cli_writes_every_stack(synth, tmp_path):
    """The one test that runs the npm CLI: `cdktn synth` reads cdktf.json and writes the same stacks."""
    cli = REPO_ROOT / "node_modules" / ".bin" / "cdktn"
    assert cli.exists(), "node_modules/.bin/cdktn is missing: run `make setup` (npm ci installs cdktn-cli)"
    out = tmp_path / "cdktf.out"
    env = {**os.environ, "CHECKPOINT_DISABLE": "1"}
    env.pop("DATABRICKS_TOKEN", None)
    started = time.perf_counter()
    proc = subprocess.run(
        [str(cli), "synth", "--output", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "end of life" not in (proc.stdout + proc.stderr).lower(), "the CLI ran on an end-of-life Node"
    for stack in synth.raw:
        written = out / "stacks" / stack / "cdk.tf.json"
        assert written.is_file()
        assert written.read_bytes() == synth.raw[stack], f"cdktn CLI and in-process synth differ for {stack}"
    print(f"cdktn synth (CLI) took {seconds:.1f}s; in-process synth {synth.seconds:.1f}s")
    shutil.rmtree(out)


def test_required_providers_pin_the_provider_the_bindings_were_generated_for(synth):
    # The generated classes describe one provider release; running another one can reject or silently drop
    # attributes. The pin is read from the bindings' own jsii manifest, not typed in the test.
    from infra.cdk import provider_pin

    source, version = provider_pin()
    assert source == "registry.terraform.io/databricks/databricks"
    for stack, synthesized in synth.stacks.items():
        pinned = synthesized["terraform"]["required_providers"]["databricks"]
        assert (pinned["source"], pinned["version"]) == ("databricks/databricks", version), stack
