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

# Facts of the toolchain (see README "Troubleshooting"): cdktf runs on Node 20 with this warning silenced,
# never phones home, and the embedding model loads from the installed package, never from a hub.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CHECKPOINT_DISABLE := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export SPARK_LOCAL_IP := 127.0.0.1
export PYSPARK_PYTHON := $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PY))
export PATH := $(abspath $(BIN)):$(abspath node_modules/.bin):$(PATH)

# A TF_CLI_CONFIG_FILE pointing at a missing file makes terraform (which the cdktf CLI calls for its version check)
# print a warning on every call; drop the variable in that case.
ifneq ($(TF_CLI_CONFIG_FILE),)
ifeq ($(wildcard $(TF_CLI_CONFIG_FILE)),)
unexport TF_CLI_CONFIG_FILE
endif
endif

# Pure modules: plain values in, plain values out; type-checked strictly.
MYPY_STRICT := infra/config.py infra/permissions.py pipelines/settings.py pipelines/text.py pipelines/correlate.py pipelines/embedding.py lakehouse/evaluate.py infra/views.py infra/bundle.py infra/guard_rules.py infra/inventory.py lakehouse/grants.py lakehouse/plan.py lakehouse/drift.py pipelines/gdelt.py pipelines/ingest/__init__.py pipelines/ingest/landing.py pipelines/ingest/sse.py pipelines/ingest/gdelt_loader.py pipelines/ingest/wikimedia_listener.py pipelines/ingest/cli.py lakehouse/local_feeds.py lakehouse/commands/ingest.py pipelines/cameo.py pipelines/wikimedia.py pipelines/expectations.py pipelines/sources.py lakehouse/sample.py lakehouse/local_run.py pipelines/window_plan.py pipelines/engine_rows.py lakehouse/feed_profile.py lakehouse/feed_simulator.py lakehouse/bench.py

.PHONY: help setup synth lint policy test test-fast run snapshot-update clean

help:
	@echo "make run    - set up, synthesize both stacks, then run the pipeline locally on generated sample data"
	@echo "make test   - set up, lint, type-check, synth + checkov, then every test"
	@echo "make setup | synth | lint | policy | snapshot-update | clean"

$(VENV_STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

$(NODE_STAMP): package-lock.json package.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(VENV_STAMP) $(NODE_STAMP)

synth: setup
	cdktf synth --output cdktf.out

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict $(MYPY_STRICT)

policy: synth
	$(BIN)/lakehouse stacks policy --out cdktf.out

test: setup lint policy
	$(BIN)/pytest

run: synth
	$(BIN)/lakehouse stacks summary --out cdktf.out
	$(BIN)/lakehouse run-local

snapshot-update: setup
	$(BIN)/pytest tests/infra/test_snapshots.py --snapshot-update

clean:
	rm -rf cdktf.out .local-run .bench spark-warehouse metastore_db derby.log .pytest_cache .mypy_cache .ruff_cache
