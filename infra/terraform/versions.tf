# Terraform and provider versions. The google provider is pinned to one major version with a
# floor that has every resource used here (Cloud Run v2 GCS volumes, Firestore backup schedules,
# PromQL alert conditions); `terraform init` records the exact build in .terraform.lock.hcl,
# which should be committed after the first init.
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.14.0, < 7.0.0"
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
