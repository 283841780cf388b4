# One command to set up and run, one to set up and test.
#   make smoke   create .venv if missing, install, run every stage, study and family at a tiny budget in a
#                scratch checkout (.smoke/pm2gan): the first run, in minutes
#   make repro   create .venv if missing, install, run `dvc repro` (offline quick profile) through
#                `pm2gan dvc`: one Ray instance and one MLflow server for every stage
#   make study S=generation   the same for one study (and what it needs)
#   make test    create .venv if missing, install (and Debian's chromium, for the browser tests), run the tests
#   make ui      open the MLflow UI on the project's tracking store
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# The CUDA builds that lie on these machines' disk; elsewhere pip fetches them from PyPI.
TORCH ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.pm2gan-installed
export PATH := $(abspath $(BIN)):$(PATH)

# The installer: uv, which pip installs into the venv first, puts the same packages in place about three
# times faster than pip (benchmarks/setup_time.py: torch's 5.5 GB unpacked in parallel). It looks where
# pip would (tools/uv_install.py) and keeps its cache in the venv, on the venv's file system, so that
# torch's files are hard-linked, not copied: on disk once. INSTALLER=pip installs with pip alone.
INSTALLER ?= uv
export UV_CACHE_DIR ?= $(abspath $(VENV))/.uv-cache

# torch's CUDA build alone is 5.5 GB in the venv: say so before pip fails half-way with
# "No space left on device" (what a full disk gave CI once).
NEED_GB := 8

$(STAMP): pyproject.toml
	@$(BIN)/python -c "import torch" 2>/dev/null || { free=$$(df -Pk $(dir $(abspath $(VENV))) | awk 'NR==2 {print int($$4 / 1048576)}'); \
	  [ "$$free" -ge $(NEED_GB) ] || { echo "make: installing needs about $(NEED_GB) GB free here; $$free GB are free on $$(df -P $(dir $(abspath $(VENV))) | awk 'NR==2 {print $$6}')." \
	  "Free some space, or set VENV to a folder on a larger disk." >&2; exit 1; }; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if [ "$(INSTALLER)" = uv ] && $(BIN)/python -m pip install -q uv; then \
	  echo "$(BIN)/python tools/uv_install.py $(TORCH) && $(BIN)/python tools/uv_install.py -e '.[test]'"; \
	  $(BIN)/python tools/uv_install.py $(TORCH) && $(BIN)/python tools/uv_install.py -e '.[test]'; \
	else \
	  [ "$(INSTALLER)" = pip ] || echo "make: uv could not be installed: installing with pip"; \
	  echo "$(BIN)/python -m pip install -q $(TORCH) && $(BIN)/python -m pip install -q -e '.[test]'"; \
	  $(BIN)/python -m pip install -q --upgrade pip && $(BIN)/python -m pip install -q $(TORCH) && \
	    $(BIN)/python -m pip install -q -e '.[test]'; \
	fi
	touch $(STAMP)

setup: $(STAMP)

# Fashion-MNIST's IDX files from Debian's dataset-fashion-mnist, linked where installed, else downloaded
# from Debian's archive (no root needed). `pm2gan fetch` does this itself when the folder is missing.
.cache/fashion-mnist: setup
	python -m pipeline.data.debian dataset-fashion-mnist .cache/fashion-mnist

smoke: setup
	pm2gan smoke

repro: setup
	pm2gan dvc repro

# One study and what it needs: make study S=generation
study: setup
	@test -n "$(S)" || { echo "make study S=<study>: the study's name, as \`pm2gan study --help\` lists them" >&2; exit 2; }
	pm2gan dvc repro $(S)

# Headless Chromium for the browser tests: Debian's package, installed where that is possible (as
# root, with apt); elsewhere those tests skip and say why. Never a reason for `make test` to fail.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; }; }; } \
	  || echo "make: Chromium could not be installed here: the browser tests will skip"

# Test modules run two at a time (pytest-xdist, a module per worker): on 2 cores the end-to-end module
# overlaps the cluster, fault and unit modules (docs/development.md has the times). TEST_WORKERS=0 runs
# them one after another, in this process. xdist hands modules out by their number of tests unless told
# --no-loadscope-reorder: then in collection order, which tests/conftest.py sorts longest first (reordered,
# the end-to-end module started three minutes late and the interrupted-sweep test ran last, alone).
TEST_WORKERS ?= 2
XDIST = -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: setup browser
	pytest -q $(XDIST)

test-fast: setup
	pytest -q $(XDIST) -m "not e2e and not service"

ui: setup
	pm2gan ui

bench: setup
	python benchmarks/pipeline_overhead.py
