# The keys that sign feedback tokens (shared/recoengine/feedback_tokens.py). The recommend
# response's request_id is a token bound to the user, the serving revision, the items served and
# an expiry; POST /api/v2/recommendations/feedback accepts only events that verify, and those
# events are what the canary's A/B test judges. Every recommend instance must accept what any
# other signed, so the keys live in Secret Manager, readable only by the recommend service account.
#
# One secret, one Secret Manager version per key GENERATION (var.feedback_key_version = the
# current generation, var.feedback_key_previous_version / var.feedback_key_next_version the
# optional others; 0 = none). Each generation's key is an ephemeral random value stored through a
# write-only argument: never in a plan or in the state. Cloud Run reads each key from a PINNED
# version number (local.secret_env, used by services.tf), never `latest`: a revision keeps the
# keys it was deployed with, and only a new revision sees new ones. An instance signs with the
# current key and verifies with current, previous and next.
#
# Rotation is two applies (docs/deploy.md, "Rotate the feedback key"):
#   1. next = N+1: every new instance verifies the new key, none signs with it yet;
#   2. once every serving revision has it: previous = N, current = N+1, next = 0.
# Then instances of the two revisions accept each other's tokens (the old one knows N+1 as next,
# the new one N as previous). A third apply (previous = 0), once no revision that can get traffic
# signs with N and its tokens have expired, retires N; its version is disabled, not destroyed, so
# re-enabling it in Secret Manager revives a revision pinned to it.

locals {
  # Which generation each variable the code reads holds (config.py: FEEDBACK_SIGNING_KEY*).
  feedback_key_roles = {
    FEEDBACK_SIGNING_KEY          = var.feedback_key_version
    FEEDBACK_SIGNING_KEY_PREVIOUS = var.feedback_key_previous_version
    FEEDBACK_SIGNING_KEY_NEXT     = var.feedback_key_next_version
  }
  feedback_key_generations = toset([for g in values(local.feedback_key_roles) : tostring(g) if g > 0])

  # generation -> its Secret Manager version number (a string, as Cloud Run's version field).
  feedback_key_versions = { for g, v in google_secret_manager_secret_version.feedback_key : g => v.version }

  # The secret-backed environment of each function, for services.tf: name -> secret + pinned
  # version. PREVIOUS and NEXT are present only when set.
  secret_env = {
    recommend = {
      for name, generation in local.feedback_key_roles : name => {
        secret  = google_secret_manager_secret.feedback_key.secret_id
        version = local.feedback_key_versions[tostring(generation)]
      } if generation > 0
    }
  }
}

# One random key per generation, opened at plan/apply time and never stored; the secret version
# receives it once, when it is created (the write-only argument below).
ephemeral "random_password" "feedback_key" {
  for_each = local.feedback_key_generations

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
  for_each = local.feedback_key_generations

  secret                 = google_secret_manager_secret.feedback_key.id
  secret_data_wo         = ephemeral.random_password.feedback_key[each.key].result
  secret_data_wo_version = tonumber(each.key)
  # A retired generation is disabled, not destroyed: a revision still pinned to it (a rollback
  # target) can be revived by enabling the version again.
  deletion_policy = "DISABLE"
}

# Before generations: one unkeyed version holding generation var.feedback_key_version (default 1).
# A deployment that had raised it to N must run
# `terraform state mv 'google_secret_manager_secret_version.feedback_key' 'google_secret_manager_secret_version.feedback_key["N"]'`
# instead (a moved block names a fixed address).
moved {
  from = google_secret_manager_secret_version.feedback_key
  to   = google_secret_manager_secret_version.feedback_key["1"]
}

# Least privilege: the recommend function reads this one secret; nothing else can.
resource "google_secret_manager_secret_iam_member" "recommend_reads_feedback_key" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.feedback_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function["recommend"].email}"
}
