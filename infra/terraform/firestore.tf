# Firestore (native mode): sessions, chat messages, user events, canary state and audit trail.
# Point-in-time recovery and daily backups; a TTL policy on every collection group whose
# documents carry the expiry field (shared/recoengine/storage_schema.py: TTL_COLLECTION_GROUPS,
# EXPIRY_FIELD; a test keeps the two in step). Firestore deletes expired documents within about
# 24 h, so the code also treats them as absent on read.

locals {
  ttl_field = "expires_at"
  ttl_collection_groups = toset([
    "sessions",
    "messages",
    "user_events",
    "canary_incidents",
    "feedback_claims",
  ])
  # Collections queried by the expiry field (session_count's aggregation query).
  counted_collections = ["sessions"]
}

resource "google_firestore_database" "main" {
  project                           = var.project_id
  name                              = var.firestore_database
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.api]
}

resource "google_firestore_backup_schedule" "daily" {
  project   = var.project_id
  database  = google_firestore_database.main.name
  retention = "${var.backup_retention_days * 86400}s"

  daily_recurrence {}
}

# TTL policy per collection group. The index_config drops the automatic single-field indexes
# on the timestamp (TTL fields with monotonically increasing values hot-spot them), except the
# one ascending index that the session_count aggregation (`sessions` where expires_at > now,
# SessionStore.count_active) needs.
resource "google_firestore_field" "ttl" {
  for_each = local.ttl_collection_groups

  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = each.value
  field      = local.ttl_field

  ttl_config {}
  index_config {
    dynamic "indexes" {
      for_each = contains(local.counted_collections, each.value) ? ["ASCENDING"] : []
      content {
        order       = indexes.value
        query_scope = "COLLECTION"
      }
    }
  }
}
