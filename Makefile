# nnsim: every target creates .venv when missing (see README).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.nnsim-installed
# TensorFlow lives in its own environment: it only freezes the musicnn checkpoints (its Python
# package and essentia-tensorflow must not share a process). Pinned so graph hashes reproduce.
TFVENV := .venv-tf
TFSTAMP := $(TFVENV)/.nnsim-installed
TF_PINS := tensorflow-cpu==2.21.0 protobuf==7.36.2 numpy==2.4.6
# tf2onnx converts the frozen graphs to ONNX (audio.runtime=onnxruntime); its own pins (protobuf 3)
# would break TensorFlow, and everything it imports is already there: no deps.
TF_CONVERT := tf2onnx==1.17.0 onnx==1.23.2
# Stages are `python -m nnsim.stages.*`: run them with this project's environment first on PATH.
RUN    := PATH="$(CURDIR)/$(BIN):$$PATH"
OVERRIDES ?=
# make test TEST_WORKERS=1: the suite in one process (default: two pytest-xdist workers)
TEST_WORKERS ?= 2
# make ui PORT=5001 / make listen PORT=8766 (default: the port in conf/)
PORT ?=
PORT_ARG := $(if $(PORT),--port $(PORT),)

.PHONY: setup params deps demo test lint bench bench-scale ui listen site screenshots clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[audio,dev]"
	# Real pretrained MusiCNN/VGG weights ship in this wheel; its own pins are ancient: no deps.
	$(BIN)/python -m pip install --quiet --no-deps musicnn==0.1.0
	touch $(STAMP)

$(TFSTAMP): Makefile
	test -x $(TFVENV)/bin/python || $(PYTHON) -m venv $(TFVENV)
	$(TFVENV)/bin/python -m pip install --quiet $(TF_PINS)
	$(TFVENV)/bin/python -m pip install --quiet --no-deps $(TF_CONVERT)
	touch $(TFSTAMP)

setup: $(STAMP) $(TFSTAMP)

params: setup
	$(RUN) python -m nnsim.stages.params $(OVERRIDES)

# Each DVC stage depends on exactly the project modules it imports (grimp's import graph; a test
# checks): rewrite those deps.
deps: setup
	$(BIN)/python tests/deps_helper.py

demo: setup
	$(RUN) python -m nnsim.stages.params
	$(RUN) dvc repro
	@$(RUN) python -m nnsim.stages.summary

test: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(RUN) python -m nnsim.stages.params --check
	$(RUN) python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: setup
	$(RUN) python benchmarks/bench_similarity.py
	$(RUN) python benchmarks/bench_measures.py
	$(RUN) python benchmarks/bench_cf.py
	$(RUN) python benchmarks/bench_projection.py
	$(RUN) python benchmarks/bench_explorer.py
	$(RUN) python benchmarks/bench_listening.py
	$(RUN) dvc repro models
	$(RUN) python benchmarks/bench_extract.py

# Comparison time and memory against N (10k..300k tracks; about an hour on 2 cores), extraction
# on Dask with 1 and 2 workers: benchmarks/results/scale.json and docs/scale.png.
bench-scale: setup
	$(RUN) dvc repro models
	$(RUN) python benchmarks/bench_scale.py

ui: setup
	$(RUN) python -m nnsim.stages.ui $(PORT_ARG)

# The results site and its explorer (results/site/; it also opens from disk, no server needed).
site: setup
	$(RUN) nnsim site serve $(PORT_ARG)

# The listening test on the study of the playlists stage (http://127.0.0.1:8765/).
listen: setup
	$(RUN) nnsim listening serve $(PORT_ARG)

# The README's pictures from the demo's own outputs (run after make demo): docs/results/.
screenshots: setup
	$(RUN) python docs/screenshots.py

clean-venv:
	rm -rf $(VENV) $(TFVENV)
