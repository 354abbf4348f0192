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
canary-sim: $(VENV)/.installed ## Replay a canary timeline: make canary-sim SCENARIO=healthy|error-spike|... [PLOT=f.png] [RUNS=1000]
	$(PY) tools/canary_sim.py --scenario $(SCENARIO) --seed $(SEED) --plan $(PLAN) $(if $(PLOT),--plot $(PLOT)) $(if $(RUNS),--runs $(RUNS))

.PHONY: release
release: ## Deploy IMAGE as a no-traffic candidate of SERVICE and start its canary: make release SERVICE=recommend IMAGE=...
	@test -n "$(SERVICE)" || { echo "SERVICE is required"; exit 2; }
	@test -n "$(IMAGE)" || { echo "IMAGE is required"; exit 2; }
	@test -n "$(PROJECT)" || { echo "PROJECT is required (or gcloud config set project ...)"; exit 2; }
	gcloud run deploy $(SERVICE) --project $(PROJECT) --region $(REGION) --image $(IMAGE) \
	  --no-traffic --tag candidate --quiet
	@url="$(CANARY_URL)"; \
	if [ -z "$$url" ]; then url=$$(gcloud run services describe canary --project $(PROJECT) --region $(REGION) --format='value(status.url)'); fi; \
	candidate=$$(gcloud run services describe $(SERVICE) --project $(PROJECT) --region $(REGION) --format='value(status.latestCreatedRevisionName)'); \
	echo "starting the canary of $(SERVICE): candidate $$candidate at $(CANARY_START_PERCENT)% via $$url"; \
	curl -sS --fail-with-body -X POST "$$url/api/v2/canary/enable" \
	  -H "Authorization: Bearer $$(gcloud auth print-identity-token)" \
	  -H "Content-Type: application/json" \
	  -d "{\"service\":\"$(SERVICE)\",\"traffic_percentage\":$(CANARY_START_PERCENT),\"candidate_revision\":\"$$candidate\"}"; echo
