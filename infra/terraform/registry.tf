# Artifact Registry repository for the function images (make build / make push).
resource "google_artifact_registry_repository" "images" {
  # checkov:skip=CKV_GCP_84:Images hold the open application code and no secrets or data; Google-managed encryption is enough, a CMEK key would only add a KMS dependency to every deploy.
  project       = var.project_id
  location      = var.region
  repository_id = var.artifact_repository
  format        = "DOCKER"
  description   = "Images of the recommend, chat and canary functions and the trainer job."

  # Keep the last releases for rollback; untagged layers left by rebuilds are removed.
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 20
    }
  }
  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "1209600s"
    }
  }

  depends_on = [google_project_service.api]
}
