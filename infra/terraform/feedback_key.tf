# The key that signs feedback tokens (shared/recoengine/feedback_tokens.py). The recommend
# response's request_id is a token bound to the user, the serving revision, the items served and
# an expiry; POST /api/v2/recommendations/feedback accepts only events that verify against it,
# and those events are what the canary's A/B test judges. Every recommend instance must sign and
# verify with the same key, so it lives in Secret Manager, readable only by the recommend
# service account.
#
# Terraform generates the key as an ephemeral value and stores it through a write-only argument:
# it is never written to a plan or to the state. Rotation: raise var.feedback_key_version and
# apply; tokens signed with the old key stop verifying (feedback on lists served before the
# rotation, at most FEEDBACK_TOKEN_TTL_SECONDS old, is refused).

ephemeral "random_password" "feedback_key" {
  length  = 64
  special = false
}

resource "google_secret_manager_secret" "feedback_key" {
  project   = var.project_id
  secret_id = "recoengine-feedback-key"

  replication {
    auto {}
  }

  depends_on = [google_project_service.api]
}

resource "google_secret_manager_secret_version" "feedback_key" {
  secret                 = google_secret_manager_secret.feedback_key.id
  secret_data_wo         = ephemeral.random_password.feedback_key.result
  secret_data_wo_version = var.feedback_key_version
}

# Least privilege: the recommend function reads this one secret; nothing else can.
resource "google_secret_manager_secret_iam_member" "recommend_reads_feedback_key" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.feedback_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function["recommend"].email}"
}
