# One command to set up and run, one to set up and test.
#   make repro   create .venv if missing, install, run `dvc repro` (offline quick profile)
#   make test    create .venv if missing, install, run the tests
#   make ui      open the MLflow UI on the project's tracking store
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# The CUDA builds that lie on these machines' disk; elsewhere pip fetches them from PyPI.
TORCH ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.pm2gan-installed
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup repro test test-fast ui bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

repro: setup
	dvc repro

test: setup
	pytest -q

test-fast: setup
	pytest -q -m "not e2e"

ui: setup
	pm2gan ui

bench: setup
	python benchmarks/pipeline_overhead.py
