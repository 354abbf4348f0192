# Infrastructure: container images, Terraform, and the offline infrastructure checks.
# Included by the Makefile (-include mk/*.mk). docker, gcloud and the registry are needed only by
# build/push/plan/deploy; the checks (tf-check, tools-venv) run offline.

PROJECT ?= $(shell gcloud config get-value project 2>/dev/null)
REGION ?= europe-west1
REPOSITORY ?= recoengine
TAG ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)
FUNCTIONS_TO_BUILD ?= recommend chat canary
REGISTRY_HOST = $(REGION)-docker.pkg.dev
IMAGE_BASE = $(REGISTRY_HOST)/$(PROJECT)/$(REPOSITORY)
TF_DIR := infra/terraform
TERRAFORM ?= terraform
TF_VARS = -var="project_id=$(PROJECT)" -var="region=$(REGION)" -var="image_tag=$(TAG)"
# The Dataproc Serverless training image (infra/spark/Dockerfile; training_spark.tf): built with
# the others once the Spark trainer's entry point exists (BUILD_SPARK=no skips it).
SPARK_IMAGE = $(IMAGE_BASE)/spark-trainer:$(TAG)
BUILD_SPARK ?= $(if $(wildcard shared/recoengine/spark/job.py),yes,no)
# checkov pins packages that conflict with ours, so it lives in its own venv.
TOOLS_VENV := .venv-tools
CHECKOV_VERSION := 3.3.30

.PHONY: tools-venv
tools-venv: $(TOOLS_VENV)/.installed ## Install checkov (pinned) into its own venv .venv-tools

$(TOOLS_VENV)/.installed: mk/infra.mk
	@echo "installing the tools venv $(TOOLS_VENV) (checkov==$(CHECKOV_VERSION)), once, from the package index"
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "checkov==$(CHECKOV_VERSION)"
	@touch $@

# `make test` runs the checkov test too, so it bootstraps the tools venv like the main one (and
# says so: the README lists both venvs).
test: tools-venv

.PHONY: tf-check
tf-check: $(DEV_VENV) tools-venv system-deps ## Offline infra checks: terraform fmt/load, structure, checkov, promtool
	$(PY) -m pytest -q tests/infra

.PHONY: tf-fmt
tf-fmt: ## Format the Terraform files in place (terraform fmt)
	$(TERRAFORM) -chdir=$(TF_DIR) fmt

.PHONY: dashboards
dashboards: $(DEV_VENV) ## Regenerate infra/dashboards/grafana.json from infra/dashboards/panels.yaml
	$(PY) -m tools.gen_dashboards

.PHONY: build
build: ## Build one image per function (+ trainer): make build PROJECT=... [REGION=...] [TAG=...]
	@test -n "$(PROJECT)" || { echo "PROJECT is not set (gcloud config set project ID, or make build PROJECT=ID)"; exit 2; }
	@for fn in $(FUNCTIONS_TO_BUILD); do \
	  echo "building $(IMAGE_BASE)/$$fn:$(TAG)"; \
	  docker build --build-arg FUNCTION=$$fn -t $(IMAGE_BASE)/$$fn:$(TAG) . || exit 1; \
	done
	@echo "building $(IMAGE_BASE)/trainer:$(TAG)"
	docker build --build-arg FUNCTION=recommend --build-arg EXTRAS=ml -t $(IMAGE_BASE)/trainer:$(TAG) .
	@if [ "$(BUILD_SPARK)" = yes ]; then \
	  echo "building $(SPARK_IMAGE)"; \
	  docker build -f infra/spark/Dockerfile -t $(SPARK_IMAGE) . || exit 1; \
	fi

.PHONY: push
push: build ## Push the images to Artifact Registry (gcloud auth configure-docker REGION-docker.pkg.dev first)
	@for fn in $(FUNCTIONS_TO_BUILD) trainer; do docker push $(IMAGE_BASE)/$$fn:$(TAG) || exit 1; done
	@if [ "$(BUILD_SPARK)" = yes ]; then docker push $(SPARK_IMAGE) || exit 1; fi

.PHONY: tf-init
tf-init: ## terraform init (needs the provider registry; STATE_BUCKET=... for a GCS backend)
	$(TERRAFORM) -chdir=$(TF_DIR) init $(if $(STATE_BUCKET),-backend-config="bucket=$(STATE_BUCKET)")

.PHONY: tfvars
tfvars:
	@test -f $(TF_DIR)/terraform.tfvars || { echo "create $(TF_DIR)/terraform.tfvars from terraform.tfvars.example first"; exit 2; }

.PHONY: plan
plan: tfvars tf-init ## terraform plan for PROJECT/REGION/TAG (writes infra/terraform/tfplan)
	$(TERRAFORM) -chdir=$(TF_DIR) plan $(TF_VARS) -out=tfplan

.PHONY: registry
registry: tfvars tf-init ## Create the APIs and the Artifact Registry repository first (so images can be pushed)
	$(TERRAFORM) -chdir=$(TF_DIR) apply $(TF_VARS) -target=google_artifact_registry_repository.images

.PHONY: deploy
deploy: registry push ## Build, push and terraform apply the whole layout (then the canary's own image)
	$(TERRAFORM) -chdir=$(TF_DIR) apply $(TF_VARS)
	$(MAKE) deploy-canary

# recommend and chat get new images only through canary releases (make release); the canary
# controller itself is not canaried: it takes the new image directly.
.PHONY: deploy-canary
deploy-canary: ## Point the canary service at IMAGE_BASE/canary:TAG (canary-incident follows image_tag in Terraform)
	gcloud run services update canary --project=$(PROJECT) --region=$(REGION) --image=$(IMAGE_BASE)/canary:$(TAG)
