# Serverless recommendation and conversation service — developer entry points.
# Every target bootstraps its own virtual environment (.venv) on a fresh machine with Python 3.11.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
DATA ?= ../shared/datasets/ml-100k
FORMAT ?= auto
ENGINE ?= local
OUT ?=
PLOT ?=
export PYTHONPATH := $(CURDIR)

.DEFAULT_GOAL := help

# The install also compiles the scoring kernels (kernels.pyx): a change to them re-installs.
$(VENV)/.installed: pyproject.toml requirements/constraints.txt shared/recoengine/models/kernels.pyx
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	@touch $@

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

.PHONY: venv
venv: $(VENV)/.installed ## Create the virtual environment with pinned dependencies

.PHONY: system-deps
system-deps: ## Install the Debian tools the tests and benchmarks use (promtool, wrk, Java)
	@missing=""; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

.PHONY: run
run: $(VENV)/.installed ## Start the local stack on http://127.0.0.1:$(PORT) (make run PORT=...)
	$(PY) -m tools.localstack --port $(PORT)

.PHONY: test
test: $(VENV)/.installed ## Run the whole test suite (starts and stops the Firestore emulator itself)
	$(PY) -m pytest -rs -q tests

.PHONY: lint
lint: $(VENV)/.installed ## ruff, mypy, import contracts, deptry, vulture, secret scan, dependency audit
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(MAKE) --no-print-directory layers
	$(MAKE) --no-print-directory security-lint

# The architecture's rules (pyproject.toml): import contracts between the layers, every
# imported package declared, no dead code (vulture at 80% confidence, reasons in the whitelist).
.PHONY: layers
layers: $(VENV)/.installed ## import-linter contracts, deptry (declared dependencies), vulture (dead code)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/deptry .
	$(VENV)/bin/vulture

.PHONY: fmt
fmt: $(VENV)/.installed ## Format the code with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

.PHONY: train
train: $(VENV)/.installed ## Train a model: make train DATA=dir [FORMAT=auto|generic|movielens|sequences] [ENGINE=local|spark] OUT=dir
	$(PY) -m recoengine.cli train --data $(DATA) --format $(FORMAT) --engine $(ENGINE) --out $(or $(OUT),var/model)

.PHONY: eval
eval: $(VENV)/.installed ## Offline evaluation vs peers: make eval DATA=dir [FORMAT=...] [ENGINE=local|spark] OUT=results.json [PLOT=file.png]
	$(PY) -m recoengine.cli eval --data $(DATA) --format $(FORMAT) --engine $(ENGINE) --out $(or $(OUT),var/eval.json) $(if $(PLOT),--plot $(PLOT))

.PHONY: demo-data
demo-data: $(VENV)/.installed ## Generated data in the generic format: make demo-data OUT=dir [USERS=n ITEMS=n PER_USER=n] [PARQUET=1]
	$(PY) -m recoengine.cli demo-data --out $(or $(OUT),var/demo-data) $(if $(USERS),--users $(USERS)) $(if $(ITEMS),--items $(ITEMS)) $(if $(PER_USER),--per-user $(PER_USER)) $(if $(PARQUET),--parquet)

.PHONY: bench
bench: $(VENV)/.installed system-deps ## Benchmarks (quality on ML-100K and Amazon Toys, engine, HTTP, cold start, canary, chat, scale, Spark, capacity, understanding; over an hour): make bench [OUT=file.json]
	$(PY) -m tools.bench --out $(or $(OUT),var/bench.json)

.PHONY: clean
clean: ## Remove local state (models, sessions, results); keeps the venv
	rm -rf var .pytest_cache .mypy_cache .ruff_cache

-include mk/*.mk
