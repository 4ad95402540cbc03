# m2l2: `make tables` (install + main job on the offline default suite), `make test` (install + tests).
PYTHON ?= python3
PIP := $(PYTHON) -m pip
CONFIG ?= benchmarks/configs/default.yaml
STAMP := .make-install-stamp

.PHONY: install install-dev system-deps data tables test test-fast lint speed clean

# torch first, pinned to the CPU wheel cached on CI machines (a bare `torch` would pull CUDA wheels).
# Users with a GPU can install their own torch>=2.4 first; pip then keeps it.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) install "torch==2.13.0"
	$(PIP) install -c constraints.txt -e ".[dev,bench,data,visqol,baselines]"
	# MusiCNN's weights ship inside its wheel; its declared TF1-era deps (numpy<1.17) are unusable: --no-deps.
	$(PIP) install --no-deps "musicnn==0.1.0"
	touch $(STAMP)

install: $(STAMP) system-deps

install-dev: install

system-deps:
	bash scripts/install_system_deps.sh

data: install
	$(PYTHON) -m m2l2.cli data build

tables: install
	$(PYTHON) -m m2l2.cli tables --config $(CONFIG)
	$(PYTHON) -m m2l2.cli report --config $(CONFIG) --check

test: install
	$(PYTHON) -m pytest -q

test-fast: install
	$(PYTHON) -m pytest -q -m "not slow"

lint:
	$(PYTHON) -m ruff check m2l2 baselines benchmarks tests scripts tools

speed: install
	$(PYTHON) -m m2l2.cli speed

clean:
	rm -rf build dist *.egg-info $(STAMP) .pytest_cache .ruff_cache
