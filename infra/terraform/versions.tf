# Terraform and provider versions. The google providers are pinned to one major version with a
# floor that has every argument used here: 7.4.0 added `mount_options` to Cloud Run v2 GCS volumes
# (the trainer job mounts its bucket as the image's non-root user, storage.tf); Firestore backup
# schedules and PromQL alert conditions are older. google-beta is needed only for
# google_project_service_identity (incidents.tf). Terraform 1.11 and random 3.7 bring the
# ephemeral value and write-only argument that keep the feedback key out of the state
# (feedback_key.tf). `terraform init` records the exact builds in
# .terraform.lock.hcl, which should be committed after the first init.
terraform {
  required_version = ">= 1.11.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 7.4.0, < 8.0.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 7.4.0, < 8.0.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.7.0, < 4.0.0"
    }
  }

  # State lives in a GCS bucket created once by hand (see README): `terraform init
  # -backend-config="bucket=STATE_BUCKET"`. Without it, `terraform init -backend=false` works for
  # offline checks.
  backend "gcs" {
    prefix = "recoengine"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = merge(var.labels, { app = "recoengine" })
}

provider "google-beta" {
  project = var.project_id
  region  = var.region

  default_labels = merge(var.labels, { app = "recoengine" })
}
