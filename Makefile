# Serverless recommendation and conversation service — developer entry points.
# Every target bootstraps its own virtual environment (.venv) on a fresh machine with Python 3.11:
# `make run` (and train, demo-data) installs only what serving and training need; the targets of
# development (test, lint, eval, bench, ...) add the development tools to the same .venv.

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

# Two installs into the one .venv, each with its stamp. SERVE_VENV: the runtime dependencies and
# the train extra (make run trains a demo model on its first start). DEV_VENV: the dev extra, a
# superset (pytest, ruff, mypy, Spark, the peers of make eval...), so it stamps both. Either is
# redone when pyproject.toml, the pins or the scoring kernels (compiled at install) change.
# pip runs without --quiet: the first install takes a minute or more and shows its progress.
SERVE_VENV := $(VENV)/.installed-serve
DEV_VENV := $(VENV)/.installed-dev
INSTALL_INPUTS := pyproject.toml requirements/constraints.txt shared/recoengine/models/kernels.pyx
PIP_INSTALL = $(PY) -m pip install --disable-pip-version-check -c requirements/constraints.txt

$(SERVE_VENV): $(INSTALL_INPUTS)
	@echo "installing what serving needs into $(VENV): the runtime dependencies and the train extra (scipy, pyarrow, tqdm, for the demo model make run trains on its first start; ~540 MB, once). make test and make lint add the development tools."
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[train]'
	@touch $@

$(DEV_VENV): $(INSTALL_INPUTS)
	@echo "installing the development tools into $(VENV): the dev extra (pytest, ruff, mypy, Spark, the evaluation peers...; ~1.5 GB in all, once)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[dev]'
	@touch $@ $(SERVE_VENV)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

.PHONY: venv
venv: $(DEV_VENV) ## Create the virtual environment with pinned dependencies (development tools included)

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
run: $(SERVE_VENV) ## Start the local stack on http://127.0.0.1:8080 (another port: make run PORT=8081)
	@$(PY) -m tools.localstack --port $(PORT)

.PHONY: test
test: $(DEV_VENV) ## Run the whole test suite (starts and stops the Firestore emulator itself)
	$(PY) -m pytest -rs -q tests

.PHONY: lint
lint: $(DEV_VENV) ## ruff, mypy, import contracts, deptry, vulture, secret scan, dependency audit
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(MAKE) --no-print-directory layers
	$(MAKE) --no-print-directory security-lint

# The architecture's rules (pyproject.toml): import contracts between the layers, every
# imported package declared, no dead code (vulture at 80% confidence, reasons in the whitelist).
.PHONY: layers
layers: $(DEV_VENV) ## import-linter contracts, deptry (declared dependencies), vulture (dead code)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/deptry .
	$(VENV)/bin/vulture

.PHONY: fmt
fmt: $(DEV_VENV) ## Format the code with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

.PHONY: train
train: $(SERVE_VENV) ## Train a model: make train DATA=dir [FORMAT=auto|generic|movielens|sequences] [ENGINE=local|spark] [OUT=dir, default a new var/models/<UTC time>] [FORCE=1 replaces a model at OUT] [CATALOG_UPDATES=model dir or gs:// whose published catalog updates training absorbs]
	$(PY) -m recoengine.cli train $(strip --data $(DATA) --format $(FORMAT) --engine $(ENGINE) $(if $(OUT),--out $(OUT)) $(if $(FORCE),--force) $(if $(CATALOG_UPDATES),--catalog-updates $(CATALOG_UPDATES)))

.PHONY: eval
eval: $(DEV_VENV) ## Offline evaluation vs peers: make eval DATA=dir [FORMAT=...] [ENGINE=local|spark] OUT=results.json [PLOT=file.png]
	$(PY) -m recoengine.cli eval --data $(DATA) --format $(FORMAT) --engine $(ENGINE) --out $(or $(OUT),var/eval.json) $(if $(PLOT),--plot $(PLOT))

.PHONY: demo-data
demo-data: $(SERVE_VENV) ## Generated data in the generic format: make demo-data OUT=dir [USERS=n ITEMS=n PER_USER=n] [PARQUET=1]
	$(PY) -m recoengine.cli demo-data --out $(or $(OUT),var/demo-data) $(if $(USERS),--users $(USERS)) $(if $(ITEMS),--items $(ITEMS)) $(if $(PER_USER),--per-user $(PER_USER)) $(if $(PARQUET),--parquet)

.PHONY: bench
bench: $(DEV_VENV) system-deps ## Benchmarks (quality on ML-100K and Amazon Toys, engine, HTTP, cold start, canary, chat, serving, scale, Spark, capacity, understanding, catalog freshness; over an hour): make bench [OUT=file.json]
	$(PY) -m tools.bench --out $(or $(OUT),var/bench.json)

.PHONY: bench-serving
bench-serving: $(DEV_VENV) system-deps ## Serving targets only (chat under a 1 s model on SQLite and Firestore, streaming, CPU per turn, recommend vs bare ASGI/WSGI, cold start; ~3 min): make bench-serving [OUT=file.json]
	$(PY) -m tools.bench --only chat_load,stream,recommend_floor,cold_start --out $(or $(OUT),var/bench-serving.json)

.PHONY: clean
clean: ## Remove local state (models, sessions, results); keeps the venv
	rm -rf var .pytest_cache .mypy_cache .ruff_cache

-include mk/*.mk
