# Canary delivery: simulator and release (see docs/canary.md).
SCENARIO ?= healthy
SEED ?= 1
PLAN ?= short
RUNS ?=
SERVICE ?=
IMAGE ?=
REGION ?= europe-west1
PROJECT ?= $(shell gcloud config get-value project 2>/dev/null)
CANARY_URL ?=
CANARY_START_PERCENT ?= 5

.PHONY: canary-sim
canary-sim: $(DEV_VENV) ## Replay a canary timeline: make canary-sim SCENARIO=healthy|error-spike|... [PLOT=f.png] [RUNS=1000]
	$(PY) -m tools.canary_sim --scenario $(SCENARIO) --seed $(SEED) --plan $(PLAN) $(if $(PLOT),--plot $(PLOT)) $(if $(RUNS),--runs $(RUNS))

# The controller's invariants (docs/canary.md, "Invariants") under many more random schedules
# than `make test` runs, shrinking any failure to a minimal schedule (no time limit; no
# hypothesis database is written).
STATEFUL_EXAMPLES ?= 3000
.PHONY: canary-stateful
canary-stateful: $(DEV_VENV) ## Long run of the canary controller's stateful property test: make canary-stateful [STATEFUL_EXAMPLES=3000]
	CANARY_STATEFUL=long CANARY_STATEFUL_EXAMPLES=$(STATEFUL_EXAMPLES) $(PY) -m pytest -q -p no:cacheprovider --timeout=0 tests/canary/test_controller_stateful.py

MODEL_URI ?=

# One release recipe, two ways to make the candidate: $(1) is the gcloud command that creates a
# no-traffic revision tagged `candidate` ($$run holds --project/--region). Everything around it
# is shared: refuse while a rollout is in progress, pin traffic that follows LATEST, then start
# the canary at CANARY_START_PERCENT on the new revision.
define canary_release
	@test -n "$(SERVICE)" || { echo "SERVICE is required"; exit 2; }
	@test -n "$(PROJECT)" || { echo "PROJECT is required (or gcloud config set project ...)"; exit 2; }
	@set -euo pipefail; \
	run="--project $(PROJECT) --region $(REGION)"; \
	url="$(CANARY_URL)"; \
	if [ -z "$$url" ]; then url=$$(gcloud run services describe canary $$run --format='value(status.url)'); fi; \
	auth="Authorization: Bearer $$(gcloud auth print-identity-token)"; \
	phase=$$(curl -sS --fail-with-body -X POST "$$url/api/v2/canary/status" -H "$$auth" \
	  -H "Content-Type: application/json" -d '{"service":"$(SERVICE)"}' \
	  | $(PYTHON) -c 'import json,sys; print(json.load(sys.stdin)["phase"])'); \
	case "$$phase" in canary|ab_test|paused) \
	  echo "a rollout of $(SERVICE) is in progress ($$phase): promote or roll it back first"; exit 1;; esac; \
	gcloud run services describe $(SERVICE) $$run --format=json > /tmp/release-$(SERVICE).json; \
	pin=$$($(PYTHON) -c 'import json,sys; s=json.load(open(sys.argv[1])); t=s.get("spec",{}).get("traffic",[]); print(s["status"]["latestReadyRevisionName"] if any(x.get("latestRevision") for x in t) else "")' /tmp/release-$(SERVICE).json); \
	if [ -n "$$pin" ]; then \
	  echo "pinning $(SERVICE)'s traffic to $$pin (it followed LATEST)"; \
	  gcloud run services update-traffic $(SERVICE) $$run --to-revisions=$$pin=100 --quiet; \
	fi; \
	$(1); \
	candidate=$$(gcloud run services describe $(SERVICE) $$run --format='value(status.latestCreatedRevisionName)'); \
	echo "starting the canary of $(SERVICE): candidate $$candidate at $(CANARY_START_PERCENT)% via $$url"; \
	curl -sS --fail-with-body -X POST "$$url/api/v2/canary/enable" -H "$$auth" \
	  -H "Content-Type: application/json" \
	  -d "{\"service\":\"$(SERVICE)\",\"traffic_percentage\":$(CANARY_START_PERCENT),\"candidate_revision\":\"$$candidate\"}"; echo
endef

.PHONY: release
release: ## Deploy IMAGE as a no-traffic candidate of SERVICE and start its canary: make release SERVICE=recommend IMAGE=...
	@test -n "$(IMAGE)" || { echo "IMAGE is required"; exit 2; }
	$(call canary_release,gcloud run deploy $(SERVICE) $$run --image $(IMAGE) --no-traffic --tag candidate --quiet)

# A new model is a new revision of recommend with a new MODEL_URI (same image), released through
# the same canary, so a bad model rolls back like a bad build. MODEL_URI must be immutable: the
# Spark batch rewrites gs://MODEL_BUCKET/candidates/spark on every run, so copy it to its own
# models/ prefix first (docs/deploy.md); new instances of a released revision would otherwise
# load whatever the next run wrote.
.PHONY: release-model
release-model: SERVICE := $(or $(SERVICE),recommend)
release-model: ## Release MODEL_URI (gs://...) as a no-traffic candidate of recommend with the canary: make release-model MODEL_URI=gs://...
	@test "$(SERVICE)" = recommend || { echo "only recommend serves a model (SERVICE=$(SERVICE))"; exit 2; }
	@test -n "$(MODEL_URI)" || { echo "MODEL_URI is required (gs://BUCKET/models/NAME)"; exit 2; }
	@case "$(MODEL_URI)" in gs://*/candidates/*) \
	  echo "MODEL_URI $(MODEL_URI) is rewritten by every training run: copy it to gs://BUCKET/models/NAME first"; exit 2;; \
	  gs://?*/?*) ;; *) echo "MODEL_URI must be gs://BUCKET/PATH"; exit 2;; esac
	$(call canary_release,gcloud run services update $(SERVICE) $$run --update-env-vars MODEL_URI=$(MODEL_URI) --no-traffic --tag candidate --quiet)

.PHONY: feedback-stateful
feedback-stateful: $(DEV_VENV) ## Long run of the feedback ledger's stateful property test (store faults at every call): make feedback-stateful [STATEFUL_EXAMPLES=3000]
	FEEDBACK_STATEFUL_EXAMPLES=$(STATEFUL_EXAMPLES) $(PY) -m pytest -q -p no:cacheprovider --timeout=0 tests/feedback/test_ledger.py -k interleavings
