"""The synthesized JSON: no secrets, no absolute paths, identical bytes on every run, and the real cdktf CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
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


@pytest.mark.skipif(not (REPO_ROOT / "node_modules" / ".bin" / "cdktf").exists(), reason="run `make setup` first")
def test_real_cdktf_cli_writes_both_stacks(synth, tmp_path):
    """The one test that runs the npm CLI: `cdktf synth` reads cdktf.json and writes the same stacks."""
    out = tmp_path / "cdktf.out"
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CHECKPOINT_DISABLE": "1"}
    env.pop("DATABRICKS_TOKEN", None)
    started = time.perf_counter()
    proc = subprocess.run(
        [str(REPO_ROOT / "node_modules" / ".bin" / "cdktf"), "synth", "--output", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for stack in ("staging", "production"):
        written = out / "stacks" / stack / "cdk.tf.json"
        assert written.is_file()
        assert written.read_bytes() == synth.raw[stack], f"cdktf CLI and in-process synth differ for {stack}"
    print(f"cdktf synth (CLI) took {seconds:.1f}s; in-process synth {synth.seconds:.1f}s")
    shutil.rmtree(out)
