# One service account per function (and per caller of the canary), each with only what its
# code does. Firestore grants carry an IAM condition that limits them to this database.

resource "google_service_account" "function" {
  for_each = local.functions

  project      = var.project_id
  account_id   = "${each.key}-fn"
  display_name = "${each.key} function"
  description  = "Runtime identity of the ${each.key} Cloud Run service."
}

resource "google_service_account" "trainer" {
  project      = var.project_id
  account_id   = "recoengine-trainer"
  display_name = "Model training job"
  description  = "Runtime identity of the training Cloud Run job: writes model artifacts to the model bucket."
}

resource "google_service_account" "canary_events" {
  project      = var.project_id
  account_id   = "canary-events"
  display_name = "Canary incident delivery"
  description  = "Identity Eventarc uses to push Cloud Monitoring incidents to the canary's canary_incident entry."
}

resource "google_service_account" "canary_scheduler" {
  project      = var.project_id
  account_id   = "canary-scheduler"
  display_name = "Canary advance scheduler"
  description  = "Identity Cloud Scheduler uses (OIDC) to call POST /api/v2/canary/advance."
}

locals {
  firestore_database_resource = "projects/${var.project_id}/databases/${var.firestore_database}"

  # Project-level roles, by function. Everything else is granted on the resource itself.
  function_project_roles = {
    recommend = ["roles/datastore.user"]
    chat      = ["roles/datastore.user", "roles/aiplatform.user"]
    canary    = ["roles/datastore.user", "roles/monitoring.viewer"]
  }
  function_project_grants = {
    for pair in flatten([
      for fn, roles in local.function_project_roles : [for role in roles : { fn = fn, role = role }]
    ]) : "${pair.fn}/${pair.role}" => pair
  }
}

resource "google_project_iam_member" "function" {
  for_each = local.function_project_grants

  project = var.project_id
  role    = each.value.role
  member  = "serviceAccount:${google_service_account.function[each.value.fn].email}"

  dynamic "condition" {
    for_each = each.value.role == "roles/datastore.user" ? [1] : []
    content {
      title       = "only-${replace(var.firestore_database, "/[()]/", "")}-database"
      description = "Firestore access limited to the service's database."
      expression  = "resource.name.startsWith(\"${local.firestore_database_resource}\")"
    }
  }
}

# The canary function moves traffic of the released services and deploys their revisions,
# which requires acting as their runtime service accounts.
resource "google_cloud_run_v2_service_iam_member" "canary_manages" {
  for_each = toset(var.released_services)

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.function[each.key].name
  role     = "roles/run.developer"
  member   = "serviceAccount:${google_service_account.function["canary"].email}"
}

resource "google_service_account_iam_member" "canary_acts_as" {
  for_each = toset(var.released_services)

  service_account_id = google_service_account.function[each.key].name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.function["canary"].email}"
}

# Pub/Sub (under Eventarc) mints the OIDC token of the push identity.
resource "google_service_account_iam_member" "pubsub_mints_event_tokens" {
  service_account_id = google_service_account.canary_events.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${local.pubsub_agent}"

  depends_on = [google_project_service.api]
}

# Release operators deploy candidate revisions (`make release`: gcloud run deploy --no-traffic
# --tag candidate) of the released services; the canary function moves the traffic.
resource "google_cloud_run_v2_service_iam_member" "operators_release" {
  for_each = toset(var.released_services)

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.function[each.key].name
  role     = "roles/run.developer"
  member   = "group:${var.operators_group}"
}

resource "google_service_account_iam_member" "operators_act_as" {
  for_each = toset(var.released_services)

  service_account_id = google_service_account.function[each.key].name
  role               = "roles/iam.serviceAccountUser"
  member             = "group:${var.operators_group}"
}
