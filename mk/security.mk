# Reliability and security: secret scan, dependency audit, load test (see docs/threat-model.md).
# Included by the Makefile (-include mk/*.mk). `make lint` calls security-lint.

TOOLS_VENV ?= .venv-tools
PIP_AUDIT_VERSION := 2.10.1
LOAD_SECONDS ?= 15
LOAD_CONNECTIONS ?= 16
LOAD_STORES ?= sqlite,firestore
LOAD_MIXES ?= recommend,chat
# DEP_AUDIT=skip DEP_AUDIT_REASON="why" skips the dependency audit, saying so (tools/dep_audit.py);
# then pip-audit is not installed either.
DEP_AUDIT ?=
PIP_AUDIT_STAMP := $(if $(filter skip,$(DEP_AUDIT)),,$(TOOLS_VENV)/.pip-audit-$(PIP_AUDIT_VERSION))

# pip-audit pins packages of its own, so it lives in the tools venv next to checkov.
$(TOOLS_VENV)/.pip-audit-$(PIP_AUDIT_VERSION):
	@echo "installing pip-audit==$(PIP_AUDIT_VERSION) into the tools venv $(TOOLS_VENV), once, from the package index"
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "pip-audit==$(PIP_AUDIT_VERSION)"
	@touch $@

.PHONY: secret-scan
secret-scan: $(DEV_VENV) ## detect-secrets over every tracked (and addable) file, against .secrets.baseline
	$(PY) -m tools.secret_scan

.PHONY: dep-audit
dep-audit: $(DEV_VENV) $(PIP_AUDIT_STAMP) ## pip-audit of requirements/constraints.txt (fails when it cannot run; DEP_AUDIT=skip DEP_AUDIT_REASON=...)
	$(PY) -m tools.dep_audit --pip-audit $(TOOLS_VENV)/bin/pip-audit

.PHONY: security-lint
security-lint: secret-scan dep-audit ## Secret scan + dependency audit (part of make lint)

.PHONY: load
load: $(DEV_VENV) system-deps ## Load test with wrk: {recommend,chat} x {sqlite,firestore}, LOAD_SECONDS each -> var/load.json
	$(PY) -m tools.load --seconds $(LOAD_SECONDS) --connections $(LOAD_CONNECTIONS) \
	  --stores $(LOAD_STORES) --mixes $(LOAD_MIXES) --out var/load.json
