# Reliability and security: secret scan, dependency audit, load test (see docs/threat-model.md).
# Included by the Makefile (-include mk/*.mk). `make lint` calls security-lint.

TOOLS_VENV ?= .venv-tools
PIP_AUDIT_VERSION := 2.10.1
LOAD_SECONDS ?= 15
LOAD_CONNECTIONS ?= 16
LOAD_STORES ?= sqlite,firestore
LOAD_MIXES ?= recommend,chat

# pip-audit pins packages of its own, so it lives in the tools venv next to checkov.
$(TOOLS_VENV)/.pip-audit-$(PIP_AUDIT_VERSION):
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "pip-audit==$(PIP_AUDIT_VERSION)"
	@touch $@

.PHONY: secret-scan
secret-scan: $(VENV)/.installed ## Scan every tracked (and addable) file for keys, tokens and passwords
	$(PY) tools/secret_scan.py

.PHONY: dep-audit
dep-audit: $(VENV)/.installed $(TOOLS_VENV)/.pip-audit-$(PIP_AUDIT_VERSION) ## pip-audit of requirements/constraints.txt (warns, does not fail, when offline)
	$(PY) tools/dep_audit.py --pip-audit $(TOOLS_VENV)/bin/pip-audit

.PHONY: security-lint
security-lint: secret-scan dep-audit ## Secret scan + dependency audit (part of make lint)

.PHONY: load
load: $(VENV)/.installed system-deps ## Load test with wrk: {recommend,chat} x {sqlite,firestore}, LOAD_SECONDS each -> var/load.json
	$(PY) tools/load.py --seconds $(LOAD_SECONDS) --connections $(LOAD_CONNECTIONS) \
	  --stores $(LOAD_STORES) --mixes $(LOAD_MIXES) --out var/load.json
